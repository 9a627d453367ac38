#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vfiomig state: print a device's migration state, or move it along the kernel's path.

load helper

setup() {
	common_setup
}

@test "state prints RUNNING for a fresh device" {
	run vfiomig state "$MTTY2_A"
	assert_status 0
	assert_equal "$output" RUNNING
}

@test "state stop walks RUNNING_P2P and prints the path" {
	run vfiomig state "$MTTY2_A" stop
	assert_status 0
	assert_equal "$output" "RUNNING -> RUNNING_P2P -> STOP"
}

@test "an mdev keeps its state after vfiomig exits" {
	run vfiomig state "$MTTY2_A" stop
	assert_status 0
	run vfiomig state "$MTTY2_A"
	assert_status 0
	assert_equal "$output" STOP
}

@test "state running from STOP walks RUNNING_P2P back" {
	vfiomig state "$MTTY2_A" stop
	run vfiomig state "$MTTY2_A" running
	assert_status 0
	assert_equal "$output" "STOP -> RUNNING_P2P -> RUNNING"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "state stop_copy from RUNNING walks RUNNING_P2P and STOP" {
	run vfiomig state "$MTTY2_A" stop_copy --json
	assert_status 0
	assert_equal "$(jq -c .path <<<"$output")" '["RUNNING","RUNNING_P2P","STOP","STOP_COPY"]'
	assert_equal "$(state_of "$MTTY2_A")" STOP_COPY
}

@test "state --json gives device, from, to, path and the new state" {
	run vfiomig state "$MTTY2_A" stop --json
	assert_status 0
	json_is \
		.device "$MTTY2_A" \
		.from RUNNING \
		.to STOP \
		.path '["RUNNING","RUNNING_P2P","STOP"]' \
		.state STOP
}

@test "state pre_copy is one arc from RUNNING" {
	run vfiomig state "$MTTY2_A" pre_copy
	assert_status 0
	assert_equal "$output" "RUNNING -> PRE_COPY"
	assert_equal "$(state_of "$MTTY2_A")" PRE_COPY
}

@test "state pre_copy_p2p from RUNNING walks RUNNING_P2P" {
	run vfiomig state "$MTTY2_A" pre_copy_p2p
	assert_status 0
	assert_equal "$output" "RUNNING -> RUNNING_P2P -> PRE_COPY_P2P"
}

@test "state stop_copy from PRE_COPY walks PRE_COPY_P2P" {
	vfiomig state "$MTTY2_A" pre_copy
	run vfiomig state "$MTTY2_A" stop_copy
	assert_status 0
	assert_equal "$output" "PRE_COPY -> PRE_COPY_P2P -> STOP_COPY"
}

@test "state to the current state succeeds with a one-state path" {
	run vfiomig state "$MTTY2_A" running --json
	assert_status 0
	json_is \
		.path '["RUNNING"]' \
		.state RUNNING
}

@test "state --dry-run prints the path and leaves the device alone" {
	run vfiomig state "$MTTY2_A" stop_copy --dry-run
	assert_status 0
	assert_equal "$output" "RUNNING -> RUNNING_P2P -> STOP -> STOP_COPY"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "state names are case-insensitive and take '-' for '_'" {
	run vfiomig state "$MTTY2_A" Running-P2P
	assert_status 0
	assert_equal "$output" "RUNNING -> RUNNING_P2P"
	run vfiomig state "$MTTY2_A" STOP
	assert_status 0
	assert_equal "$(state_of "$MTTY2_A")" STOP
}

@test "state refuses STOP_COPY -> PRE_COPY, which the uAPI forbids, and exits 4" {
	# Refused before any ioctl: on 6.12 vfio_mig_get_next_state() has no ERROR exit
	# from its skip loop for this request (see tests/double/README.md).
	vfiomig state "$MTTY2_A" stop_copy
	run vfiomig state "$MTTY2_A" pre_copy
	assert_status 4
	assert_equal "$(state_of "$MTTY2_A")" STOP_COPY
}

@test "state resuming without --hold is refused with exit 2 and the device untouched" {
	vfiomig state "$MTTY2_A" stop
	run vfiomig state "$MTTY2_A" resuming
	assert_status 2
	assert_equal "$(state_of "$MTTY2_A")" STOP
}

@test "state error is refused as a usage error" {
	run vfiomig state "$MTTY2_A" error
	assert_status 2
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "state --reset returns a stopped device to RUNNING and prints it" {
	vfiomig state "$MTTY2_A" stop_copy
	run vfiomig state "$MTTY2_A" --reset
	assert_status 0
	assert_output_contains RUNNING
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "state --reset of several devices resets each and prints a line per device" {
	vfiomig state "$MTTY2_A" stop
	vfiomig state "$MTTY2_B" stop_copy
	run vfiomig state --reset "$MTTY2_A" "$MTTY2_B" "$MTTY1"
	assert_status 0
	assert_equal "$output" "$MTTY2_A RUNNING"$'\n'"$MTTY2_B RUNNING"$'\n'"$MTTY1 RUNNING"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "state --reset of several devices with --json prints an array of objects" {
	vfiomig state "$MTTY2_B" stop
	run vfiomig state --reset "$MTTY2_A" "$MTTY2_B" --json
	assert_status 0
	json_is \
		length 2 \
		'.[0].device' "$MTTY2_A" \
		'.[1].device' "$MTTY2_B" \
		'.[1].from' STOP \
		'[.[].state] | unique' '["RUNNING"]' \
		'[.[].changed] | all' true
}

@test "state --reset with a misspelt device among several touches none of them" {
	vfiomig state "$MTTY2_A" stop
	run vfiomig state --reset "$MTTY2_A" not-a-device "$MTTY2_B"
	assert_status 2
	assert_output_contains not-a-device
	assert_equal "$(state_of "$MTTY2_A")" STOP
}

@test "state takes several devices only with --reset" {
	run vfiomig state "$MTTY2_A" stop "$MTTY2_B"
	assert_status 2
	assert_output_contains "only --reset takes several devices"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "states of two devices are independent" {
	vfiomig state "$MTTY2_A" stop
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
	assert_equal "$(state_of "$MTTY2_A")" STOP
}

@test "state of a device without migration exits 4" {
	run vfiomig state "$NOMIG"
	assert_status 4
	run vfiomig state "$NOMIG" stop
	assert_status 4
}

@test "state --hold keeps the state until SIGTERM, then returns to RUNNING" {
	local out=$BATS_TEST_TMPDIR/hold.out
	vfiomig_bg "$out" state "$MTTY2_A" stop --hold
	wait_for_text "$out" "RUNNING -> RUNNING_P2P -> STOP"
	if [[ $BACKEND == double ]]; then
		assert_equal "$(double_state "$MTTY2_A")" STOP
	fi
	kill -TERM "$VFIOMIG_PID"
	wait "$VFIOMIG_PID" || true
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "state --hold exits 0 when SIGHUP ends the hold" {
	local out=$BATS_TEST_TMPDIR/hold.out rc=0
	vfiomig_bg "$out" state "$MTTY2_A" stop --hold
	wait_for_text "$out" "RUNNING -> RUNNING_P2P -> STOP"
	kill -HUP "$VFIOMIG_PID"
	wait "$VFIOMIG_PID" || rc=$?
	assert_equal "$rc" 0
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "state resuming --hold holds RESUMING, then resets the device to RUNNING" {
	local out=$BATS_TEST_TMPDIR/hold.out
	vfiomig state "$MTTY2_A" stop
	vfiomig_bg "$out" state "$MTTY2_A" resuming --hold
	wait_for_text "$out" "STOP -> RESUMING"
	if [[ $BACKEND == double ]]; then
		assert_equal "$(double_state "$MTTY2_A")" RESUMING
	fi
	kill -TERM "$VFIOMIG_PID"
	wait "$VFIOMIG_PID" || true
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "a held device cannot be opened by a second vfiomig" {
	local out=$BATS_TEST_TMPDIR/hold.out
	vfiomig_bg "$out" state "$MTTY2_A" stop --hold
	wait_for_text "$out" "RUNNING -> RUNNING_P2P -> STOP"
	run vfiomig state "$MTTY2_A"
	kill -TERM "$VFIOMIG_PID"
	wait "$VFIOMIG_PID" || true
	# the cdev path opens a device once (vfio_df_open: EINVAL); the group is busy
	assert_status 3
}

@test "a PCI device set without --hold is back in RUNNING once vfiomig exits" {
	double_only "needs a PCI device with migration"
	"$FAKEDEV" add "$SYSROOT" --kind pci --name 0000:00:05.0 --driver mlx5_vfio_pci --group 8 --flags 7
	run vfiomig state 0000:00:05.0 stop
	assert_status 0
	assert_output_contains "RUNNING -> RUNNING_P2P -> STOP"
	assert_equal "$(state_of 0000:00:05.0)" RUNNING
}

@test "state stop_copy on a STOP_COPY-only device walks RUNNING -> STOP directly" {
	double_only "needs a device with migration flags 1"
	knob "$MTTY2_B" migration=1
	knob "$MTTY2_B" trace=1
	run vfiomig state "$MTTY2_B" stop_copy
	assert_status 0
	assert_equal "$output" "RUNNING -> STOP -> STOP_COPY"
	assert_equal "$(cat "$SYSROOT/double/$MTTY2_B/arcs")" $'RUNNING>STOP\nSTOP>STOP_COPY'
}

@test "state running_p2p on a device without P2P exits 4 and touches nothing" {
	double_only "needs a device with migration flags 1"
	knob "$MTTY2_B" migration=1
	knob "$MTTY2_B" trace=1
	run vfiomig state "$MTTY2_B" running_p2p
	assert_status 4
	[[ ! -s $SYSROOT/double/$MTTY2_B/arcs ]]
	assert_equal "$(double_state "$MTTY2_B")" RUNNING
}

@test "state pre_copy on a device without PRE_COPY exits 4" {
	double_only "needs a device with migration flags 3"
	knob "$MTTY2_B" migration=3
	run vfiomig state "$MTTY2_B" pre_copy
	assert_status 4
}

@test "the path vfiomig prints is the one the driver walked" {
	double_only "needs the double's arc trace"
	knob "$MTTY2_A" trace=1
	run vfiomig state "$MTTY2_A" stop_copy
	assert_status 0
	assert_equal "$(cat "$SYSROOT/double/$MTTY2_A/arcs")" \
		$'RUNNING>RUNNING_P2P\nRUNNING_P2P>STOP\nSTOP>STOP_COPY'
}
