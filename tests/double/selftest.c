/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Drives the VFIO test double through raw syscalls and checks the kernel facts it must
 * reproduce (SPEC "Kernel semantics"); prints TAP. Run by tests/double/run-selftest.sh,
 * which builds the fake root and preloads the double. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define IO(nr) ((unsigned long)((';' << 8) | (100 + (nr))))
#define GET_API_VERSION IO(0)
#define CHECK_EXTENSION IO(1)
#define SET_IOMMU IO(2)
#define GROUP_GET_STATUS IO(3)
#define GROUP_SET_CONTAINER IO(4)
#define GROUP_GET_DEVICE_FD IO(6)
#define DEVICE_GET_INFO IO(7)
#define DEVICE_GET_REGION_INFO IO(8)
#define DEVICE_RESET IO(11)
#define DEVICE_FEATURE IO(17)
#define DEVICE_BIND_IOMMUFD IO(18)
#define MIG_GET_PRECOPY_INFO IO(21)

#define F_GET (1u << 16)
#define F_SET (1u << 17)
#define F_PROBE (1u << 18)

enum { ERROR, STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P, NSTATES };
static const char *names[] = { "ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING",
			       "RUNNING_P2P", "PRE_COPY", "PRE_COPY_P2P" };

static const char *root;
static int test_no, failures;

static void ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", cond ? "ok" : "not ok", ++test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		failures++;
}

static void knob(const char *dev, const char *name, const char *value)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/double/%s/%s", root, dev, name);
	if (!value) {
		unlink(path);
		return;
	}
	f = fopen(path, "w");
	if (f) {
		fputs(value, f);
		fclose(f);
	}
}

static char *slurp(const char *dev, const char *name, size_t *len)
{
	static char buf[8192];
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/double/%s/%s", root, dev, name);
	f = fopen(path, "r");
	*len = 0;
	if (!f)
		return NULL;
	*len = fread(buf, 1, sizeof(buf) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static int open_dev(const char *node)
{
	char path[4096];
	struct { uint32_t argsz, flags; int32_t iommufd; uint32_t devid; } bind = { 16, 0, -1, 0 };
	int fd, iommufd;

	snprintf(path, sizeof(path), "%s/dev/vfio/devices/%s", root, node);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/dev/iommu", root);
	iommufd = open(path, O_RDWR | O_CLOEXEC);
	bind.iommufd = iommufd;
	if (ioctl(fd, DEVICE_BIND_IOMMUFD, &bind) < 0) {
		int err = errno;

		close(fd);
		close(iommufd);
		return -err;
	}
	close(iommufd);
	return fd;
}

static int feature(int fd, uint32_t flags, void *payload, size_t len)
{
	struct { uint32_t argsz, flags; unsigned char data[64]; } f;
	int ret;

	memset(&f, 0, sizeof(f));
	f.argsz = (uint32_t)(8 + len);
	f.flags = flags;
	if (payload)
		memcpy(f.data, payload, len);
	ret = ioctl(fd, DEVICE_FEATURE, &f);
	if (payload)
		memcpy(payload, f.data, len);
	return ret < 0 ? -errno : ret;
}

static int get_state(int fd)
{
	int32_t m[2] = { -1, 99 };
	int ret = feature(fd, F_GET | 2, m, 8);

	return ret < 0 ? ret : m[0];
}

/* SET; returns 0 or -errno, *data_fd gets the struct's data_fd, *echo its device_state. */
static int set_state(int fd, int state, int *data_fd, int *echo)
{
	int32_t m[2] = { state, 12345 };
	int ret = feature(fd, F_SET | 2, m, 8);

	if (data_fd)
		*data_fd = m[1];
	if (echo)
		*echo = m[0];
	return ret;
}

static void reset_to_running(int fd)
{
	ioctl(fd, DEVICE_RESET);
}

static void clear_arcs(const char *dev)
{
	knob(dev, "arcs", NULL);
}

static int arcs_equal(const char *dev, const char *want)
{
	size_t len;
	char *got = slurp(dev, "arcs", &len);

	if (!got)
		got = "";
	if (strcmp(got, want))
		fprintf(stdout, "# arcs: got \"%s\" want \"%s\"\n", got, want);
	return !strcmp(got, want);
}

/* Put the device in `state` from RUNNING along a path that needs no data. */
static void reach(int fd, int state)
{
	int dfd = -1;

	reset_to_running(fd);
	if (state == RUNNING)
		return;
	if (state == ERROR)
		return;
	set_state(fd, state, &dfd, NULL);
	if (dfd >= 0)
		close(dfd);
}

static int is_fd_arc(int from, int to)
{
	return (from == RUNNING && to == PRE_COPY) || (from == RUNNING_P2P && to == PRE_COPY_P2P) ||
	       (from == STOP && to == STOP_COPY) || (from == STOP && to == RESUMING);
}

static void test_cdev_open(const char *dev, const char *node)
{
	char path[4096];
	struct { uint32_t argsz, flags; int32_t iommufd; uint32_t devid; } bind = { 16, 0, -1, 0 };
	uint32_t info[4] = { 16, 0, 0, 0 };
	int fd, iommufd;

	snprintf(path, sizeof(path), "%s/dev/vfio/devices/%s", root, node);
	fd = open(path, O_RDWR | O_CLOEXEC);
	ok(fd >= 0, "cdev node opens");
	ok(ioctl(fd, DEVICE_GET_INFO, info) < 0 && errno == EINVAL,
	   "device ioctls before BIND_IOMMUFD give EINVAL");
	ok(ioctl(fd, DEVICE_BIND_IOMMUFD, &bind) < 0 && errno == EINVAL,
	   "BIND_IOMMUFD with iommufd -1 gives EINVAL (6.12)");
	snprintf(path, sizeof(path), "%s/dev/iommu", root);
	iommufd = open(path, O_RDWR | O_CLOEXEC);
	bind.iommufd = iommufd;
	bind.argsz = 12;
	ok(ioctl(fd, DEVICE_BIND_IOMMUFD, &bind) < 0 && errno == EINVAL, "BIND argsz 12 gives EINVAL");
	bind.argsz = 16;
	ok(ioctl(fd, DEVICE_BIND_IOMMUFD, &bind) == 0, "BIND_IOMMUFD succeeds");
	ok(ioctl(fd, DEVICE_BIND_IOMMUFD, &bind) < 0 && errno == EINVAL, "a second BIND gives EINVAL");
	ok(ioctl(fd, DEVICE_GET_INFO, info) == 0 && info[1] == 2 && info[2] == 9 && info[3] == 5,
	   "GET_INFO of an mtty: flags PCI, 9 regions, 5 irqs (got %u %u %u)", info[1], info[2], info[3]);
	info[0] = 15;
	ok(ioctl(fd, DEVICE_GET_INFO, info) < 0 && errno == EINVAL, "GET_INFO argsz 15 gives EINVAL");
	close(iommufd);
	close(fd);
	(void)dev;
}

static void test_features(int fd)
{
	uint64_t v = 0;
	uint32_t small[2];
	struct { uint32_t argsz, flags; uint64_t flags_out; } f = { 15, F_GET | 1, 0 };

	ok(feature(fd, F_GET | 1, &v, 8) == 0 && v == 7, "MIGRATION GET gives flags 7 (got %llu)",
	   (unsigned long long)v);
	ok(ioctl(fd, DEVICE_FEATURE, &f) < 0 && errno == EINVAL, "MIGRATION with argsz 15 gives EINVAL");
	ok(feature(fd, F_SET | 1, &v, 8) == -EINVAL, "MIGRATION SET gives EINVAL");
	ok(feature(fd, F_GET | F_SET | 2, &v, 8) == -EINVAL, "GET|SET without PROBE gives EINVAL");
	ok(feature(fd, F_PROBE | F_GET | 2, NULL, 0) == 0, "PROBE of MIG_DEVICE_STATE gives 0");
	v = 0;
	ok(feature(fd, F_GET | 9, &v, 8) == 0 && v == 96, "MIG_DATA_SIZE of mtty-2 is 96 (got %llu)",
	   (unsigned long long)v);
	ok(feature(fd, F_GET | 9, small, 4) == -EINVAL, "MIG_DATA_SIZE with a 4-byte payload gives EINVAL");
	ok(feature(fd, F_PROBE | F_SET | 6, NULL, 0) == 0, "DMA logging PROBE succeeds on mtty (log_ops)");
	ok(feature(fd, F_GET | 40, &v, 8) == -ENOTTY, "unknown feature gives ENOTTY");
	ok(get_state(fd) == RUNNING, "a fresh mtty is RUNNING");
}

static void test_paths(int fd, const char *dev)
{
	int dfd, echo;

	knob(dev, "trace", "1");
	reach(fd, RUNNING);
	clear_arcs(dev);
	ok(set_state(fd, STOP_COPY, &dfd, &echo) == 0 && dfd >= 0 && echo == STOP_COPY,
	   "RUNNING -> STOP_COPY succeeds with a data fd");
	ok(arcs_equal(dev, "RUNNING>RUNNING_P2P\nRUNNING_P2P>STOP\nSTOP>STOP_COPY\n"),
	   "RUNNING -> STOP_COPY walks RUNNING_P2P, STOP, STOP_COPY");
	close(dfd);
	clear_arcs(dev);
	ok(set_state(fd, PRE_COPY, &dfd, NULL) == -EINVAL && dfd == -1, "STOP_COPY -> PRE_COPY gives EINVAL");
	ok(get_state(fd) == STOP_COPY, "the device stays in STOP_COPY");
	ok(set_state(fd, RESUMING, &dfd, NULL) == 0 && dfd >= 0, "STOP_COPY -> RESUMING gives a data fd");
	ok(arcs_equal(dev, "STOP_COPY>STOP\nSTOP>RESUMING\n"), "STOP_COPY -> RESUMING walks STOP");
	close(dfd);
	ok(set_state(fd, ERROR, &dfd, NULL) == -EINVAL, "SET ERROR gives EINVAL");
	ok(set_state(fd, 8, &dfd, NULL) == -EINVAL, "SET of state 8 gives EINVAL");
	reach(fd, PRE_COPY);
	clear_arcs(dev);
	ok(set_state(fd, STOP, &dfd, NULL) == 0 && dfd == -1, "PRE_COPY -> STOP gives no fd");
	ok(arcs_equal(dev, "PRE_COPY>RUNNING\nRUNNING>RUNNING_P2P\nRUNNING_P2P>STOP\n"),
	   "PRE_COPY -> STOP walks RUNNING, RUNNING_P2P");
	clear_arcs(dev);
	ok(set_state(fd, STOP, &dfd, NULL) == 0 && dfd == -1, "SET to the current state succeeds, no arc");
	ok(arcs_equal(dev, ""), "... and walks nothing");

	/* a device with STOP_COPY only: RUNNING -> STOP directly, P2P and PRE_COPY refused */
	knob(dev, "migration", "1");
	reach(fd, RUNNING);
	clear_arcs(dev);
	ok(set_state(fd, STOP_COPY, &dfd, NULL) == 0 && dfd >= 0, "flags 1: RUNNING -> STOP_COPY");
	ok(arcs_equal(dev, "RUNNING>STOP\nSTOP>STOP_COPY\n"), "flags 1: the walk skips RUNNING_P2P");
	close(dfd);
	ok(set_state(fd, RUNNING_P2P, &dfd, NULL) == -EINVAL, "flags 1: RUNNING_P2P gives EINVAL");
	ok(set_state(fd, PRE_COPY, &dfd, NULL) == -EINVAL, "flags 1: PRE_COPY gives EINVAL");
	/* STOP_COPY | PRE_COPY: PRE_COPY -> STOP_COPY is one arc */
	knob(dev, "migration", "5");
	reach(fd, PRE_COPY);
	clear_arcs(dev);
	ok(set_state(fd, STOP_COPY, &dfd, NULL) == 0 && dfd == -1, "flags 5: PRE_COPY -> STOP_COPY, no fd");
	ok(arcs_equal(dev, "PRE_COPY>STOP_COPY\n"), "flags 5: PRE_COPY -> STOP_COPY is a single arc");
	knob(dev, "migration", "7");
	knob(dev, "trace", NULL);
	clear_arcs(dev);
	reset_to_running(fd);
}

static void test_fd_arcs(int fd)
{
	static const uint8_t direct[NSTATES][NSTATES] = {
		[STOP] = { [RUNNING_P2P] = 1, [STOP_COPY] = 1, [RESUMING] = 1 },
		[RUNNING] = { [RUNNING_P2P] = 1, [PRE_COPY] = 1 },
		[STOP_COPY] = { [STOP] = 1 },
		[RESUMING] = { [STOP] = 1 },
		[RUNNING_P2P] = { [STOP] = 1, [RUNNING] = 1, [PRE_COPY_P2P] = 1 },
		[PRE_COPY] = { [RUNNING] = 1, [PRE_COPY_P2P] = 1 },
		[PRE_COPY_P2P] = { [PRE_COPY] = 1, [RUNNING_P2P] = 1, [STOP_COPY] = 1 },
	};
	int from, to, bad = 0, n = 0;

	for (from = STOP; from < NSTATES; from++) {
		for (to = STOP; to < NSTATES; to++) {
			int dfd = -1, ret;

			if (!direct[from][to])
				continue;
			if (from == RESUMING) {     /* leaving RESUMING needs a full blob */
				continue;
			}
			reach(fd, from);
			ret = set_state(fd, to, &dfd, NULL);
			n++;
			if (ret || (dfd >= 0) != is_fd_arc(from, to)) {
				printf("# %s -> %s: ret %d data_fd %d\n", names[from], names[to], ret, dfd);
				bad++;
			}
			if (dfd >= 0)
				close(dfd);
		}
	}
	ok(!bad && n == 14, "of the %d arcs (all but RESUMING->STOP), exactly the four give a data fd", n);
	reset_to_running(fd);
}

static void test_saving(int fd)
{
	unsigned char buf[256], all[512];
	uint32_t pinfo[6] = { 24, 0 };
	uint64_t magic, initial;
	int dfd, dfd2, echo;
	ssize_t n;

	reach(fd, RUNNING);
	ok(set_state(fd, PRE_COPY, &dfd, &echo) == 0 && dfd >= 0 && echo == PRE_COPY,
	   "RUNNING -> PRE_COPY gives a data fd");
	ok((fcntl(dfd, F_GETFD) & FD_CLOEXEC) != 0, "the data fd is close-on-exec");
	ok(ioctl(dfd, MIG_GET_PRECOPY_INFO, pinfo) == 0 &&
	   (memcpy(&initial, &pinfo[2], 8), initial == 24), "PRECOPY_INFO: initial_bytes 24");
	n = read(dfd, all, 10);
	ok(n == 10, "PRE_COPY: read 10 bytes");
	ioctl(dfd, MIG_GET_PRECOPY_INFO, pinfo);
	memcpy(&initial, &pinfo[2], 8);
	ok(initial == 14, "PRECOPY_INFO after reading 10: initial_bytes 14 (got %llu)",
	   (unsigned long long)initial);
	n = read(dfd, all + 10, sizeof(buf));
	ok(n == 14, "PRE_COPY yields only the 24-byte header (got %zd)", n);
	memcpy(&magic, all, 8);
	ok(magic == 0x7e9d09898c3e2c4eULL, "the header starts with mtty's magic");
	ok(read(dfd, buf, sizeof(buf)) == 0, "end of PRE_COPY data: read returns 0 (mtty)");
	ok(write(dfd, buf, 1) < 0 && errno == EBADF, "the saving fd is not writable");
	ok(pread(dfd, buf, 1, 0) < 0 && errno == ESPIPE, "the data fd is a stream (pread: ESPIPE)");
	ok(set_state(fd, STOP_COPY, &dfd2, NULL) == 0 && dfd2 == -1,
	   "PRE_COPY -> STOP_COPY returns data_fd -1");
	ok(ioctl(dfd, MIG_GET_PRECOPY_INFO, pinfo) < 0 && errno == EINVAL,
	   "PRECOPY_INFO in STOP_COPY gives EINVAL");
	n = read(dfd, all + 24, sizeof(buf));
	ok(n == 72, "the same fd goes on with the 72 remaining bytes (got %zd)", n);
	ok(read(dfd, buf, sizeof(buf)) == 0, "STOP_COPY: read returns 0 at the end");
	ok(set_state(fd, STOP, NULL, NULL) == 0, "STOP_COPY -> STOP");
	ok(read(dfd, buf, sizeof(buf)) < 0 && errno == ENODEV, "after STOP_COPY -> STOP read gives ENODEV");
	close(dfd);

	/* the same blob comes out of STOP -> STOP_COPY directly */
	ok(set_state(fd, STOP_COPY, &dfd, NULL) == 0 && dfd >= 0, "STOP -> STOP_COPY gives a new fd");
	n = read(dfd, buf, sizeof(buf));
	ok(n == 96 && !memcmp(buf, all, 96), "a direct STOP_COPY reads the same 96 bytes");
	close(dfd);
	reset_to_running(fd);
	set_state(fd, PRE_COPY, &dfd, NULL);
	ok(set_state(fd, RUNNING, NULL, NULL) == 0, "PRE_COPY -> RUNNING");
	ok(read(dfd, buf, sizeof(buf)) < 0 && errno == ENODEV, "after PRE_COPY -> RUNNING read gives ENODEV");
	close(dfd);
	set_state(fd, PRE_COPY_P2P, &dfd, NULL);
	ok(set_state(fd, RUNNING_P2P, NULL, NULL) == 0 && read(dfd, buf, sizeof(buf)) < 0 && errno == ENODEV,
	   "after PRE_COPY_P2P -> RUNNING_P2P read gives ENODEV");
	close(dfd);
	reach(fd, PRE_COPY_P2P);
	ok(get_state(fd) == PRE_COPY_P2P, "RUNNING -> PRE_COPY_P2P reached");
	reset_to_running(fd);
}

static void test_precopy_enomsg(int fd, const char *dev)
{
	unsigned char buf[64];
	int dfd;

	knob(dev, "precopy_end", "ENOMSG");
	reach(fd, RUNNING);
	set_state(fd, PRE_COPY, &dfd, NULL);
	ok(read(dfd, buf, sizeof(buf)) == 24, "precopy_end=ENOMSG: the header reads");
	ok(read(dfd, buf, sizeof(buf)) < 0 && errno == ENOMSG, "precopy_end=ENOMSG: then ENOMSG");
	set_state(fd, STOP_COPY, NULL, NULL);
	ok(read(dfd, buf, sizeof(buf)) == 64, "precopy_end=ENOMSG: STOP_COPY data follows");
	ok(read(dfd, buf, sizeof(buf)) == 8 && read(dfd, buf, sizeof(buf)) == 0,
	   "precopy_end=ENOMSG: STOP_COPY ends with 0, never ENOMSG");
	close(dfd);
	knob(dev, "precopy_end", NULL);
	reset_to_running(fd);
}

static void blob_of(int fd, unsigned char *out)
{
	int dfd;

	reach(fd, STOP);
	set_state(fd, STOP_COPY, &dfd, NULL);
	read(dfd, out, 96);
	close(dfd);
	reset_to_running(fd);
}

static void test_resuming(int fd, const char *dev)
{
	unsigned char blob[96], big[97], bad[24], buf[8];
	size_t len;
	char *restored;
	int dfd, echo;

	blob_of(fd, blob);
	blob[40] ^= 0x5a;      /* port contents are free; restored file must show them */
	reach(fd, STOP);
	ok(set_state(fd, RESUMING, &dfd, &echo) == 0 && dfd >= 0 && echo == RESUMING,
	   "STOP -> RESUMING gives a data fd");
	ok(read(dfd, buf, 1) < 0 && errno == EBADF, "the resuming fd is not readable");
	memset(big, 0, sizeof(big));
	ok(write(dfd, big, 97) < 0 && errno == ENOMEM, "97 bytes into a 96-byte device: ENOMEM");
	ok(write(dfd, blob, 50) == 50, "50 bytes are accepted");
	ok(set_state(fd, STOP, NULL, &echo) == -EINVAL && echo == STOP,
	   "RESUMING -> STOP with 50 of 96 bytes gives EINVAL (struct echoes the request)");
	ok(get_state(fd) == RESUMING, "the device stays in RESUMING");
	ok(write(dfd, big, 47) < 0 && errno == ENOMEM, "50 + 47 bytes: ENOMEM");
	ok(write(dfd, blob + 50, 46) == 46, "the remaining 46 bytes are accepted");
	ok(set_state(fd, STOP, NULL, NULL) == 0, "RESUMING -> STOP with 96 bytes succeeds");
	restored = slurp(dev, "restored", &len);
	ok(restored && len == 96 && !memcmp(restored, blob, 96), "the loaded bytes are recorded");
	ok(write(dfd, blob, 1) < 0 && errno == ENODEV, "after RESUMING -> STOP write gives ENODEV");
	close(dfd);
	{
		unsigned char again[96];

		blob_of(fd, again);
		ok(!memcmp(again, blob, 96), "saving after a restore yields the restored state");
	}

	reach(fd, STOP);
	set_state(fd, RESUMING, &dfd, NULL);
	memcpy(bad, blob, 24);
	bad[16] = 1;          /* nr_ports 1 into an mtty-2 */
	ok(write(dfd, bad, 10) == 10, "the first 10 header bytes are accepted");
	ok(write(dfd, bad + 10, 14) < 0 && errno == EFAULT, "the write completing a bad header: EFAULT");
	ok(write(dfd, blob + 24, 72) == 72, "later writes still succeed (bytes were counted)");
	ok(set_state(fd, STOP, NULL, NULL) == 0, "... and RESUMING -> STOP passes (as mtty)");
	close(dfd);
	knob(dev, "restored", NULL);
	reset_to_running(fd);
}

static void test_reset(int fd, const char *dev)
{
	unsigned char buf[8];
	int dfd;

	reach(fd, STOP);
	set_state(fd, RESUMING, &dfd, NULL);
	ok(ioctl(fd, DEVICE_RESET) == 0, "RESET from RESUMING succeeds");
	ok(get_state(fd) == RUNNING, "RESET -> RUNNING");
	ok(write(dfd, buf, 1) < 0 && errno == ENODEV, "RESET disables the data fd (ENODEV)");
	close(dfd);

	knob(dev, "fail_arc", "RUNNING_P2P>STOP EIO\n");
	ok(set_state(fd, STOP, NULL, NULL) == -EIO, "fail_arc: RUNNING -> STOP fails with EIO");
	ok(get_state(fd) == RUNNING_P2P, "fail_arc: the device stays where the walk stopped");
	knob(dev, "fail_arc", "STOP>STOP_COPY ENOSPC error\n");
	ok(set_state(fd, STOP_COPY, NULL, NULL) == -ENOSPC, "fail_arc error: STOP_COPY fails ENOSPC");
	ok(get_state(fd) == ERROR, "fail_arc error: the device lands in ERROR");
	ok(set_state(fd, RUNNING, NULL, NULL) == -EINVAL, "any SET from ERROR gives EINVAL");
	ok(ioctl(fd, DEVICE_RESET) == 0 && get_state(fd) == RUNNING, "RESET leaves ERROR for RUNNING");
	knob(dev, "fail_arc", NULL);
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void test_arc_delay(int fd, const char *dev)
{
	struct timespec t0;

	knob(dev, "arc_delay_ms", "RUNNING_P2P>STOP 300\n");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ok(set_state(fd, STOP, NULL, NULL) == 0 && elapsed_ms(&t0) >= 300,
	   "arc_delay_ms: a SET through RUNNING_P2P>STOP takes at least 300 ms");
	ok(get_state(fd) == STOP, "arc_delay_ms: and the device is in STOP");
	knob(dev, "arc_delay_ms", NULL);
	reset_to_running(fd);
}

static void test_io_faults(int fd, const char *dev)
{
	unsigned char buf[128];
	int dfd;

	knob(dev, "read_fail_after", "30 EIO");
	reach(fd, STOP);
	set_state(fd, STOP_COPY, &dfd, NULL);
	ok(read(dfd, buf, sizeof(buf)) == 30, "read_fail_after 30: a short read of 30");
	ok(read(dfd, buf, sizeof(buf)) < 0 && errno == EIO, "read_fail_after 30: then EIO");
	close(dfd);
	knob(dev, "read_fail_after", NULL);
	knob(dev, "write_fail_after", "10 ENOSPC");
	reach(fd, STOP);
	set_state(fd, RESUMING, &dfd, NULL);
	ok(write(dfd, buf, 20) == 10, "write_fail_after 10: a short write of 10");
	ok(write(dfd, buf, 20) < 0 && errno == ENOSPC, "write_fail_after 10: then ENOSPC");
	close(dfd);
	knob(dev, "write_fail_after", NULL);
	reset_to_running(fd);
}

static void test_persistence(const char *dev, const char *node, const char *pcidev,
			     const char *pcinode)
{
	int fd = open_dev(node), raw;
	char path[4096];

	reach(fd, STOP);
	close(fd);
	fd = open_dev(node);
	ok(get_state(fd) == STOP, "mdev: the state survives close and reopen");
	reset_to_running(fd);
	close(fd);

	fd = open_dev(pcinode);
	reach(fd, STOP);
	ok(get_state(fd) == STOP, "pci with migration: STOP while open");
	close(fd);
	fd = open_dev(pcinode);
	ok(get_state(fd) == RUNNING, "pci: closing the device fd resets it to RUNNING");

	/* an fd the double never saw opened (fd:N) is taken as bound */
	snprintf(path, sizeof(path), "%s/dev/vfio/devices/%s", root, node);
	raw = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDWR | O_CLOEXEC);
	ok(raw >= 0 && get_state(raw) == RUNNING, "an inherited cdev fd is recognised as bound");
	close(raw);
	close(fd);
	(void)dev;
	(void)pcidev;
}

static void test_group_path(const char *dev, int group)
{
	char path[4096];
	int container, g, d, g2;
	uint32_t status[2] = { 8, 0 };

	snprintf(path, sizeof(path), "%s/dev/vfio/vfio", root);
	container = open(path, O_RDWR | O_CLOEXEC);
	ok(container >= 0 && ioctl(container, GET_API_VERSION) == 0, "container: API version 0");
	ok(ioctl(container, CHECK_EXTENSION, 3UL) == 1, "container: TYPE1v2 supported");
	snprintf(path, sizeof(path), "%s/dev/vfio/%d", root, group);
	g = open(path, O_RDWR | O_CLOEXEC);
	ok(g >= 0, "group node opens");
	g2 = open(path, O_RDWR | O_CLOEXEC);
	ok(g2 < 0 && errno == EBUSY, "a second open of the group gives EBUSY");
	ok(ioctl(g, GROUP_GET_STATUS, status) == 0 && status[1] == 1, "group status: VIABLE");
	ok(ioctl(container, SET_IOMMU, 3UL) < 0 && errno == EINVAL, "SET_IOMMU without a group: EINVAL");
	ok(ioctl(g, GROUP_GET_DEVICE_FD, dev) < 0 && errno == EINVAL, "GET_DEVICE_FD before SET_IOMMU: EINVAL");
	ok(ioctl(g, GROUP_SET_CONTAINER, &container) == 0, "SET_CONTAINER");
	ok(ioctl(container, SET_IOMMU, 3UL) == 0, "SET_IOMMU TYPE1v2");
	ok(ioctl(g, GROUP_GET_STATUS, status) == 0 && status[1] == 3, "group status: VIABLE|CONTAINER_SET");
	ok(ioctl(g, GROUP_GET_DEVICE_FD, "no-such-device") < 0 && errno == ENODEV,
	   "GET_DEVICE_FD of an unknown name: ENODEV");
	d = ioctl(g, GROUP_GET_DEVICE_FD, dev);
	ok(d >= 0 && d != g && d != container, "GET_DEVICE_FD returns a new fd");
	ok(get_state(d) == RUNNING, "the group device fd answers MIG_DEVICE_STATE");
	{
		struct { uint32_t argsz, flags; int32_t iommufd; uint32_t devid; } bind = { 16, 0, container, 0 };

		ok(ioctl(d, DEVICE_BIND_IOMMUFD, &bind) < 0 && errno == EINVAL,
		   "BIND_IOMMUFD on a group device fd: EINVAL");
	}
	close(d);
	close(g);
	close(container);
}

static void test_nomig(const char *node)
{
	int fd = open_dev(node);
	uint64_t v;
	uint32_t info[4] = { 16 };

	ok(fd >= 0, "the no-migration PCI device opens and binds");
	ok(feature(fd, F_GET | 1, &v, 8) == -ENOTTY, "no migration: MIGRATION gives ENOTTY");
	ok(get_state(fd) == -ENOTTY, "no migration: MIG_DEVICE_STATE gives ENOTTY");
	ok(feature(fd, F_GET | 9, &v, 8) == -ENOTTY, "no migration: MIG_DATA_SIZE gives ENOTTY");
	ok(feature(fd, F_PROBE | F_SET | 6, NULL, 0) == -ENOTTY, "vfio-pci: DMA logging PROBE gives ENOTTY");
	ok(ioctl(fd, DEVICE_GET_INFO, info) == 0 && info[1] == 3 && info[2] == 9,
	   "vfio-pci GET_INFO: flags RESET|PCI, 9 regions");
	close(fd);
}

static void test_knobs(const char *dev, const char *node)
{
	int fd;
	struct { uint32_t argsz, flags, index, cap_offset; uint64_t size, offset; uint32_t cap[4]; } ri;
	uint32_t info[4] = { 16 };

	knob(dev, "open_errno", "EBUSY");
	ok(open_dev(node) == -EBUSY, "open_errno=EBUSY: open gives EBUSY");
	knob(dev, "open_errno", "EACCES");
	ok(open_dev(node) == -EACCES, "open_errno=EACCES: open gives EACCES");
	knob(dev, "open_errno", NULL);
	knob(dev, "v1_region", "1");
	fd = open_dev(node);
	ok(ioctl(fd, DEVICE_GET_INFO, info) == 0 && info[2] == 10, "v1_region: 10 regions");
	memset(&ri, 0, sizeof(ri));
	ri.argsz = 32;
	ri.index = 9;
	ok(ioctl(fd, DEVICE_GET_REGION_INFO, &ri) == 0 && (ri.flags & 8) && ri.argsz == 48 &&
	   ri.cap_offset == 0, "v1_region: short argsz is told the size with caps");
	ri.argsz = sizeof(ri);
	ok(ioctl(fd, DEVICE_GET_REGION_INFO, &ri) == 0 && ri.cap_offset == 32 &&
	   (ri.cap[0] & 0xffff) == 2 && ri.cap[2] == 3 && ri.cap[3] == 1,
	   "v1_region: region 9 carries a TYPE cap, type 3 subtype 1");
	ri.index = 10;
	ok(ioctl(fd, DEVICE_GET_REGION_INFO, &ri) < 0 && errno == EINVAL, "region index past the end: EINVAL");
	close(fd);
	knob(dev, "v1_region", NULL);
}

int main(void)
{
	const char *a = getenv("SELFTEST_MDEV"), *an = getenv("SELFTEST_MDEV_CDEV");
	const char *p = getenv("SELFTEST_PCIMIG"), *pn = getenv("SELFTEST_PCIMIG_CDEV");
	const char *nn = getenv("SELFTEST_NOMIG_CDEV");
	int group = atoi(getenv("SELFTEST_MDEV_GROUP") ? getenv("SELFTEST_MDEV_GROUP") : "0");
	int fd;

	root = getenv("VFIOMIG_SYSROOT");
	if (!root || !a || !an || !p || !pn || !nn) {
		printf("Bail out! run me through run-selftest.sh\n");
		return 1;
	}
	test_cdev_open(a, an);
	fd = open_dev(an);
	ok(fd >= 0, "mtty-2 opens and binds");
	test_features(fd);
	test_paths(fd, a);
	test_fd_arcs(fd);
	test_saving(fd);
	test_precopy_enomsg(fd, a);
	test_resuming(fd, a);
	test_reset(fd, a);
	test_arc_delay(fd, a);
	test_io_faults(fd, a);
	close(fd);
	test_persistence(a, an, p, pn);
	test_group_path(a, group);
	test_nomig(nn);
	test_knobs(a, an);
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
