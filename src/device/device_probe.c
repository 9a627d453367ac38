/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Raw, unplanned probes of the migration interface for the conformance checks:
 * the SET, read and data fd duplicates that vdev_set_state and vdev_read_data hide. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "device_internal.h"
#include "device_probe.h"
#include "base/io.h"
#include "vfio_uapi.h"

/* True when the kernel answers this SET without its never-ending skip loop. */
static bool set_is_safe(struct vdev *dev, int target)
{
	struct vfio_device_feature_mig_state ms = { .data_fd = -1 };
	struct vmig_path path;
	enum vmig_state now;

	if (!dev->flags_known)
		return false;
	if (target < 0 || target >= VMIG_NR_STATES || target == VMIG_ERROR ||
	    !vmig_state_supported(dev->flags, (enum vmig_state)target))
		return true;    /* vfio_mig_get_next_state refuses the target first */
	if (vdev_feature_ioctl(dev, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			       &ms, sizeof(ms)) < 0 || ms.device_state >= VMIG_NR_STATES)
		return false;
	now = (enum vmig_state)ms.device_state;
	return vmig_plan_path(dev->flags, now, (enum vmig_state)target, &path) == 0;
}

/* The same bookkeeping as a planned SET: a new fd replaces the old, a session that
 * ends closes its fd, the saving group keeps its fd. */
static void follow_data_fd(struct vdev *dev, int target, int new_fd)
{
	if (new_fd >= 0) {
		if (dev->data_fd >= 0 && dev->data_fd != new_fd)
			close(dev->data_fd);
		dev->data_fd = new_fd;
		dev->data_fd_state = (enum vmig_state)target;
		return;
	}
	if (dev->data_fd < 0)
		return;
	if (vmig_is_saving((enum vmig_state)target) && vmig_is_saving(dev->data_fd_state)) {
		dev->data_fd_state = (enum vmig_state)target;
		return;
	}
	close(dev->data_fd);
	dev->data_fd = -1;
}

int vdev_probe_set_state(struct vdev *dev, int target, struct vdev_probe_set *res)
{
	struct vfio_device_feature_mig_state ms = { .device_state = (uint32_t)target,
						    .data_fd = -1 };

	res->ret = 0;
	res->new_fd = false;
	res->echo_state = (uint32_t)target;
	if (!set_is_safe(dev, target))
		return res->ret = -EDEADLK;
	res->ret = vdev_feature_ioctl(dev, VFIO_DEVICE_FEATURE_SET |
				      VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &ms, sizeof(ms));
	res->echo_state = ms.device_state;
	if (res->ret < 0)
		return res->ret;        /* the kernel returns data_fd -1 on failure */
	res->new_fd = ms.data_fd >= 0;
	follow_data_fd(dev, target, ms.data_fd);
	return 0;
}

ssize_t vdev_probe_read(struct vdev *dev, void *buf, size_t len)
{
	if (dev->data_fd < 0)
		return -EBADF;
	return io_read_some(dev->data_fd, buf, len);
}

int vdev_probe_hold_fd(struct vdev *dev)
{
	int fd;

	if (dev->data_fd < 0)
		return -EBADF;
	fd = fcntl(dev->data_fd, F_DUPFD_CLOEXEC, 3);
	return fd < 0 ? -errno : fd;
}

ssize_t vdev_probe_held_read(int held, void *buf, size_t len)
{
	return io_read_some(held, buf, len);
}

int vdev_probe_held_precopy_info(int held, uint64_t *initial, uint64_t *dirty)
{
	struct vfio_precopy_info info = { .argsz = sizeof(info) };

	if (ioctl(held, VFIO_MIG_GET_PRECOPY_INFO, &info) < 0)
		return -errno;
	*initial = info.initial_bytes;
	*dirty = info.dirty_bytes;
	return 0;
}

void vdev_probe_release_fd(int held)
{
	if (held >= 0)
		close(held);
}
