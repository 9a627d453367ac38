#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Dirty page tracking: check's DMA logging rules (one knob of the double breaks each),
# and what info says about the IOMMU's tracking and whether QEMU can migrate a device.
# The tests without double_only run on Linux 6.12's mtty in the VM too, whose kernel
# has no CONFIG_IOMMUFD_DRIVER: every DMA logging report is EOPNOTSUPP there.

load helper

DMA_CHECKS=dma_log_start,dma_log_ranges,dma_log_once,dma_log_report,dma_log_inactive,dma_log_stop

setup() {
	common_setup
}

result_of() { # NAME: the RESULT column of check NAME in $output
	awk -v n="$1" '$1 == n { print $2; exit }' <<<"$output"
}

reason_of() { # NAME: the REASON column of check NAME in $output
	awk -v n="$1" '$1 == n { $1 = ""; $2 = ""; sub(/^  */, ""); print; exit }' <<<"$output"
}

# Runs the six DMA logging checks (or the ones named) on mtty-2 A.
dma_check() { # [NAMES]
	run vfiomig check "$MTTY2_A" --only "${1:-$DMA_CHECKS}"
}

# A kernel with CONFIG_IOMMUFD_DRIVER whose driver refuses a second START (migtest, mlx5).
conformant() {
	knob "$MTTY2_A" dma_log_report_errno=0
	knob "$MTTY2_A" dma_log_restart=EBUSY
}

# The double's last DMA logging call on mtty-2 A and whether logging ran after it.
last_log_call() {
	tail -n 1 "$SYSROOT/double/$MTTY2_A/dma_log_calls"
}

assert_dma_fails() { # CHECK REASON-PART
	dma_check
	assert_status 1
	assert_equal "$(result_of "$1")" FAIL
	assert_output_contains "$2"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "check on mtty: START, its ranges and STOP pass; the second START and the reports warn" {
	dma_check
	assert_status 0
	assert_equal "$(result_of dma_log_start)" PASS
	assert_equal "$(reason_of dma_log_start)" "START took page_size hints and answered powers of two (4096 -> 4096, 2097152 -> 2097152); STOP ended each"
	assert_equal "$(result_of dma_log_ranges)" PASS
	assert_equal "$(reason_of dma_log_ranges)" "refused 0 ranges, 257 ranges, an unaligned, a wrapping and an overlapping range as the core does; took 256 ranges"
	# mtty's log_start is a stub that takes anything
	assert_equal "$(result_of dma_log_once)" WARN
	assert_equal "$(result_of dma_log_report)" WARN
	assert_output_contains "every good report fails with EOPNOTSUPP in the kernel's core, before the driver: a kernel without CONFIG_IOMMUFD_DRIVER"
	assert_equal "$(result_of dma_log_inactive)" PASS
	assert_equal "$(reason_of dma_log_inactive)" "refused before any START (EOPNOTSUPP) and after STOP (EOPNOTSUPP), by the kernel's core before the driver"
	assert_equal "$(result_of dma_log_stop)" PASS
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "check --list and --json give each DMA logging rule its uAPI sentence, none destructive" {
	run vfiomig check --list --json
	assert_status 0
	json_is \
		'[.checks[] | select(.name | startswith("dma_log_"))] | length' 6 \
		'[.checks[] | select(.name | startswith("dma_log_")) | select(.destructive)] | length' 0 \
		'.checks[] | select(.name == "dma_log_once") | .rule' \
		"vfio.h DMA_LOGGING_START: a single start can be issued and a matching stop should follow; another start is not allowed in the meantime"
	run vfiomig check "$MTTY2_A" --only dma_log_stop --json
	assert_status 0
	json_is '.checks[] | select(.name == "dma_log_stop") | .result' PASS
}

@test "check on a device without DMA logging skips the six rules" {
	double_only "needs a device without log_ops"
	knob "$MTTY2_A" dma_logging=0
	dma_check
	assert_status 0
	for c in ${DMA_CHECKS//,/ }; do
		assert_equal "$c $(result_of "$c")" "$c SKIP"
	done
	assert_output_contains "the device has no DMA logging (the PROBE says ENOTTY)"
}

@test "check passes a conformant DMA logging driver on a kernel whose reports work" {
	double_only
	conformant
	dma_check
	assert_status 0
	refute_output_contains " WARN "
	assert_output_contains "a second START was refused with EBUSY; the first logging went on"
	assert_output_contains "reports at 4096 and 8192 only set bits, within their bitmaps"
	assert_output_contains "refused before any START (EINVAL) and after STOP (EINVAL)"
	assert_equal "$(last_log_call)" "STOP 0"
}

@test "dma_log_start fails a START that fails, and a page size that is not a power of two" {
	double_only
	knob "$MTTY2_A" dma_log_start_errno=EIO
	assert_dma_fails dma_log_start "START with page_size 4096 over [0, 4 MiB) failed with EIO"
	knob "$MTTY2_A" dma_log_start_errno=
	knob "$MTTY2_A" dma_log_page_size=12288
	assert_dma_fails dma_log_start "START with page_size 4096 answered page_size 12288, not a power of two"
}

@test "dma_log_ranges fails each bad range a kernel takes, and stops the logging it started" {
	double_only
	local skip what
	while IFS='|' read -r skip what; do
		knob "$MTTY2_A" dma_log_unchecked="$skip"
		assert_dma_fails dma_log_ranges "START took $what (Linux 6.12's core refuses it"
		assert_equal "$(last_log_call)" "STOP 0"
	done <<'EOF'
count|no range
align|a range not aligned to page_size
overflow|a range whose end wraps past 2^64
overlap|two overlapping ranges
EOF
}

@test "dma_log_ranges fails a driver that refuses a page's worth of ranges" {
	double_only
	knob "$MTTY2_A" dma_log_start_errno=ENOSPC
	dma_check dma_log_ranges
	assert_status 1
	assert_output_contains "START refused 256 ranges with ENOSPC: a page's worth is guaranteed"
}

@test "dma_log_once fails a refused second START that ended the first logging" {
	double_only
	conformant
	knob "$MTTY2_A" dma_log_restart=ends
	assert_dma_fails dma_log_once "the refused second START (EBUSY) ended the first logging: a REPORT then failed with EINVAL"
}

@test "dma_log_report fails a report that takes a bad page size or a wrapping range" {
	double_only
	conformant
	knob "$MTTY2_A" dma_log_unchecked=report_page
	assert_dma_fails dma_log_report "REPORT took page_size 2048 (below 4 KiB) (Linux 6.12's core refuses it with EINVAL)"
	knob "$MTTY2_A" dma_log_unchecked=report_overflow
	assert_dma_fails dma_log_report "REPORT took a range whose end wraps past 2^64"
}

@test "dma_log_report fails a report that clears bits, or writes past its bitmap" {
	double_only
	conformant
	knob "$MTTY2_A" dma_log_report_bug=clear
	assert_dma_fails dma_log_report "a report at page_size 4096 cleared bits of word 0 (0xa5a5a5a5a5a5a5a5 became 0x0000000000000000): it may only set bits"
	knob "$MTTY2_A" dma_log_report_bug=overrun
	assert_dma_fails dma_log_report "a report at page_size 4096 of 1048576 bytes wrote word 4, past the 4 words its bits take"
}

@test "dma_log_report fails a report within the started range that fails" {
	double_only
	conformant
	knob "$MTTY2_A" dma_log_report_errno=EIO
	assert_dma_fails dma_log_report "a report of [0, 1 MiB) at page_size 4096 or 8192 within the started range failed with EIO"
}

@test "dma_log_inactive fails a report answered while no logging runs" {
	double_only
	conformant
	knob "$MTTY2_A" dma_log_report_unstarted=1
	assert_dma_fails dma_log_inactive "a REPORT before any START answered 0: vfio.h says an error is returned when DMA logging is not enabled"
}

@test "dma_log_stop fails a STOP that fails, and one that leaves the logging on" {
	double_only
	conformant
	knob "$MTTY2_A" dma_log_stop_errno=EIO
	assert_dma_fails dma_log_start "DMA_LOGGING_STOP after a successful START failed with EIO"
	# the logging may still run: the later rules say so instead of failing on EBUSY
	assert_equal "$(result_of dma_log_ranges)" SKIP
	assert_output_contains "a DMA_LOGGING_STOP failed in an earlier check: the logging may still run"
	dma_check dma_log_stop
	assert_status 1
	assert_output_contains "STOP after START failed with EIO"
	knob "$MTTY2_A" dma_log_stop_errno=
	knob "$MTTY2_A" dma_log_stop_keeps=1
	dma_check dma_log_stop
	assert_status 1
	assert_equal "$(result_of dma_log_stop)" FAIL
	assert_output_contains "STOP answered 0 but a START after it failed with EBUSY: the logging did not end"
}

@test "info on mtty: DMA logging whose reports fail, no IOMMU of its own, QEMU cannot migrate it" {
	run vfiomig info "$MTTY2_A" --json
	assert_status 0
	json_is \
		.opened_via cdev \
		.migration.dma_logging true \
		.dma_logging_reports false \
		.iommu_dirty_tracking.supported false \
		.iommu_dirty_tracking.source "iommufd: an mdev has no IOMMU of its own; IOMMU_GET_HW_INFO says ENOENT" \
		.qemu.can_migrate no
	run vfiomig info "$MTTY2_A"
	assert_output_contains "dma logging:  supported, but reports fail with EOPNOTSUPP (a kernel without CONFIG_IOMMUFD_DRIVER)"
	assert_output_contains "QEMU can migrate this device: no, because its DMA logging reports fail with EOPNOTSUPP"
}

@test "info through the group path: the type1 container tracks, but QEMU prefers mtty's logging" {
	run vfiomig info "$MTTY2_A" --open-via group --json
	assert_status 0
	json_is \
		.opened_via group \
		.iommu_dirty_tracking.supported true \
		.iommu_dirty_tracking.source "group: the type1 container reports every page it maps dirty" \
		.qemu.can_migrate no
	assert_output_contains "could track instead with x-device-dirty-page-tracking=off"
}

@test "info: QEMU can migrate a device whose DMA logging reports work" {
	double_only
	knob "$MTTY2_A" dma_log_report_errno=0
	run vfiomig info "$MTTY2_A"
	assert_status 0
	assert_output_contains "dma logging:  supported"
	assert_output_contains "QEMU can migrate this device: yes, because the device tracks its own DMA writes (DMA logging)"
}

@test "info: without DMA logging, only the IOMMU decides" {
	double_only
	knob "$MTTY2_A" dma_logging=0
	run vfiomig info "$MTTY2_A" --json
	json_is .qemu.can_migrate no .dma_logging_reports null
	assert_output_contains "neither the device (no DMA logging) nor the IOMMU (iommufd: an mdev has no IOMMU of its own"
	assert_output_contains "enable-migration=on forces it"
	run vfiomig info "$MTTY2_A" --open-via group --json
	json_is .qemu.can_migrate yes \
		.qemu.because "the IOMMU tracks its dirty pages (group: the type1 container reports every page it maps dirty)"
	knob "$MTTY2_A" iommu_hw_info_errno=EIO
	run vfiomig info "$MTTY2_A" --json
	json_is .qemu.can_migrate unknown .iommu_dirty_tracking.supported null
	assert_output_contains "iommufd: IOMMU_GET_HW_INFO failed: Input/output error"
}

@test "info: a PCI device behind an IOMMU with dirty tracking, through iommufd" {
	double_only
	"$FAKEDEV" add "$SYSROOT" --kind pci --name 0000:3b:00.1 --group 9 --driver vfio-pci --flags 7
	run vfiomig info 0000:3b:00.1 --json
	json_is .opened_via cdev .migration.dma_logging false .iommu_dirty_tracking.supported false \
		.iommu_dirty_tracking.source "iommufd: IOMMU_GET_HW_INFO capabilities 0x0" \
		.qemu.can_migrate no
	knob 0000:3b:00.1 iommu_dirty_tracking=1
	run vfiomig info 0000:3b:00.1 --json
	json_is .iommu_dirty_tracking.supported true .qemu.can_migrate yes \
		.qemu.because "the IOMMU tracks its dirty pages (iommufd: IOMMU_GET_HW_INFO capabilities 0x1)"
}

@test "info: no migration and no STOP_COPY each give QEMU's no" {
	run vfiomig info "$NOMIG" --json
	assert_status 4
	json_is .qemu.can_migrate no .qemu.because "the driver does not implement VFIO migration" \
		.iommu_dirty_tracking.source "group: a no-IOMMU container tracks nothing"
	double_only "needs a driver whose flags lack STOP_COPY"
	knob "$MTTY2_A" migration=2
	knob "$MTTY2_A" dma_log_report_errno=0
	run vfiomig info "$MTTY2_A" --json
	json_is .qemu.can_migrate no .qemu.because "its migration flags lack STOP_COPY"
}

@test "an inherited fd's DMA logging is its owner's: the rules need --destructive, info says unknown" {
	double_only "a real kernel fd must be bound before it is passed"
	local fd
	exec {fd}<>"$SYSROOT/dev/vfio/devices/vfio0"
	run vfiomig check "fd:$fd" --only "$DMA_CHECKS"
	assert_status 0
	assert_equal "$(result_of dma_log_stop)" SKIP
	assert_output_contains "needs --destructive: an inherited fd's owner may be logging DMA, and a STOP would end it"
	run vfiomig check "fd:$fd" --only dma_log_stop --destructive
	assert_status 0
	assert_equal "$(result_of dma_log_stop)" PASS
	run vfiomig info "fd:$fd" --json
	exec {fd}>&-
	json_is .iommu_dirty_tracking.supported null \
		.iommu_dirty_tracking.source "unknown: vfiomig did not open the device (an inherited fd)"
}
