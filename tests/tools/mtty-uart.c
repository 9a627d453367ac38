/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mtty-uart: pokes the emulated 16550 of an mtty mdev through VFIO, independently of vfiomig,
 * so tests can put bytes into a device's loopback FIFO and see where they come out.
 *
 * Build: cc -O2 -Wall -Wextra -o tests/tools/mtty-uart tests/tools/mtty-uart.c
 * Usage: mtty-uart [--open-via=auto|cdev|group] write UUID BYTES   (at most 16 bytes, port 0 TX)
 *        mtty-uart [--open-via=auto|cdev|group] read UUID          (drains port 0 RX to stdout)
 *        mtty-uart [--open-via=...] lsr UUID                       (prints port 0's LSR, e.g. 0x60)
 *        mtty-uart [--open-via=...] hold UUID     (keeps the device open, prints "held", waits for a signal)
 *        mtty-uart [--open-via=...] drain UUID...  (empties each device's port 0 RX, prints nothing)
 * Exit: 0 ok, 1 I/O or ioctl failure, 2 usage, 3 device unavailable (missing, busy, not viable).
 *
 * mtty's UART (samples/vfio-mdev/mtty.c): region N is port N's 8 I/O registers. A byte written
 * to THR (offset 0) with LCR.DLAB clear is appended to a 16-byte FIFO that RBR (offset 0) reads
 * back; LSR (offset 5) has DR (0x01) while the FIFO holds data, OE (0x02) after an overflow,
 * THRE|TEMT (0x60) when it is empty. The FIFO is part of the migration blob.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vfio.h>

/* Definitions from the kernel uAPI (Linux 6.6+) for hosts whose headers predate them. */
#ifndef VFIO_DEVICE_BIND_IOMMUFD
struct vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags;
	__s32 iommufd;
	__u32 out_devid;
};
#define VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_TYPE, VFIO_BASE + 18)
#endif

enum { EXIT_IO = 1, EXIT_USAGE = 2, EXIT_UNAVAILABLE = 3 };

#define UART_DATA 0	/* THR on write, RBR on read */
#define UART_LCR 3
#define UART_LSR 5
#define LCR_DLAB 0x80
#define LSR_DR 0x01
#define LSR_OE 0x02
#define FIFO_SIZE 16

struct uart {
	const char *uuid;
	int device_fd;
	int extra_fds[3];	/* iommufd, or container + group */
	off_t port0;		/* region 0's offset in the device fd */
};

static const char *sysfs_root = "/sys/bus/mdev/devices";

static int fail(int code, const char *what, int err)
{
	fprintf(stderr, "mtty-uart: %s: %s\n", what, strerror(err));
	return code;
}

static int unavailable_or_io(int err)
{
	return (err == ENOENT || err == EBUSY || err == EACCES || err == EPERM || err == ENODEV)
		? EXIT_UNAVAILABLE : EXIT_IO;
}

/* Finds the vfioN entry under the mdev's vfio-dev/ directory; returns -1 if there is none. */
static int find_cdev(const char *uuid, char *node, size_t size)
{
	char path[PATH_MAX];
	struct dirent *entry;
	DIR *dir;
	int found = -1;

	snprintf(path, sizeof(path), "%s/%s/vfio-dev", sysfs_root, uuid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while (found < 0 && (entry = readdir(dir)))
		if (strncmp(entry->d_name, "vfio", 4) == 0) {
			snprintf(node, size, "/dev/vfio/devices/%s", entry->d_name);
			found = 0;
		}
	closedir(dir);
	return found;
}

static int open_cdev(struct uart *u)
{
	char node[PATH_MAX];
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };

	if (find_cdev(u->uuid, node, sizeof(node)) < 0)
		return fail(EXIT_UNAVAILABLE, "no vfio-dev/vfioN entry (kernel without VFIO_DEVICE_CDEV?)", ENOENT);
	u->device_fd = open(node, O_RDWR | O_CLOEXEC);
	if (u->device_fd < 0)
		return fail(unavailable_or_io(errno), node, errno);
	u->extra_fds[0] = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (u->extra_fds[0] < 0)
		return fail(unavailable_or_io(errno), "/dev/iommu", errno);
	bind.iommufd = u->extra_fds[0];
	if (ioctl(u->device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0)
		return fail(unavailable_or_io(errno), "VFIO_DEVICE_BIND_IOMMUFD", errno);
	return 0;
}

static int open_group(struct uart *u)
{
	char link[PATH_MAX], target[PATH_MAX], node[PATH_MAX];
	struct vfio_group_status status = { .argsz = sizeof(status) };
	ssize_t len;
	int container, group, iommu_type = VFIO_TYPE1v2_IOMMU;

	snprintf(link, sizeof(link), "%s/%s/iommu_group", sysfs_root, u->uuid);
	len = readlink(link, target, sizeof(target) - 1);
	if (len < 0)
		return fail(EXIT_UNAVAILABLE, link, errno);
	target[len] = '\0';
	snprintf(node, sizeof(node), "/dev/vfio/%s", basename(target));
	if (access(node, F_OK) < 0) {
		snprintf(node, sizeof(node), "/dev/vfio/noiommu-%s", basename(target));
		iommu_type = VFIO_NOIOMMU_IOMMU;
	}

	container = u->extra_fds[0] = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (container < 0)
		return fail(unavailable_or_io(errno), "/dev/vfio/vfio", errno);
	if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		return fail(EXIT_UNAVAILABLE, "VFIO_GET_API_VERSION", EPROTO);
	group = u->extra_fds[1] = open(node, O_RDWR | O_CLOEXEC);
	if (group < 0)
		return fail(unavailable_or_io(errno), node, errno);
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &status) < 0)
		return fail(EXIT_IO, "VFIO_GROUP_GET_STATUS", errno);
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		return fail(EXIT_UNAVAILABLE, "group not viable", EBUSY);
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) < 0)
		return fail(unavailable_or_io(errno), "VFIO_GROUP_SET_CONTAINER", errno);
	if (ioctl(container, VFIO_SET_IOMMU, iommu_type) < 0)
		return fail(EXIT_IO, "VFIO_SET_IOMMU", errno);
	u->device_fd = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, u->uuid);
	if (u->device_fd < 0)
		return fail(unavailable_or_io(errno), "VFIO_GROUP_GET_DEVICE_FD", errno);
	return 0;
}

static int uart_open(struct uart *u, const char *via)
{
	struct vfio_region_info region = { .argsz = sizeof(region), .index = 0 };
	char dir[PATH_MAX];
	int rc;

	snprintf(dir, sizeof(dir), "%s/%s", sysfs_root, u->uuid);
	if (access(dir, F_OK) < 0)
		return fail(EXIT_UNAVAILABLE, dir, errno);
	if (strcmp(via, "auto") == 0) {
		char node[PATH_MAX];

		via = find_cdev(u->uuid, node, sizeof(node)) == 0 ? "cdev" : "group";
	}
	if (strcmp(via, "cdev") == 0)
		rc = open_cdev(u);
	else if (strcmp(via, "group") == 0)
		rc = open_group(u);
	else
		return fail(EXIT_USAGE, via, EINVAL);
	if (rc)
		return rc;
	if (ioctl(u->device_fd, VFIO_DEVICE_GET_REGION_INFO, &region) < 0)
		return fail(EXIT_IO, "VFIO_DEVICE_GET_REGION_INFO(0)", errno);
	if (region.size < 8 || !(region.flags & VFIO_REGION_INFO_FLAG_READ)
	    || !(region.flags & VFIO_REGION_INFO_FLAG_WRITE))
		return fail(EXIT_IO, "region 0 is not a readable, writable UART", ENXIO);
	u->port0 = (off_t)region.offset;
	return 0;
}

static void uart_close(struct uart *u)
{
	size_t i;

	if (u->device_fd >= 0)
		close(u->device_fd);
	for (i = 0; i < sizeof(u->extra_fds) / sizeof(u->extra_fds[0]); i++)
		if (u->extra_fds[i] >= 0)
			close(u->extra_fds[i]);
}

static int reg_read(struct uart *u, int reg, uint8_t *value)
{
	ssize_t n = pread(u->device_fd, value, 1, u->port0 + reg);

	return n == 1 ? 0 : (n < 0 ? -errno : -EIO);
}

static int reg_write(struct uart *u, int reg, uint8_t value)
{
	ssize_t n = pwrite(u->device_fd, &value, 1, u->port0 + reg);

	return n == 1 ? 0 : (n < 0 ? -errno : -EIO);
}

/* With DLAB set, offset 0 is the divisor latch, not the FIFO. */
static int check_dlab(struct uart *u)
{
	uint8_t lcr;
	int err = reg_read(u, UART_LCR, &lcr);

	if (err)
		return fail(EXIT_IO, "read LCR", -err);
	if (lcr & LCR_DLAB) {
		fprintf(stderr, "mtty-uart: %s: LCR.DLAB is set; offset 0 is the divisor latch\n", u->uuid);
		return EXIT_IO;
	}
	return 0;
}

static int cmd_write(struct uart *u, const char *bytes)
{
	size_t i, len = strlen(bytes);
	uint8_t lsr;
	int err;

	for (i = 0; i < len; i++) {
		err = reg_write(u, UART_DATA, (uint8_t)bytes[i]);
		if (err)
			return fail(EXIT_IO, "write THR", -err);
	}
	err = reg_read(u, UART_LSR, &lsr);
	if (err)
		return fail(EXIT_IO, "read LSR", -err);
	if (lsr & LSR_OE) {
		fprintf(stderr, "mtty-uart: %s: FIFO overrun (LSR 0x%02x)\n", u->uuid, lsr);
		return EXIT_IO;
	}
	return 0;
}

/* Drains port 0's RX FIFO to stdout, or nowhere when discard is set. */
static int cmd_read(struct uart *u, int discard)
{
	uint8_t lsr, byte;
	int err, n;

	for (n = 0; n <= FIFO_SIZE; n++) {
		err = reg_read(u, UART_LSR, &lsr);
		if (err)
			return fail(EXIT_IO, "read LSR", -err);
		if (!(lsr & LSR_DR))
			break;
		err = reg_read(u, UART_DATA, &byte);
		if (err)
			return fail(EXIT_IO, "read RBR", -err);
		if (!discard && putchar(byte) == EOF)
			return fail(EXIT_IO, "stdout", errno);
	}
	if (!discard && fflush(stdout) == EOF)
		return fail(EXIT_IO, "stdout", errno);
	return 0;
}

static int cmd_lsr(struct uart *u)
{
	uint8_t lsr;
	int err = reg_read(u, UART_LSR, &lsr);

	if (err)
		return fail(EXIT_IO, "read LSR", -err);
	printf("0x%02x\n", lsr);
	return 0;
}

/* Keeps the device open so tests can see how a second opener is refused. */
static int cmd_hold(struct uart *u)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	printf("held %s\n", u->uuid);
	if (fflush(stdout) == EOF)
		return fail(EXIT_IO, "stdout", errno);
	sigwait(&set, &sig);
	return 0;
}

static int valid_uuid_arg(const char *uuid)
{
	return !strchr(uuid, '/') && strcmp(uuid, "..") != 0;
}

/* Empties several devices' FIFOs in one process (the suites' teardown); every device is
 * tried, the first failure decides the exit status. */
static int cmd_drain(const char *via, char **uuids, int n)
{
	int i, rc = 0, err;

	for (i = 0; i < n; i++) {
		struct uart u = { .device_fd = -1, .extra_fds = { -1, -1, -1 }, .uuid = uuids[i] };

		if (!valid_uuid_arg(u.uuid)) {
			fprintf(stderr, "mtty-uart: not a device name: %s\n", u.uuid);
			err = EXIT_USAGE;
		} else {
			err = uart_open(&u, via);
			if (err == 0 && (err = check_dlab(&u)) == 0)
				err = cmd_read(&u, 1);
			uart_close(&u);
		}
		if (err && !rc)
			rc = err;
	}
	return rc;
}

static int usage(void)
{
	fputs("usage: mtty-uart [--open-via=auto|cdev|group] write UUID BYTES\n"
	      "       mtty-uart [--open-via=auto|cdev|group] read UUID\n"
	      "       mtty-uart [--open-via=auto|cdev|group] lsr UUID\n"
	      "       mtty-uart [--open-via=auto|cdev|group] hold UUID\n"
	      "       mtty-uart [--open-via=auto|cdev|group] drain UUID...\n", stderr);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct uart u = { .device_fd = -1, .extra_fds = { -1, -1, -1 } };
	const char *via = "auto", *cmd;
	int argi = 1, rc;

	if (argi < argc && strncmp(argv[argi], "--open-via=", 11) == 0)
		via = argv[argi++] + 11;
	if (argc - argi < 2)
		return usage();
	cmd = argv[argi];
	if (strcmp(cmd, "drain") == 0)
		return cmd_drain(via, argv + argi + 1, argc - argi - 1);
	u.uuid = argv[argi + 1];
	if (strcmp(cmd, "write") == 0) {
		if (argc - argi != 3)
			return usage();
		if (strlen(argv[argi + 2]) > FIFO_SIZE) {
			fprintf(stderr, "mtty-uart: at most %d bytes fit in the FIFO\n", FIFO_SIZE);
			return EXIT_USAGE;
		}
	} else if ((strcmp(cmd, "read") != 0 && strcmp(cmd, "lsr") != 0 && strcmp(cmd, "hold") != 0)
		   || argc - argi != 2) {
		return usage();
	}
	if (!valid_uuid_arg(u.uuid))
		return usage();

	rc = uart_open(&u, via);
	if (rc == 0 && strcmp(cmd, "lsr") == 0)
		rc = cmd_lsr(&u);
	else if (rc == 0 && strcmp(cmd, "hold") == 0)
		rc = cmd_hold(&u);
	else if (rc == 0 && (rc = check_dlab(&u)) == 0)
		rc = strcmp(cmd, "write") == 0 ? cmd_write(&u, argv[argi + 2]) : cmd_read(&u, 0);
	uart_close(&u);
	return rc;
}
