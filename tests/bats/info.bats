#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vfiomig info: a device's identity, migration flags, states, arcs and current state.

load helper

setup() {
	common_setup
}

@test "info of an mtty-2 names its flags, state and stop-copy size" {
	run vfiomig info "$MTTY2_A"
	assert_status 0
	assert_output_contains "$MTTY2_A"
	assert_output_contains STOP_COPY
	assert_output_contains PRE_COPY
	assert_output_contains RUNNING
	assert_output_contains 96
}

@test "info --json of an mtty-2 gives its identity as the SPEC lists it" {
	run vfiomig info "$MTTY2_A" --json
	assert_status 0
	json_is \
		.device "$MTTY2_A" \
		.kind mdev \
		.mdev_type mtty-2 \
		.mdev_type_name "Dual port serial" \
		.parent mtty \
		.sysfs "/sys/bus/mdev/devices/$MTTY2_A" \
		'.iommu_group | test("^[0-9]+$")' true \
		'.cdev | test("^/dev/vfio/devices/vfio[0-9]+$")' true \
		.opened_via cdev \
		.vendor_id null \
		.physfn null
}

@test "info --json of an mtty-2 gives flags 7, all seven states and fifteen arcs" {
	run vfiomig info "$MTTY2_A" --json
	assert_status 0
	json_is \
		'.migration.supported == true' true \
		.migration.flags_value 7 \
		.migration.flags '["STOP_COPY","P2P","PRE_COPY"]' \
		'.migration.states | length' 7 \
		'.migration.arcs | length' 15 \
		'.migration.arcs | index([["PRE_COPY_P2P","STOP_COPY"]]) != null' true \
		'.migration.arcs | index([["STOP_COPY","PRE_COPY"]]) == null' true \
		'.migration.arcs | index([["RUNNING","STOP"]]) == null' true \
		.migration.state RUNNING
}

@test "info --json of an mtty-2 estimates 96 stop-copy bytes, of an mtty-1 60" {
	run vfiomig info "$MTTY2_A" --json
	assert_status 0
	assert_equal "$(json .migration.stop_copy_bytes)" 96
	run vfiomig info "$MTTY1" --json
	assert_status 0
	json_is \
		.migration.stop_copy_bytes 60 \
		.mdev_type mtty-1 \
		.mdev_type_name "Single port serial"
}

@test "info --json says mtty supports DMA logging and has no v1 region" {
	# mtty registers vfio_log_ops (samples/vfio-mdev/mtty.c), so the PROBE succeeds.
	run vfiomig info "$MTTY2_A" --json
	assert_status 0
	json_is \
		.migration.dma_logging true \
		.migration.v1_region false
}

@test "info shows the state the device is in" {
	run vfiomig state "$MTTY2_A" stop
	assert_status 0
	run vfiomig info "$MTTY2_A" --json
	assert_status 0
	assert_equal "$(json .migration.state)" STOP
	run vfiomig state "$MTTY2_A" running
	assert_status 0
}

@test "info of a device without migration prints its identity and exits 4" {
	run vfiomig info "$NOMIG"
	assert_status 4
	assert_output_contains "$NOMIG"
	assert_output_contains vfio-pci
}

@test "info --json of a device without migration says why and gives its PCI ids" {
	run vfiomig info "$NOMIG" --json
	assert_status 4
	json_is \
		.device "$NOMIG" \
		.kind pci \
		.driver vfio-pci \
		.vendor_id 0x8086 \
		.device_id 0x100e \
		.class 0x020000 \
		.sysfs "/sys/bus/pci/devices/$NOMIG" \
		'.migration.supported == false' true \
		'.migration.reason | length > 0' true \
		.mdev_type null
}

@test "info --json of a STOP_COPY-only device lists four states and six arcs" {
	double_only "needs a device with migration flags 1"
	knob "$MTTY2_B" migration=1
	run vfiomig info "$MTTY2_B" --json
	assert_status 0
	json_is \
		.migration.flags_value 1 \
		'.migration.states | sort' '["RESUMING","RUNNING","STOP","STOP_COPY"]' \
		'.migration.arcs | length' 6 \
		'.migration.arcs | index([["RUNNING","STOP"]]) != null' true
}

@test "info --json of a STOP_COPY|P2P device lists five states" {
	double_only "needs a device with migration flags 3"
	knob "$MTTY2_B" migration=3
	run vfiomig info "$MTTY2_B" --json
	assert_status 0
	json_is \
		'.migration.states | length' 5 \
		'.migration.arcs | index([["RUNNING","STOP"]]) == null' true \
		'.migration.arcs | length' 8
}

@test "info --json reports a removed v1 migration region" {
	double_only "needs a device with a v1 migration region"
	knob "$MTTY2_B" v1_region=1
	run vfiomig info "$MTTY2_B" --json
	assert_status 0
	assert_equal "$(json .migration.v1_region)" true
}

@test "info --json reports no DMA logging when the PROBE gives ENOTTY" {
	double_only "needs a device without log_ops"
	knob "$MTTY2_B" dma_logging=0
	run vfiomig info "$MTTY2_B" --json
	assert_status 0
	assert_equal "$(json .migration.dma_logging)" false
}

@test "info --json reports the driver's stop-copy estimate, not the blob size" {
	double_only "needs a driver whose estimate differs"
	knob "$MTTY2_B" data_size=4096
	run vfiomig info "$MTTY2_B" --json
	assert_status 0
	assert_equal "$(json .migration.stop_copy_bytes)" 4096
}

@test "info --json of a VF names its physfn" {
	double_only "needs an SR-IOV VF"
	"$FAKEDEV" add "$SYSROOT" --kind pci --name 0000:00:06.0 --driver mlx5_core --group 10
	"$FAKEDEV" add "$SYSROOT" --kind pci --name 0000:00:06.1 --driver mlx5_vfio_pci --group 11 \
		--vendor 0x15b3 --device 0x101e --physfn 0000:00:06.0 --flags 3
	run vfiomig info 0000:00:06.1 --json
	assert_status 0
	json_is \
		.physfn 0000:00:06.0 \
		.driver mlx5_vfio_pci \
		.migration.flags_value 3
}
