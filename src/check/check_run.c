/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One run of the conformance checks on a device: it starts RUNNING, each chosen check
 * gives a verdict, and it ends RUNNING again whatever happened. */
#include <errno.h>
#include <stdio.h>

#include "check.h"

int check_begin(struct vdev *dev, enum vmig_state *found, struct verr *err)
{
	if (vdev_get_state(dev, found, err) < 0)
		return -EIO;
	/* RESUMING and ERROR hold nothing worth keeping and only a reset leaves them;
	 * any other state is walked back. */
	if (*found == VMIG_RUNNING)
		return 0;
	return check_make_running(dev, err);
}

/* Idle: a PCI device found in RUNNING. vfio-pci resets the function when its fd
 * closes and opens, so its state began with this open; an mdev (mtty) keeps
 * registers and FIFO contents between opens, and an inherited fd belongs to its owner. */
bool check_idle(struct vdev *dev, bool was_running, char *why, size_t size)
{
	const struct vdev_ident *id = vdev_ident(dev);

	if (!was_running)
		snprintf(why, size, "needs --destructive: %s was not RUNNING, so it is not idle",
			 id->name);
	else if (id->kind == VDEV_KIND_MDEV)
		snprintf(why, size, "needs --destructive: %s is an mdev, whose state outlives "
			 "its fd, so it is never idle", id->name);
	else if (id->kind != VDEV_KIND_PCI)
		snprintf(why, size, "needs --destructive: an inherited fd's state belongs to its "
			 "owner");
	else
		return true;
	return false;
}

void check_run_all(struct check_run *run, const bool chosen[CK_NR_CHECKS])
{
	struct check_ctx *ctx = &run->ctx;

	for (int i = 0; i < CK_NR_CHECKS; i++) {
		struct check_result *res = &run->results[i];

		if (!chosen[i])
			check_set(res, CHECK_SKIP, "not selected (--only/--skip)");
		else if (check_stopped(ctx))
			check_set(res, CHECK_SKIP, "interrupted");
		else if (ctx->broken)
			check_set(res, CHECK_SKIP, "the device is not usable: %s", ctx->broken_why);
		else if (i != CK_FLAGS && !(ctx->flags & VMIG_FLAG_STOP_COPY))
			check_set(res, CHECK_SKIP, "the flags lack STOP_COPY");
		else
			check_table[i].run(ctx, res);
		if (!res->set)
			check_set(res, CHECK_SKIP, "no verdict");
		run->counts[res->verdict]++;
	}
}

bool check_finish(struct vdev *dev, enum vmig_state *final, struct verr *err)
{
	struct verr quiet = { 0 };

	*final = VMIG_ERROR;
	check_make_running(dev, err);
	return vdev_get_state(dev, final, &quiet) == 0 && *final == VMIG_RUNNING;
}
