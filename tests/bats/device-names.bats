#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Every DEVICE form the SPEC lists, how an unusable device is refused, and how it is opened.

load helper

setup() {
	common_setup
}

cdev_of() { # DEVICE -> /dev/vfio/devices/vfioN as list --json reports it
	vfiomig list --json | jq -r --arg d "$1" '.devices[] | select(.device == $d) | .cdev'
}

@test "an mdev is named by its UUID" {
	run vfiomig info "$MTTY2_A" --json
	assert_status 0
	assert_equal "$(json .device)" "$MTTY2_A"
}

@test "an mdev is named by its sysfs path" {
	run vfiomig info "/sys/bus/mdev/devices/$MTTY2_A" --json
	assert_status 0
	assert_equal "$(json .device)" "$MTTY2_A"
}

@test "a device is named by its cdev node" {
	local cdev
	cdev=$(cdev_of "$MTTY2_A")
	[[ $cdev == /dev/vfio/devices/vfio* ]]
	run vfiomig info "$cdev" --json
	assert_status 0
	assert_equal "$(json .device)" "$MTTY2_A"
}

@test "a PCI device is named by its full address" {
	run vfiomig info "$NOMIG" --json
	assert_status 4
	assert_equal "$(json .device)" "$NOMIG"
}

@test "a PCI address without domain means domain 0000" {
	run vfiomig info "${NOMIG#0000:}" --json
	assert_status 4
	assert_equal "$(json .device)" "$NOMIG"
}

@test "a PCI device is named by its sysfs path" {
	run vfiomig info "/sys/bus/pci/devices/$NOMIG" --json
	assert_status 4
	assert_equal "$(json .device)" "$NOMIG"
}

@test "an inherited device fd is named fd:N and used as it is" {
	double_only "a real kernel fd must be bound before it is passed"
	local fd
	exec {fd}<>"$SYSROOT/dev/vfio/devices/vfio0"
	run vfiomig state "fd:$fd" stop --json
	exec {fd}>&-
	assert_status 0
	assert_equal "$(json .state)" STOP
	assert_equal "$(double_state "$MTTY2_A")" STOP
}

@test "info through fd:N says it was opened via fd" {
	double_only "a real kernel fd must be bound before it is passed"
	local fd
	exec {fd}<>"$SYSROOT/dev/vfio/devices/vfio0"
	run vfiomig info "fd:$fd" --json
	exec {fd}>&-
	assert_status 0
	json_is \
		.opened_via fd \
		'.migration.supported == true' true
}

@test "fd:N of a closed fd is refused" {
	run vfiomig state fd:200
	[[ $status -ne 0 && $status -ne 2 ]]
	assert_output_contains "fd:200"
}

@test "an unknown PCI address exits 3 and names the device" {
	run vfiomig info 0000:00:1f.7
	assert_status 3
	assert_output_contains "vfiomig: 0000:00:1f.7:"
}

@test "an unknown mdev UUID exits 3" {
	run vfiomig state 00000000-0000-0000-0000-000000000000
	assert_status 3
}

@test "a name of no known form is a usage error" {
	run vfiomig state eth0
	assert_status 2
	run vfiomig state fd:abc
	assert_status 2
	run vfiomig state 0000:00:03
	assert_status 2
}

@test "a PCI device bound to a host driver exits 3" {
	double_only "needs a device on a non-vfio driver"
	"$FAKEDEV" add "$SYSROOT" --kind pci --name 0000:00:04.0 --driver e1000e --group 9
	run vfiomig info 0000:00:04.0
	assert_status 3
	assert_output_contains e1000e
}

@test "a busy device exits 3 and says it is busy" {
	double_only "needs a device held by another user"
	knob "$MTTY2_A" open_errno=EBUSY
	run vfiomig state "$MTTY2_A"
	assert_status 3
	assert_output_contains "busy"
}

@test "a device the user may not open exits 3 and says permission denied" {
	double_only "needs a device node without access"
	knob "$MTTY2_A" open_errno=EACCES
	run vfiomig state "$MTTY2_A"
	assert_status 3
	assert_output_contains "ermission denied"
}

@test "a device in a group that is not viable exits 3 on the group path" {
	double_only "needs a non-viable group"
	"$FAKEDEV" add "$SYSROOT" --kind pci --name 0000:00:07.0 --flags 7 --group 12
	"$FAKEDEV" add "$SYSROOT" --kind pci --name 0000:00:07.1 --driver e1000e --group 12
	run vfiomig --open-via=group state 0000:00:07.0
	assert_status 3
	assert_output_contains "viable"
}

@test "a device in a group that is not viable exits 3 on the cdev path" {
	double_only "needs a non-viable group"
	"$FAKEDEV" add "$SYSROOT" --kind pci --name 0000:00:07.0 --flags 7 --group 12
	"$FAKEDEV" add "$SYSROOT" --kind pci --name 0000:00:07.1 --driver e1000e --group 12
	run vfiomig --open-via=cdev state 0000:00:07.0
	assert_status 3
}

@test "a kernel without VFIO exits 3 and says so" {
	double_only "needs a kernel without VFIO"
	make_fake_root "$SYSROOT" --no-vfio
	run vfiomig state "$MTTY2_A"
	assert_status 3
	assert_output_contains "VFIO"
}

@test "without the vfio cdev the group path is used" {
	double_only "needs a kernel without the vfio cdev"
	make_fake_root "$SYSROOT" --no-cdev
	run vfiomig info "$MTTY2_A" --json
	assert_status 0
	json_is \
		.opened_via group \
		.cdev null
	run vfiomig state "$MTTY2_A" stop
	assert_status 0
	assert_equal "$(double_state "$MTTY2_A")" STOP
}

@test "list works without the vfio cdev and shows no cdev" {
	double_only "needs a kernel without the vfio cdev"
	make_fake_root "$SYSROOT" --no-cdev
	run vfiomig list --json
	assert_status 0
	assert_equal "$(jq -r --arg d "$MTTY2_A" '.devices[] | select(.device == $d) | .cdev' <<<"$output")" null
	assert_equal "$(jq -c --arg d "$MTTY2_A" '.devices[] | select(.device == $d) | .migration.flags' <<<"$output")" \
		'["STOP_COPY","P2P","PRE_COPY"]'
}

@test "--open-via=group opens through the container and group" {
	run vfiomig --open-via=group info "$MTTY2_A" --json
	assert_status 0
	assert_equal "$(json .opened_via)" group
	run vfiomig --open-via=group state "$MTTY2_A" stop
	assert_status 0
	assert_equal "$(state_of "$MTTY2_A")" STOP
}

@test "--open-via=cdev opens through the cdev and iommufd" {
	run vfiomig --open-via=cdev info "$MTTY2_A" --json
	assert_status 0
	assert_equal "$(json .opened_via)" cdev
}

@test "--open-via works after the subcommand too" {
	run vfiomig info "$MTTY2_A" --json --open-via=group
	assert_status 0
	assert_equal "$(json .opened_via)" group
}

@test "--open-via=cdev without the vfio cdev exits 3" {
	double_only "needs a kernel without the vfio cdev"
	make_fake_root "$SYSROOT" --no-cdev
	run vfiomig --open-via=cdev state "$MTTY2_A"
	assert_status 3
}

@test "--open-via with an unknown method is a usage error" {
	run vfiomig --open-via=magic state "$MTTY2_A"
	assert_status 2
}

@test "the group path and the cdev path see the same state" {
	vfiomig --open-via=cdev state "$MTTY2_A" stop
	run vfiomig --open-via=group state "$MTTY2_A"
	assert_status 0
	assert_equal "$output" STOP
}
