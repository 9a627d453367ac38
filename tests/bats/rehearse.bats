#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# migrate --rehearse: the handshake, both identity checks, the destination in RESUMING
# with the source's initial pre-copy data verified and written into it, then an abort
# on both sides: the source never leaves RUNNING/PRE_COPY, the destination is reset and
# never loads or runs anything. Exit 0: this migration would start; 6 says why not.

load helper

setup() {
	common_setup
	OUT=$BATS_TEST_TMPDIR
	if [[ $BACKEND == double ]]; then
		knob "$MTTY2_A" trace=1
		knob "$MTTY2_B" trace=1
	fi
}

# The arcs the double executed on DEVICE, one a line ("RESET>RUNNING" for a reset).
arcs() { # DEVICE
	tr '\n' ' ' <"$SYSROOT/double/$1/arcs" 2>/dev/null || true
}

@test "a rehearsal: the destination takes the initial data, both exit 0, nothing stops or runs" {
	start_receive "$MTTY2_B" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --rehearse
	finish_receive
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	assert_output_contains "rehearsal accepted: the destination took 24 bytes of initial pre-copy data"
	refute_output_contains "migrated"
	output=$(<"$OUT/recv.out")
	assert_output_contains "rehearsal accepted: 24 bytes of initial pre-copy data verified and written"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
	if [[ $BACKEND == double ]]; then
		# the source never stopped; the destination was reset from RESUMING, never loaded
		assert_equal "$(arcs "$MTTY2_A")" "RUNNING>PRE_COPY PRE_COPY>RUNNING "
		assert_equal "$(arcs "$MTTY2_B")" \
			"RUNNING>RUNNING_P2P RUNNING_P2P>STOP STOP>RESUMING RESET>RUNNING "
		[[ ! -e $SYSROOT/double/$MTTY2_B/restored ]]
	fi
}

@test "a rehearsal's --json says how far it went" {
	start_receive "$MTTY2_B" --insecure --json
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --rehearse --json \
		--no-progress -q
	assert_status 0
	json_is .rehearsal initial-data .precopy_bytes 24 .devices 1 '.note | test("24 bytes")' true
	finish_receive >/dev/null
	output=$(sed -n '/^{/,/^}/p' "$OUT/recv.out")
	json_is .rehearsal initial-data .raw_bytes 24
}

@test "a destination that rejects the initial data fails the rehearsal (exit 6, the reason named)" {
	double_only "needs the double's write fault"
	knob "$MTTY2_B" "write_fail_after=10 EIO"
	start_receive "$MTTY2_B" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --rehearse
	finish_receive
	assert_status 6
	assert_equal "$RECV_STATUS" 1
	assert_output_contains "the peer aborted (device)"
	refute_output_contains "rehearsal accepted"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "devices without PRE_COPY: the rehearsal stops at the identity check and says so" {
	double_only "needs the double's migration flags"
	knob "$MTTY2_A" migration=3
	knob "$MTTY2_B" migration=3
	start_receive "$MTTY2_B" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --rehearse
	finish_receive
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	assert_output_contains "stopped at the identity check: $MTTY2_A has no PRE_COPY"
	output=$(<"$OUT/recv.out")
	assert_output_contains "no device was touched"
	assert_equal "$(arcs "$MTTY2_A")" ""
	assert_equal "$(arcs "$MTTY2_B")" ""
}

@test "an incompatible destination fails the rehearsal with exit 6, nothing touched" {
	start_receive "$MTTY1" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --rehearse
	finish_receive
	assert_status 6
	assert_equal "$RECV_STATUS" 6
	assert_output_contains "mtty-1"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY1")" RUNNING
}

@test "--rehearse excludes --no-precopy and --max-rounds 0 (exit 2)" {
	run vfiomig migrate "$MTTY2_A" --to 127.0.0.1:9 --insecure --rehearse --no-precopy
	assert_status 2
	assert_output_contains "--rehearse"
	run vfiomig migrate "$MTTY2_A" --to 127.0.0.1:9 --insecure --rehearse --max-rounds 0
	assert_status 2
}

@test "a rehearsal's events: rehearsal, then the rollback, never a switchover" {
	start_receive "$MTTY2_B" --insecure --events "$OUT/recv.ev"
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --rehearse \
		--events "$OUT/src.ev"
	finish_receive
	assert_status 0
	assert_equal "$(jq -R -r 'fromjson | .phase // empty' "$OUT/src.ev" | uniq | tr '\n' ' ')" \
		"handshake ready pre-copy-round sync rehearsal rollback "
	assert_equal "$(jq -R -r 'fromjson | .phase // empty' "$OUT/recv.ev" | tr '\n' ' ')" \
		"handshake ready sync rehearsal rollback "
	assert_equal "$(jq -R -r 'fromjson | select(.event == "outcome") | .exit' "$OUT/recv.ev")" 0
}
