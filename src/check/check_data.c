/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The saving survey and the data fd checks it feeds: PRE_COPY's session going on
 * into STOP_COPY, PRECOPY_INFO, both ends of stream, fds after their session,
 * and MIG_DATA_SIZE's estimate. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "device/device_probe.h"

#define READ_CHUNK (64 * 1024)
/* PRE_COPY may never reach its temporary end on a device that keeps dirtying. */
#define PRECOPY_READ_LIMIT (64ull << 20)

struct drain {
	uint64_t bytes;
	int end;        /* 0: read() gave 0; -errno: it failed; 1: the limit came first */
};

static uint8_t chunk[READ_CHUNK];

/* Reads the current data fd until read() gives 0 or fails, or past limit bytes. */
static void drain(struct check_ctx *ctx, uint64_t limit, struct drain *d)
{
	d->bytes = 0;
	d->end = 1;
	while (d->bytes < limit) {
		ssize_t n = vdev_probe_read(ctx->dev, chunk, sizeof(chunk));

		if (n <= 0) {
			d->end = (int)n;
			return;
		}
		d->bytes += (uint64_t)n;
		if (check_stopped(ctx)) {
			d->end = -EINTR;
			return;
		}
	}
}

static struct check_result *result(struct check_ctx *ctx, enum check_id id)
{
	return &ctx->save_results[id];
}

static void fail_unset(struct check_ctx *ctx, const enum check_id *ids, size_t n,
		       enum check_verdict verdict, const char *why)
{
	for (size_t i = 0; i < n; i++)
		if (!result(ctx, ids[i])->set)
			check_set(result(ctx, ids[i]), verdict, "%s", why);
}

/* Reads a closed session's duplicate fd: a read error is the uAPI's end. */
static void judge_stale(struct check_ctx *ctx, int held, const char *arc)
{
	struct check_result *res = result(ctx, CK_FD_INVALIDATED);
	ssize_t n = vdev_probe_held_read(held, chunk, sizeof(chunk));

	if (n > 0)
		check_worsen(res, CHECK_FAIL, "after %s the old data fd still reads data", arc);
	else if (n == 0)
		check_worsen(res, CHECK_WARN, "after %s the old data fd reads 0 instead of failing "
			     "(mtty and most drivers give ENODEV)", arc);
	else
		check_worsen(res, CHECK_PASS, "after %s the old fd fails with %s", arc,
			  check_errno_name((int)n));
}

static void judge_stopcopy_end(struct check_ctx *ctx, const struct drain *d)
{
	struct check_result *res = result(ctx, CK_STOPCOPY_END);

	if (d->end == -ENOMSG)
		check_worsen(res, CHECK_FAIL, "read() failed with ENOMSG in STOP_COPY after %llu "
			  "bytes; the uAPI allows ENOMSG only in PRE_COPY",
			  (unsigned long long)d->bytes);
	else if (d->end < 0)
		check_worsen(res, CHECK_FAIL, "read() failed with %s in STOP_COPY after %llu bytes",
			     check_errno_name(d->end), (unsigned long long)d->bytes);
	else
		check_worsen(res, CHECK_PASS, "read() gave 0 after %llu bytes",
			  (unsigned long long)d->bytes);
}

/* PRE_COPY: initial_bytes before and after a small read, then the temporary end. */
static int precopy_phase(struct check_ctx *ctx)
{
	uint64_t initial0 = 0, initial1 = 0, dirty = 0;
	struct verr err = { 0 };
	ssize_t n = 0;
	struct drain d;
	int ret;

	ret = vdev_precopy_info(ctx->dev, &initial0, &dirty, &err);
	if (ret < 0) {
		check_set(result(ctx, CK_PRECOPY_INFO), CHECK_FAIL, "PRECOPY_INFO in PRE_COPY "
			  "failed with %s", check_errno_name(ret));
	} else if (initial0 == 0) {
		check_set(result(ctx, CK_PRECOPY_INFO), CHECK_WARN, "initial_bytes is 0 on entering "
			  "PRE_COPY; the uAPI says it should start non-zero");
	} else {
		n = vdev_probe_read(ctx->dev, chunk, initial0 < 8 ? (size_t)initial0 : 8);
		if (n > 0 && vdev_precopy_info(ctx->dev, &initial1, &dirty, &err) == 0 &&
		    initial1 >= initial0)
			check_set(result(ctx, CK_PRECOPY_INFO), CHECK_FAIL, "initial_bytes stayed at "
				  "%llu after reading %zd bytes", (unsigned long long)initial1, n);
	}
	if (n < 0) {
		check_set(result(ctx, CK_PRECOPY_END), CHECK_FAIL, "the first read in PRE_COPY "
			  "failed with %s", check_errno_name((int)n));
		return -EIO;
	}
	drain(ctx, PRECOPY_READ_LIMIT, &d);
	if (d.end == -ENOMSG)
		check_set(result(ctx, CK_PRECOPY_END), CHECK_PASS, "ENOMSG after %llu bytes",
			  (unsigned long long)(d.bytes + (uint64_t)n));
	else if (d.end == 0)
		check_set(result(ctx, CK_PRECOPY_END), CHECK_WARN, "read() gave 0 after %llu bytes; "
			  "the uAPI asks for ENOMSG (vfio.h, VFIO_MIG_GET_PRECOPY_INFO), as "
			  "mtty, hisi_acc and qat do", (unsigned long long)(d.bytes + (uint64_t)n));
	else if (d.end == 1)
		check_set(result(ctx, CK_PRECOPY_END), CHECK_WARN, "no temporary end within %llu "
			  "MiB (the device keeps dirtying?)", PRECOPY_READ_LIMIT >> 20);
	else
		check_set(result(ctx, CK_PRECOPY_END), CHECK_FAIL, "read() failed with %s in "
			  "PRE_COPY", check_errno_name(d.end));
	return d.end < 0 && d.end != -ENOMSG ? -EIO : 0;
}

/* RUNNING -> PRE_COPY -> (read) -> STOP_COPY -> (read) -> STOP, one session. */
static void precopy_session(struct check_ctx *ctx)
{
	struct vdev_probe_set set;
	uint64_t initial, dirty;
	struct verr err = { 0 };
	struct drain d;
	int held, ret;

	if (check_goto(ctx, ctx->dev, VMIG_RUNNING, &err) < 0 ||
	    vdev_probe_set_state(ctx->dev, VMIG_PRE_COPY, &set) < 0 ||
	    vdev_data_fd(ctx->dev) < 0)
		return;
	if (precopy_phase(ctx) < 0 || check_stopped(ctx))
		return;
	held = vdev_probe_hold_fd(ctx->dev);
	vdev_probe_set_state(ctx->dev, VMIG_STOP_COPY, &set);
	if (set.ret < 0)
		check_set(result(ctx, CK_PRECOPY_SAME_FD), CHECK_FAIL, "PRE_COPY -> STOP_COPY "
			  "failed with %s", check_errno_name(set.ret));
	else if (set.new_fd)
		check_set(result(ctx, CK_PRECOPY_SAME_FD), CHECK_FAIL, "PRE_COPY -> STOP_COPY "
			  "returned a new data fd; the PRE_COPY fd must carry on");
	else
		check_set(result(ctx, CK_PRECOPY_SAME_FD), CHECK_PASS, "data_fd -1; the PRE_COPY "
			  "fd goes on streaming");
	vdev_probe_release_fd(held);
	if (set.ret < 0)
		return;
	ret = vdev_precopy_info(ctx->dev, &initial, &dirty, &err);
	if (ret != -EINVAL)
		check_worsen(result(ctx, CK_PRECOPY_INFO), CHECK_FAIL, "in STOP_COPY PRECOPY_INFO "
			     "%s%s, not EINVAL", ret == 0 ? "answered" : "failed with ",
			     ret == 0 ? "" : check_errno_name(ret));
	else
		check_worsen(result(ctx, CK_PRECOPY_INFO), CHECK_PASS, "answers in PRE_COPY, "
			     "initial_bytes falls as data is read, EINVAL in STOP_COPY");
	drain(ctx, UINT64_MAX, &d);
	judge_stopcopy_end(ctx, &d);
	held = vdev_probe_hold_fd(ctx->dev);
	vdev_probe_set_state(ctx->dev, VMIG_STOP, &set);
	if (held >= 0 && set.ret == 0)
		judge_stale(ctx, held, "STOP_COPY -> STOP");
	vdev_probe_release_fd(held);
}

/* RUNNING -> PRE_COPY -> RUNNING: the fd of a session left early. */
static void precopy_abandoned(struct check_ctx *ctx)
{
	struct vdev_probe_set set;
	struct verr err = { 0 };
	int held;

	if (check_goto(ctx, ctx->dev, VMIG_RUNNING, &err) < 0 ||
	    vdev_probe_set_state(ctx->dev, VMIG_PRE_COPY, &set) < 0)
		return;
	held = vdev_probe_hold_fd(ctx->dev);
	vdev_probe_set_state(ctx->dev, VMIG_RUNNING, &set);
	if (held >= 0 && set.ret == 0)
		judge_stale(ctx, held, "PRE_COPY -> RUNNING");
	vdev_probe_release_fd(held);
}

static void judge_estimate(struct check_ctx *ctx, uint64_t estimate, uint64_t actual)
{
	struct check_result *res = result(ctx, CK_SIZE_ESTIMATE);
	uint64_t lo = estimate < actual ? estimate : actual;
	uint64_t hi = estimate < actual ? actual : estimate;

	if (estimate == 0 && actual > 0)
		check_set(res, CHECK_FAIL, "MIG_DATA_SIZE said 0; STOP_COPY gave %llu bytes",
			  (unsigned long long)actual);
	else if (hi - lo <= 4096 || hi <= 2 * lo)
		check_set(res, CHECK_PASS, "estimate %llu bytes, STOP_COPY gave %llu",
			  (unsigned long long)estimate, (unsigned long long)actual);
	else if (hi <= 16 * lo)
		check_set(res, CHECK_WARN, "estimate %llu bytes, STOP_COPY gave %llu (more than "
			  "2x off)", (unsigned long long)estimate, (unsigned long long)actual);
	else
		check_set(res, CHECK_FAIL, "estimate %llu bytes, STOP_COPY gave %llu (more than "
			  "16x off)", (unsigned long long)estimate, (unsigned long long)actual);
}

/* STOP -> STOP_COPY -> (read all) -> STOP, with MIG_DATA_SIZE asked in STOP. */
static void stopcopy_session(struct check_ctx *ctx)
{
	struct vdev_probe_set set;
	uint64_t estimate = 0, initial, dirty;
	struct verr err = { 0 };
	struct drain d;
	int held, size_ret, ret;

	if (check_goto(ctx, ctx->dev, VMIG_STOP, &err) < 0)
		return;
	size_ret = vdev_stop_copy_size(ctx->dev, &estimate, &err);
	if (vdev_probe_set_state(ctx->dev, VMIG_STOP_COPY, &set) < 0 || vdev_data_fd(ctx->dev) < 0)
		return;
	ret = vdev_precopy_info(ctx->dev, &initial, &dirty, &err);
	if ((ctx->flags & VMIG_FLAG_PRE_COPY) && ret != -EINVAL)
		check_worsen(result(ctx, CK_PRECOPY_INFO), CHECK_FAIL, "in STOP_COPY (from STOP) "
			     "PRECOPY_INFO %s%s, not EINVAL", ret == 0 ? "answered" : "failed with ",
			     ret == 0 ? "" : check_errno_name(ret));
	drain(ctx, UINT64_MAX, &d);
	judge_stopcopy_end(ctx, &d);
	if (size_ret == -ENOTTY)
		check_set(result(ctx, CK_SIZE_ESTIMATE), CHECK_SKIP, "no MIG_DATA_SIZE (before 6.2)");
	else if (size_ret < 0)
		check_set(result(ctx, CK_SIZE_ESTIMATE), CHECK_FAIL, "MIG_DATA_SIZE in STOP failed "
			  "with %s", check_errno_name(size_ret));
	else if (d.end == 0 || d.end == -ENOMSG)     /* an ENOMSG end is stopcopy_end's */
		judge_estimate(ctx, estimate, d.bytes);
	held = vdev_probe_hold_fd(ctx->dev);
	vdev_probe_set_state(ctx->dev, VMIG_STOP, &set);
	if (held >= 0 && set.ret == 0)
		judge_stale(ctx, held, "STOP_COPY -> STOP");
	vdev_probe_release_fd(held);
}

static void save_survey(struct check_ctx *ctx)
{
	static const enum check_id precopy_ids[] = { CK_PRECOPY_SAME_FD, CK_PRECOPY_INFO,
						     CK_PRECOPY_END };
	static const enum check_id all_ids[] = { CK_STOPCOPY_END, CK_FD_INVALIDATED,
						 CK_SIZE_ESTIMATE };
	struct verr err = { 0 };

	if (ctx->save_done)
		return;
	ctx->save_done = true;
	if (!(ctx->flags & VMIG_FLAG_PRE_COPY))
		fail_unset(ctx, precopy_ids, 3, CHECK_SKIP, "the device has no PRE_COPY");
	else
		precopy_session(ctx);
	if (!check_stopped(ctx))
		stopcopy_session(ctx);
	if ((ctx->flags & VMIG_FLAG_PRE_COPY) && !check_stopped(ctx))
		precopy_abandoned(ctx);
	if (check_make_running(ctx->dev, &err) < 0) {
		ctx->broken = true;
		verr_format(&err, ctx->broken_why, sizeof(ctx->broken_why));
	}
	/* What an earlier failure kept from being tried is that failure's business. */
	fail_unset(ctx, precopy_ids, 3, CHECK_SKIP, check_stopped(ctx) ? "interrupted"
		   : "not reached: an earlier step of the PRE_COPY session failed");
	fail_unset(ctx, all_ids, 3, CHECK_SKIP, check_stopped(ctx) ? "interrupted"
		   : "not reached: an earlier step of the saving survey failed");
}

static void from_survey(struct check_ctx *ctx, enum check_id id, struct check_result *res)
{
	save_survey(ctx);
	*res = ctx->save_results[id];
}

void check_precopy_same_fd(struct check_ctx *ctx, struct check_result *res)
{
	from_survey(ctx, CK_PRECOPY_SAME_FD, res);
}

void check_precopy_info(struct check_ctx *ctx, struct check_result *res)
{
	from_survey(ctx, CK_PRECOPY_INFO, res);
}

void check_precopy_end(struct check_ctx *ctx, struct check_result *res)
{
	from_survey(ctx, CK_PRECOPY_END, res);
}

void check_stopcopy_end(struct check_ctx *ctx, struct check_result *res)
{
	from_survey(ctx, CK_STOPCOPY_END, res);
}

void check_fd_invalidated(struct check_ctx *ctx, struct check_result *res)
{
	from_survey(ctx, CK_FD_INVALIDATED, res);
}

void check_size_estimate(struct check_ctx *ctx, struct check_result *res)
{
	from_survey(ctx, CK_SIZE_ESTIMATE, res);
}
