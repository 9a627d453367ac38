/* Feature ioctls of an open VFIO device: migration flags, state get/set with
 * recovery, data fd tracking, size estimates, DMA logging, v1 region, reset. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device_internal.h"
#include "vfio_uapi.h"

/* The feature ioctl with a payload; returns 0 or -errno. */
int vdev_feature_ioctl(struct vdev *dev, uint32_t flags, void *payload, size_t size)
{
	union {
		struct vfio_device_feature hdr;
		uint8_t bytes[sizeof(struct vfio_device_feature) + 64];
	} buf;

	if (size > 64)
		return -EINVAL;
	memset(&buf, 0, sizeof(buf));
	buf.hdr.argsz = (uint32_t)(sizeof(buf.hdr) + size);
	buf.hdr.flags = flags;
	if (payload && size)
		memcpy(buf.hdr.data, payload, size);
	if (ioctl(dev->device_fd, VFIO_DEVICE_FEATURE, &buf) < 0)
		return -errno;
	if (payload && size && (flags & VFIO_DEVICE_FEATURE_GET || flags & VFIO_DEVICE_FEATURE_SET))
		memcpy(payload, buf.hdr.data, size);
	return 0;
}

int vdev_migration_flags(struct vdev *dev, uint64_t *flags, struct verr *err)
{
	struct vfio_device_feature_migration mig = { 0 };
	int ret;

	if (dev->flags_known) {
		*flags = dev->flags;
		return 0;
	}
	ret = vdev_feature_ioctl(dev, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION,
				 &mig, sizeof(mig));
	if (ret == -ENOTTY)
		return verr_set(err, VERR_UNSUPPORTED, 0, dev->id.name,
				dev->id.driver[0] && strcmp(dev->id.driver, "vfio-pci") == 0
				? "plain vfio-pci has no migration: bind the device's variant driver "
				  "(e.g. mlx5_vfio_pci) if one exists"
				: "its driver does not implement VFIO migration",
				"device has no migration support"), -ENOTTY;
	if (ret < 0)
		return verr_set(err, VERR_FAILED, ret, dev->id.name, NULL,
				"get migration flags");
	dev->flags = mig.flags;
	dev->flags_known = true;
	*flags = mig.flags;
	return 0;
}

int vdev_get_state(struct vdev *dev, enum vmig_state *state, struct verr *err)
{
	struct vfio_device_feature_mig_state ms = { .data_fd = -1 };
	int ret = vdev_feature_ioctl(dev, VFIO_DEVICE_FEATURE_GET |
				     VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &ms, sizeof(ms));

	if (ret == -ENOTTY)
		return verr_set(err, VERR_UNSUPPORTED, 0, dev->id.name,
				"its driver does not implement VFIO migration",
				"device has no migration support"), -ENOTTY;
	if (ret < 0)
		return verr_set(err, VERR_FAILED, ret, dev->id.name, NULL, "get migration state");
	if (ms.device_state >= VMIG_NR_STATES)
		return verr_set(err, VERR_FAILED, EPROTO, dev->id.name,
				"the driver reports a state this vfiomig does not know",
				"get migration state (state %u)", ms.device_state);
	*state = (enum vmig_state)ms.device_state;
	return 0;
}

/* Keeps dev->data_fd in step with the kernel after a successful SET. */
static void track_data_fd(struct vdev *dev, enum vmig_state target, int new_fd)
{
	if (new_fd >= 0) {
		if (dev->data_fd >= 0 && dev->data_fd != new_fd)
			close(dev->data_fd);
		dev->data_fd = new_fd;
		dev->data_fd_state = target;
		return;
	}
	if (dev->data_fd < 0)
		return;
	/* PRE_COPY -> STOP_COPY gives no new fd: the same one goes on streaming. */
	if (vmig_is_saving(target) && vmig_is_saving(dev->data_fd_state)) {
		dev->data_fd_state = target;
		return;
	}
	if (target == VMIG_RESUMING && dev->data_fd_state == VMIG_RESUMING)
		return;
	close(dev->data_fd);
	dev->data_fd = -1;
}

static vdev_state_observer *observer;
static void *observer_ctx;

void vdev_observe_states(vdev_state_observer *fn, void *ctx)
{
	observer = fn;
	observer_ctx = ctx;
}

static void observe(const struct vdev *dev, enum vmig_state from, enum vmig_state to)
{
	if (observer && from != to)
		observer(observer_ctx, dev, from, to);
}

/* from: where the device was, for the observer. */
static int raw_set_state(struct vdev *dev, enum vmig_state from, enum vmig_state target)
{
	struct vfio_device_feature_mig_state ms = { .device_state = target, .data_fd = -1 };
	int ret = vdev_feature_ioctl(dev, VFIO_DEVICE_FEATURE_SET |
				     VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &ms, sizeof(ms));

	if (ret == 0) {
		track_data_fd(dev, target, ms.data_fd);
		observe(dev, from, target);
	}
	return ret;
}

static int raw_get_state(struct vdev *dev, enum vmig_state *state)
{
	struct verr quiet = { 0 };

	return vdev_get_state(dev, state, &quiet);
}

/* from: where the device was, for the observer (a GET tells where it is after). */
static int raw_reset(struct vdev *dev, enum vmig_state from)
{
	enum vmig_state after;

	if (dev->data_fd >= 0)
		close(dev->data_fd);
	dev->data_fd = -1;
	if (ioctl(dev->device_fd, VFIO_DEVICE_RESET) < 0)
		return -errno;
	if (observer && raw_get_state(dev, &after) == 0)
		observe(dev, from, after);
	return 0;
}

/* After a failed SET from state from: brings the device somewhere safe and says
 * where, in hint. */
static void recover(struct vdev *dev, enum vmig_state from, enum vmig_state recovery,
		    char *hint, size_t size)
{
	enum vmig_state now;

	struct vmig_path path;

	if (raw_get_state(dev, &now) < 0)
		now = VMIG_ERROR;
	else
		observe(dev, from, now);        /* a walk the kernel left half way */
	/*
	 * Only ask for a walk the planner accepts: the 6.12 kernel's next-state loop
	 * never ends for STOP_COPY -> PRE_COPY*, so that request must never be sent.
	 */
	if (recovery != VMIG_ERROR && now != recovery && now != VMIG_ERROR &&
	    dev->flags_known && vmig_plan_path(dev->flags, now, recovery, &path) == 0 &&
	    raw_set_state(dev, now, recovery) == 0) {
		snprintf(hint, size, "the device stopped in %s and was returned to %s",
			 vmig_state_name(now), vmig_state_name(recovery));
		return;
	}
	if (recovery != VMIG_ERROR && now == recovery) {
		snprintf(hint, size, "the device is still in %s", vmig_state_name(now));
		return;
	}
	if (recovery == VMIG_ERROR && now != VMIG_ERROR && now != VMIG_RESUMING) {
		snprintf(hint, size, "the device is now in %s", vmig_state_name(now));
		return;
	}
	/* ERROR, RESUMING, or no way back: a reset is the only exit the uAPI offers. */
	if (raw_reset(dev, now) == 0 && raw_get_state(dev, &now) == 0)
		snprintf(hint, size, "the device was reset and is now in %s", vmig_state_name(now));
	else
		snprintf(hint, size, "the device could not be recovered, even by a reset; "
			 "unbind and rebind its driver");
}

int vdev_set_state(struct vdev *dev, enum vmig_state target, enum vmig_state recovery,
		   struct verr *err)
{
	char hint[160];
	enum vmig_state now;
	struct vmig_path path;
	int ret;

	/* Refuse what the uAPI refuses before the kernel sees it (see recover()). */
	if (!dev->flags_known || raw_get_state(dev, &now) < 0 ||
	    vmig_plan_path(dev->flags, now, target, &path) < 0)
		return verr_set(err, VERR_UNSUPPORTED, EINVAL, dev->id.name,
				"the uAPI has no walk to that state from where the device is",
				"set state %s", vmig_state_name(target));
	ret = raw_set_state(dev, now, target);

	if (ret == 0)
		return 0;
	recover(dev, now, recovery, hint, sizeof(hint));
	return verr_set(err, VERR_FAILED, ret, dev->id.name, hint, "set state %s",
			vmig_state_name(target));
}

int vdev_stop_copy_size(struct vdev *dev, uint64_t *bytes, struct verr *err)
{
	struct vfio_device_feature_mig_data_size size = { 0 };
	int ret = vdev_feature_ioctl(dev, VFIO_DEVICE_FEATURE_GET |
				     VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, &size, sizeof(size));

	if (ret == -ENOTTY)
		return verr_set(err, VERR_UNSUPPORTED, 0, dev->id.name,
				"its driver does not report MIG_DATA_SIZE (Linux 6.2+)",
				"no stop-copy size estimate"), -ENOTTY;
	if (ret < 0)
		return verr_set(err, VERR_FAILED, ret, dev->id.name, NULL,
				"get the stop-copy size estimate");
	*bytes = size.stop_copy_length;
	return 0;
}

int vdev_precopy_info2(struct vdev *dev, struct vdev_precopy_info *out, struct verr *err)
{
	/* flags in is 0: drivers without the opt-in copy it back unchanged. */
	struct vfio_precopy_info info = { .argsz = sizeof(info), .flags = 0 };

	memset(out, 0, sizeof(*out));
	if (dev->data_fd < 0)
		return verr_set(err, VERR_FAILED, EBADF, dev->id.name,
				"pre-copy info needs an open migration data fd", "get pre-copy info");
	if (ioctl(dev->data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info) < 0)
		return verr_set(err, VERR_FAILED, errno, dev->id.name, NULL, "get pre-copy info");
	out->initial = info.initial_bytes;
	out->dirty = info.dirty_bytes;
	if (dev->precopy_v2) {
		out->flags = info.flags;
		out->reinit = info.flags & VFIO_PRECOPY_INFO_REINIT;
	}
	return 0;
}

int vdev_precopy_info(struct vdev *dev, uint64_t *initial, uint64_t *dirty, struct verr *err)
{
	struct vdev_precopy_info info;
	int ret = vdev_precopy_info2(dev, &info, err);

	if (ret < 0)
		return ret;
	*initial = info.initial;
	*dirty = info.dirty;
	return 0;
}

int vdev_precopy_v2_supported(struct vdev *dev, bool *supported)
{
	int ret = vdev_feature_ioctl(dev, VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET |
				     VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2, NULL, 0);

	/* 6.12 has no feature 12: ENOTTY; EINVAL from cores that check flags first. */
	*supported = ret == 0;
	return ret == 0 || ret == -ENOTTY || ret == -EINVAL ? 0 : ret;
}

int vdev_precopy_v2_enable(struct vdev *dev, bool *enabled, struct verr *err)
{
	bool offered = false;
	int ret = vdev_precopy_v2_supported(dev, &offered);

	*enabled = false;
	if (ret < 0)
		return verr_set(err, VERR_FAILED, -ret, dev->id.name, NULL,
				"probe PRECOPY_INFOv2 (feature 12)");
	if (!offered)
		return 0;
	ret = vdev_feature_ioctl(dev, VFIO_DEVICE_FEATURE_SET |
				 VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2, NULL, 0);
	if (ret < 0)
		return verr_set(err, VERR_FAILED, -ret, dev->id.name,
				"the driver offers PRECOPY_INFOv2 yet refuses the opt-in",
				"opt in to PRECOPY_INFOv2 (feature 12)");
	dev->precopy_v2 = true;
	*enabled = true;
	return 0;
}

/* Walks one region's capability chain for the v1 migration region type. */
static bool region_is_v1_migration(const struct vfio_region_info *info)
{
	uint32_t off = info->cap_offset;
	int hops = 0;

	if (!(info->flags & VFIO_REGION_INFO_FLAG_CAPS))
		return false;
	while (off && off + sizeof(struct vfio_region_info_cap_type) <= info->argsz &&
	       hops++ < 32) {
		const struct vfio_info_cap_header *hdr =
			(const void *)((const uint8_t *)info + off);

		if (hdr->id == VFIO_REGION_INFO_CAP_TYPE) {
			const struct vfio_region_info_cap_type *type = (const void *)hdr;

			if (type->type == VFIOMIG_REGION_TYPE_MIGRATION_V1 &&
			    type->subtype == VFIOMIG_REGION_SUBTYPE_MIGRATION_V1)
				return true;
		}
		off = hdr->next;
	}
	return false;
}

int vdev_has_v1_region(struct vdev *dev, bool *present)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	size_t size = 512;
	struct vfio_region_info *region = NULL;

	*present = false;
	if (ioctl(dev->device_fd, VFIO_DEVICE_GET_INFO, &info) < 0)
		return -errno;
	region = calloc(1, size);
	if (!region)
		return -ENOMEM;
	for (uint32_t i = 0; i < info.num_regions && !*present; i++) {
		memset(region, 0, size);
		region->argsz = (uint32_t)size;
		region->index = i;
		if (ioctl(dev->device_fd, VFIO_DEVICE_GET_REGION_INFO, region) < 0)
			continue;       /* absent regions (VGA on most devices) say EINVAL */
		if (region->argsz > size) {
			size_t want = region->argsz;
			struct vfio_region_info *grown = realloc(region, want);

			if (!grown)
				break;
			region = grown;
			size = want;
			memset(region, 0, size);
			region->argsz = (uint32_t)size;
			region->index = i;
			if (ioctl(dev->device_fd, VFIO_DEVICE_GET_REGION_INFO, region) < 0)
				continue;
		}
		*present = region_is_v1_migration(region);
	}
	free(region);
	return 0;
}

int vdev_reset(struct vdev *dev, struct verr *err)
{
	enum vmig_state before = VMIG_ERROR;
	int ret;

	if (observer && raw_get_state(dev, &before) < 0)
		before = VMIG_ERROR;
	ret = raw_reset(dev, before);

	if (ret < 0)
		return verr_set(err, VERR_FAILED, ret, dev->id.name,
				ret == -ENOTTY || ret == -EINVAL
				? "the device does not support reset; unbind and rebind its driver"
				: NULL,
				"reset the device");
	return 0;
}
