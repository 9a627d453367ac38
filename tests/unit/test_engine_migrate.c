/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The engine's two sides of a live migration over a socketpair, against the kernel
 * test double, without a shell: the state moves and only the destination runs; a
 * destination that cannot load leaves the source running; a mismatched pair is
 * refused with nothing touched. The test re-executes itself under the double. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"
#include "transport/transport_net.h"
#include "unit.h"

#define DEV_A "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"
#define DEV_B "83b8f4f2-509f-382f-3c1e-e6bfe0fa1002"
#define DEV_1 "83b8f4f2-509f-382f-3c1e-e6bfe0fa1003"

static char root[256];

#define FAKEDEV "env -u LD_PRELOAD tests/double/fakedev"

/* Two mtty-2 and an mtty-1 in a fake root, as the bats suites have them. */
static int make_root(void)
{
	snprintf(root, sizeof(root), "%s/vfiomig-engine-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root))
		return -1;
	char cmd[2048];

	snprintf(cmd, sizeof(cmd),
		 FAKEDEV " init %s/r --noiommu >/dev/null && "
		 FAKEDEV " add %s/r --kind mdev --name " DEV_A " --type mtty-2 --group 0 && "
		 FAKEDEV " add %s/r --kind mdev --name " DEV_B " --type mtty-2 --group 1 && "
		 FAKEDEV " add %s/r --kind mdev --name " DEV_1 " --type mtty-1 --group 2",
		 root, root, root, root);
	return system(cmd);
}

static void knob(const char *dev, const char *setting)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), FAKEDEV " knob %s/r %s '%s'", root, dev, setting);
	if (system(cmd) != 0)
		fprintf(stderr, "knob %s %s failed\n", dev, setting);
}

static void state_of(const char *dev, char *out, size_t size)
{
	char cmd[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd), FAKEDEV " state %s/r %s", root, dev);
	out[0] = '\0';
	p = popen(cmd, "r");
	if (p && fgets(out, (int)size, p))
		out[strcspn(out, "\n")] = '\0';
	if (p)
		pclose(p);
}

/* The bytes the double's destination loaded, or -1. */
static long restored(const char *dev, unsigned char *buf, size_t size)
{
	char path[512];
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/r/double/%s/restored", root, dev);
	f = fopen(path, "rb");
	if (!f)
		return -1;
	n = (long)fread(buf, 1, size, f);
	fclose(f);
	return n;
}

struct side {
	const char *device;
	struct xport_conn *conn;
	struct verr err;
	int rc;
	bool force;
};

static vstop_t no_stop;

static void *destination_main(void *arg)
{
	struct side *d = arg;
	const char *names[] = { d->device };
	struct eng_destination_options opt = {
		.devices = names, .n = 1, .threads = 2, .stop = &no_stop,
	};
	struct eng_destination *dst = NULL;

	d->rc = eng_destination_new(&opt, &dst, &d->err);
	if (d->rc == 0)
		d->rc = eng_destination_run(dst, d->conn, &d->err);
	eng_destination_close(dst);
	return NULL;
}

/* One migration of DEV_A into dst_name; the two sides' results. */
static void migrate(struct side *src, struct side *dst)
{
	const struct xport_timeouts t = { .connect_ms = 10000, .idle_ms = 10000 };
	const char *names[] = { src->device };
	struct eng_source_options opt = {
		.devices = names, .n = 1, .precopy = true, .max_downtime_ms = 300,
		.max_rounds = 8, .threads = 2, .stop = &no_stop, .force = src->force,
	};
	struct eng_source *s = NULL;
	pthread_t thread;
	int sv[2];

	memset(&src->err, 0, sizeof(src->err));
	memset(&dst->err, 0, sizeof(dst->err));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    xport_socket(sv[0], "source end", &t, &src->conn, &src->err) < 0 ||
	    xport_socket(sv[1], "destination end", &t, &dst->conn, &dst->err) < 0) {
		src->rc = dst->rc = -EIO;
		return;
	}
	pthread_create(&thread, NULL, destination_main, dst);
	src->rc = eng_source_open(&opt, &s, &src->err);
	if (src->rc == 0)
		src->rc = eng_source_run(s, src->conn, &src->err);
	else
		xport_conn_abort(src->conn);
	eng_source_close(s);
	pthread_join(thread, NULL);
}

static void test_moves(void)
{
	struct side src = { .device = DEV_A }, dst = { .device = DEV_B };
	unsigned char got[256];
	char a[32], b[32];
	long n;

	migrate(&src, &dst);
	CHECK(src.rc == 0 && dst.rc == 0, "a migration over a socketpair commits on both sides "
	      "(source: %s; destination: %s)", src.err.what, dst.err.what);
	state_of(DEV_A, a, sizeof(a));
	state_of(DEV_B, b, sizeof(b));
	CHECK(strcmp(a, "STOP") == 0 && strcmp(b, "RUNNING") == 0,
	      "only the destination runs: source %s, destination %s", a, b);
	n = restored(DEV_B, got, sizeof(got));
	CHECK(n == 96 && got[0] == 0x4e && got[24] == 0x41,
	      "the destination loaded the source's 96 bytes of state (%ld)", n);
}

static void test_load_fails(void)
{
	struct side src = { .device = DEV_A }, dst = { .device = DEV_B };
	char a[32], b[32], cmd[512];


	snprintf(cmd, sizeof(cmd), FAKEDEV " state %s/r " DEV_A " RUNNING", root);
	if (system(cmd) != 0)
		fprintf(stderr, "%s failed\n", cmd);
	knob(DEV_B, "fail_arc=RESUMING>STOP EINVAL");
	migrate(&src, &dst);
	knob(DEV_B, "fail_arc=");
	state_of(DEV_A, a, sizeof(a));
	state_of(DEV_B, b, sizeof(b));
	CHECK(src.rc < 0 && src.err.class == VERR_PEER && dst.rc < 0,
	      "a destination that cannot load aborts both sides (source: %s)", src.err.what);
	CHECK(strcmp(a, "RUNNING") == 0 && strcmp(b, "RUNNING") == 0,
	      "the source runs again and the destination was reset: %s, %s", a, b);
}

static void test_refused(void)
{
	struct side src = { .device = DEV_A }, dst = { .device = DEV_1 };
	char a[32];

	migrate(&src, &dst);
	state_of(DEV_A, a, sizeof(a));
	CHECK(src.rc < 0 && src.err.class == VERR_PEER && strstr(src.err.what, "mtty-1") &&
	      strcmp(a, "RUNNING") == 0, "an mtty-1 destination is refused, the source "
	      "untouched: %s", src.err.what);

	src.force = true;
	migrate(&src, &dst);
	state_of(DEV_A, a, sizeof(a));
	CHECK(src.rc < 0 && dst.rc < 0 && dst.err.class == VERR_PEER &&
	      strstr(dst.err.what, "refusing the stream") && strcmp(a, "RUNNING") == 0,
	      "with the source's --force the destination still checks the stream header: %s",
	      dst.err.what);
}

int main(int argc, char **argv)
{
	char preload[512];

	(void)argc;
	if (!getenv("VFIOMIG_SYSROOT")) {
		if (make_root() != 0) {
			printf("not ok 1 - could not make a fake root (is tests/double built?)\n1..1\n");
			return 1;
		}
		snprintf(preload, sizeof(preload), "%s/r", root);
		setenv("VFIOMIG_SYSROOT", preload, 1);
		setenv("VFIOMIG_TEST_ROOT", root, 1);
		snprintf(preload, sizeof(preload), "%s/tests/double/libvfio-double.so",
			 getcwd(root, sizeof(root)) ? root : ".");
		setenv("LD_PRELOAD", preload, 1);
		execv("/proc/self/exe", argv);
		perror("re-executing under the test double");
		return 1;
	}
	snprintf(root, sizeof(root), "%s", getenv("VFIOMIG_TEST_ROOT"));
	test_moves();
	test_load_fails();
	test_refused();
	snprintf(preload, sizeof(preload), "rm -rf '%s'", root);
	if (system(preload) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return unit_done();
}
