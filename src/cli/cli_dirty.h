/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What `vfiomig info` says about dirty page tracking, and whether QEMU would migrate
 * the device: the device's DMA logging, the IOMMU's dirty tracking, one verdict. */
#ifndef VFIOMIG_CLI_DIRTY_H
#define VFIOMIG_CLI_DIRTY_H

#include <stdbool.h>
#include <stdint.h>

#include "device/device.h"
#include "base/json.h"

struct cli_dirty {
	bool migration;                 /* the device has the MIGRATION feature */
	uint64_t flags;
	bool dma_logging;               /* DMA_LOGGING_START's PROBE */
	int report_ret;                 /* a REPORT with no logging started: 0 or -errno */
	struct vdev_iommu_dirty_info iommu;
	const char *verdict;            /* "yes", "no" or "unknown" */
	char because[512];
};

/* Reads the facts (PROBEs and a REPORT with no logging: no state changes) and
 * decides the verdict. */
void cli_dirty_gather(struct vdev *dev, bool migration, uint64_t flags, struct cli_dirty *d);
/* Pure: the verdict and its reason from the facts. */
void cli_dirty_decide(struct cli_dirty *d);
void cli_dirty_print(const struct cli_dirty *d);
void cli_dirty_json(struct json *j, const struct cli_dirty *d);

#endif
