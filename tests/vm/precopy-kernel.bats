#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Pre-copy rules on the real kernel with tests/kmod's vfio_migtest next to mtty: several
# devices migrate together only when each has P2P (tests/bats/precopy.bats has the same
# on the test double).

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
		echo 0 >"$MT_SYS/$d/migtest/p2p"
	done
	echo 31 >"$MT_SYS/$MT_A/migtest/fill"
}

teardown() {
	local d
	for d in "${MT_A:-}" "${MT_B:-}"; do
		[[ -n $d ]] && echo 1 >"$MT_SYS/$d/migtest/p2p"
	done
	return 0
}

@test "kernel: a migtest without P2P beside an mtty is refused with exit 4 before either moves" {
	run vfiomig migrate "$MT_A" "$MTTY2_A" --to 127.0.0.1:9 --insecure
	assert_status 4
	assert_output_contains "$MT_A"
	assert_output_contains "P2P"
	assert_equal "$(state_of "$MT_A")" RUNNING
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "kernel: with --force the migtest without P2P and the mtty migrate together, with a warning" {
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
