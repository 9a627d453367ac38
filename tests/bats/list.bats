#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vfiomig list: which VFIO devices exist and what migration they support.

load helper

setup() {
	common_setup
}

@test "list prints a header and one line per VFIO device" {
	run vfiomig list
	assert_status 0
	[[ ${lines[0]} == DEVICE* ]]
	assert_output_contains "$MTTY2_A"
	assert_output_contains "$MTTY2_B"
	assert_output_contains "$MTTY1"
	assert_output_contains "$NOMIG"
}

@test "list shows an mtty's kind, group, cdev and migration flags" {
	run vfiomig list
	assert_status 0
	local line
	line=$(grep -F "$MTTY2_A" <<<"$output")
	[[ $line == *" mdev "* ]]
	[[ $line == *"stop_copy,p2p,pre_copy"* ]]
	[[ $line =~ vfio[0-9]+ ]]
}

@test "list says none for a vfio-pci device without migration" {
	run vfiomig list
	assert_status 0
	local line
	line=$(grep -F "$NOMIG" <<<"$output")
	[[ $line == *" pci "* ]]
	[[ $line == *" vfio-pci "* ]]
	[[ $line == *" none "* ]]
}

@test "list --json describes every device with kind, group, cdev and flags" {
	run vfiomig list --json
	assert_status 0
	local a=".devices[] | select(.device == \"$MTTY2_A\")"
	json_is \
		'.devices | length >= 4' true \
		"[$a] | length" 1 \
		"$a | .kind" mdev \
		"$a | .migration.flags" '["STOP_COPY","P2P","PRE_COPY"]' \
		"$a | .probe_error" null \
		"$a | .cdev | test(\"^/dev/vfio/devices/vfio[0-9]+\$\")" true \
		"$a | .iommu_group | test(\"^[0-9]+\$\")" true \
		"$a | .physfn" null
}

@test "list --json gives a device without migration a null migration and its PCI ids" {
	run vfiomig list --json
	assert_status 0
	local n=".devices[] | select(.device == \"$NOMIG\")"
	json_is \
		"[$n] | length" 1 \
		"$n | .kind" pci \
		"$n | .driver" vfio-pci \
		"$n | .migration" null \
		"$n | .vendor_id" 0x8086 \
		"$n | .device_id" 0x100e
}

@test "list --names prints only device names, one per line" {
	run vfiomig list --names
	assert_status 0
	refute_output_contains DEVICE
	grep -qx "$MTTY2_A" <<<"$output"
	grep -qx "$MTTY1" <<<"$output"
	grep -qx "$NOMIG" <<<"$output"
}

@test "list --no-probe still lists every device" {
	run vfiomig list --no-probe
	assert_status 0
	assert_output_contains "$MTTY2_A"
	assert_output_contains "$NOMIG"
}

@test "list shows '? (busy)' for a device it cannot open" {
	double_only "needs a device held by another user"
	knob "$MTTY2_B" open_errno=EBUSY
	run vfiomig list
	assert_status 0
	grep -F "$MTTY2_B" <<<"$output" | grep -qF '? (busy)'
	grep -F "$MTTY2_A" <<<"$output" | grep -qF 'stop_copy,p2p,pre_copy'
}

@test "list --json reports the probe error of a busy device" {
	double_only "needs a device held by another user"
	knob "$MTTY2_B" open_errno=EBUSY
	run vfiomig list --json
	assert_status 0
	assert_equal "$(jq -r --arg d "$MTTY2_B" '.devices[] | select(.device == $d) | .probe_error' <<<"$output")" \
		"Device or resource busy"
	assert_equal "$(jq -r --arg d "$MTTY2_B" '.devices[] | select(.device == $d) | .migration' <<<"$output")" null
}

@test "list shows '? (permission denied)' for a device it may not open" {
	double_only "needs a device node without access"
	knob "$MTTY1" open_errno=EACCES
	run vfiomig list
	assert_status 0
	grep -F "$MTTY1" <<<"$output" | grep -qF '? (permission denied)'
}

@test "list --no-probe does not open the devices" {
	double_only "needs a device that fails to open"
	knob "$MTTY2_B" open_errno=EBUSY
	run vfiomig list --no-probe
	assert_status 0
	refute_output_contains "busy"
}

@test "list leaves out a PCI device bound to a host driver" {
	double_only "needs a device on a non-vfio driver"
	"$FAKEDEV" add "$SYSROOT" --kind pci --name 0000:00:04.0 --driver e1000e --group 9
	run vfiomig list
	assert_status 0
	refute_output_contains 0000:00:04.0
}

@test "list includes a PCI device on a vfio variant driver" {
	double_only "needs a variant driver"
	"$FAKEDEV" add "$SYSROOT" --kind pci --name 0000:00:05.0 --driver mlx5_vfio_pci \
		--vendor 0x15b3 --device 0x101e --class 0x020000 --group 8 --flags 7
	run vfiomig list
	assert_status 0
	grep -F 0000:00:05.0 <<<"$output" | grep -qF mlx5_vfio_pci
	grep -F 0000:00:05.0 <<<"$output" | grep -qF stop_copy,p2p,pre_copy
}

@test "list shows a VF's physfn in JSON" {
	double_only "needs an SR-IOV VF"
	"$FAKEDEV" add "$SYSROOT" --kind pci --name 0000:00:06.0 --driver mlx5_core --group 10
	"$FAKEDEV" add "$SYSROOT" --kind pci --name 0000:00:06.1 --driver mlx5_vfio_pci --group 11 \
		--physfn 0000:00:06.0 --flags 3
	run vfiomig list --json
	assert_status 0
	assert_equal "$(jq -r '.devices[] | select(.device == "0000:00:06.1") | .physfn' <<<"$output")" 0000:00:06.0
}
