#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Exit codes are stable: 0 ok, 1 failed, 2 usage, 3 unavailable, 4 not supported.
# Errors go to stderr as "vfiomig: <object>: <operation>: <reason> (<hint>)".

bats_require_minimum_version 1.5.0
load helper

setup() {
	common_setup
}

@test "--version prints the version and exits 0" {
	run vfiomig --version
	assert_status 0
	[[ $output =~ [0-9]+\.[0-9]+ ]]
}

@test "--help exits 0 and lists the subcommands" {
	run vfiomig --help
	assert_status 0
	assert_output_contains list
	assert_output_contains info
	assert_output_contains state
}

@test "no subcommand is a usage error" {
	run vfiomig
	assert_status 2
}

@test "an unknown subcommand is a usage error" {
	run vfiomig frobnicate
	assert_status 2
	assert_output_contains frobnicate
}

@test "an unknown option is a usage error" {
	run vfiomig list --bogus
	assert_status 2
}

@test "a missing DEVICE is a usage error" {
	run vfiomig info
	assert_status 2
	run vfiomig state
	assert_status 2
}

@test "an unknown state name is a usage error that names it" {
	run vfiomig state "$MTTY2_A" sideways
	assert_status 2
	assert_output_contains sideways
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "too many arguments are a usage error" {
	run vfiomig state "$MTTY2_A" stop running
	assert_status 2
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "--reset together with a STATE is refused before the device is touched" {
	vfiomig state "$MTTY2_A" stop
	run vfiomig state "$MTTY2_A" running --reset
	assert_status 2
	assert_equal "$(state_of "$MTTY2_A")" STOP
}

@test "global options work before and after the subcommand" {
	run vfiomig -q state "$MTTY2_A"
	assert_status 0
	assert_equal "$output" RUNNING
	run vfiomig state "$MTTY2_A" -q
	assert_status 0
	assert_equal "$output" RUNNING
}

@test "an unknown device exits 3 with the error on stderr only" {
	run --separate-stderr vfiomig info 0000:00:1f.7
	assert_status 3
	assert_equal "$output" ""
	[[ $stderr == "vfiomig: 0000:00:1f.7: "* ]]
}

@test "a device without migration exits 4 for every state request" {
	run vfiomig state "$NOMIG" running
	assert_status 4
	run vfiomig state "$NOMIG" stop_copy --dry-run
	assert_status 4
}

@test "errors name the device and carry a hint in parentheses" {
	run --separate-stderr vfiomig state "$NOMIG" stop
	assert_status 4
	[[ $stderr == "vfiomig: $NOMIG: "* ]]
	[[ $stderr == *"("*")"* ]]
}

@test "a state change prints data on stdout and nothing on stderr" {
	run --separate-stderr vfiomig state "$MTTY2_A" stop
	assert_status 0
	assert_equal "$output" "RUNNING -> RUNNING_P2P -> STOP"
	assert_equal "$stderr" ""
}

@test "--json output is valid JSON for list, info and state" {
	local list info
	run --separate-stderr vfiomig list --json
	assert_status 0
	list=$output
	run --separate-stderr vfiomig info "$MTTY1" --json
	assert_status 0
	info=$output
	run --separate-stderr vfiomig state "$MTTY1" --json
	assert_status 0
	# one jq run; an output that is not exactly one JSON value breaks the array
	output="[$list,$info,$output]"
	json_is 'map(type)' '["object","object","object"]'
}

@test "a failing arc exits 1" {
	double_only "needs a driver that fails an arc"
	knob "$MTTY2_A" "fail_arc=RUNNING_P2P>STOP EIO"
	run vfiomig state "$MTTY2_A" stop
	assert_status 1
}

@test "a device in ERROR refuses a state change with exit 1" {
	double_only "needs a device in ERROR"
	"$FAKEDEV" state "$SYSROOT" "$MTTY2_A" ERROR
	run vfiomig state "$MTTY2_A" running
	assert_status 1
	assert_output_contains ERROR
}
