#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Real-kernel-only behaviour (Linux 6.12, mtty sample, e1000 on vfio-pci in no-IOMMU mode):
# facts the test double copies, checked where they come from. Runs inside the VM (tests/vm/run.sh).

load '../bats/helper'

MTTY_UART=${VFIOMIG_TEST_TOOLS:-$BATS_TEST_DIRNAME/../tools}/mtty-uart

setup() {
	HOLDER=
	kernel_only
	common_setup
	# common_setup left the devices RUNNING; a reset keeps mtty's FIFO, so empty them too
	"$MTTY_UART" drain "$MTTY2_A" "$MTTY2_B" "$MTTY1" >/dev/null 2>&1 || true
}

teardown() {
	if [ -n "$HOLDER" ]; then
		kill "$HOLDER" 2>/dev/null
		wait "$HOLDER" 2>/dev/null || true
	fi
}

# hold_device VIA DEVICE: keeps DEVICE open through VIA (cdev|group) in the background.
hold_device() {
	"$MTTY_UART" --open-via="$1" hold "$2" >"$BATS_TEST_TMPDIR/holder" 2>&1 3>&- &
	HOLDER=$!
	wait_for_text "$BATS_TEST_TMPDIR/holder" "held $2" "$HOLDER"
}

# The cdev path's second VFIO_DEVICE_BIND_IOMMUFD fails with EINVAL, not EBUSY; either way
# the message must tell the user that someone else has the device open.
says_busy() {
	[[ "${output,,}" == *busy* || "${output,,}" == *"already open"* ]]
}

need_jq() {
	command -v jq >/dev/null || skip "jq is not installed in the guest"
}

# set_and_return DEVICE TARGET PATH-THERE PATH-BACK: sets TARGET, checks the printed path and
# the state read back, then returns to RUNNING the same way.
set_and_return() {
	local dev=$1 target=$2 there=$3 back=$4 final
	final=${there##* }
	run vfiomig state "$dev" "$target" --dry-run
	assert_status 0
	assert_equal "$output" "$there"
	run vfiomig state "$dev"
	assert_equal "$output" RUNNING
	run vfiomig state "$dev" "$target"
	assert_status 0
	assert_equal "$output" "$there"
	run vfiomig state "$dev"
	assert_status 0
	assert_equal "$output" "$final"
	run vfiomig state "$dev" running
	assert_status 0
	assert_equal "$output" "$back"
	run vfiomig state "$dev"
	assert_equal "$output" RUNNING
}

# The IOMMU's dirty tracking, and with it QEMU's verdict, is a property of the opening
# path (iommufd's IOMMU_GET_HW_INFO against the type1 container): the rest is the same.
@test "an mtty reads the same through the cdev and the group opening paths" {
	need_jq
	run vfiomig --open-via=cdev info "$MTTY2_A" --json
	assert_status 0
	local via_cdev=$output
	run vfiomig --open-via=group info "$MTTY2_A" --json
	assert_status 0
	local via_group=$output
	output="[$via_cdev, $via_group]"
	json_is \
		'.[0].opened_via' cdev \
		'.[1].opened_via' group \
		'.[0].iommu_dirty_tracking.source | test("iommufd")' true \
		'.[1].iommu_dirty_tracking.source | test("iommufd") | not' true \
		'(.[0] | del(.opened_via, .iommu_dirty_tracking, .qemu)) ==
		 (.[1] | del(.opened_via, .iommu_dirty_tracking, .qemu))' true
}

@test "an mtty's human info is the same through both opening paths but for the path" {
	run vfiomig --open-via=cdev info "$MTTY2_B"
	assert_status 0
	local via_cdev=$output
	run vfiomig --open-via=group info "$MTTY2_B"
	assert_status 0
	[ "$(grep -iv 'opened\|open via\|cdev\|group\|iommu dirty\|QEMU can migrate' <<<"$via_cdev")" = \
		"$(grep -iv 'opened\|open via\|cdev\|group\|iommu dirty\|QEMU can migrate' <<<"$output")" ]
}

@test "info on an mtty-2 shows its identity, flags, DMA logging and a 96-byte estimate" {
	need_jq
	run vfiomig info "$MTTY2_A" --json
	assert_status 0
	json_is \
		.kind mdev \
		.driver mtty \
		.mdev_type mtty-2 \
		.mdev_type_name "Dual port serial" \
		.parent mtty \
		.migration.flags_value 7 \
		.migration.flags '["STOP_COPY","P2P","PRE_COPY"]' \
		.migration.state RUNNING \
		.migration.stop_copy_bytes 96
	# mtty registers (dummy) DMA logging ops, so the PROBE succeeds
	json_is \
		.migration.dma_logging true \
		.migration.v1_region false
}

@test "info on an mtty-1 estimates 60 bytes of state" {
	need_jq
	run vfiomig info "$MTTY1" --json
	assert_status 0
	json_is \
		.mdev_type mtty-1 \
		.migration.stop_copy_bytes 60
}

@test "info on the e1000 says it has no migration support and exits 4" {
	run vfiomig info "$NOMIG"
	assert_status 4
	[[ "$output" == *"$NOMIG"* ]]
	[[ "${output,,}" == *migration* ]]
}

@test "info --json on the e1000 reports migration unsupported with a reason" {
	need_jq
	run vfiomig info "$NOMIG" --json
	assert_status 4
	json_is \
		.kind pci \
		.driver vfio-pci \
		.vendor_id 0x8086 \
		.device_id 0x100e \
		.migration.supported false \
		'.migration.reason | length > 0' true
}

@test "state on the e1000 exits 4, with and without a target" {
	run vfiomig state "$NOMIG"
	assert_status 4
	run vfiomig state "$NOMIG" stop
	assert_status 4
}

@test "a no-IOMMU device has no cdev node: --open-via=cdev says unavailable, group works" {
	run vfiomig --open-via=cdev info "$NOMIG"
	assert_status 3
	run vfiomig --open-via=group info "$NOMIG"
	assert_status 4
}

@test "list shows the three mttys with their flags and the e1000 without migration" {
	run vfiomig list
	assert_status 0
	local dev
	for dev in "$MTTY2_A" "$MTTY2_B" "$MTTY1"; do
		grep "$dev" <<<"$output" | grep -q 'mdev'
		grep "$dev" <<<"$output" | grep -q 'stop_copy,p2p,pre_copy'
	done
	grep "$NOMIG" <<<"$output" | grep -q 'vfio-pci'
	grep "$NOMIG" <<<"$output" | grep -qw 'none'
}

@test "list --json gives mttys a cdev and the no-IOMMU e1000 none" {
	need_jq
	run vfiomig list --json
	assert_status 0
	json_is \
		".devices[] | select(.device == \"$MTTY2_A\") | .cdev | startswith(\"/dev/vfio/devices/vfio\")" true \
		".devices[] | select(.device == \"$NOMIG\") | .cdev" null \
		".devices[] | select(.device == \"$NOMIG\") | .migration" null \
		".devices[] | select(.device == \"$MTTY1\") | .driver" mtty
}

@test "state stop walks RUNNING -> RUNNING_P2P -> STOP and the stop outlives vfiomig" {
	run vfiomig state "$MTTY2_A" stop
	assert_status 0
	assert_equal "$output" "RUNNING -> RUNNING_P2P -> STOP"
	run vfiomig state "$MTTY2_A"
	assert_status 0
	assert_equal "$output" STOP
	run vfiomig state "$MTTY2_A" running
	assert_status 0
	assert_equal "$output" "STOP -> RUNNING_P2P -> RUNNING"
	run vfiomig state "$MTTY2_A"
	assert_equal "$output" RUNNING
}

@test "the kernel walks RUNNING -> RUNNING_P2P and back" {
	set_and_return "$MTTY2_A" running_p2p "RUNNING -> RUNNING_P2P" "RUNNING_P2P -> RUNNING"
}

@test "the kernel walks RUNNING to STOP_COPY through RUNNING_P2P and STOP" {
	set_and_return "$MTTY2_A" stop_copy "RUNNING -> RUNNING_P2P -> STOP -> STOP_COPY" \
		"STOP_COPY -> STOP -> RUNNING_P2P -> RUNNING"
}

@test "the kernel walks RUNNING -> PRE_COPY directly and back" {
	set_and_return "$MTTY2_B" pre_copy "RUNNING -> PRE_COPY" "PRE_COPY -> RUNNING"
}

@test "the kernel walks RUNNING to PRE_COPY_P2P through RUNNING_P2P" {
	set_and_return "$MTTY2_B" pre_copy_p2p "RUNNING -> RUNNING_P2P -> PRE_COPY_P2P" \
		"PRE_COPY_P2P -> RUNNING_P2P -> RUNNING"
}

@test "the same walks hold on an mtty-1 opened through the group" {
	run vfiomig --open-via=group state "$MTTY1" stop_copy
	assert_status 0
	assert_equal "$output" "RUNNING -> RUNNING_P2P -> STOP -> STOP_COPY"
	run vfiomig --open-via=cdev state "$MTTY1"
	assert_equal "$output" STOP_COPY
	run vfiomig --open-via=group state "$MTTY1" running
	assert_status 0
	assert_equal "$output" "STOP_COPY -> STOP -> RUNNING_P2P -> RUNNING"
}

@test "resuming without --hold is refused and the device stays RUNNING" {
	run vfiomig state "$MTTY2_A" resuming
	assert_status 2
	run vfiomig state "$MTTY2_A"
	assert_equal "$output" RUNNING
}

@test "error is not a state one can set" {
	run vfiomig state "$MTTY2_A" error
	assert_status 2
	run vfiomig state "$MTTY2_A"
	assert_equal "$output" RUNNING
}

@test "mtty-uart: bytes written to port 0 come back from its loopback FIFO" {
	run "$MTTY_UART" lsr "$MTTY2_A"
	assert_equal "$output" 0x60
	run "$MTTY_UART" write "$MTTY2_A" hello
	assert_status 0
	run "$MTTY_UART" --open-via=group lsr "$MTTY2_A"
	assert_equal "$output" 0x01
	run "$MTTY_UART" --open-via=cdev read "$MTTY2_A"
	assert_status 0
	assert_equal "$output" hello
	run "$MTTY_UART" lsr "$MTTY2_A"
	assert_equal "$output" 0x60
	# drain empties several devices at once and prints nothing
	"$MTTY_UART" write "$MTTY2_A" one
	"$MTTY_UART" write "$MTTY1" two
	run "$MTTY_UART" drain "$MTTY2_A" "$MTTY2_B" "$MTTY1"
	assert_status 0
	assert_equal "$output" ''
	run "$MTTY_UART" lsr "$MTTY2_A"
	assert_equal "$output" 0x60
	run "$MTTY_UART" lsr "$MTTY1"
	assert_equal "$output" 0x60
}

@test "the UART FIFO survives a stop and a return to running" {
	run "$MTTY_UART" write "$MTTY2_B" stay
	assert_status 0
	run vfiomig state "$MTTY2_B" stop
	assert_status 0
	run vfiomig state "$MTTY2_B" running
	assert_status 0
	run "$MTTY_UART" read "$MTTY2_B"
	assert_equal "$output" stay
}

@test "a device held through the cdev is busy (exit 3) for both opening paths" {
	hold_device cdev "$MTTY1"
	run vfiomig --open-via=cdev info "$MTTY1"
	assert_status 3
	says_busy
	run vfiomig --open-via=group info "$MTTY1"
	assert_status 3
	says_busy
}

@test "a device held through its group is busy (exit 3) for both opening paths" {
	hold_device group "$MTTY1"
	run vfiomig --open-via=cdev state "$MTTY1"
	assert_status 3
	says_busy
	run vfiomig --open-via=group state "$MTTY1"
	assert_status 3
	says_busy
}

@test "list marks a held device busy and still lists the others" {
	hold_device cdev "$MTTY1"
	run vfiomig list
	assert_status 0
	grep "$MTTY1" <<<"$output" | grep -q '? (busy)'
	grep "$MTTY2_A" <<<"$output" | grep -q 'stop_copy,p2p,pre_copy'
}
