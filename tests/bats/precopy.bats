#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Pre-copy the way real drivers need it: a device whose driver gives no stop-copy
# size is not taken for an empty one, and several devices migrate together only when
# each can be quiesced first (P2P).

load helper

setup() {
	common_setup
	OUT=$BATS_TEST_TMPDIR
}

@test "a source device without a stop-copy size is counted as large: pre-copy runs to --max-rounds" {
	double_only
	knob "$MTTY2_A" "data_size_errno=ENOTTY"
	start_receive "$MTTY2_B" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --max-rounds 3 --json -v
	finish_receive
	assert_status 0
	assert_output_contains "gives no stop-copy size"
	assert_output_contains "pre-copy runs until --max-rounds"
	local j
	j=$(sed -n '/^{/,/^}/p' <<<"$output")
	[[ $(jq .precopy_rounds <<<"$j") == 3 && $(jq .stop_copy_size_unknown <<<"$j") == 1 ]]
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "with a stop-copy size, an empty pre-copy round ends pre-copy before --max-rounds" {
	double_only
	start_receive "$MTTY2_B" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --max-rounds 5 --json
	finish_receive
	assert_status 0
	json_is .stop_copy_size_unknown 0
	[[ $(json .precopy_rounds) -lt 5 ]]
}

# Two source devices, one without P2P (STOP_COPY and PRE_COPY only), to two mtty-1.
mixed_pair() {
	local c=eeeeeeee-0000-0000-0000-000000000001 d=eeeeeeee-0000-0000-0000-000000000002
	NOP2P=$c
	DST2=$d
	"$FAKEDEV" add "$SYSROOT" --kind mdev --name "$c" --type mtty-1 --flags 5
	"$FAKEDEV" add "$SYSROOT" --kind mdev --name "$d" --type mtty-1 --flags 5
	knob "$MTTY2_A" "trace=1"
	knob "$c" "trace=1"
}

@test "several devices, one without P2P: refused with exit 4 before any device moves, naming it" {
	double_only
	mixed_pair
	start_receive "$MTTY2_B" "$DST2" --insecure
	run vfiomig migrate "$MTTY2_A" "$NOP2P" --to "127.0.0.1:$PORT" --insecure
	kill "$RECV_PID" 2>/dev/null || true
	wait "$RECV_PID" 2>/dev/null || true
	assert_status 4
	assert_output_contains "$NOP2P"
	assert_output_contains "P2P"
	[[ ! -s $SYSROOT/double/$MTTY2_A/arcs && ! -s $SYSROOT/double/$NOP2P/arcs ]]
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$NOP2P")" RUNNING
}

@test "several devices, one without P2P, with --force: a warning, and they migrate" {
	double_only
	mixed_pair
	start_receive "$MTTY2_B" "$DST2" --insecure
	run vfiomig migrate "$MTTY2_A" "$NOP2P" --to "127.0.0.1:$PORT" --insecure --force
	finish_receive
	assert_status 0
	assert_output_contains "warning: $NOP2P has no P2P state"
	assert_equal "$(state_of "$DST2")" RUNNING
}

@test "one device without P2P migrates alone without a word about it" {
	double_only
	mixed_pair
	start_receive "$DST2" --insecure
	run vfiomig migrate "$NOP2P" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 0
	refute_output_contains "P2P"
}

# Two generated 64 KiB devices whose first 16 KiB are initial pre-copy data, which the
# source hands out 4 KiB a round.
batched_pair() {
	SRC=eeeeeeee-0000-0000-0000-0000000000a1
	DST=eeeeeeee-0000-0000-0000-0000000000a2
	local n
	for n in "$SRC" "$DST"; do
		"$FAKEDEV" add "$SYSROOT" --kind mdev --name "$n" --type mtty-2 --size 65536 \
			--precopy-bytes 16384 --knob content=generated
	done
	knob "$SRC" "precopy_batch=4096"
	knob "$SRC" "trace=1"
}

@test "pre-copy goes on past --max-rounds until the initial data is read, and the destination acknowledges it" {
	double_only
	batched_pair
	start_receive "$DST" --insecure
	run vfiomig migrate "$SRC" --to "127.0.0.1:$PORT" --insecure --max-rounds 1 --json -v
	finish_receive
	assert_status 0
	assert_output_contains "initial data still to come: pre-copy goes on"
	assert_output_contains "$SRC: initial data all read in pre-copy round 4"
	assert_output_contains "$SRC: initial data in the destination's device, acknowledged"
	local j
	j=$(sed -n '/^{/,/^}/p' <<<"$output")
	[[ $(jq .precopy_rounds <<<"$j") -ge 4 ]]
	[[ $(jq .initial_data_acknowledged_ms <<<"$j") -gt 0 ]]
	[[ $(jq .precopy_bytes <<<"$j") -ge 16384 ]]
	assert_equal "$(state_of "$DST")" RUNNING
}

@test "a destination whose device rejects the initial data aborts before the source stops (exit 6)" {
	double_only
	batched_pair
	knob "$DST" "write_fail_after=10000 EIO"
	start_receive "$DST" --insecure
	run vfiomig migrate "$SRC" --to "127.0.0.1:$PORT" --insecure --max-rounds 1
	finish_receive
	assert_status 6
	assert_equal "$(state_of "$SRC")" RUNNING
	# the source never left pre-copy: no downtime was paid
	! grep -q "STOP_COPY" "$SYSROOT/double/$SRC/arcs"
	assert_equal "$(state_of "$DST")" RUNNING
}
