#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# migrate --rehearse on the real kernel with tests/kmod's vfio_migtest: its 1 MiB of
# initial pre-copy data goes into the destination, which is then reset without loading
# it; the source never stops. Without PRE_COPY the rehearsal stops at the identity
# check. (tests/bats/rehearse.bats runs the same on mtty, and more on the double.)

load '../bats/helper'

MT_SYS=/sys/bus/mdev/devices

setup() {
	kernel_only
	common_setup
	MT_A=${VFIOMIG_TEST_MIGTEST_A:?the guest did not load vfio_migtest (tests/kmod)}
	MT_B=${VFIOMIG_TEST_MIGTEST_B:?VFIOMIG_TEST_MIGTEST_B not set}
	"$VFIOMIG" -q state --reset "$MT_A" "$MT_B" >/dev/null 2>&1 || true
	local d
	for d in "$MT_A" "$MT_B"; do
		echo none >"$MT_SYS/$d/migtest/arc_delay"
		echo none >"$MT_SYS/$d/migtest/fail_arc"
		echo none >"$MT_SYS/$d/migtest/write_fail_after"
		[[ $(cat "$MT_SYS/$d/migtest/size") == $((1 << 20)) ]] ||
			echo $((1 << 20)) >"$MT_SYS/$d/migtest/size"
		echo 1 >"$MT_SYS/$d/migtest/p2p"
		echo 1 >"$MT_SYS/$d/migtest/pre_copy"
		echo 0 >"$MT_SYS/$d/migtest/precopy_batch"
		echo 0 >"$MT_SYS/$d/migtest/data_size_errno"
		echo 0 >"$MT_SYS/$d/migtest/dirty_rate"
	done
	echo 31 >"$MT_SYS/$MT_A/migtest/fill"
	echo 7 >"$MT_SYS/$MT_B/migtest/fill"
}

teardown() {
	echo 1 >"$MT_SYS/$MT_A/migtest/pre_copy" 2>/dev/null || true
	echo 1 >"$MT_SYS/$MT_B/migtest/pre_copy" 2>/dev/null || true
	echo none >"$MT_SYS/$MT_B/migtest/write_fail_after" 2>/dev/null || true
}

@test "kernel: a rehearsal puts migtest's initial data into the destination, then resets it unloaded" {
	local before
	before=$(cat "$MT_SYS/$MT_B/migtest/checksum")
	# the initial data comes 4 blocks a round: the rehearsal waits for all of it
	echo 4 >"$MT_SYS/$MT_A/migtest/precopy_batch"
	start_receive "$MT_B" --insecure --events "$BATS_TEST_TMPDIR/recv.ev"
	run vfiomig migrate "$MT_A" --to "127.0.0.1:$PORT" --insecure --rehearse --json -q \
		--events "$BATS_TEST_TMPDIR/src.ev"
	finish_receive >/dev/null
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	# every block of 1 MiB, with migtest's record headers
	json_is .rehearsal initial-data '.precopy_bytes >= 1048576' true '.precopy_rounds >= 4' true
	output=$(<"$BATS_TEST_TMPDIR/recv.out")
	assert_output_contains "bytes of initial pre-copy data verified and written into the device"
	assert_equal "$(state_of "$MT_A")" RUNNING
	assert_equal "$(state_of "$MT_B")" RUNNING
	# the source never stopped; the destination never loaded what it was given
	assert_equal "$(jq -R -r 'fromjson | select(.event == "state") | "\(.from)>\(.to)"' \
		"$BATS_TEST_TMPDIR/src.ev" | tr '\n' ' ')" "RUNNING>PRE_COPY PRE_COPY>RUNNING "
	assert_equal "$(jq -R -r 'fromjson | select(.event == "state") | "\(.from)>\(.to)"' \
		"$BATS_TEST_TMPDIR/recv.ev" | tr '\n' ' ')" "RUNNING>RESUMING RESUMING>RUNNING "
	assert_equal "$(cat "$MT_SYS/$MT_B/migtest/checksum")" "$before"
	[[ $before != "$(cat "$MT_SYS/$MT_A/migtest/checksum")" ]]
}

@test "kernel: a destination migtest that rejects the initial data fails the rehearsal (exit 6)" {
	echo "$((400 << 10)) EIO" >"$MT_SYS/$MT_B/migtest/write_fail_after"
	start_receive "$MT_B" --insecure
	run vfiomig migrate "$MT_A" --to "127.0.0.1:$PORT" --insecure --rehearse
	finish_receive
	assert_status 6
	refute_output_contains "rehearsal accepted"
	assert_output_contains "the peer aborted (device)"
	assert_equal "$(state_of "$MT_A")" RUNNING
	assert_equal "$(state_of "$MT_B")" RUNNING
}

@test "kernel: migtests without PRE_COPY: the rehearsal stops at the identity check, nothing moves" {
	echo 0 >"$MT_SYS/$MT_A/migtest/pre_copy"
	echo 0 >"$MT_SYS/$MT_B/migtest/pre_copy"
	start_receive "$MT_B" --insecure --events "$BATS_TEST_TMPDIR/recv.ev"
	run vfiomig migrate "$MT_A" --to "127.0.0.1:$PORT" --insecure --rehearse \
		--events "$BATS_TEST_TMPDIR/src.ev"
	finish_receive
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	assert_output_contains "stopped at the identity check: $MT_A has no PRE_COPY"
	output=$(<"$BATS_TEST_TMPDIR/recv.out")
	assert_output_contains "no device was touched"
	! grep -q '"event":"state"' "$BATS_TEST_TMPDIR/src.ev" "$BATS_TEST_TMPDIR/recv.ev"
	assert_equal "$(state_of "$MT_A")" RUNNING
	assert_equal "$(state_of "$MT_B")" RUNNING
}
