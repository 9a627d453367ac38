#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# DMA logging on Linux 6.12 with tests/kmod's vfio_migtest: which of check's rules the
# kernel lets reach the driver, and what info concludes. This kernel has no
# CONFIG_IOMMUFD_DRIVER (nothing in tests/vm/kernel.config selects it), so every
# DMA_LOGGING_REPORT that passes the core's checks is EOPNOTSUPP from the core's stub
# iova_bitmap, before the driver; START's and STOP's answers are the driver's.
# (mtty's answers are in tests/bats/dma-logging.bats, which runs here too.)

load '../bats/helper'

DMA_CHECKS=dma_log_start,dma_log_ranges,dma_log_once,dma_log_report,dma_log_inactive,dma_log_stop

setup() {
	kernel_only
	common_setup
	MT_A=${VFIOMIG_TEST_MIGTEST_A:?the guest did not load vfio_migtest (tests/kmod)}
	"$VFIOMIG" -q state --reset "$MT_A" >/dev/null 2>&1 || true
	mt_set log_restart EBUSY
	mt_set log_page_size 0
	mt_set log_stop_keeps 0
}

mt_set() { # KNOB VALUE, on migtest A
	echo "$2" >"/sys/bus/mdev/devices/$MT_A/migtest/$1"
}

result_of() { # NAME: the RESULT column of check NAME in $output
	awk -v n="$1" '$1 == n { print $2; exit }' <<<"$output"
}

reason_of() { # NAME: the REASON column of check NAME in $output
	awk -v n="$1" '$1 == n { $1 = ""; $2 = ""; sub(/^  */, ""); print; exit }' <<<"$output"
}

@test "migtest: START, ranges, one START at a time and STOP pass; the core refuses every report" {
	run vfiomig check "$MT_A" --only "$DMA_CHECKS"
	assert_status 0
	assert_equal "$(reason_of dma_log_start)" "START took page_size hints and answered powers of two (4096 -> 4096, 2097152 -> 2097152); STOP ended each"
	assert_equal "$(result_of dma_log_start)" PASS
	# the core's checks: no range EINVAL, 257 E2BIG, unaligned EINVAL, wrapping EOVERFLOW,
	# overlapping EINVAL; 256 (a 4 KiB page of ranges) reach the driver
	assert_equal "$(result_of dma_log_ranges)" PASS
	assert_equal "$(reason_of dma_log_ranges)" "refused 0 ranges, 257 ranges, an unaligned, a wrapping and an overlapping range as the core does; took 256 ranges"
	# migtest's own answer: a second START is EBUSY
	assert_equal "$(result_of dma_log_once)" PASS
	assert_equal "$(reason_of dma_log_once)" "a second START was refused with EBUSY; the first logging went on (its reports are EOPNOTSUPP here: see dma_log_report)"
	# page sizes 2048 and 12288 (EINVAL) and a wrapping range (EOVERFLOW) are refused by
	# the core as it should; the good reports then fail with EOPNOTSUPP
	assert_equal "$(result_of dma_log_report)" WARN
	assert_equal "$(reason_of dma_log_report)" "every good report fails with EOPNOTSUPP in the kernel's core, before the driver: a kernel without CONFIG_IOMMUFD_DRIVER (its iova_bitmap is a stub), where device dirty tracking cannot work"
	assert_equal "$(result_of dma_log_inactive)" PASS
	assert_output_contains "refused before any START (EOPNOTSUPP) and after STOP (EOPNOTSUPP), by the kernel's core before the driver"
	assert_equal "$(result_of dma_log_stop)" PASS
	assert_equal "$(state_of "$MT_A")" RUNNING
}

@test "migtest knob log_restart=0: a second START taken is dma_log_once's warning" {
	mt_set log_restart 0
	run vfiomig check "$MT_A" --only dma_log_once
	assert_status 0
	assert_equal "$(reason_of dma_log_once)" "a second START before STOP was accepted: vfio.h says another start is not allowed (QEMU never sends one)"
	assert_equal "$(result_of dma_log_once)" WARN
}

@test "migtest knob log_page_size: a page size that is not a power of two fails dma_log_start" {
	mt_set log_page_size 12288
	run vfiomig check "$MT_A" --only dma_log_start
	assert_status 1
	assert_equal "$(result_of dma_log_start)" FAIL
	assert_output_contains "START with page_size 4096 answered page_size 12288, not a power of two"
	assert_equal "$(state_of "$MT_A")" RUNNING
}

@test "migtest knob log_stop_keeps: a STOP that leaves the logging on fails dma_log_stop" {
	mt_set log_stop_keeps 1
	run vfiomig check "$MT_A" --only dma_log_stop
	assert_status 1
	assert_equal "$(result_of dma_log_stop)" FAIL
	assert_output_contains "STOP answered 0 but a START after it failed with EBUSY: the logging did not end"
}

@test "migtest: info says DMA logging whose reports fail, and QEMU cannot migrate it" {
	run vfiomig info "$MT_A" --json
	assert_status 0
	json_is \
		.opened_via cdev \
		.migration.dma_logging true \
		.dma_logging_reports false \
		.iommu_dirty_tracking.supported false \
		.iommu_dirty_tracking.source "iommufd: an mdev has no IOMMU of its own; IOMMU_GET_HW_INFO says ENOENT" \
		.qemu.can_migrate no
}

@test "migtest: through the group path the type1 container offers dirty tracking" {
	run vfiomig info "$MT_A" --open-via group --json
	assert_status 0
	json_is \
		.opened_via group \
		.iommu_dirty_tracking.supported true \
		.qemu.can_migrate no
	assert_output_contains "could track instead with x-device-dirty-page-tracking=off"
}

@test "the e1000 on vfio-pci without migration: QEMU's no, and no IOMMU in no-IOMMU mode" {
	run vfiomig info "$NOMIG" --json
	assert_status 4
	json_is \
		.qemu.can_migrate no \
		.qemu.because "the driver does not implement VFIO migration" \
		.iommu_dirty_tracking.supported false
}
