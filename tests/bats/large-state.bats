#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Large device state, the same tests on the test double (generated content that the
# double checks byte by byte as it is written back) and on the real kernel (tests/kmod's
# vfio_migtest, whose checksum proves the bytes arrived): where the two disagree, the
# kernel is right and the double changes. Under the VM's software emulation the kernel
# runs take 16 MiB (tests/vm/migtest.bats moves 64 MiB there); the double 64 MiB.

load helper

if [[ ${VFIOMIG_TEST_BACKEND:-double} == double ]]; then
	BIG=$((64 << 20))
else
	BIG=$((16 << 20))
fi
HALF=$((BIG / 2))
MT_SYS=/sys/bus/mdev/devices

setup() {
	common_setup
	OUT=$BATS_TEST_TMPDIR
	S=$OUT/state.vfm
	if [[ $BACKEND == double ]]; then
		SRC=eeeeeeee-0000-0000-0000-0000000000b1
		DST=eeeeeeee-0000-0000-0000-0000000000b2
		fake_device "$SRC" "$BIG"
		fake_device "$DST" "$BIG"
	else
		SRC=${VFIOMIG_TEST_MIGTEST_A:?the guest did not load vfio_migtest (tests/kmod)}
		DST=${VFIOMIG_TEST_MIGTEST_B:?VFIOMIG_TEST_MIGTEST_B not set}
		"$VFIOMIG" -q state --reset "$SRC" "$DST" >/dev/null 2>&1 || true
		migtest_device "$SRC" "$BIG" 41
		migtest_device "$DST" "$BIG" 42
	fi
	SUM=$(state_sum "$SRC")
}

fake_device() { # NAME SIZE
	"$FAKEDEV" add "$SYSROOT" --kind mdev --name "$1" --type mtty-2 --size "$2" \
		--precopy-bytes $((8 << 20)) --knob content=generated
}

# A conformant vfio_migtest of SIZE bytes filled from SEED.
migtest_device() { # NAME SIZE SEED
	local k
	for k in arc_delay fail_arc read_fail_after write_fail_after; do
		echo none >"$MT_SYS/$1/migtest/$k"
	done
	for k in dirty_rate max_read max_write delay_ms; do
		echo 0 >"$MT_SYS/$1/migtest/$k"
	done
	echo 1 >"$MT_SYS/$1/migtest/p2p"
	echo 1 >"$MT_SYS/$1/migtest/pre_copy"
	[[ $(cat "$MT_SYS/$1/migtest/size") == "$2" ]] || echo "$2" >"$MT_SYS/$1/migtest/size"
	echo "$3" >"$MT_SYS/$1/migtest/fill"
}

# What proves a device's state: the kernel driver's checksum; on the double, generated
# content is checked as it is written, so "no mismatch recorded" is the proof.
state_sum() { # DEVICE
	if [[ $BACKEND == double ]]; then
		[[ -e $SYSROOT/double/$1/mismatch ]] && cat "$SYSROOT/double/$1/mismatch" || echo intact
	else
		cat "$MT_SYS/$1/migtest/checksum"
	fi
}

assert_arrived() { # DEVICE
	assert_equal "$(state_sum "$1")" "$SUM"
	assert_equal "$(state_of "$1")" RUNNING
}

@test "a large state through save and restore arrives whole" {
	run vfiomig save "$SRC" -o "$S" --resume
	assert_status 0
	run vfiomig restore "$DST" -i "$S"
	assert_status 0
	assert_arrived "$DST"
	assert_equal "$(state_of "$SRC")" RUNNING
}

@test "a large state through migrate --exec arrives whole; the source stops" {
	local recv="$VFIOMIG receive $DST --stdio"
	[[ $BACKEND != double ]] || recv="env VFIOMIG_SYSROOT=$SYSROOT LD_PRELOAD=$DOUBLE_LIB $recv"
	run vfiomig migrate "$SRC" --exec "$recv" --json
	assert_status 0
	[[ $(sed -n '/^{/,/^}/p' <<<"$output" | jq .raw_bytes) -ge $BIG ]]
	assert_arrived "$DST"
	assert_equal "$(state_of "$SRC")" STOP
}

@test "a byte flipped deep in a large stream never reaches the device: exit 5, its state stays" {
	local off v mine
	run vfiomig save "$SRC" -o "$S" --resume
	assert_status 0
	off=$(($(stat -c %s "$S") * 7 / 8))
	v=$(od -An -tu1 -j "$off" -N1 "$S" | tr -d ' ')
	printf "\\x$(printf %02x $((v ^ 1)))" | dd of="$S" bs=1 seek="$off" conv=notrunc 2>/dev/null
	mine=$(state_sum "$DST")
	run vfiomig restore "$DST" -i "$S"
	assert_status 5
	assert_equal "$(state_of "$DST")" RUNNING
	assert_equal "$(state_sum "$DST")" "$mine"
}

@test "a state into a device of half its size is refused by the driver; the device is reset" {
	if [[ $BACKEND == double ]]; then
		DST=eeeeeeee-0000-0000-0000-0000000000b3
		fake_device "$DST" "$HALF"
	else
		migtest_device "$DST" "$HALF" 43
	fi
	local mine
	mine=$(state_sum "$DST")
	run vfiomig save "$SRC" -o "$S" --resume
	assert_status 0
	run vfiomig restore "$DST" -i "$S"
	assert_status 1
	assert_output_contains "reset"
	assert_equal "$(state_of "$DST")" RUNNING
	assert_equal "$(state_sum "$DST")" "$mine"
}
