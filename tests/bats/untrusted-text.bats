#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Text that comes from a stream file anyone can write, from sysfs or from a driver reaches
# stdout with what a terminal could act on escaped: inspect, info and list print control
# bytes, C1 controls, bidirectional overrides and broken UTF-8 as \xNN or \uXXXX, and their
# --json is valid JSON holding those characters as \uXXXX (broken UTF-8 as \ufffd).

load helper

setup() {
	common_setup
}

# fixtures/hostile-identity.vfm, an unkeyed mdev stream (format 1.0) with these identity
# strings, was written by `tests/tools/hostile-peer stream time=1700000000
# driver=hex:... name=hex:... type=hex:... version=hex:... host=hex:...`:
#   driver   mtty ESC [2J ESC ]0;owned BEL CR DEL "vfiomig: forged"
#   name     dev U+202E evil U+2066 x U+2069      (right-to-left override, isolates)
#   type     mtty-2 U+009B 31m 0xff 0xfe          (CSI as a C1 control, not UTF-8)
#   version  0.1 ESC [31m
#   host     host BS BS BS U+2028 line            (backspaces, line separator)
HOSTILE_STREAM=$BATS_TEST_DIRNAME/fixtures/hostile-identity.vfm

# A driver name with the same kinds of bytes, for a fake device's sysfs (double only).
HOSTILE_DRIVER=$'vfio\e[2J\e]0;owned\a\r\x7f\xe2\x80\xae\xc2\x9b31m\xffpci'
HOSTILE_DRIVER_SHOWN='vfio\x1b[2J\x1b]0;owned\x07\r\x7f\u202e\u009b31m\xffpci'
HOSTILE_DRIVER_JSON='vfio\u001b[2J\u001b]0;owned\u0007\r\u007f\u202e\u009b31m\ufffdpci'

# Fails when TEXT holds a byte other than printable ASCII and newline: the strings above
# are ASCII once escaped, so any other byte got through raw.
refute_raw_bytes() { # TEXT
	local raw
	raw=$(printf '%s' "$1" | LC_ALL=C tr -d '\n\040-\176' | od -An -tx1)
	if [[ -n ${raw//[[:space:]]/} ]]; then
		echo "raw bytes in the output:$raw" >&2
		printf '%s\n' "$1" >&2
		return 1
	fi
}

@test "inspect shows a crafted stream's identity with control bytes, overrides and broken UTF-8 escaped" {
	run vfiomig inspect "$HOSTILE_STREAM"
	assert_status 0
	assert_output_contains 'driver:       mtty\x1b[2J\x1b]0;owned\x07\r\x7fvfiomig: forged'
	assert_output_contains 'device:       dev\u202eevil\u2066x\u2069 (mdev mtty-2\u009b31m\xff\xfe)'
	assert_output_contains ' on host\x08\x08\x08\u2028line by vfiomig 0.1\x1b[31m'
	refute_raw_bytes "$output"
}

@test "inspect --json of a crafted stream is valid JSON with those characters as \\uXXXX" {
	run vfiomig inspect --json "$HOSTILE_STREAM"
	assert_status 0
	refute_raw_bytes "$output"
	assert_output_contains '"driver": "mtty\u001b[2J\u001b]0;owned\u0007\r\u007fvfiomig: forged"'
	assert_output_contains '"name": "dev\u202eevil\u2066x\u2069"'
	assert_output_contains '"mdev_type": "mtty-2\u009b31m\ufffd\ufffd"'
	assert_output_contains '"host": "host\u0008\u0008\u0008\u2028line"'
	json_is \
		'.header.device.driver == "mtty\u001b[2J\u001b]0;owned\u0007\r\u007fvfiomig: forged"' true \
		'.header.device.vfiomig_version == "0.1\u001b[31m"' true \
		.verified true
}

# A fake device bound to a driver whose name holds the hostile bytes.
add_hostile_device() {
	"$FAKEDEV" add "$SYSROOT" --kind pci --name 0000:00:04.0 --group 4 --driver "$HOSTILE_DRIVER" \
		--vendor 0x15b3 --device 0x101e --flags 7 --size 64
}

@test "info and list show a driver name from sysfs with its control bytes escaped" {
	double_only "needs a driver name no kernel would give"
	add_hostile_device
	run vfiomig info 0000:00:04.0
	assert_status 0
	assert_output_contains "driver:       $HOSTILE_DRIVER_SHOWN"
	refute_raw_bytes "$output"
	run vfiomig list --no-probe
	assert_status 0
	assert_output_contains "0000:00:04.0                         pci  $HOSTILE_DRIVER_SHOWN"
	refute_raw_bytes "$output"
}

@test "info --json and list --json give a driver name from sysfs as valid JSON with \\uXXXX escapes" {
	double_only "needs a driver name no kernel would give"
	add_hostile_device
	run vfiomig info 0000:00:04.0 --json
	assert_status 0
	refute_raw_bytes "$output"
	assert_output_contains "\"driver\": \"$HOSTILE_DRIVER_JSON\""
	json_is .device 0000:00:04.0
	run vfiomig list --no-probe --json
	assert_status 0
	refute_raw_bytes "$output"
	assert_output_contains "\"driver\": \"$HOSTILE_DRIVER_JSON\""
	json_is '.devices | map(select(.device == "0000:00:04.0")) | length' 1
}

@test "save records a hostile driver name as it is, and inspect shows it escaped" {
	double_only "needs a driver name no kernel would give"
	add_hostile_device
	vfiomig save 0000:00:04.0 -o "$BATS_TEST_TMPDIR/s.vfm" --resume
	run vfiomig inspect "$BATS_TEST_TMPDIR/s.vfm"
	assert_status 0
	assert_output_contains "driver:       $HOSTILE_DRIVER_SHOWN"
	refute_raw_bytes "$output"
	run vfiomig inspect --json "$BATS_TEST_TMPDIR/s.vfm"
	assert_status 0
	refute_raw_bytes "$output"
	assert_output_contains "\"driver\": \"$HOSTILE_DRIVER_JSON\""
}
