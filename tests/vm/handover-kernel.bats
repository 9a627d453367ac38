#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The handover of a live migration (docs/protocol.md §5) on the real kernel, with
# tests/kmod's vfio_migtest as the devices: its arc_delay and fail_arc knobs make the
# destination slow or unable to run the state after RUN, as the test double's do in
# tests/bats/handover.bats. At most one running copy, and the state is the source's.

load '../bats/helper'

MT_SYS=/sys/bus/mdev/devices

setup() {
	kernel_only
	common_setup
	OUT=$BATS_TEST_TMPDIR
	MT_A=${VFIOMIG_TEST_MIGTEST_A:?the guest did not load vfio_migtest (tests/kmod)}
	MT_B=${VFIOMIG_TEST_MIGTEST_B:?VFIOMIG_TEST_MIGTEST_B not set}
	"$VFIOMIG" -q state --reset "$MT_A" "$MT_B" >/dev/null 2>&1 || true
	local d
	for d in "$MT_A" "$MT_B"; do
		mt_set "$d" arc_delay none
		mt_set "$d" fail_arc none
		mt_set "$d" dirty_rate 0
		[[ $(cat "$MT_SYS/$d/migtest/size") == $((1 << 20)) ]] ||
			mt_set "$d" size $((1 << 20))
	done
	mt_set "$MT_A" fill 21
	mt_set "$MT_B" fill 22
}

mt_set() { # DEVICE KNOB VALUE
	echo "$3" >"$MT_SYS/$1/migtest/$2"
}

checksum() { # DEVICE
	cat "$MT_SYS/$1/migtest/checksum"
}

# migrate MT_A to a listening receive on MT_B, both with -v; the destination's last arc
# to RUNNING takes MS, so a test can act once RUN was received.
start_slow_run() { # MS [MIGRATE ARGS...]
	local ms=$1
	shift
	mt_set "$MT_B" arc_delay "RUNNING_P2P>RUNNING $ms"
	SOURCE_SUM=$(checksum "$MT_A")
	start_receive "$MT_B" --insecure -v
	vfiomig_bg "$OUT/mig.out" migrate "$MT_A" --to "127.0.0.1:$PORT" --insecure -v "$@"
	MIG_PID=$VFIOMIG_PID
	wait_for_text "$OUT/recv.out" "RUN received" "$RECV_PID"
}

finish_migrate() {
	MIG_STATUS=0
	wait "$MIG_PID" || MIG_STATUS=$?
	cat "$OUT/mig.out"
}

@test "kernel handover: SIGTERM to migrate after RUN waits for COMMIT; only the destination runs the state" {
	start_slow_run 1500
	kill -TERM "$MIG_PID"
	finish_migrate
	finish_receive
	assert_equal "$MIG_STATUS" 0
	assert_equal "$RECV_STATUS" 0
	assert_equal "$(state_of "$MT_A")" STOP
	assert_equal "$(state_of "$MT_B")" RUNNING
	assert_equal "$(checksum "$MT_B")" "$SOURCE_SUM"
}

@test "kernel handover: no answer to RUN within --timeout: exit 8, the source stays stopped" {
	start_slow_run 3000 --timeout 1
	finish_migrate
	assert_equal "$MIG_STATUS" 8
	grep -q "vfiomig state $MT_A running" "$OUT/mig.out"
	assert_equal "$(state_of "$MT_A")" STOP
	finish_receive
	assert_equal "$RECV_STATUS" 0
	assert_equal "$(state_of "$MT_B")" RUNNING
	assert_equal "$(checksum "$MT_B")" "$SOURCE_SUM"
}

@test "kernel handover: SIGTERM to the receiver after RUN: it runs the devices and commits" {
	start_slow_run 1500
	kill -TERM "$RECV_PID"
	finish_receive
	finish_migrate
	assert_equal "$RECV_STATUS" 0
	assert_equal "$MIG_STATUS" 0
	assert_equal "$(state_of "$MT_A")" STOP
	assert_equal "$(state_of "$MT_B")" RUNNING
}

@test "kernel handover: a destination that cannot run the state resets, then aborts; the source resumes (exit 6)" {
	mt_set "$MT_B" fail_arc "RUNNING_P2P>RUNNING EIO"
	start_receive "$MT_B" --insecure
	run vfiomig migrate "$MT_A" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 6
	assert_output_contains "back in RUNNING"
	assert_equal "$(state_of "$MT_A")" RUNNING
	# reset: RUNNING again (vfio_migtest, like mtty, keeps its bytes across a reset)
	assert_equal "$(state_of "$MT_B")" RUNNING
}
