/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The DMA logging checks (VFIO_DEVICE_FEATURE_DMA_LOGGING_START, _REPORT, _STOP): page
 * sizes, ranges, one START at a time, REPORT's rules, no report without logging, STOP.
 * Whatever a check STARTs it STOPs, failure paths included. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define KIB 1024ull
#define MIB (1024ull * KIB)
/* iova + length wraps past 2^64: the core's check_add_overflow() gives EOVERFLOW. */
#define WRAPPING_IOVA 0xfffffffffffff000ull
#define MAX_RANGES 4096                 /* a 64 KiB kernel page's worth */

static const struct vdev_dma_range one_range = { 0, 4 * MIB };

/* Ranges the core takes in one START: as many as fit in a kernel page. */
static uint32_t page_of_ranges(void)
{
	long page = sysconf(_SC_PAGESIZE);
	uint32_t n = page > 0 ? (uint32_t)page / 16 : 256;

	return n > MAX_RANGES ? MAX_RANGES : n;
}

static bool power_of_two(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Whether DMA logging is offered: a SKIP says why not. */
static bool offered(struct check_ctx *ctx, struct check_result *res)
{
	bool supported = false;
	int ret;

	/* Logging is not device state, and a VFIO device fd is held by one process, so
	 * what START changes is vfiomig's own; but an inherited fd's owner may be logging,
	 * and a STOP would end that. */
	if (vdev_opened_via(ctx->dev) == VDEV_VIA_FD && !ctx->destructive_dev) {
		check_set(res, CHECK_SKIP, "needs --destructive: an inherited fd's owner may be "
			  "logging DMA, and a STOP would end it");
		return false;
	}
	if (ctx->dma_log_stuck) {
		check_set(res, CHECK_SKIP, "a DMA_LOGGING_STOP failed in an earlier check: the "
			  "logging may still run");
		return false;
	}
	ret = vdev_dma_logging_supported(ctx->dev, &supported);
	if (ret < 0)
		check_set(res, CHECK_FAIL, "the PROBE of DMA_LOGGING_START failed with %s, not "
			  "ENOTTY", check_errno_name(ret));
	else if (!supported)
		check_set(res, CHECK_SKIP, "the device has no DMA logging (the PROBE says ENOTTY)");
	return ret == 0 && supported;
}

/* STOP after a START this check made; a failed STOP is the verdict, and the run
 * goes on only if the logging can be stopped at all. */
static void stop_started(struct check_ctx *ctx, struct check_result *res)
{
	int ret = vdev_dma_log_stop(ctx->dev);

	if (ret < 0) {
		ctx->dma_log_stuck = true;
		check_worsen(res, CHECK_FAIL, "DMA_LOGGING_STOP after a successful START failed "
			     "with %s", check_errno_name(ret));
	}
}

static int start_one(struct check_ctx *ctx, uint64_t *page)
{
	return vdev_dma_log_start(ctx->dev, page, &one_range, 1);
}

void check_dma_log_start(struct check_ctx *ctx, struct check_result *res)
{
	static const uint64_t hints[] = { 4 * KIB, 2 * MIB };
	char said[2][48];

	if (!offered(ctx, res))
		return;
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]) && !res->set; i++) {
		uint64_t page = hints[i];
		int ret = start_one(ctx, &page);

		if (ret < 0) {
			check_set(res, CHECK_FAIL, "START with page_size %llu over [0, 4 MiB) failed "
				  "with %s", (unsigned long long)hints[i], check_errno_name(ret));
			break;
		}
		if (!power_of_two(page))
			check_set(res, CHECK_FAIL, "START with page_size %llu answered page_size "
				  "%llu, not a power of two", (unsigned long long)hints[i],
				  (unsigned long long)page);
		snprintf(said[i], sizeof(said[i]), "%llu -> %llu", (unsigned long long)hints[i],
			 (unsigned long long)page);
		stop_started(ctx, res);
	}
	if (!res->set)
		check_set(res, CHECK_PASS, "START took page_size hints and answered powers of "
			  "two (%s, %s); STOP ended each", said[0], said[1]);
}

/* One START the core must refuse, and the errno Linux 6.12's core gives. */
struct bad_start {
	const char *what;
	int expect;
	uint32_t nranges;
	struct vdev_dma_range ranges[2];
};

/* Judges one refused START: accepted is a FAIL (and is stopped), another errno a WARN. */
static void judge_bad_start(struct check_ctx *ctx, struct check_result *res,
			    const struct bad_start *bad, const struct vdev_dma_range *ranges)
{
	uint64_t page = 4 * KIB;
	int ret = vdev_dma_log_start(ctx->dev, &page, ranges, bad->nranges);

	if (ret == 0) {
		check_worsen(res, CHECK_FAIL, "START took %s (Linux 6.12's core refuses it with "
			     "%s)", bad->what, check_errno_name(bad->expect));
		stop_started(ctx, res);
	} else if (-ret != bad->expect) {
		check_worsen(res, CHECK_WARN, "START refused %s with %s, where Linux 6.12's core "
			     "says %s", bad->what, check_errno_name(ret),
			     check_errno_name(bad->expect));
	}
}

void check_dma_log_ranges(struct check_ctx *ctx, struct check_result *res)
{
	static struct vdev_dma_range many[MAX_RANGES + 1];
	uint32_t most = page_of_ranges();
	uint64_t page = 4 * KIB;
	char too_many[48];
	struct bad_start bad[] = {
		{ "no range", EINVAL, 0, { { 0, 0 } } },
		{ too_many, E2BIG, most + 1, { { 0, 0 } } },
		{ "a range not aligned to page_size", EINVAL, 1, { { 2 * KIB, 8 * KIB } } },
		{ "a range whose end wraps past 2^64", EOVERFLOW, 1,
		  { { WRAPPING_IOVA, 8 * KIB } } },
		{ "two overlapping ranges", EINVAL, 2, { { 0, 8 * KIB }, { 4 * KIB, 8 * KIB } } },
	};
	int ret;

	if (!offered(ctx, res))
		return;
	snprintf(too_many, sizeof(too_many), "%u ranges (a page holds %u)", most + 1, most);
	for (uint32_t i = 0; i <= most; i++)
		many[i] = (struct vdev_dma_range){ i * 8 * KIB, 4 * KIB };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		judge_bad_start(ctx, res, &bad[i], bad[i].nranges > 2 ? many : bad[i].ranges);
	ret = vdev_dma_log_start(ctx->dev, &page, many, most);
	if (ret < 0) {
		check_worsen(res, CHECK_FAIL, "START refused %u ranges with %s: a page's worth is "
			     "guaranteed", most, check_errno_name(ret));
		return;
	}
	stop_started(ctx, res);
	if (!res->set)
		check_set(res, CHECK_PASS, "refused 0 ranges, %u ranges, an unaligned, a wrapping "
			  "and an overlapping range as the core does; took %u ranges", most + 1, most);
}

void check_dma_log_once(struct check_ctx *ctx, struct check_result *res)
{
	uint64_t page = 4 * KIB, again = 4 * KIB, bitmap[16] = { 0 };
	int first, second, report;

	if (!offered(ctx, res))
		return;
	first = start_one(ctx, &page);
	if (first < 0) {
		check_set(res, CHECK_FAIL, "the first START failed with %s",
			  check_errno_name(first));
		return;
	}
	second = start_one(ctx, &again);
	if (second == 0) {
		check_set(res, CHECK_WARN, "a second START before STOP was accepted: vfio.h says "
			  "another start is not allowed (QEMU never sends one)");
	} else {
		/* The first logging must go on: a report over its range still answers. */
		report = vdev_dma_log_report(ctx->dev, 0, one_range.length, 4 * KIB, bitmap);
		if (report < 0 && report != -EOPNOTSUPP)
			check_set(res, CHECK_FAIL, "the refused second START (%s) ended the first "
				  "logging: a REPORT then failed with %s", check_errno_name(second),
				  check_errno_name(report));
		else
			check_set(res, CHECK_PASS, "a second START was refused with %s; the first "
				  "logging went on%s", check_errno_name(second),
				  report < 0 ? " (its reports are EOPNOTSUPP here: see dma_log_report)"
					     : "");
	}
	stop_started(ctx, res);
}

/* Bitmap words for a report: 1 MiB of 4 KiB pages is 256 bits, 4 words, then guards. */
#define REPORT_WORDS 4
#define GUARD_WORDS 4
#define PREFILL 0xa5a5a5a5a5a5a5a5ull
#define GUARD 0x5a5a5a5a5a5a5a5aull

/* A good report: it may only set bits, and only in the bitmap's own words. */
static int good_report(struct check_ctx *ctx, struct check_result *res, uint64_t page)
{
	uint64_t bitmap[REPORT_WORDS + GUARD_WORDS];
	uint64_t length = REPORT_WORDS * 64 * page;
	int ret;

	for (int i = 0; i < REPORT_WORDS + GUARD_WORDS; i++)
		bitmap[i] = i < REPORT_WORDS ? PREFILL : GUARD;
	ret = vdev_dma_log_report(ctx->dev, 0, length, page, bitmap);
	if (ret < 0)
		return ret;
	for (int i = 0; i < REPORT_WORDS + GUARD_WORDS; i++) {
		if (i < REPORT_WORDS && (bitmap[i] & PREFILL) != PREFILL)
			check_worsen(res, CHECK_FAIL, "a report at page_size %llu cleared bits of "
				     "word %d (0x%016llx became 0x%016llx): it may only set bits",
				     (unsigned long long)page, i, PREFILL,
				     (unsigned long long)bitmap[i]);
		if (i >= REPORT_WORDS && bitmap[i] != GUARD)
			check_worsen(res, CHECK_FAIL, "a report at page_size %llu of %llu bytes "
				     "wrote word %d, past the %d words its bits take",
				     (unsigned long long)page, (unsigned long long)length, i,
				     REPORT_WORDS);
	}
	return 0;
}

struct bad_report {
	const char *what;
	int expect;
	uint64_t iova, page;
};

static void bad_reports(struct check_ctx *ctx, struct check_result *res)
{
	static const struct bad_report bad[] = {
		{ "page_size 2048 (below 4 KiB)", EINVAL, 0, 2 * KIB },
		{ "page_size 12288 (not a power of two)", EINVAL, 0, 12 * KIB },
		{ "a range whose end wraps past 2^64", EOVERFLOW, WRAPPING_IOVA, 4 * KIB },
	};
	uint64_t bitmap[REPORT_WORDS] = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = vdev_dma_log_report(ctx->dev, bad[i].iova, 8 * KIB, bad[i].page, bitmap);

		if (ret == 0)
			check_worsen(res, CHECK_FAIL, "REPORT took %s (Linux 6.12's core refuses "
				     "it with %s)", bad[i].what, check_errno_name(bad[i].expect));
		else if (-ret != bad[i].expect)
			check_worsen(res, CHECK_WARN, "REPORT refused %s with %s, where Linux "
				     "6.12's core says %s", bad[i].what, check_errno_name(ret),
				     check_errno_name(bad[i].expect));
	}
}

void check_dma_log_report(struct check_ctx *ctx, struct check_result *res)
{
	uint64_t page = 4 * KIB;
	int ret;

	if (!offered(ctx, res))
		return;
	ret = vdev_dma_log_start(ctx->dev, &page, &one_range, 1);
	if (ret < 0) {
		check_set(res, CHECK_FAIL, "START failed with %s", check_errno_name(ret));
		return;
	}
	bad_reports(ctx, res);
	ret = good_report(ctx, res, 4 * KIB);
	if (ret == 0)
		ret = good_report(ctx, res, 8 * KIB);
	if (ret == -EOPNOTSUPP)
		check_worsen(res, CHECK_WARN, "every good report fails with EOPNOTSUPP in the "
			     "kernel's core, before the driver: a kernel without "
			     "CONFIG_IOMMUFD_DRIVER (its iova_bitmap is a stub), where device dirty "
			     "tracking cannot work");
	else if (ret < 0)
		check_worsen(res, CHECK_FAIL, "a report of [0, 1 MiB) at page_size 4096 or 8192 "
			     "within the started range failed with %s", check_errno_name(ret));
	stop_started(ctx, res);
	if (!res->set)
		check_set(res, CHECK_PASS, "refused page sizes 2048 and 12288 and a wrapping "
			  "range; reports at 4096 and 8192 only set bits, within their bitmaps");
}

/* A report while no logging runs must fail; the core's EOPNOTSUPP counts. */
static void judge_inactive(struct check_result *res, const char *when, int ret)
{
	if (ret == 0)
		check_worsen(res, CHECK_FAIL, "a REPORT %s answered 0: vfio.h says an error is "
			     "returned when DMA logging is not enabled", when);
}

void check_dma_log_inactive(struct check_ctx *ctx, struct check_result *res)
{
	uint64_t page = 4 * KIB, bitmap[REPORT_WORDS] = { 0 };
	int before, after, ret;

	if (!offered(ctx, res))
		return;
	before = vdev_dma_log_report(ctx->dev, 0, one_range.length / 4, 4 * KIB, bitmap);
	judge_inactive(res, "before any START", before);
	ret = start_one(ctx, &page);
	if (ret < 0) {
		check_worsen(res, CHECK_FAIL, "START failed with %s", check_errno_name(ret));
		return;
	}
	ret = vdev_dma_log_stop(ctx->dev);
	if (ret < 0) {
		ctx->dma_log_stuck = true;
		check_worsen(res, CHECK_FAIL, "STOP failed with %s", check_errno_name(ret));
		return;
	}
	after = vdev_dma_log_report(ctx->dev, 0, one_range.length / 4, 4 * KIB, bitmap);
	judge_inactive(res, "after STOP", after);
	if (!res->set)
		check_set(res, CHECK_PASS, "refused before any START (%s) and after STOP (%s)%s",
			  check_errno_name(before), check_errno_name(after),
			  before == -EOPNOTSUPP && after == -EOPNOTSUPP
			  ? ", by the kernel's core before the driver" : "");
}

void check_dma_log_stop(struct check_ctx *ctx, struct check_result *res)
{
	uint64_t page = 4 * KIB;
	int ret;

	if (!offered(ctx, res))
		return;
	ret = start_one(ctx, &page);
	if (ret < 0) {
		check_set(res, CHECK_FAIL, "START failed with %s", check_errno_name(ret));
		return;
	}
	ret = vdev_dma_log_stop(ctx->dev);
	if (ret < 0) {
		ctx->dma_log_stuck = true;
		check_set(res, CHECK_FAIL, "STOP after START failed with %s",
			  check_errno_name(ret));
		return;
	}
	ret = start_one(ctx, &page);
	if (ret < 0) {
		check_set(res, CHECK_FAIL, "STOP answered 0 but a START after it failed with %s: "
			  "the logging did not end", check_errno_name(ret));
		/* A driver that kept its logging on: STOP again, and say so if it stays. */
		if (vdev_dma_log_stop(ctx->dev) < 0 || start_one(ctx, &page) < 0)
			ctx->dma_log_stuck = true;
		else
			stop_started(ctx, res);
		return;
	}
	stop_started(ctx, res);
	if (!res->set)
		check_set(res, CHECK_PASS, "STOP ended the logging: a new START then worked, and "
			  "its STOP too");
}
