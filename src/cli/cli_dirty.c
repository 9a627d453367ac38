/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Dirty page tracking in `vfiomig info`, and the verdict on QEMU. QEMU's rule
 * (hw/vfio/migration.c, 8.1 and later): a VFIO device migrates only with the MIGRATION
 * feature and STOP_COPY, and with dirty tracking by the device (DMA logging) or by the
 * IOMMU (iommufd's dirty tracking, or the type1 container's); enable-migration=on
 * (x-enable-migration before 8.1) forces it without, and QEMU then counts all guest
 * memory dirty at every sync. When every device of a container offers DMA logging
 * (its PROBE), QEMU uses it rather than the IOMMU's, unless told
 * x-device-dirty-page-tracking=off (9.1). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_dirty.h"

/* A report with no logging started changes nothing; Linux built without
 * CONFIG_IOMMUFD_DRIVER answers it (every report) EOPNOTSUPP before the driver. */
void cli_dirty_gather(struct vdev *dev, bool migration, uint64_t flags, struct cli_dirty *d)
{
	uint64_t bitmap[1] = { 0 };

	memset(d, 0, sizeof(*d));
	d->migration = migration;
	d->flags = flags;
	vdev_iommu_dirty_tracking(dev, &d->iommu);
	if (migration) {
		vdev_dma_logging_supported(dev, &d->dma_logging);
		if (d->dma_logging)
			d->report_ret = vdev_dma_log_report(dev, 0, 64 * 4096, 4096, bitmap);
	}
	cli_dirty_decide(d);
}

static bool reports_broken(const struct cli_dirty *d)
{
	return d->dma_logging && d->report_ret == -EOPNOTSUPP;
}

void cli_dirty_decide(struct cli_dirty *d)
{
	const char *force = "; enable-migration=on forces it, with all guest memory "
			    "counted dirty";

	if (!d->migration) {
		d->verdict = "no";
		snprintf(d->because, sizeof(d->because), "the driver does not implement VFIO "
			 "migration");
	} else if (!(d->flags & VMIG_FLAG_STOP_COPY)) {
		d->verdict = "no";
		snprintf(d->because, sizeof(d->because), "its migration flags lack STOP_COPY");
	} else if (d->dma_logging && !reports_broken(d)) {
		d->verdict = "yes";
		snprintf(d->because, sizeof(d->because), "the device tracks its own DMA writes "
			 "(DMA logging)");
	} else if (reports_broken(d)) {
		/* QEMU uses device tracking whenever every device offers it (the PROBE). */
		d->verdict = "no";
		snprintf(d->because, sizeof(d->because), "its DMA logging reports fail with "
			 "EOPNOTSUPP (a kernel without CONFIG_IOMMUFD_DRIVER), and QEMU, which "
			 "prefers device tracking, would fail at the first dirty-page sync; the "
			 "IOMMU %s (%s)", d->iommu.answer == VDEV_IOMMU_DIRTY_YES
			 ? "could track instead with x-device-dirty-page-tracking=off"
			 : "does not track dirty pages", d->iommu.how);
	} else if (d->iommu.answer == VDEV_IOMMU_DIRTY_YES) {
		d->verdict = "yes";
		snprintf(d->because, sizeof(d->because), "the IOMMU tracks its dirty pages (%s)",
			 d->iommu.how);
	} else if (d->iommu.answer == VDEV_IOMMU_DIRTY_UNKNOWN) {
		d->verdict = "unknown";
		snprintf(d->because, sizeof(d->because), "the device has no DMA logging and the "
			 "IOMMU's dirty tracking is unknown (%s)%s", d->iommu.how, force);
	} else {
		d->verdict = "no";
		snprintf(d->because, sizeof(d->because), "neither the device (no DMA logging) nor "
			 "the IOMMU (%s) tracks dirty pages%s", d->iommu.how, force);
	}
}

static const char *iommu_word(enum vdev_iommu_dirty answer)
{
	return answer == VDEV_IOMMU_DIRTY_YES ? "yes" : answer == VDEV_IOMMU_DIRTY_NO ? "no"
									       : "unknown";
}

void cli_dirty_print(const struct cli_dirty *d)
{
	cli_line("%-14s%s (%s)", "iommu dirty:", iommu_word(d->iommu.answer), d->iommu.how);
	cli_line("QEMU can migrate this device: %s, because %s", d->verdict, d->because);
}

void cli_dirty_json(struct json *j, const struct cli_dirty *d)
{
	if (d->migration && d->dma_logging)
		json_bool(j, "dma_logging_reports", d->report_ret != -EOPNOTSUPP);
	else
		json_null(j, "dma_logging_reports");
	json_object_begin(j, "iommu_dirty_tracking");
	if (d->iommu.answer == VDEV_IOMMU_DIRTY_UNKNOWN)
		json_null(j, "supported");
	else
		json_bool(j, "supported", d->iommu.answer == VDEV_IOMMU_DIRTY_YES);
	json_string(j, "source", d->iommu.how);
	json_object_end(j);
	json_object_begin(j, "qemu");
	json_string(j, "can_migrate", d->verdict);
	json_string(j, "because", d->because);
	json_object_end(j);
}
