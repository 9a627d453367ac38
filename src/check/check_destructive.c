/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The checks that replace device state: a save/restore/save round trip, and a
 * deliberately short resume that must be refused and undone by a reset. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "device/device_probe.h"

/* The round trip holds a whole state in memory. */
#define STATE_LIMIT (1ull << 30)

struct blob {
	uint8_t *data;
	size_t len, cap;
};

static void blob_free(struct blob *b)
{
	free(b->data);
	*b = (struct blob){ 0 };
}

/* STOP_COPY from STOP, read to the end, back to STOP. */
static int save_state(struct check_ctx *ctx, struct vdev *dev, struct blob *b, struct verr *err)
{
	bool end = false;

	b->len = 0;
	if (check_goto(ctx, dev, VMIG_STOP, err) < 0 ||
	    vdev_set_state(dev, VMIG_STOP_COPY, VMIG_STOP, err) < 0)
		return -EIO;
	while (!end) {
		ssize_t n;

		if (b->cap - b->len < 65536) {
			size_t cap = b->cap ? b->cap * 2 : 1 << 20;
			uint8_t *grown = cap <= STATE_LIMIT ? realloc(b->data, cap) : NULL;

			if (!grown)
				return verr_set(err, VERR_FAILED, ENOMEM, vdev_ident(dev)->name,
						"states over 1 GiB are not round-tripped",
						"hold the saved state");
			b->data = grown;
			b->cap = cap;
		}
		if (check_stopped(ctx))
			return verr_set(err, VERR_INTERRUPTED, EINTR, vdev_ident(dev)->name, NULL,
					"save");
		n = vdev_read_data(dev, b->data + b->len, b->cap - b->len, &end, err);
		if (n < 0)
			return (int)n;
		b->len += (size_t)n;
	}
	return vdev_set_state(dev, VMIG_STOP, VMIG_STOP, err);
}

/* STOP -> RESUMING, len bytes of b, RESUMING -> STOP; the arcs are timed. On
 * failure the device is still RESUMING (or ERROR): the caller resets it. */
static int load_state(struct check_ctx *ctx, struct vdev *dev, const struct blob *b, size_t len,
		      struct vdev_probe_set *leave, struct verr *err)
{
	struct vdev_probe_set set;
	uint64_t t0;

	*leave = (struct vdev_probe_set){ .ret = 0 };
	if (check_goto(ctx, dev, VMIG_STOP, err) < 0)
		return -EIO;
	t0 = check_now_ns();
	if (vdev_probe_set_state(dev, VMIG_RESUMING, &set) < 0)
		return verr_set(err, VERR_FAILED, set.ret, vdev_ident(dev)->name, NULL,
				"STOP -> RESUMING");
	check_add_timing(ctx, VMIG_STOP, VMIG_RESUMING, check_now_ns() - t0);
	if (!set.new_fd)
		return verr_set(err, VERR_FAILED, 0, vdev_ident(dev)->name, NULL,
				"STOP -> RESUMING returned no data fd");
	if (dev == ctx->dev && !ctx->resuming_size_asked) {
		uint64_t bytes;
		struct verr quiet = { 0 };

		ctx->resuming_size_asked = true;
		ctx->resuming_size_ret = vdev_stop_copy_size(dev, &bytes, &quiet);
	}
	if (len && vdev_write_data(dev, b->data, len, err) < 0)
		return -EIO;
	t0 = check_now_ns();
	vdev_probe_set_state(dev, VMIG_STOP, leave);
	if (leave->ret == 0)
		check_add_timing(ctx, VMIG_RESUMING, VMIG_STOP, check_now_ns() - t0);
	return leave->ret;
}

/* Puts a device back to RUNNING; resets it when that fails. Marks the check run
 * broken when even that does not work. */
static void back_to_running(struct check_ctx *ctx, struct vdev *dev)
{
	struct verr err = { 0 };

	if (check_make_running(dev, &err) < 0) {
		ctx->broken = true;
		verr_format(&err, ctx->broken_why, sizeof(ctx->broken_why));
	}
}

static size_t first_difference(const struct blob *a, const struct blob *b)
{
	size_t n = a->len < b->len ? a->len : b->len;

	for (size_t i = 0; i < n; i++)
		if (a->data[i] != b->data[i])
			return i;
	return n;
}

static void roundtrip_verdict(struct check_result *res, const struct blob *first,
			      const struct blob *second, const char *into)
{
	if (first->len == second->len && first_difference(first, second) == first->len)
		check_set(res, CHECK_PASS, "%zu bytes saved, restored into %s and saved again: "
			  "identical", first->len, into);
	else
		check_set(res, CHECK_FAIL, "the second save (%zu bytes) differs from the first "
			  "(%zu bytes) at byte %zu", second->len, first->len,
			  first_difference(first, second));
}

void check_roundtrip(struct check_ctx *ctx, struct check_result *res)
{
	struct vdev *into = ctx->peer ? ctx->peer : ctx->dev;
	struct blob first = { 0 }, second = { 0 };
	struct vdev_probe_set leave;
	struct verr err = { 0 };
	char msg[256];

	if (!(ctx->peer ? ctx->destructive_peer : ctx->destructive_dev)) {
		check_set(res, CHECK_SKIP, "replaces the device's state; %s",
			  ctx->not_destructive_why);
		return;
	}
	if (save_state(ctx, ctx->dev, &first, &err) < 0)
		goto fail;
	if (ctx->peer)
		back_to_running(ctx, ctx->dev);
	if (load_state(ctx, into, &first, first.len, &leave, &err) < 0) {
		if (!err.set)
			verr_set(&err, VERR_FAILED, leave.ret, vdev_ident(into)->name, NULL,
				 "RESUMING -> STOP refused the %zu bytes just saved", first.len);
		goto fail;
	}
	if (save_state(ctx, into, &second, &err) < 0)
		goto fail;
	roundtrip_verdict(res, &first, &second, ctx->peer ? vdev_ident(into)->name : "itself");
	goto out;
fail:
	verr_format(&err, msg, sizeof(msg));
	check_set(res, check_stopped(ctx) ? CHECK_SKIP : CHECK_FAIL, "%s", msg);
out:
	back_to_running(ctx, into);
	back_to_running(ctx, ctx->dev);
	blob_free(&first);
	blob_free(&second);
}

/* The short resume: half the state, which RESUMING -> STOP must refuse; then the
 * reset that must bring the device back to RUNNING. */
static void short_resume(struct check_ctx *ctx, const struct blob *saved, struct check_result *res)
{
	struct vdev_probe_set leave;
	enum vmig_state after = VMIG_ERROR, reset_state = VMIG_ERROR;
	struct verr err = { 0 };
	size_t half = saved->len / 2;
	int ret;

	ret = load_state(ctx, ctx->dev, saved, half, &leave, &err);
	if (ret == 0) {
		check_set(res, CHECK_FAIL, "RESUMING -> STOP accepted %zu of %zu bytes", half,
			  saved->len);
		return;
	}
	if (err.set) {
		/* STOP -> RESUMING itself, or the write, failed: not what this check looks at. */
		char msg[256];

		verr_format(&err, msg, sizeof(msg));
		check_set(res, CHECK_FAIL, "%s", msg);
		vdev_reset(ctx->dev, &err);
		return;
	}
	verr_clear(&err);
	vdev_get_state(ctx->dev, &after, &err);
	if (after != VMIG_RESUMING && after != VMIG_ERROR) {
		check_set(res, CHECK_FAIL, "after the refused RESUMING -> STOP, GET says %s",
			  vmig_state_name(after));
		vdev_reset(ctx->dev, &err);
		return;
	}
	if (vdev_reset(ctx->dev, &err) < 0 || vdev_get_state(ctx->dev, &reset_state, &err) < 0 ||
	    reset_state != VMIG_RUNNING) {
		check_set(res, CHECK_FAIL, "VFIO_DEVICE_RESET %s%s", err.set ? "failed: " :
			  "left the device in ", err.set ? check_errno_name(err.errnum) :
			  vmig_state_name(reset_state));
		return;
	}
	check_set(res, CHECK_PASS, "RESUMING -> STOP refused %zu of %zu bytes (%s), GET said %s, "
		  "reset gave RUNNING", half, saved->len, check_errno_name(leave.ret),
		  vmig_state_name(after));
}

void check_recovery(struct check_ctx *ctx, struct check_result *res)
{
	struct blob saved = { 0 };
	struct vdev_probe_set leave;
	struct verr err = { 0 };
	char msg[256];

	if (!ctx->destructive_dev) {
		check_set(res, CHECK_SKIP, "resets the device; %s", ctx->not_destructive_why);
		return;
	}
	if (save_state(ctx, ctx->dev, &saved, &err) < 0) {
		verr_format(&err, msg, sizeof(msg));
		check_set(res, check_stopped(ctx) ? CHECK_SKIP : CHECK_FAIL, "%s", msg);
	} else if (saved.len < 2) {
		check_set(res, CHECK_SKIP, "the device saves %zu bytes: nothing to cut short",
			  saved.len);
	} else {
		short_resume(ctx, &saved, res);
		/* Put the state the device had back, so that only a failure loses it. */
		verr_clear(&err);
		if (res->verdict == CHECK_PASS &&
		    load_state(ctx, ctx->dev, &saved, saved.len, &leave, &err) < 0)
			check_set(res, CHECK_FAIL, "after the reset the saved state could not be put "
				  "back (%s); the device's state is lost",
				  check_errno_name(leave.ret ? leave.ret : err.errnum));
	}
	back_to_running(ctx, ctx->dev);
	blob_free(&saved);
}
