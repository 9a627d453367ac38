// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfio-dmalog: drives an mdev's DMA logging features (VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
 * _REPORT, _STOP) through the cdev path, in a fixed sequence, and prints each answer, so a
 * test can hold a driver's log_ops to consistent answers.
 *
 * Build: cc -O2 -Wall -Wextra -o tests/tools/vfio-dmalog tests/tools/vfio-dmalog.c
 * Usage: vfio-dmalog UUID
 * Prints one line a step: "<step>: ok" or "<step>: <ERRNO NAME>"; the report adds the number
 * of pages it marked dirty. Exit: 0 when the sequence ran, 1 when the device cannot be opened.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vfio.h>

/* From the kernel uAPI, for build hosts whose headers predate them. */
#ifndef VFIO_DEVICE_BIND_IOMMUFD
struct vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags;
	__s32 iommufd;
	__u32 out_devid;
};
#define VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_TYPE, VFIO_BASE + 18)
#endif

#define LOG_START	6
#define LOG_STOP	7
#define LOG_REPORT	8
#define PAGE		4096ULL
#define SPAN		(1ULL << 20)

struct log_range {
	uint64_t iova;
	uint64_t length;
};

struct log_control {
	uint64_t page_size;
	uint32_t num_ranges;
	uint32_t reserved;
	uint64_t ranges;
};

struct log_report {
	uint64_t iova;
	uint64_t length;
	uint64_t page_size;
	uint64_t bitmap;
};

static const struct { int err; const char *name; } errnos[] = {
	{ EINVAL, "EINVAL" }, { EBUSY, "EBUSY" }, { ENOTTY, "ENOTTY" }, { EIO, "EIO" },
	{ EFAULT, "EFAULT" }, { ENOMEM, "ENOMEM" }, { EOPNOTSUPP, "EOPNOTSUPP" },
};

static const char *errno_name(int err)
{
	static char buf[16];

	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (errnos[i].err == err)
			return errnos[i].name;
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

/* One feature SET or GET with PAYLOAD; 0 or an errno. */
static int feature(int fd, uint32_t flags, const void *payload, size_t size)
{
	uint64_t buf[8] = { 0 };
	struct vfio_device_feature *f = (struct vfio_device_feature *)buf;

	f->argsz = sizeof(*f) + size;
	f->flags = flags;
	memcpy(f->data, payload, size);
	return ioctl(fd, VFIO_DEVICE_FEATURE, f) < 0 ? errno : 0;
}

static int start(int fd)
{
	struct log_range range = { .iova = 0, .length = SPAN };
	struct log_control control = {
		.page_size = PAGE, .num_ranges = 1, .ranges = (uintptr_t)&range,
	};

	return feature(fd, VFIO_DEVICE_FEATURE_SET | LOG_START, &control, sizeof(control));
}

static int report(int fd, int *dirty)
{
	uint64_t bitmap[SPAN / PAGE / 64] = { 0 };
	struct log_report rep = {
		.iova = 0, .length = SPAN, .page_size = PAGE, .bitmap = (uintptr_t)bitmap,
	};
	int err = feature(fd, VFIO_DEVICE_FEATURE_GET | LOG_REPORT, &rep, sizeof(rep));

	*dirty = 0;
	for (size_t i = 0; i < sizeof(bitmap) / sizeof(bitmap[0]); i++)
		*dirty += __builtin_popcountll(bitmap[i]);
	return err;
}

static void say(const char *step, int err)
{
	printf("%s: %s\n", step, err ? errno_name(err) : "ok");
}

/* /dev/vfio/devices/vfioN of an mdev, bound to a new iommufd; -1 on failure. */
static int open_device(const char *uuid)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	char path[512];
	struct dirent *d;
	DIR *dir;
	int fd = -1;

	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/vfio-dev", uuid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		if (!strncmp(d->d_name, "vfio", 4)) {
			snprintf(path, sizeof(path), "/dev/vfio/devices/%s", d->d_name);
			fd = open(path, O_RDWR | O_CLOEXEC);
			break;
		}
	closedir(dir);
	if (fd < 0)
		return -1;
	bind.iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (bind.iommufd < 0 || ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	int fd, dirty, err;

	if (argc != 2) {
		fprintf(stderr, "usage: vfio-dmalog UUID\n");
		return 2;
	}
	fd = open_device(argv[1]);
	if (fd < 0) {
		fprintf(stderr, "vfio-dmalog: %s: cannot open and bind: %s\n", argv[1], strerror(errno));
		return 1;
	}
	say("probe", feature(fd, VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET | LOG_START,
			     NULL, 0));
	say("report before start", report(fd, &dirty));
	say("start", start(fd));
	say("start again", start(fd));
	err = report(fd, &dirty);
	if (err)
		say("report", err);
	else
		printf("report: ok, %d dirty pages\n", dirty);
	say("stop", feature(fd, VFIO_DEVICE_FEATURE_SET | LOG_STOP, NULL, 0));
	say("report after stop", report(fd, &dirty));
	say("start after stop", start(fd));
	say("stop", feature(fd, VFIO_DEVICE_FEATURE_SET | LOG_STOP, NULL, 0));
	close(fd);
	return 0;
}
