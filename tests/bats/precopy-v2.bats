#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# PRECOPY_INFOv2 (Linux 7.1, device feature 12): vfiomig opts in where the driver
# offers it, and a REINIT (new initial data mid-pre-copy) restarts that device's
# initial-data wait; `check` judges the opt-in, `info` shows it.

load helper

setup() {
	common_setup
}

result_of() {
	awk -v n="$1" '$1 == n { print $2; exit }' <<<"$output"
}

@test "migrate opts in to PRECOPY_INFOv2 and pre-copies a REINIT's new initial data past --max-rounds" {
	double_only
	knob "$MTTY2_A" "precopy_v2=1"
	knob "$MTTY2_A" "precopy_reinit_at=24"
	knob "$MTTY2_A" "precopy_reinit_bytes=36"
	knob "$MTTY2_A" "trace=1"
	start_receive "$MTTY2_B" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --max-rounds 1 --json -v
	finish_receive
	assert_status 0
	assert_output_contains "$MTTY2_A: opted in to PRECOPY_INFOv2 (REINIT)"
	assert_output_contains "$MTTY2_A: new initial data (REINIT): waiting for it again"
	assert_output_contains "$MTTY2_A: initial data all read in pre-copy round 2"
	[[ $(cat "$SYSROOT/double/$MTTY2_A/precopy_v2_set") == SET ]]
	local j
	j=$(sed -n '/^{/,/^}/p' <<<"$output")
	# 24 bytes of header, then the 36 the REINIT added, all before the source stopped
	[[ $(jq .precopy_rounds <<<"$j") -ge 2 && $(jq .precopy_bytes <<<"$j") == 60 ]]
	assert_equal "$(state_of "$MTTY2_A")" STOP
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "without a REINIT an opted-in device migrates in one round as before" {
	double_only
	knob "$MTTY2_A" "precopy_v2=1"
	start_receive "$MTTY2_B" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --max-rounds 1 --json -v
	finish_receive
	assert_status 0
	refute_output_contains "REINIT):"
	[[ $(sed -n '/^{/,/^}/p' <<<"$output" | jq .precopy_rounds) == 1 ]]
}

@test "a device without PRECOPY_INFOv2 never gets the opt-in SET, and flags stay unread" {
	double_only
	knob "$MTTY2_A" "precopy_reinit_at=24"
	start_receive "$MTTY2_B" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --max-rounds 1 --json -v
	finish_receive
	assert_status 0
	[[ ! -e $SYSROOT/double/$MTTY2_A/precopy_v2_set ]]
	refute_output_contains "PRECOPY_INFOv2"
	refute_output_contains "REINIT"
	[[ $(sed -n '/^{/,/^}/p' <<<"$output" | jq -c '[.precopy_rounds, .precopy_bytes]') == "[1,24]" ]]
}

@test "a driver that offers PRECOPY_INFOv2 and refuses the SET: a warning, and the migration goes on" {
	double_only
	knob "$MTTY2_A" "precopy_v2=1"
	knob "$MTTY2_A" "precopy_v2_set_errno=EIO"
	start_receive "$MTTY2_B" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 0
	assert_output_contains "warning: $MTTY2_A: opt in to PRECOPY_INFOv2 (feature 12)"
	assert_output_contains "pre-copy goes on without REINIT"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "check precopy_info_v2 passes on a driver that does not offer feature 12 and says so" {
	run vfiomig check "$MTTY2_A" --only precopy_info_v2
	assert_status 0
	assert_equal "$(result_of precopy_info_v2)" PASS
	assert_output_contains "not offered"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "check precopy_info_v2 passes when the opt-in works and PRECOPY_INFO reports defined flags" {
	double_only
	knob "$MTTY2_A" "precopy_v2=1"
	run vfiomig check "$MTTY2_A" --only precopy_info_v2
	assert_status 0
	assert_equal "$(result_of precopy_info_v2)" PASS
	assert_output_contains "the opt-in SET works"
	[[ $(cat "$SYSROOT/double/$MTTY2_A/precopy_v2_set") == SET ]]
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "check precopy_info_v2 fails when the driver offers feature 12 and refuses the SET" {
	double_only
	knob "$MTTY2_A" "precopy_v2=1"
	knob "$MTTY2_A" "precopy_v2_set_errno=EIO"
	run vfiomig check "$MTTY2_A" --only precopy_info_v2
	assert_status 1
	assert_equal "$(result_of precopy_info_v2)" FAIL
	assert_output_contains "opt-in SET failed with EIO"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "check precopy_info_v2 fails when PRECOPY_INFO reports undefined flag bits after the opt-in" {
	double_only
	knob "$MTTY2_A" "precopy_v2=1"
	knob "$MTTY2_A" "precopy_v2_flags=0x80000000"
	run vfiomig check "$MTTY2_A" --only precopy_info_v2
	assert_status 1
	assert_equal "$(result_of precopy_info_v2)" FAIL
	assert_output_contains "bits 0x80000000 are not defined"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "info shows PRECOPY_INFOv2 as not supported on a driver without feature 12" {
	run vfiomig info "$MTTY2_A"
	assert_status 0
	assert_output_contains "pre-copy info v2 (REINIT): not supported"
	run vfiomig info "$MTTY2_A" --json
	assert_status 0
	json_is .migration.precopy_info_v2 false
}

@test "info shows PRECOPY_INFOv2 as supported when the driver offers it, without opting in" {
	double_only
	knob "$MTTY2_A" "precopy_v2=1"
	run vfiomig info "$MTTY2_A"
	assert_status 0
	assert_output_contains "pre-copy info v2 (REINIT): supported"
	run vfiomig info "$MTTY2_A" --json
	assert_status 0
	json_is .migration.precopy_info_v2 true
	[[ ! -e $SYSROOT/double/$MTTY2_A/precopy_v2_set ]]
}
