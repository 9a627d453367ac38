/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Raw probes of a device's migration interface for `vfiomig check`: a SET that is
 * not planned or recovered (only where the kernel is known to answer), raw reads
 * that keep ENOMSG apart from 0, and duplicates of a data fd kept past the end of
 * its session. Part of the device layer: only it issues the ioctls. */
#ifndef VFIOMIG_DEVICE_PROBE_H
#define VFIOMIG_DEVICE_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "device.h"

struct vdev_probe_set {
	int ret;                /* 0 or -errno of the SET ioctl */
	bool new_fd;            /* the kernel returned a data fd */
	uint32_t echo_state;    /* device_state the kernel copied back */
};

/*
 * One SET of MIG_DEVICE_STATE to target (any number, ERROR and out-of-range values
 * included), without planning or recovery. It is sent only when the kernel answers
 * without walking into its 6.12 next-state loop: the walk is one the planner accepts,
 * or the target is a state the flags rule out (refused before any walk). Anything
 * else returns -EDEADLK and sends nothing. A returned fd replaces the device's data
 * fd; a session that ends closes it, as vdev_set_state does.
 */
int vdev_probe_set_state(struct vdev *dev, int target, struct vdev_probe_set *res);
/* One read(2) on the device's data fd: bytes, 0, or -errno (-ENOMSG kept as such). */
ssize_t vdev_probe_read(struct vdev *dev, void *buf, size_t len);

/* A duplicate of the device's data fd that outlives its session; -errno if none. */
int vdev_probe_hold_fd(struct vdev *dev);
ssize_t vdev_probe_held_read(int held, void *buf, size_t len);
int vdev_probe_held_precopy_info(int held, uint64_t *initial, uint64_t *dirty);
void vdev_probe_release_fd(int held);

#endif
