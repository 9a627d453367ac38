/* SPDX-License-Identifier: GPL-2.0-or-later */
/* eng_save and eng_restore against the test double, without a shell: a fake device's
 * state saved into memory arrives byte for byte in another one; a corrupt stream, a
 * failing device and a signal leave each device where the rules say. Builds its fake
 * root with tests/double/fakedev, then runs itself again with the double preloaded. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "unit.h"

#define DEV_A "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"
#define DEV_B "83b8f4f2-509f-382f-3c1e-e6bfe0fa1002"
#define STATE_SIZE (3u << 20)           /* three records of VPIPE_CHUNK_DEFAULT */

static char repo[PATH_MAX], root[128];       /* root: ours, under /tmp */

static const uint8_t key_bytes[32] = "engine test key, 32 bytes long.";
static const struct vstream_key key = { key_bytes, sizeof(key_bytes) };

/* fakedev, without the double (LD_PRELOAD stays with this process). */
static int fakedev(const char *args)
{
	char cmd[PATH_MAX + 1024];

	snprintf(cmd, sizeof(cmd), "env -u LD_PRELOAD %s/tests/double/fakedev %s", repo, args);
	return system(cmd);
}

static int make_root(void)
{
	char args[1024], blob[sizeof(root) + 8];
	FILE *f;

	snprintf(root, sizeof(root), "/tmp/vfiomig-unit-engine-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(blob, sizeof(blob), "%s/blob", root);
	f = fopen(blob, "w");
	if (!f)
		return -1;
	srand(12);
	for (unsigned i = 0; i < STATE_SIZE; i++)
		fputc(i < STATE_SIZE / 2 ? rand() & 0xff : (int)(i / 4096) & 0xff, f);
	fclose(f);
	snprintf(args, sizeof(args), "init %s", root);
	if (fakedev(args) != 0)
		return -1;
	snprintf(args, sizeof(args), "add %s --kind mdev --name %s --type mtty-2 --group 0 "
		 "--knob blob=%s", root, DEV_A, blob);
	if (fakedev(args) != 0)
		return -1;
	snprintf(args, sizeof(args), "add %s --kind mdev --name %s --type mtty-2 --group 1 "
		 "--size %u --knob header_check=0", root, DEV_B, STATE_SIZE);
	return fakedev(args) == 0 ? 0 : -1;
}

/* Makes the root, then runs this program again under the double. */
static int reexec_under_double(char **argv)
{
	char self[PATH_MAX], lib[PATH_MAX + 48];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		return -1;
	self[n] = '\0';
	snprintf(repo, sizeof(repo), "%s", self);
	for (int up = 0; up < 3; up++)          /* tests/unit/test_... */
		*strrchr(repo, '/') = '\0';
	if (make_root() < 0)
		return -1;
	snprintf(lib, sizeof(lib), "%s/tests/double/libvfio-double.so", repo);
	setenv("VFIOMIG_SYSROOT", root, 1);
	setenv("VFIOMIG_UNIT_REPO", repo, 1);
	setenv("LD_PRELOAD", lib, 1);
	execv(self, argv);
	return -1;
}

/* The pipeline sends the stop flag's signal again to a writer stuck in its output,
 * as the CLI's handlers expect: here too a handler must take it. */
static void on_signal(int sig)
{
}

static void take_sigterm(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
}

struct memory {
	uint8_t *buf;
	size_t len, cap, pos;
	size_t read_max;                /* bytes per read, to split the stream */
	bool committed;
};

static int memory_write(void *ctx, const uint8_t *buf, size_t len, struct verr *err)
{
	struct memory *m = ctx;

	if (m->len + len > m->cap) {
		size_t cap = (m->len + len) * 2;
		uint8_t *grown = realloc(m->buf, cap);

		if (!grown)
			return verr_set(err, VERR_FAILED, ENOMEM, "memory", NULL, "grow");
		m->buf = grown;
		m->cap = cap;
	}
	memcpy(m->buf + m->len, buf, len);
	m->len += len;
	return 0;
}

static int memory_commit(void *ctx, struct verr *err)
{
	((struct memory *)ctx)->committed = true;
	return 0;
}

static ssize_t memory_read(void *ctx, void *buf, size_t len, struct verr *err)
{
	struct memory *m = ctx;
	size_t n = m->len - m->pos;

	if (n > len)
		n = len;
	if (n > m->read_max)
		n = m->read_max;
	memcpy(buf, m->buf + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

struct seen {
	unsigned calls;
	uint64_t raw, total;
	bool backwards;
	vstop_t *signal_at_first;     /* a signal arrives after chunk 1 */
};

static void count_progress(void *ctx, const struct eng_progress *p)
{
	struct seen *s = ctx;

	s->backwards |= p->raw < s->raw;
	s->calls++;
	s->raw = p->raw;
	s->total = p->total;
	if (s->signal_at_first)
		*s->signal_at_first = SIGTERM;
}

static struct vdev *open_device(const char *name, struct vdev_ident *id)
{
	struct verr err = { 0 };
	struct vdev *dev = NULL;

	if (vdev_identify(name, id, &err) < 0 || vdev_open(id, VDEV_VIA_AUTO, &dev, &err) < 0)
		printf("# %s: %s\n", name, err.what);
	return dev;
}

static enum vmig_state state_of(const char *name)
{
	struct vdev_ident id;
	struct vdev *dev = open_device(name, &id);
	enum vmig_state state = VMIG_NR_STATES;
	struct verr err = { 0 };

	if (dev)
		vdev_get_state(dev, &state, &err);
	vdev_close(dev);
	return state;
}

/* Saves A into m; the device is left where eng_save leaves it. */
static int save_a(struct memory *m, vstop_t *stop, struct seen *seen,
		  struct eng_save_result *res, struct verr *err)
{
	const struct eng_save_options opt = {
		.precopy = true, .compress = true, .level = 1, .threads = 2, .key = &key,
		.stop = stop, .progress = count_progress, .ctx = seen,
	};
	struct vdev_ident id;
	struct vdev *dev = open_device(DEV_A, &id);
	int ret;

	if (!dev)
		return -ENODEV;
	ret = eng_save(dev, &opt, &(struct eng_sink){ memory_write, memory_commit, m }, res, err);
	vdev_close(dev);
	return ret;
}

/* Restores m into B, requiring k. */
static int restore_b(struct memory *m, const struct vstream_key *k, struct eng_restore_result *res,
		     struct verr *err)
{
	const struct eng_input src = { memory_read, m, "memory" };
	const struct eng_restore_options opt = { .key = k, .threads = 2 };
	struct eng_restore *restore = NULL;
	struct vdev_ident id;
	struct vdev *dev = NULL;
	int ret;

	memset(res, 0, sizeof(*res));
	m->pos = 0;
	ret = vdev_identify(DEV_B, &id, err);
	if (ret == 0)
		ret = eng_restore_begin(&src, &opt, &id, &restore, err);
	if (ret == 0)
		ret = vdev_open(&id, VDEV_VIA_AUTO, &dev, err);
	if (ret == 0)
		ret = eng_restore_into(restore, dev, res, err);
	vdev_close(dev);
	eng_restore_free(restore);
	return ret;
}

/* The file the double records a device's restored state in, against A's blob. */
static bool restored_matches_blob(void)
{
	char cmd[3 * sizeof(root) + 64];

	snprintf(cmd, sizeof(cmd), "cmp -s %s/double/%s/restored %s/blob", root, DEV_B, root);
	return system(cmd) == 0;
}

static void test_round_trip(struct memory *m)
{
	struct eng_save_result saved;
	struct eng_restore_result restored;
	struct seen seen = { 0 };
	struct verr err = { 0 };

	CHECK(save_a(m, NULL, &seen, &saved, &err) == 0, "eng_save succeeds (%s)", err.what);
	CHECK(saved.committed && m->committed, "the sink committed the stream");
	CHECK(saved.stats.raw_bytes == STATE_SIZE, "every state byte was saved (%llu)",
	      (unsigned long long)saved.stats.raw_bytes);
	CHECK(saved.stats.wire_bytes == m->len, "the sink got every stream byte");
	CHECK(seen.calls >= 3 && !seen.backwards && seen.raw == STATE_SIZE,
	      "progress rose to the state size (%u calls)", seen.calls);
	CHECK(seen.total == STATE_SIZE, "progress carried the device's estimate");
	CHECK(state_of(DEV_A) == VMIG_STOP, "the saved device stays in STOP");

	m->read_max = 1000;
	CHECK(restore_b(m, &key, &restored, &err) == 0, "eng_restore succeeds (%s)", err.what);
	CHECK(restored.bytes == STATE_SIZE && !restored.reset, "it wrote every byte");
	CHECK(restored.wire == m->len, "it read the whole stream");
	CHECK(restored_matches_blob(), "the destination holds the source's bytes");
	CHECK(state_of(DEV_B) == VMIG_RUNNING, "the restored device runs");
}

static void test_corrupt_stream(struct memory *m)
{
	struct eng_restore_result res;
	struct verr err = { 0 };
	size_t len = m->len;

	m->buf[len / 2] ^= 0x40;
	CHECK(restore_b(m, &key, &res, &err) < 0 && err.class == VERR_DATA,
	      "a bit flip in a record fails the restore as a data error (%s)", err.what);
	CHECK(res.reset && !res.recovery.set, "the destination was reset");
	CHECK(state_of(DEV_B) == VMIG_RUNNING, "the destination is RUNNING, not RESUMING");
	m->buf[len / 2] ^= 0x40;

	verr_clear(&err);
	m->len = len - 10;
	CHECK(restore_b(m, &key, &res, &err) < 0 && err.class == VERR_DATA && res.reset,
	      "a stream without its trailer fails and resets (%s)", err.what);
	CHECK(state_of(DEV_B) == VMIG_RUNNING, "the destination is RUNNING again");
	m->len = len;
}

static void test_wrong_key(struct memory *m)
{
	static const uint8_t other_bytes[32] = "not the key the stream was made";
	const struct vstream_key other = { other_bytes, sizeof(other_bytes) };
	struct eng_restore_result res;
	struct verr err = { 0 };

	CHECK(restore_b(m, &other, &res, &err) < 0 && err.class == VERR_USAGE,
	      "a stream under another key is refused as a usage error (%s)", err.what);
	CHECK(state_of(DEV_B) == VMIG_RUNNING && restored_matches_blob(),
	      "at the header: the destination runs its earlier state");
}

static void test_save_goes_back(void)
{
	struct memory m = { 0 };
	struct eng_save_result res;
	vstop_t stop = 0;
	struct seen seen = { .signal_at_first = &stop };
	struct verr err = { 0 };
	char args[1024];

	snprintf(args, sizeof(args), "state %s %s RUNNING", root, DEV_A);
	CHECK(fakedev(args) == 0, "A is RUNNING");
	CHECK(save_a(&m, &stop, &seen, &res, &err) < 0 && err.class == VERR_INTERRUPTED,
	      "a signal during pre-copy stops the save (%s)", err.what);
	CHECK(!res.committed && !m.committed && !res.recovery.set, "nothing was committed");
	CHECK(state_of(DEV_A) == VMIG_RUNNING, "the device went back to RUNNING");

	verr_clear(&err);
	m.len = 0;
	seen.signal_at_first = NULL;
	snprintf(args, sizeof(args), "knob %s %s read_fail_after='1000 EIO'", root, DEV_A);
	CHECK(fakedev(args) == 0, "A's reads will fail");
	CHECK(save_a(&m, NULL, &seen, &res, &err) < 0 && !res.committed,
	      "a failing read fails the save (%s)", err.what);
	CHECK(state_of(DEV_A) == VMIG_RUNNING, "the device went back to RUNNING");
	free(m.buf);
}

int main(int argc, char **argv)
{
	struct memory m = { 0 };
	char cmd[sizeof(root) + 16];

	if (!getenv("VFIOMIG_UNIT_REPO")) {
		reexec_under_double(argv);
		printf("not ok 1 - cannot run under the test double (make double?)\n1..1\n");
		return 1;
	}
	snprintf(repo, sizeof(repo), "%s", getenv("VFIOMIG_UNIT_REPO"));
	snprintf(root, sizeof(root), "%s", getenv("VFIOMIG_SYSROOT") ?: "");
	take_sigterm();
	test_round_trip(&m);
	test_corrupt_stream(&m);
	test_wrong_key(&m);
	test_save_goes_back();
	free(m.buf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", root);
	return unit_done();
}
