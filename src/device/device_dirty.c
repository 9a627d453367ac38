/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Dirty page tracking: the device's own DMA logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*)
 * and what the IOMMU behind it can do (iommufd's IOMMU_GET_HW_INFO, type1's capability). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device_internal.h"
#include "vfio_uapi.h"

int vdev_dma_logging_supported(struct vdev *dev, bool *supported)
{
	int ret = vdev_feature_ioctl(dev, VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET |
				     VFIO_DEVICE_FEATURE_DMA_LOGGING_START, NULL, 0);

	*supported = ret == 0;
	return ret == 0 || ret == -ENOTTY ? 0 : ret;
}

int vdev_dma_log_start(struct vdev *dev, uint64_t *page_size,
		       const struct vdev_dma_range *ranges, uint32_t nranges)
{
	struct vfio_device_feature_dma_logging_range *uranges = NULL;
	struct vfio_device_feature_dma_logging_control control = {
		.page_size = *page_size, .num_ranges = nranges,
	};
	int ret;

	if (nranges) {
		uranges = calloc(nranges, sizeof(*uranges));
		if (!uranges)
			return -ENOMEM;
		for (uint32_t i = 0; i < nranges; i++) {
			uranges[i].iova = ranges[i].iova;
			uranges[i].length = ranges[i].length;
		}
	}
	control.ranges = (uint64_t)(uintptr_t)uranges;
	ret = vdev_feature_ioctl(dev, VFIO_DEVICE_FEATURE_SET |
				 VFIO_DEVICE_FEATURE_DMA_LOGGING_START, &control, sizeof(control));
	if (ret == 0)
		*page_size = control.page_size;
	free(uranges);
	return ret;
}

int vdev_dma_log_stop(struct vdev *dev)
{
	return vdev_feature_ioctl(dev, VFIO_DEVICE_FEATURE_SET |
				  VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL, 0);
}

int vdev_dma_log_report(struct vdev *dev, uint64_t iova, uint64_t length, uint64_t page_size,
			uint64_t *bitmap)
{
	struct vfio_device_feature_dma_logging_report report = {
		.iova = iova, .length = length, .page_size = page_size,
		.bitmap = (uint64_t)(uintptr_t)bitmap,
	};

	return vdev_feature_ioctl(dev, VFIO_DEVICE_FEATURE_GET |
				  VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, &report, sizeof(report));
}

static void iommufd_dirty(struct vdev *dev, struct vdev_iommu_dirty_info *info)
{
	struct vfiomig_iommu_hw_info hw = { .size = sizeof(hw), .dev_id = dev->iommufd_devid };

	if (ioctl(dev->iommufd, VFIOMIG_IOMMU_GET_HW_INFO, &hw) < 0) {
		int e = errno;

		/* An emulated device (an mdev) is bound as an iommufd "access", not a
		 * device: its DMA goes through its parent driver, no IOMMU of its own. */
		if (e == ENOENT && dev->id.kind == VDEV_KIND_MDEV)
			snprintf(info->how, sizeof(info->how), "iommufd: an mdev has no IOMMU "
				 "of its own; IOMMU_GET_HW_INFO says ENOENT");
		else
			snprintf(info->how, sizeof(info->how), "iommufd: IOMMU_GET_HW_INFO failed: %s",
				 strerror(e));
		info->answer = e == ENOENT && dev->id.kind == VDEV_KIND_MDEV
			? VDEV_IOMMU_DIRTY_NO : VDEV_IOMMU_DIRTY_UNKNOWN;
		return;
	}
	info->answer = hw.out_capabilities & VFIOMIG_IOMMU_HW_CAP_DIRTY_TRACKING
		? VDEV_IOMMU_DIRTY_YES : VDEV_IOMMU_DIRTY_NO;
	snprintf(info->how, sizeof(info->how), "iommufd: IOMMU_GET_HW_INFO capabilities 0x%llx",
		 (unsigned long long)hw.out_capabilities);
}

/* The type1 container's VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION: type1 reports every
 * page it has mapped (pinned) as dirty, which QEMU accepts as dirty tracking. */
static void container_dirty(struct vdev *dev, struct vdev_iommu_dirty_info *info)
{
	size_t size = 4096;
	struct vfio_iommu_type1_info *ti = calloc(1, size);
	uint32_t off;
	int hops = 0;

	info->answer = VDEV_IOMMU_DIRTY_UNKNOWN;
	if (!ti) {
		snprintf(info->how, sizeof(info->how), "out of memory");
		return;
	}
	ti->argsz = (uint32_t)size;
	if (ioctl(dev->container_fd, VFIO_IOMMU_GET_INFO, ti) < 0) {
		snprintf(info->how, sizeof(info->how), "group: %s", dev->id.noiommu
			 ? "a no-IOMMU container tracks nothing" : "the container's "
			 "VFIO_IOMMU_GET_INFO failed");
		if (dev->id.noiommu)
			info->answer = VDEV_IOMMU_DIRTY_NO;
		free(ti);
		return;
	}
	info->answer = VDEV_IOMMU_DIRTY_NO;
	snprintf(info->how, sizeof(info->how), "group: the container has no migration "
		 "capability");
	off = ti->flags & VFIO_IOMMU_INFO_CAPS ? ti->cap_offset : 0;
	while (off && off + sizeof(struct vfio_info_cap_header) <= size && hops++ < 32) {
		const struct vfio_info_cap_header *hdr = (const void *)((const char *)ti + off);

		if (hdr->id == VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION) {
			info->answer = VDEV_IOMMU_DIRTY_YES;
			snprintf(info->how, sizeof(info->how), "group: the type1 container reports "
				 "every page it maps dirty");
			break;
		}
		off = hdr->next;
	}
	free(ti);
}

void vdev_iommu_dirty_tracking(struct vdev *dev, struct vdev_iommu_dirty_info *info)
{
	memset(info, 0, sizeof(*info));
	if (dev->via == VDEV_VIA_CDEV && dev->iommufd >= 0)
		iommufd_dirty(dev, info);
	else if (dev->via == VDEV_VIA_GROUP && dev->container_fd >= 0)
		container_dirty(dev, info);
	else
		snprintf(info->how, sizeof(info->how), "unknown: vfiomig did not open the "
			 "device (an inherited fd)");
}
