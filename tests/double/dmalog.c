/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DMA logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_START/STOP/REPORT): the core's checks of
 * Linux 6.12 (drivers/vfio/vfio_main.c) in its order, then a driver; knobs break each. */
#include "double.h"

#define LOG_MAX_RANGES (4096 / 16)      /* ranges in one 4 KiB kernel page */

/* Appends "START"/"STOP" (with log_active after it) to ROOT/double/<dev>/dma_log_calls,
 * which outlives the process, so a test can see that logging was off at the end. */
static void trace_call(const char *dev, const char *call, int active)
{
	char path[PATH_MAX], line[32];
	int fd, n;

	dev_path(path, sizeof(path), dev, "dma_log_calls");
	fd = real_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%s %d\n", call, active);
	(void)!real_write(fd, line, (size_t)n);
	real_close(fd);
}

/* dma_log_unchecked: a comma list of core checks this kernel skips (count, align,
 * overflow, overlap, report_page, report_overflow). */
static int unchecked(const char *dev, const char *check)
{
	char buf[256], *tok, *save = NULL;

	if (!knob_str(dev, "dma_log_unchecked", buf, sizeof(buf)))
		return 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (!strcmp(tok, check))
			return 1;
	return 0;
}

static int aligned(uint64_t v, uint64_t page)
{
	return (v & (page - 1)) == 0;   /* IS_ALIGNED(), page 0 included */
}

/* The core's checks of START's ranges; 0 when they pass. */
static int check_ranges(const char *dev, uint64_t page, uint32_t n, uint64_t uranges)
{
	const uint64_t *r = (const uint64_t *)(uintptr_t)uranges;

	if (!n && !unchecked(dev, "count"))
		return -EINVAL;
	if (n > LOG_MAX_RANGES && !unchecked(dev, "count"))
		return -E2BIG;
	if (n && !r)
		return -EFAULT;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t iova = r[2 * i], len = r[2 * i + 1], end;

		if ((!aligned(iova, page) || !aligned(len, page)) && !unchecked(dev, "align"))
			return -EINVAL;
		if (__builtin_add_overflow(iova, len, &end) && !unchecked(dev, "overflow"))
			return -EOVERFLOW;
		for (uint32_t j = 0; j < i && !unchecked(dev, "overlap"); j++) {
			uint64_t a = r[2 * j], b = r[2 * j] + r[2 * j + 1] - 1;

			if (iova <= b && iova + len - 1 >= a)
				return -EINVAL;
		}
	}
	return 0;
}

/* The driver's START: dma_log_start_errno fails it; a second START is what
 * dma_log_restart says (accept: mtty's stub; EBUSY: migtest and mlx5; ends: refused,
 * and the first logging ended too); dma_log_page_size is the page size answered. */
static int driver_start(const char *dev, uint64_t *page)
{
	struct devstate s;
	char restart[32] = "accept";
	int err = knob_errno(dev, "dma_log_start_errno"), lk, ret = 0;

	if (err)
		return -err;
	knob_str(dev, "dma_log_restart", restart, sizeof(restart));
	lk = lock_dev(dev);
	load_state(dev, &s);
	if (s.log_active && !strcmp(restart, "ends")) {
		s.log_active = 0;
		ret = -EBUSY;
	} else if (s.log_active && strcmp(restart, "accept")) {
		ret = -parse_errno(restart, EBUSY);
	} else {
		s.log_active = 1;
		*page = (uint64_t)knob_int(dev, "dma_log_page_size", (long long)*page);
	}
	save_state(dev, &s);
	unlock_dev(lk);
	trace_call(dev, "START", s.log_active);
	return ret;
}

static int log_start(const char *dev, uint32_t flags, unsigned char *data, size_t payload)
{
	uint64_t page, uranges;
	uint32_t n;
	int ret = check_feature(flags, payload, D_FEATURE_SET, 24);

	if (ret != 1)
		return ret;
	memcpy(&page, data, 8);
	memcpy(&n, data + 8, 4);
	memcpy(&uranges, data + 16, 8);
	ret = check_ranges(dev, page, n, uranges);
	if (!ret)
		ret = driver_start(dev, &page);
	if (!ret)
		memcpy(data, &page, 8);
	return ret;
}

/* dma_log_stop_errno fails STOP; dma_log_stop_keeps=1 answers 0 and keeps logging. */
static int log_stop(const char *dev, uint32_t flags, size_t payload)
{
	struct devstate s;
	int ret = check_feature(flags, payload, D_FEATURE_SET, 0), lk, err;

	if (ret != 1)
		return ret;
	err = knob_errno(dev, "dma_log_stop_errno");
	if (err)
		return -err;
	lk = lock_dev(dev);
	load_state(dev, &s);
	if (!knob_int(dev, "dma_log_stop_keeps", 0))
		s.log_active = 0;
	save_state(dev, &s);
	unlock_dev(lk);
	trace_call(dev, "STOP", s.log_active);
	return 0;
}

/* The driver's read-and-clear: EINVAL without logging (dma_log_report_unstarted=accept:
 * 0); the device does no DMA, so no bit is set. dma_log_report_bug=clear zeroes the
 * first word, =overrun writes the word past the bitmap. */
static int driver_report(const char *dev, uint64_t len, uint64_t page, uint64_t *bitmap)
{
	struct devstate s;
	char bug[32] = "";
	uint64_t words = (len / page + 63) / 64;
	int lk = lock_dev(dev);

	load_state(dev, &s);
	unlock_dev(lk);
	if (!s.log_active && !knob_int(dev, "dma_log_report_unstarted", 0))
		return -EINVAL;
	knob_str(dev, "dma_log_report_bug", bug, sizeof(bug));
	if (!strcmp(bug, "clear") && words)
		bitmap[0] = 0;
	else if (!strcmp(bug, "overrun"))
		bitmap[words] = ~0ull;
	return 0;
}

/* Unset, the VM's kernel: EOPNOTSUPP; "0", a kernel with CONFIG_IOMMUFD_DRIVER. */
static int report_core_errno(const char *dev)
{
	char buf[32];

	if (!knob_str(dev, "dma_log_report_errno", buf, sizeof(buf)))
		return EOPNOTSUPP;
	return knob_errno(dev, "dma_log_report_errno");
}

static int log_report(const char *dev, uint32_t flags, unsigned char *data, size_t payload)
{
	uint64_t iova, len, page, ubitmap, end;
	int ret = check_feature(flags, payload, D_FEATURE_GET, 32);

	if (ret != 1)
		return ret;
	memcpy(&iova, data, 8);
	memcpy(&len, data + 8, 8);
	memcpy(&page, data + 16, 8);
	memcpy(&ubitmap, data + 24, 8);
	if ((page < 4096 || (page & (page - 1))) && !unchecked(dev, "report_page"))
		return -EINVAL;
	if (__builtin_add_overflow(iova, len, &end) && !unchecked(dev, "report_overflow"))
		return -EOVERFLOW;
	/* dma_log_report_errno: the core's answer before the driver, e.g. EOPNOTSUPP of a
	 * kernel without CONFIG_IOMMUFD_DRIVER (Linux 6.12's VM kernel). */
	ret = report_core_errno(dev);
	if (ret)
		return -ret;
	if (!ubitmap || !page)
		return -EFAULT;
	return driver_report(dev, len, page, (uint64_t *)(uintptr_t)ubitmap);
}

int dma_log_feature(const char *dev, const struct devcfg *c, uint32_t flags,
		    unsigned char *data, size_t payload)
{
	if (!c->dma_logging)
		return -ENOTTY;
	switch (flags & D_FEATURE_MASK) {
	case F_LOG_START:
		return log_start(dev, flags, data, payload);
	case F_LOG_STOP:
		return log_stop(dev, flags, payload);
	default:
		return log_report(dev, flags, data, payload);
	}
}
