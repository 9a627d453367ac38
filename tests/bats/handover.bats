#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The end of a live migration (docs/protocol.md §5): the destination loads, the source
# hands the state over with RUN, and from then on the source runs its devices again
# only when the destination says it will not. At most one running copy, whatever
# signal, loss or failure comes in between.

load helper

setup() {
	common_setup
	OUT=$BATS_TEST_TMPDIR
}

# migrate in the background against a listening receiver, both with -v; the
# destination's last arc to RUNNING takes MS, so the tests can act after RUN.
start_slow_run() { # MS [MIGRATE ARGS...]
	local ms=$1
	shift
	knob "$MTTY2_B" "arc_delay_ms=RUNNING_P2P>RUNNING $ms"
	start_receive "$MTTY2_B" --insecure -v
	vfiomig_bg "$OUT/mig.out" migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure -v "$@"
	MIG_PID=$VFIOMIG_PID
	wait_for_text "$OUT/recv.out" "RUN received" "$RECV_PID"
}

finish_migrate() {
	MIG_STATUS=0
	wait "$MIG_PID" || MIG_STATUS=$?
	cat "$OUT/mig.out"
}

@test "SIGTERM to migrate after RUN waits for COMMIT: exit 0, only the destination runs" {
	double_only
	start_slow_run 1500
	kill -TERM "$MIG_PID"
	finish_migrate
	finish_receive
	assert_equal "$MIG_STATUS" 0
	assert_equal "$RECV_STATUS" 0
	grep -q "came after the handover" "$OUT/mig.out"
	assert_equal "$(state_of "$MTTY2_A")" STOP
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "SIGINT and SIGHUP to migrate after RUN are noted too" {
	double_only
	start_slow_run 1500
	kill -INT "$MIG_PID"
	kill -HUP "$MIG_PID"
	finish_migrate
	finish_receive
	assert_equal "$MIG_STATUS" 0
	assert_equal "$(state_of "$MTTY2_A")" STOP
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "no answer to RUN within --timeout: exit 8, the source stays stopped and says how to resume" {
	double_only
	start_slow_run 4000 --timeout 1
	finish_migrate
	assert_equal "$MIG_STATUS" 8
	grep -q "outcome unknown" "$OUT/mig.out"
	grep -q "vfiomig state $MTTY2_A running" "$OUT/mig.out"
	assert_equal "$(state_of "$MTTY2_A")" STOP
	finish_receive
	assert_equal "$RECV_STATUS" 0
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "a signal while the answer to RUN is missing still ends in exit 8, never in a resume" {
	double_only
	start_slow_run 4000 --timeout 1
	kill -TERM "$MIG_PID"
	finish_migrate
	assert_equal "$MIG_STATUS" 8
	refute_output_contains "back in RUNNING"
	assert_equal "$(state_of "$MTTY2_A")" STOP
	finish_receive
}

@test "the receiver killed after RUN: exit 8, the source stays stopped" {
	double_only
	start_slow_run 3000
	kill -KILL "$RECV_PID"
	wait "$RECV_PID" 2>/dev/null || true
	finish_migrate
	assert_equal "$MIG_STATUS" 8
	assert_equal "$(state_of "$MTTY2_A")" STOP
}

@test "SIGTERM to the receiver after RUN: it runs the devices and commits all the same" {
	double_only
	start_slow_run 1500
	kill -TERM "$RECV_PID"
	finish_receive
	finish_migrate
	assert_equal "$RECV_STATUS" 0
	assert_equal "$MIG_STATUS" 0
	grep -q "devices run here" "$OUT/recv.out"
	assert_equal "$(state_of "$MTTY2_A")" STOP
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "a destination that cannot run the state resets before its ABORT; the source resumes (exit 6)" {
	double_only
	knob "$MTTY2_B" "fail_arc=RUNNING_P2P>RUNNING EIO"
	knob "$MTTY2_B" "trace=1"
	start_receive "$MTTY2_B" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 6
	assert_output_contains "back in RUNNING"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	grep -q '^RESET>RUNNING$' "$SYSROOT/double/$MTTY2_B/arcs"
}

@test "the destination loads before RUN: the receiver killed while loading leaves the source RUNNING" {
	double_only
	knob "$MTTY2_B" "arc_delay_ms=RESUMING>STOP 3000"
	start_receive "$MTTY2_B" --insecure -v
	vfiomig_bg "$OUT/mig.out" migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure -v
	MIG_PID=$VFIOMIG_PID
	wait_for_text "$OUT/recv.out" "loading the devices" "$RECV_PID"
	kill -KILL "$RECV_PID"
	wait "$RECV_PID" 2>/dev/null || true
	finish_migrate
	assert_equal "$MIG_STATUS" 6
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	refute_output_contains "sending RUN"
}

# The double's record of a device's arcs is empty: it never changed state.
never_moved() { # DEVICE
	[[ $BACKEND != double ]] || [[ ! -s $SYSROOT/double/$1/arcs ]]
}

@test "receive with a key refuses a source that does not key its records, before any device moves" {
	(umask 077; head -c 32 /dev/urandom >"$OUT/psk")
	[[ $BACKEND != double ]] || knob "$MTTY2_B" "trace=1"
	local recv="$VFIOMIG receive $MTTY2_B --stdio --psk-file $OUT/psk"
	if [[ $BACKEND == double ]]; then
		recv="env VFIOMIG_SYSROOT=$SYSROOT LD_PRELOAD=$DOUBLE_LIB $recv"
	fi
	run vfiomig migrate "$MTTY2_A" --exec "$recv"
	assert_status 6
	assert_output_contains "does not key its records"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
	never_moved "$MTTY2_B"
}

@test "receive checks the stream header's identity: migrate --force of an mtty-2 into an mtty-1 is refused (exit 6)" {
	[[ $BACKEND != double ]] || knob "$MTTY1" "trace=1"
	start_receive "$MTTY1" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --force
	finish_receive
	assert_status 6
	assert_equal "$RECV_STATUS" 6
	assert_output_contains "refusing the stream: the stream is from mdev type mtty-2"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY1")" RUNNING
	never_moved "$MTTY1"
}
