/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The helpers the conformance checks share: verdicts, moving a device to a state
 * and back to RUNNING, timings, errno names. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

const char *check_verdict_name(enum check_verdict verdict)
{
	static const char *const names[CHECK_NR_VERDICTS] = { "PASS", "WARN", "FAIL", "SKIP" };

	return (unsigned)verdict < CHECK_NR_VERDICTS ? names[verdict] : "?";
}

void check_set(struct check_result *res, enum check_verdict verdict, const char *fmt, ...)
{
	va_list ap;

	res->verdict = verdict;
	res->set = true;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
}

static int verdict_rank(enum check_verdict verdict)
{
	return verdict == CHECK_FAIL ? 3 : verdict == CHECK_WARN ? 2 : verdict == CHECK_PASS;
}

void check_worsen(struct check_result *res, enum check_verdict verdict, const char *fmt, ...)
{
	va_list ap;

	if (res->set && verdict_rank(verdict) <= verdict_rank(res->verdict))
		return;
	res->verdict = verdict;
	res->set = true;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
}

bool check_stopped(const struct check_ctx *ctx)
{
	return ctx->stop && *ctx->stop;
}

const char *check_errno_name(int errnum)
{
	static const struct { int value; const char *name; } names[] = {
		{ EINVAL, "EINVAL" }, { ENOMSG, "ENOMSG" }, { ENODEV, "ENODEV" }, { EIO, "EIO" },
		{ EBADF, "EBADF" }, { ENOTTY, "ENOTTY" }, { EOPNOTSUPP, "EOPNOTSUPP" },
		{ ENOMEM, "ENOMEM" }, { EFAULT, "EFAULT" }, { EBUSY, "EBUSY" }, { EPERM, "EPERM" },
		{ ETIMEDOUT, "ETIMEDOUT" }, { EDEADLK, "EDEADLK" }, { EINTR, "EINTR" },
		{ EAGAIN, "EAGAIN" }, { ENOSPC, "ENOSPC" }, { EPROTO, "EPROTO" },
		{ E2BIG, "E2BIG" }, { EOVERFLOW, "EOVERFLOW" }, { ENOENT, "ENOENT" },
	};
	static char other[4][24];      /* a few may appear in one message */
	static unsigned next;
	char *text;

	if (errnum < 0)
		errnum = -errnum;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].value == errnum)
			return names[i].name;
	text = other[next++ % 4];
	snprintf(text, sizeof(other[0]), "errno %d", errnum);
	return text;
}

/* Walks to state by the planner's paths; STOP_COPY cannot reach PRE_COPY*
 * directly, so such a walk goes through RUNNING first. */
int check_goto(struct check_ctx *ctx, struct vdev *dev, enum vmig_state state, struct verr *err)
{
	struct vmig_path path;
	enum vmig_state now;

	if (vdev_get_state(dev, &now, err) < 0)
		return -EIO;
	if (now == state)
		return 0;
	if (vmig_plan_path(ctx->flags, now, state, &path) < 0 &&
	    vdev_set_state(dev, VMIG_RUNNING, now, err) < 0)
		return -EIO;
	return vdev_set_state(dev, state, VMIG_RUNNING, err);
}

/* RUNNING, whatever happened: a walk when one exists, a reset for RESUMING and
 * ERROR (a device must never be left there) or when the walk fails. */
int check_make_running(struct vdev *dev, struct verr *err)
{
	enum vmig_state now = VMIG_ERROR;
	struct verr quiet = { 0 };

	if (vdev_get_state(dev, &now, &quiet) == 0 && now == VMIG_RUNNING)
		return 0;
	verr_clear(&quiet);
	if (now == VMIG_ERROR || now == VMIG_RESUMING ||
	    vdev_set_state(dev, VMIG_RUNNING, VMIG_ERROR, &quiet) < 0) {
		if (vdev_reset(dev, err) < 0)
			return -EIO;
	}
	if (vdev_get_state(dev, &now, err) < 0)
		return -EIO;
	if (now != VMIG_RUNNING)
		return verr_set(err, VERR_FAILED, 0, vdev_ident(dev)->name,
				"unbind and rebind its driver",
				"the device stays in %s even after VFIO_DEVICE_RESET",
				vmig_state_name(now));
	return 0;
}

uint64_t check_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void check_add_timing(struct check_ctx *ctx, enum vmig_state from, enum vmig_state to,
		      uint64_t ns)
{
	struct check_timing *t = NULL;

	for (int i = 0; i < ctx->ntimings; i++)
		if (ctx->timings[i].from == from && ctx->timings[i].to == to)
			t = &ctx->timings[i];
	if (!t) {
		if (ctx->ntimings == CHECK_MAX_TIMINGS)
			return;
		t = &ctx->timings[ctx->ntimings++];
		t->from = from;
		t->to = to;
		t->runs = 0;
	}
	if (t->runs < CHECK_MAX_REPEAT)
		t->ns[t->runs++] = ns;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t check_timing_median(const struct check_timing *timing)
{
	uint64_t sorted[CHECK_MAX_REPEAT];

	if (!timing->runs)
		return 0;
	memcpy(sorted, timing->ns, sizeof(uint64_t) * (size_t)timing->runs);
	qsort(sorted, (size_t)timing->runs, sizeof(uint64_t), compare_u64);
	return timing->runs % 2 ? sorted[timing->runs / 2]
				: (sorted[timing->runs / 2 - 1] + sorted[timing->runs / 2]) / 2;
}

uint64_t check_timing_min(const struct check_timing *timing)
{
	uint64_t v = timing->runs ? timing->ns[0] : 0;

	for (int i = 1; i < timing->runs; i++)
		v = timing->ns[i] < v ? timing->ns[i] : v;
	return v;
}

uint64_t check_timing_max(const struct check_timing *timing)
{
	uint64_t v = 0;

	for (int i = 0; i < timing->runs; i++)
		v = timing->ns[i] > v ? timing->ns[i] : v;
	return v;
}
