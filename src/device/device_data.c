/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Migration data through the data fd: reading what a saving device produces and
 * writing a saved state into a resuming device. */
#include <errno.h>
#include <unistd.h>

#include "device_internal.h"
#include "base/io.h"

ssize_t vdev_read_data(struct vdev *dev, void *buf, size_t len, bool *end, struct verr *err)
{
	bool precopy = dev->data_fd_state == VMIG_PRE_COPY ||
		       dev->data_fd_state == VMIG_PRE_COPY_P2P;
	ssize_t n;

	*end = false;
	if (dev->data_fd < 0 || !vmig_is_saving(dev->data_fd_state))
		return verr_set(err, VERR_FAILED, EBADF, dev->id.name,
				"the device is not in a saving state", "read migration data");
	n = io_read_some(dev->data_fd, buf, len);
	/* PRE_COPY's "nothing more for now" is ENOMSG in the uAPI and 0 in several drivers. */
	if (precopy && (n == 0 || n == -ENOMSG))
		return 0;
	if (n == 0) {
		*end = true;
		return 0;
	}
	if (n == -ENOMSG)
		return verr_set(err, VERR_FAILED, ENOMSG, dev->id.name,
				"the driver breaks the uAPI: ENOMSG is not allowed in STOP_COPY",
				"read migration data in %s", vmig_state_name(dev->data_fd_state));
	if (n < 0)
		return verr_set(err, VERR_FAILED, (int)n, dev->id.name, NULL,
				"read migration data in %s", vmig_state_name(dev->data_fd_state));
	return n;
}

int vdev_write_data(struct vdev *dev, const void *buf, size_t len, struct verr *err)
{
	int ret;

	if (dev->data_fd < 0 || dev->data_fd_state != VMIG_RESUMING)
		return verr_set(err, VERR_FAILED, EBADF, dev->id.name,
				"the device is not in RESUMING", "write migration data");
	ret = io_write_full(dev->data_fd, buf, len);
	if (ret < 0)
		return verr_set(err, VERR_FAILED, ret, dev->id.name,
				ret == -ENOMEM ? "the stream holds more data than the device accepts"
					       : NULL,
				"write migration data");
	return 0;
}
