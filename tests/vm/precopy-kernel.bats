#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Pre-copy rules on the real kernel with tests/kmod's vfio_migtest: initial data first and
# acknowledged, an unknown stop-copy size counted as large, several devices migrating
# together only when each has P2P (tests/bats/precopy.bats has the same on the double).

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
		[[ $(cat "$MT_SYS/$d/migtest/size") == $((1 << 20)) ]] ||
			echo $((1 << 20)) >"$MT_SYS/$d/migtest/size"
		echo 1 >"$MT_SYS/$d/migtest/p2p"
		echo 0 >"$MT_SYS/$d/migtest/precopy_batch"
		echo 0 >"$MT_SYS/$d/migtest/data_size_errno"
		echo 0 >"$MT_SYS/$d/migtest/dirty_rate"
	done
	echo 31 >"$MT_SYS/$MT_A/migtest/fill"
}

no_p2p() {
	echo 0 >"$MT_SYS/$MT_A/migtest/p2p"
	echo 0 >"$MT_SYS/$MT_B/migtest/p2p"
}

@test "kernel: pre-copy goes on past --max-rounds until migtest's initial data is read and acknowledged" {
	local sum
	sum=$(cat "$MT_SYS/$MT_A/migtest/checksum")
	# 1 MiB is 16 blocks of 64 KiB; the first pass hands out 4 a round
	echo 4 >"$MT_SYS/$MT_A/migtest/precopy_batch"
	start_receive "$MT_B" --insecure
	run vfiomig migrate "$MT_A" --to "127.0.0.1:$PORT" --insecure --max-rounds 1 --json -v
	finish_receive
	assert_status 0
	assert_output_contains "initial data still to come: pre-copy goes on"
	assert_output_contains "$MT_A: initial data all read in pre-copy round 4"
	assert_output_contains "$MT_A: initial data in the destination's device, acknowledged"
	[[ $(sed -n '/^{/,/^}/p' <<<"$output" | jq .precopy_rounds) -ge 4 ]]
	assert_equal "$(cat "$MT_SYS/$MT_B/migtest/checksum")" "$sum"
}

@test "kernel: a destination that rejects migtest's initial data aborts before the source stops (exit 6)" {
	echo 4 >"$MT_SYS/$MT_A/migtest/precopy_batch"
	echo "$((400 << 10)) EIO" >"$MT_SYS/$MT_B/migtest/write_fail_after"
	start_receive "$MT_B" --insecure
	run vfiomig migrate "$MT_A" --to "127.0.0.1:$PORT" --insecure --max-rounds 1 -v
	finish_receive
	echo none >"$MT_SYS/$MT_B/migtest/write_fail_after"
	assert_status 6
	refute_output_contains "sending RUN"
	assert_equal "$(state_of "$MT_A")" RUNNING
}

@test "kernel: a migtest whose MIG_DATA_SIZE fails counts as large: pre-copy runs to --max-rounds" {
	echo EOPNOTSUPP >"$MT_SYS/$MT_A/migtest/data_size_errno"
	start_receive "$MT_B" --insecure
	run vfiomig migrate "$MT_A" --to "127.0.0.1:$PORT" --insecure --max-rounds 3 --json -v
	finish_receive
	assert_status 0
	assert_output_contains "gives no stop-copy size"
	local j
	j=$(sed -n '/^{/,/^}/p' <<<"$output")
	[[ $(jq .precopy_rounds <<<"$j") == 3 && $(jq .stop_copy_size_unknown <<<"$j") == 1 ]]
}

@test "kernel: a migtest without P2P beside an mtty is refused with exit 4 before either moves" {
	no_p2p
	run vfiomig migrate "$MT_A" "$MTTY2_A" --to 127.0.0.1:9 --insecure
	assert_status 4
	assert_output_contains "$MT_A"
	assert_output_contains "P2P"
	assert_equal "$(state_of "$MT_A")" RUNNING
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "kernel: with --force the migtest without P2P and the mtty migrate together, with a warning" {
	no_p2p
	local sum
	sum=$(cat "$MT_SYS/$MT_A/migtest/checksum")
	start_receive "$MT_B" "$MTTY2_B" --insecure
	run vfiomig migrate "$MT_A" "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --force
	finish_receive
	assert_status 0
	assert_output_contains "warning: $MT_A has no P2P state"
	assert_equal "$(cat "$MT_SYS/$MT_B/migtest/checksum")" "$sum"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}
