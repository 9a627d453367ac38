#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Several devices in one migration on the real kernel: two vfio_migtest devices read by
# one thread each on the source and written by one thread each on the destination, with
# slow driver reads and writes so that their I/O overlaps; a failure of either device
# rolls both back. tests/bats/devices.bats shows the overlap itself on the test double.

load '../bats/helper'

MT_SYS=/sys/bus/mdev/devices

setup() {
	kernel_only
	common_setup
	MT_A=${VFIOMIG_TEST_MIGTEST_A:?the guest did not load vfio_migtest (tests/kmod)}
	MT_B=${VFIOMIG_TEST_MIGTEST_B:?VFIOMIG_TEST_MIGTEST_B not set}
	MT_C=${VFIOMIG_TEST_MIGTEST_C:?VFIOMIG_TEST_MIGTEST_C not set: guest-init.sh is too old}
	MT_D=${VFIOMIG_TEST_MIGTEST_D:?VFIOMIG_TEST_MIGTEST_D not set}
	"$VFIOMIG" -q state --reset "$MT_A" "$MT_B" "$MT_C" "$MT_D" >/dev/null 2>&1 || true
	local d k
	for d in "$MT_A" "$MT_B" "$MT_C" "$MT_D"; do
		for k in dirty_rate max_read max_write delay_ms; do mt_set "$d" "$k" 0; done
		for k in fail_arc arc_delay read_fail_after write_fail_after; do mt_set "$d" "$k" none; done
		mt_set "$d" p2p 1
		mt_set "$d" pre_copy 1
		[[ $(mt_get "$d" size) == $((4 << 20)) ]] || mt_set "$d" size $((4 << 20))
	done
	mt_set "$MT_A" fill 21
	mt_set "$MT_C" fill 22
	mt_set "$MT_B" fill 23
	mt_set "$MT_D" fill 24
}

mt_set() { # DEVICE KNOB VALUE
	echo "$3" >"$MT_SYS/$1/migtest/$2"
}

mt_get() { # DEVICE KNOB
	local v
	read -r v <"$MT_SYS/$1/migtest/$2"
	echo "$v"
}

@test "devices: two migtests with slow reads and writes migrate at once, each one whole" {
	local sum_a sum_c
	sum_a=$(mt_get "$MT_A" checksum)
	sum_c=$(mt_get "$MT_C" checksum)
	# each read and write of the driver sleeps; small reads make many of them
	for d in "$MT_A" "$MT_C"; do mt_set "$d" delay_ms 2; mt_set "$d" max_read 262144; done
	for d in "$MT_B" "$MT_D"; do mt_set "$d" delay_ms 2; mt_set "$d" max_write 262144; done
	run vfiomig migrate "$MT_A" "$MT_C" --exec "'$VFIOMIG' receive '$MT_B' '$MT_D' --stdio" -v
	assert_status 0
	assert_output_contains "reading 2 devices at once"
	assert_equal "$(mt_get "$MT_B" checksum)" "$sum_a"
	assert_equal "$(mt_get "$MT_D" checksum)" "$sum_c"
	assert_equal "$(state_of "$MT_A")" STOP
	assert_equal "$(state_of "$MT_C")" STOP
	assert_equal "$(state_of "$MT_B")" RUNNING
	assert_equal "$(state_of "$MT_D")" RUNNING
}

@test "devices: a read failing on one of two migtests in stop-copy rolls both back" {
	mt_set "$MT_A" delay_ms 2
	mt_set "$MT_C" read_fail_after "1000000 EIO"
	run vfiomig migrate "$MT_A" "$MT_C" --exec "'$VFIOMIG' receive '$MT_B' '$MT_D' --stdio" \
		--no-precopy
	assert_status 1
	assert_output_contains "$MT_C: read migration data"
	local d
	for d in "$MT_A" "$MT_B" "$MT_C" "$MT_D"; do
		assert_equal "$(state_of "$d")" RUNNING
	done
}

@test "devices: a write failing on one of two destination migtests resets both; the sources run on" {
	mt_set "$MT_D" write_fail_after "1000000 EIO"
	mt_set "$MT_B" delay_ms 2
	run vfiomig migrate "$MT_A" "$MT_C" --exec "'$VFIOMIG' receive '$MT_B' '$MT_D' --stdio" \
		--no-precopy
	assert_status 6
	local d
	for d in "$MT_A" "$MT_B" "$MT_C" "$MT_D"; do
		assert_equal "$(state_of "$d")" RUNNING
	done
}
