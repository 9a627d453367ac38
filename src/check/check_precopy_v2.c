/* SPDX-License-Identifier: GPL-2.0-or-later */
/* precopy_info_v2: the PRECOPY_INFOv2 opt-in (device feature 12, Linux 7.1) and the
 * flags PRECOPY_INFO reports after it. */
#include <errno.h>
#include <stdio.h>

#include "check.h"

/* Opted in, PRE_COPY entered: PRECOPY_INFO's flags must hold defined bits only. */
static void judge_flags(struct check_ctx *ctx, struct check_result *res)
{
	struct vdev_precopy_info info;
	struct verr err = { 0 };
	uint32_t undefined;

	if (check_goto(ctx, ctx->dev, VMIG_PRE_COPY, &err) < 0) {
		check_set(res, CHECK_FAIL, "opted in, but RUNNING -> PRE_COPY failed with %s",
			  check_errno_name(err.errnum));
		return;
	}
	if (vdev_precopy_info2(ctx->dev, &info, &err) < 0) {
		check_set(res, CHECK_FAIL, "opted in, but PRECOPY_INFO failed with %s",
			  check_errno_name(err.errnum));
		return;
	}
	undefined = info.flags & ~VDEV_PRECOPY_INFO_DEFINED_FLAGS;
	if (undefined)
		check_set(res, CHECK_FAIL, "opted in, PRECOPY_INFO reports flags 0x%x: bits 0x%x "
			  "are not defined (only REINIT, 0x1, is)", info.flags, undefined);
	else
		check_set(res, CHECK_PASS, "offered; the opt-in SET works and PRECOPY_INFO "
			  "reports flags 0x%x (defined bits only)", info.flags);
}

void check_precopy_info_v2(struct check_ctx *ctx, struct check_result *res)
{
	struct verr err = { 0 };
	bool offered = false, enabled = false;
	int ret = vdev_precopy_v2_supported(ctx->dev, &offered);

	if (ret < 0) {
		check_set(res, CHECK_FAIL, "the PROBE of feature 12 failed with %s, not ENOTTY",
			  check_errno_name(ret));
		return;
	}
	if (!offered) {
		check_set(res, CHECK_PASS, "not offered (a kernel or driver before Linux 7.1); "
			  "PRECOPY_INFO's flags stay reserved");
		return;
	}
	if (vdev_precopy_v2_enable(ctx->dev, &enabled, &err) < 0 || !enabled) {
		check_set(res, CHECK_FAIL, "the PROBE says offered, but the opt-in SET failed "
			  "with %s", check_errno_name(err.errnum));
		return;
	}
	if (!(ctx->flags & VMIG_FLAG_PRE_COPY)) {
		check_set(res, CHECK_PASS, "offered and the opt-in SET works; no PRE_COPY to ask "
			  "PRECOPY_INFO in");
		return;
	}
	judge_flags(ctx, res);
	verr_clear(&err);
	if (check_make_running(ctx->dev, &err) < 0) {
		ctx->broken = true;
		verr_format(&err, ctx->broken_why, sizeof(ctx->broken_why));
	}
}
