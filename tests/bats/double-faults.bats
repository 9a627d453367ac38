#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Faults only the test double can produce: failing arcs, a device in ERROR, a reset that
# does not help. vfiomig must report them and never leave a device stranded.

load helper

setup() {
	common_setup
	double_only "fault injection needs the test double"
}

@test "a failing arc is reported with the errno, and the device goes back to RUNNING" {
	knob "$MTTY2_A" "fail_arc=STOP>STOP_COPY EIO"
	run vfiomig state "$MTTY2_A" stop_copy
	assert_status 1
	assert_output_contains "vfiomig: $MTTY2_A:"
	assert_output_contains "Input/output error"
	assert_output_contains STOP
	assert_equal "$(double_state "$MTTY2_A")" RUNNING
}

@test "a failing arc tells where the walk stopped" {
	knob "$MTTY2_A" "fail_arc=RUNNING_P2P>STOP ETIMEDOUT"
	run vfiomig state "$MTTY2_A" stop
	assert_status 1
	assert_output_contains "timed out"
	assert_output_contains RUNNING_P2P
}

@test "state reports the state after a failed change" {
	knob "$MTTY2_A" "fail_arc=STOP>STOP_COPY EIO"
	run vfiomig state "$MTTY2_A" stop_copy
	assert_status 1
	run vfiomig state "$MTTY2_A"
	assert_status 0
	assert_equal "$output" "$(double_state "$MTTY2_A")"
}

@test "an arc that drops the device into ERROR ends with a reset to RUNNING" {
	knob "$MTTY2_A" "fail_arc=STOP>STOP_COPY EIO error"
	run vfiomig state "$MTTY2_A" stop_copy
	assert_status 1
	assert_output_contains "Input/output error"
	assert_equal "$(double_state "$MTTY2_A")" RUNNING
}

@test "--json of a failed change still reports nothing false on stdout" {
	knob "$MTTY2_A" "fail_arc=STOP>STOP_COPY EIO"
	run vfiomig state "$MTTY2_A" stop_copy --json
	assert_status 1
	refute_output_contains '"state": "STOP_COPY"'
}

@test "a device that starts in ERROR reads as ERROR" {
	"$FAKEDEV" state "$SYSROOT" "$MTTY2_A" ERROR
	run vfiomig state "$MTTY2_A"
	assert_status 0
	assert_equal "$output" ERROR
	run vfiomig info "$MTTY2_A" --json
	assert_status 0
	assert_equal "$(json .migration.state)" ERROR
}

@test "--reset takes a device out of ERROR" {
	"$FAKEDEV" state "$SYSROOT" "$MTTY2_A" ERROR
	run vfiomig state "$MTTY2_A" --reset
	assert_status 0
	assert_output_contains RUNNING
	assert_equal "$(double_state "$MTTY2_A")" RUNNING
}

@test "a SET from ERROR fails and hints at --reset" {
	"$FAKEDEV" state "$SYSROOT" "$MTTY2_A" ERROR
	run vfiomig state "$MTTY2_A" stop
	assert_status 1
	assert_output_contains reset
}

@test "a reset that leaves the device in ERROR prints ERROR, not RUNNING" {
	# The SPEC does not fix the exit status for this case (see the report).
	"$FAKEDEV" state "$SYSROOT" "$MTTY2_A" ERROR
	knob "$MTTY2_A" reset_keeps_error=1
	run vfiomig state "$MTTY2_A" --reset
	assert_output_contains ERROR
	refute_output_contains RUNNING
}

@test "a failing reset exits 1 with the errno" {
	knob "$MTTY2_A" reset_errno=EIO
	run vfiomig state "$MTTY2_A" --reset
	assert_status 1
	assert_output_contains "Input/output error"
}

@test "a failing GET of the state exits 1" {
	knob "$MTTY2_A" get_errno=EIO
	run vfiomig state "$MTTY2_A"
	assert_status 1
	assert_output_contains "Input/output error"
}

@test "a BIND_IOMMUFD failure makes the device unavailable" {
	knob "$MTTY2_A" bind_errno=EBUSY
	run vfiomig --open-via=cdev state "$MTTY2_A"
	assert_status 3
}

@test "a slow device still completes a state change" {
	knob "$MTTY2_A" delay_ms=50
	run vfiomig state "$MTTY2_A" stop_copy
	assert_status 0
	assert_equal "$(double_state "$MTTY2_A")" STOP_COPY
}

@test "a stop_copy without --hold leaves the device in STOP_COPY with its data fd closed" {
	run vfiomig state "$MTTY2_A" stop_copy
	assert_status 0
	assert_equal "$(double_state "$MTTY2_A")" STOP_COPY
	run vfiomig state "$MTTY2_A" running
	assert_status 0
	assert_equal "$output" "STOP_COPY -> STOP -> RUNNING_P2P -> RUNNING"
}
