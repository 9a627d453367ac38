/* LD_PRELOAD test double of the Linux 6.12 VFIO interface (device cdev + iommufd, group +
 * container, migration uAPI v2) serving the fake root at $VFIOMIG_SYSROOT; see README.md.
 * Device state lives in files under $VFIOMIG_SYSROOT/double/<device>/ so it outlives a
 * process, as the kernel's does. Written from the documented uAPI and kernel behaviour. */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "content.h"

/* ---- uAPI numbers (include/uapi/linux/vfio.h, 6.12); own names so no header clash ---- */
#define D_IO(nr)                 ((unsigned long)((';' << 8) | (100 + (nr))))
#define D_GET_API_VERSION        D_IO(0)
#define D_CHECK_EXTENSION        D_IO(1)
#define D_SET_IOMMU              D_IO(2)
#define D_GROUP_GET_STATUS       D_IO(3)
#define D_GROUP_SET_CONTAINER    D_IO(4)
#define D_GROUP_UNSET_CONTAINER  D_IO(5)
#define D_GROUP_GET_DEVICE_FD    D_IO(6)
#define D_DEVICE_GET_INFO        D_IO(7)
#define D_DEVICE_GET_REGION_INFO D_IO(8)
#define D_DEVICE_RESET           D_IO(11)
#define D_DEVICE_FEATURE         D_IO(17)
#define D_DEVICE_BIND_IOMMUFD    D_IO(18)
#define D_MIG_GET_PRECOPY_INFO   D_IO(21)

#define D_TYPE1_IOMMU   1
#define D_TYPE1v2_IOMMU 3
#define D_NOIOMMU_IOMMU 8

#define D_FEATURE_MASK  0xffffu
#define D_FEATURE_GET   (1u << 16)
#define D_FEATURE_SET   (1u << 17)
#define D_FEATURE_PROBE (1u << 18)
enum { F_MIGRATION = 1, F_MIG_DEVICE_STATE = 2, F_LOG_START = 6, F_LOG_STOP = 7,
       F_LOG_REPORT = 8, F_MIG_DATA_SIZE = 9 };

#define MIG_STOP_COPY 1u
#define MIG_P2P       2u
#define MIG_PRE_COPY  4u

enum { S_ERROR, S_STOP, S_RUNNING, S_STOP_COPY, S_RESUMING, S_RUNNING_P2P, S_PRE_COPY,
       S_PRE_COPY_P2P, S_NR };

static const char *const state_names[S_NR] = {
	"ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P", "PRE_COPY",
	"PRE_COPY_P2P",
};

/* vfio_mig_get_next_state()'s table: row = current, column = target, value = next hop. */
static const uint8_t next_hop[S_NR][S_NR] = {
	[S_STOP] = { S_ERROR, S_STOP, S_RUNNING_P2P, S_STOP_COPY, S_RESUMING, S_RUNNING_P2P,
		     S_RUNNING_P2P, S_RUNNING_P2P },
	[S_RUNNING] = { S_ERROR, S_RUNNING_P2P, S_RUNNING, S_RUNNING_P2P, S_RUNNING_P2P,
			S_RUNNING_P2P, S_PRE_COPY, S_RUNNING_P2P },
	[S_STOP_COPY] = { S_ERROR, S_STOP, S_STOP, S_STOP_COPY, S_STOP, S_STOP, S_ERROR,
			  S_ERROR },
	[S_RESUMING] = { S_ERROR, S_STOP, S_STOP, S_STOP, S_RESUMING, S_STOP, S_STOP, S_STOP },
	[S_RUNNING_P2P] = { S_ERROR, S_STOP, S_RUNNING, S_STOP, S_STOP, S_RUNNING_P2P,
			    S_RUNNING, S_PRE_COPY_P2P },
	[S_PRE_COPY] = { S_ERROR, S_RUNNING, S_RUNNING, S_PRE_COPY_P2P, S_RUNNING, S_RUNNING,
			 S_PRE_COPY, S_PRE_COPY_P2P },
	[S_PRE_COPY_P2P] = { S_ERROR, S_RUNNING_P2P, S_RUNNING_P2P, S_STOP_COPY,
			     S_RUNNING_P2P, S_RUNNING_P2P, S_PRE_COPY, S_PRE_COPY_P2P },
	[S_ERROR] = { S_ERROR, S_ERROR, S_ERROR, S_ERROR, S_ERROR, S_ERROR, S_ERROR, S_ERROR },
};

/* Flags a state needs; ERROR needs flags no device has. */
static const uint32_t state_needs[S_NR] = {
	[S_ERROR] = ~0u,
	[S_STOP] = MIG_STOP_COPY,
	[S_RUNNING] = MIG_STOP_COPY,
	[S_STOP_COPY] = MIG_STOP_COPY,
	[S_RESUMING] = MIG_STOP_COPY,
	[S_RUNNING_P2P] = MIG_STOP_COPY | MIG_P2P,
	[S_PRE_COPY] = MIG_STOP_COPY | MIG_PRE_COPY,
	[S_PRE_COPY_P2P] = MIG_STOP_COPY | MIG_P2P | MIG_PRE_COPY,
};

#define MTTY_MAGIC     0x7e9d09898c3e2c4eULL
#define MTTY_HDR       24
#define MTTY_PORT_SIZE 36

/* ---- real libc entry points ---- */
static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_ioctl)(int, unsigned long, ...);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pread)(int, void *, size_t, off_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static int (*real_close)(int);

static char root[1024];
static size_t root_len;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t big_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static void init(void)
{
	const char *r = getenv("VFIOMIG_SYSROOT");

	real_open = dlsym(RTLD_NEXT, "open");
	real_openat = dlsym(RTLD_NEXT, "openat");
	real_ioctl = dlsym(RTLD_NEXT, "ioctl");
	real_read = dlsym(RTLD_NEXT, "read");
	real_write = dlsym(RTLD_NEXT, "write");
	real_pread = dlsym(RTLD_NEXT, "pread");
	real_pwrite = dlsym(RTLD_NEXT, "pwrite");
	real_close = dlsym(RTLD_NEXT, "close");
	if (r && r[0] && strlen(r) < sizeof(root) - 64) {
		strcpy(root, r);
		root_len = strlen(root);
		while (root_len > 1 && root[root_len - 1] == '/')
			root[--root_len] = '\0';
	}
}

static void ensure_init(void)
{
	pthread_once(&init_once, init);
}

/* ---- small file helpers that never go through our own wrappers ---- */
static ssize_t file_read(const char *path, void *buf, size_t size)
{
	int fd = real_open(path, O_RDONLY | O_CLOEXEC);
	size_t done = 0;

	if (fd < 0)
		return -1;
	while (done < size) {
		ssize_t n = real_read(fd, (char *)buf + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	real_close(fd);
	return (ssize_t)done;
}

static int file_write(const char *path, const void *buf, size_t size)
{
	char tmp[PATH_MAX + 16];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	fd = real_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (real_write(fd, buf, size) != (ssize_t)size) {
		real_close(fd);
		unlink(tmp);
		return -EIO;
	}
	real_close(fd);
	return rename(tmp, path) < 0 ? -errno : 0;
}

static void dev_path(char *out, size_t size, const char *dev, const char *file)
{
	snprintf(out, size, "%s/double/%s/%s", root, dev, file);
}

/* A knob is the content of $R/double/<dev>/<name>, trailing newline stripped. */
static int knob_str(const char *dev, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];
	ssize_t n;

	dev_path(path, sizeof(path), dev, name);
	n = file_read(path, buf, size - 1);
	if (n < 0)
		return 0;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 1;
}

static long long knob_int(const char *dev, const char *name, long long dflt)
{
	char buf[64];

	if (!knob_str(dev, name, buf, sizeof(buf)) || !buf[0])
		return dflt;
	return strtoll(buf, NULL, 0);
}

static const struct { const char *name; int value; } errno_names[] = {
	{ "EIO", EIO }, { "EINVAL", EINVAL }, { "ENODEV", ENODEV }, { "EBUSY", EBUSY },
	{ "EACCES", EACCES }, { "EPERM", EPERM }, { "ENOMEM", ENOMEM }, { "EFAULT", EFAULT },
	{ "ENOSPC", ENOSPC }, { "ETIMEDOUT", ETIMEDOUT }, { "EAGAIN", EAGAIN },
	{ "ENOMSG", ENOMSG }, { "ENOTTY", ENOTTY }, { "ENXIO", ENXIO }, { "ENOENT", ENOENT },
	{ "EOPNOTSUPP", EOPNOTSUPP }, { "EBADF", EBADF }, { "ENOLINK", ENOLINK },
};

static int parse_errno(const char *text, int dflt)
{
	size_t i;

	if (!text || !*text)
		return dflt;
	for (i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (!strcasecmp(text, errno_names[i].name))
			return errno_names[i].value;
	if (*text >= '0' && *text <= '9')
		return atoi(text);
	return dflt;
}

static int knob_errno(const char *dev, const char *name)
{
	char buf[64];

	if (!knob_str(dev, name, buf, sizeof(buf)) || !buf[0] || !strcmp(buf, "0"))
		return 0;
	return parse_errno(buf, EIO);
}

static int parse_state(const char *text)
{
	int i;

	for (i = 0; i < S_NR; i++)
		if (!strcasecmp(text, state_names[i]))
			return i;
	return -1;
}

/* ---- device configuration ---- */
struct devcfg {
	int is_pci;
	int has_mig;
	uint32_t flags;
	long long nr_ports;
	long long size;
	long long precopy_bytes;
	long long data_size;
	int header_check;
	int dma_logging;
	int reset_on_close;
	int generated;          /* content=generated: bytes from content.h, resume discards */
};

static long long blob_file_size(const char *dev)
{
	char name[1024], path[PATH_MAX];
	struct stat st;

	if (!knob_str(dev, "blob", name, sizeof(name)) || !name[0])
		return -1;
	if (name[0] == '/')
		snprintf(path, sizeof(path), "%s", name);
	else
		dev_path(path, sizeof(path), dev, name);
	return stat(path, &st) < 0 ? -1 : (long long)st.st_size;
}

static void load_cfg(const char *dev, struct devcfg *c)
{
	char buf[64];
	long long blob;

	c->is_pci = knob_str(dev, "kind", buf, sizeof(buf)) && !strcmp(buf, "pci");
	if (knob_str(dev, "migration", buf, sizeof(buf))) {
		c->has_mig = strcmp(buf, "none") != 0 && buf[0];
		c->flags = c->has_mig ? (uint32_t)strtoul(buf, NULL, 0) : 0;
	} else {
		c->has_mig = !c->is_pci;
		c->flags = c->has_mig ? 7 : 0;
	}
	c->nr_ports = knob_int(dev, "nr_ports", 2);
	blob = blob_file_size(dev);
	c->size = knob_int(dev, "size", blob >= 0 ? blob : MTTY_HDR + MTTY_PORT_SIZE * c->nr_ports);
	c->precopy_bytes = knob_int(dev, "precopy_bytes", MTTY_HDR);
	if (c->precopy_bytes > c->size)
		c->precopy_bytes = c->size;
	c->data_size = knob_int(dev, "data_size", c->size);
	c->header_check = (int)knob_int(dev, "header_check", 1);
	c->dma_logging = (int)knob_int(dev, "dma_logging", c->is_pci ? 0 : 1);
	c->reset_on_close = (int)knob_int(dev, "reset_on_close", c->is_pci ? 1 : 0);
	c->generated = knob_str(dev, "content", buf, sizeof(buf)) && !strcmp(buf, "generated");
	if (c->generated)
		c->header_check = 0;
}

/* ---- persistent device state ---- */
#define MAX_HOLDERS 64
struct devstate {
	int state;
	unsigned long next_stream;
	unsigned long save_stream;     /* 0: no saving stream */
	long long save_pos, save_filled;
	unsigned long resume_stream;   /* 0: no resuming stream */
	long long resume_len;
	int reported;                  /* get_reports_target: state+1 GET reports, 0: none */
	int nholders;
	struct { int pid, fd; } holders[MAX_HOLDERS];
};

static int dev_exists(const char *dev)
{
	char path[PATH_MAX];
	struct stat st;

	if (!dev[0] || strchr(dev, '/'))
		return 0;
	snprintf(path, sizeof(path), "%s/double/%s", root, dev);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int lock_dev(const char *dev)
{
	char path[PATH_MAX];
	int fd;

	dev_path(path, sizeof(path), dev, "lock");
	fd = real_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
			;
	return fd;
}

static void unlock_dev(int fd)
{
	if (fd >= 0)
		real_close(fd);
}

static void disable_streams(struct devstate *s)
{
	s->save_stream = 0;
	s->save_pos = s->save_filled = 0;
	s->resume_stream = 0;
	s->resume_len = 0;
}

/* The device's last open file went away: mtty disables its migration files,
 * vfio-pci resets the function (back to RUNNING). */
static void last_close(const char *dev, struct devstate *s)
{
	struct devcfg c;

	load_cfg(dev, &c);
	disable_streams(s);
	if (c.reset_on_close)
		s->state = S_RUNNING;
}

static void load_state(const char *dev, struct devstate *s)
{
	char path[PATH_MAX], buf[4096], *line, *save = NULL;
	char init_name[32];
	ssize_t n;
	int had, i, j;

	memset(s, 0, sizeof(*s));
	s->state = S_RUNNING;
	s->next_stream = 1;
	dev_path(path, sizeof(path), dev, "state");
	n = file_read(path, buf, sizeof(buf) - 1);
	if (n < 0) {
		if (knob_str(dev, "initial_state", init_name, sizeof(init_name)) &&
		    parse_state(init_name) >= 0)
			s->state = parse_state(init_name);
		return;
	}
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[32];
		long long v;
		int off = 0;

		if (sscanf(line, "%31s %lld%n", key, &v, &off) < 2)
			continue;
		if (!strcmp(key, "state") && v >= 0 && v < S_NR)
			s->state = (int)v;
		else if (!strcmp(key, "next_stream"))
			s->next_stream = (unsigned long)v;
		else if (!strcmp(key, "save_stream"))
			s->save_stream = (unsigned long)v;
		else if (!strcmp(key, "save_pos"))
			s->save_pos = v;
		else if (!strcmp(key, "save_filled"))
			s->save_filled = v;
		else if (!strcmp(key, "resume_stream"))
			s->resume_stream = (unsigned long)v;
		else if (!strcmp(key, "resume_len"))
			s->resume_len = v;
		else if (!strcmp(key, "reported"))
			s->reported = (int)v;
		else if (!strcmp(key, "holder") && s->nholders < MAX_HOLDERS) {
			int fd = -1;

			sscanf(line + off, "%d", &fd);
			s->holders[s->nholders].pid = (int)v;
			s->holders[s->nholders].fd = fd;
			s->nholders++;
		}
	}
	/* A holder whose process is gone closed its fd without telling us (exit, kill). */
	had = s->nholders;
	for (i = j = 0; i < s->nholders; i++)
		if (kill(s->holders[i].pid, 0) == 0 || errno != ESRCH)
			s->holders[j++] = s->holders[i];
	s->nholders = j;
	if (had && !j)
		last_close(dev, s);
}

static void save_state(const char *dev, const struct devstate *s)
{
	char path[PATH_MAX], buf[4096];
	int len, i;

	len = snprintf(buf, sizeof(buf),
		       "state %d %s\nnext_stream %lu\nsave_stream %lu\nsave_pos %lld\n"
		       "save_filled %lld\nresume_stream %lu\nresume_len %lld\nreported %d\n",
		       s->state, state_names[s->state], s->next_stream, s->save_stream,
		       s->save_pos, s->save_filled, s->resume_stream, s->resume_len, s->reported);
	for (i = 0; i < s->nholders && len < (int)sizeof(buf) - 32; i++)
		len += snprintf(buf + len, sizeof(buf) - len, "holder %d %d\n",
				s->holders[i].pid, s->holders[i].fd);
	dev_path(path, sizeof(path), dev, "state");
	file_write(path, buf, (size_t)len);
}

/* ---- the saving blob ---- */
static unsigned char *make_blob(const char *dev, const struct devcfg *c)
{
	unsigned char *b = calloc(1, (size_t)c->size + 1);
	char name[1024], path[PATH_MAX];
	long long i;

	if (!b)
		return NULL;
	dev_path(path, sizeof(path), dev, "restored");
	if (file_read(path, b, (size_t)c->size) >= 0)
		return b;
	if (knob_str(dev, "blob", name, sizeof(name)) && name[0]) {
		if (name[0] == '/')
			snprintf(path, sizeof(path), "%s", name);
		else
			dev_path(path, sizeof(path), dev, name);
		if (file_read(path, b, (size_t)c->size) >= 0)
			return b;
	}
	for (i = MTTY_HDR; i < c->size; i++)
		b[i] = (unsigned char)(0x41 + (i - MTTY_HDR) % 53);
	if (c->size >= MTTY_HDR) {
		uint64_t magic = MTTY_MAGIC;
		uint32_t words[4] = { 1, 0, (uint32_t)c->nr_ports, 0 };

		memcpy(b, &magic, 8);   /* little-endian host, as the kernel's struct */
		memcpy(b + 8, words, sizeof(words));
	}
	return b;
}

static int header_ok(const unsigned char *h, const struct devcfg *c)
{
	uint64_t magic;
	uint32_t words[4];

	memcpy(&magic, h, 8);
	memcpy(words, h + 8, sizeof(words));
	return magic == MTTY_MAGIC && words[0] == 1 && words[1] == 0 &&
	       words[2] == (uint32_t)c->nr_ports && words[3] == 0;
}

/* ---- per-process fd table ---- */
enum fd_kind { FK_NONE, FK_DEVICE, FK_GROUP, FK_CONTAINER, FK_IOMMUFD, FK_SAVE, FK_RESUME };

struct dfd {
	enum fd_kind kind;
	dev_t st_dev;
	ino_t st_ino;
	char dev[128];
	int bound, holder, via_group;
	int group, noiommu;
	int container_fd;            /* group: the container it is attached to, or -1 */
	int iommu_type, ngroups;     /* container */
	unsigned long stream;        /* data fds */
	int fd;
};

#define FD_TABLE 4096
static struct dfd *fdtab[FD_TABLE];

static struct dfd *track(int fd, enum fd_kind kind, const char *dev)
{
	struct dfd *e;
	struct stat st;

	if (fd < 0 || fd >= FD_TABLE || fstat(fd, &st) < 0)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->kind = kind;
	e->st_dev = st.st_dev;
	e->st_ino = st.st_ino;
	e->container_fd = -1;
	e->fd = fd;
	if (dev)
		snprintf(e->dev, sizeof(e->dev), "%s", dev);
	free(fdtab[fd]);
	fdtab[fd] = e;
	return e;
}

static void untrack(int fd)
{
	if (fd >= 0 && fd < FD_TABLE) {
		free(fdtab[fd]);
		fdtab[fd] = NULL;
	}
}

/* Device name for a cdev node name (vfio3): $R/double/<dev>/cdev holds the node name. */
static int dev_by_cdev(const char *node, char *out, size_t size)
{
	char path[PATH_MAX], buf[64];
	struct dirent *de;
	DIR *d;
	int found = 0;

	snprintf(path, sizeof(path), "%s/double", root);
	d = opendir(path);
	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.' || !dev_exists(de->d_name))
			continue;
		if (knob_str(de->d_name, "cdev", buf, sizeof(buf)) && !strcmp(buf, node)) {
			if (strlen(de->d_name) < size) {
				memcpy(out, de->d_name, strlen(de->d_name) + 1);
				found = 1;
			}
		}
	}
	closedir(d);
	return found;
}

static void load_state(const char *dev, struct devstate *s);

static int held_by_other_process(const char *dev)
{
	struct devstate s;
	int lk = lock_dev(dev), i, other = 0;

	load_state(dev, &s);
	unlock_dev(lk);
	for (i = 0; i < s.nholders; i++)
		if (s.holders[i].pid != (int)getpid())
			other = 1;
	return other;
}

/* First nonzero open_errno among the devices of a group; -1 if the group has none. */
static int group_open_errno(int group)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int ret = -1;

	snprintf(path, sizeof(path), "%s/double", root);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !dev_exists(de->d_name))
			continue;
		if (knob_int(de->d_name, "group", -1) != group)
			continue;
		if (ret <= 0)
			ret = knob_errno(de->d_name, "open_errno");
		if (ret <= 0 && held_by_other_process(de->d_name))
			ret = EBUSY;    /* the group (or a device of it) is open elsewhere */
	}
	closedir(d);
	return ret;
}

/* An fd we did not see being made: an inherited device fd (fd:N) or a dup of one of ours. */
static struct dfd *recognise(int fd)
{
	char link[64], target[PATH_MAX], name[128];
	const char *rest;
	ssize_t n;
	struct dfd *e;
	unsigned long id;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return NULL;
	target[n] = '\0';
	if (!strncmp(target, root, root_len) &&
	    !strncmp(target + root_len, "/dev/vfio/devices/", 18)) {
		rest = target + root_len + 18;
		if (!dev_by_cdev(rest, name, sizeof(name)))
			return NULL;
		e = track(fd, FK_DEVICE, name);
		if (e)
			e->bound = 1;
		return e;
	}
	if (!strncmp(target, "/memfd:vfio-double-", 19)) {
		char kind[16];
		char *sp = strstr(target, " (deleted)");

		if (sp)
			*sp = '\0';
		rest = target + 19;
		if (sscanf(rest, "%15[a-z]:%127[^ ]", kind, name) != 2)
			return NULL;
		if (!strcmp(kind, "dev")) {
			if (!dev_exists(name))
				return NULL;
			e = track(fd, FK_DEVICE, name);
			if (e)
				e->bound = e->via_group = 1;
			return e;
		}
		{
			char *colon = strrchr(name, ':');

			if (!colon)
				return NULL;
			*colon = '\0';
			id = strtoul(colon + 1, NULL, 10);
		}
		if (!dev_exists(name))
			return NULL;
		e = track(fd, !strcmp(kind, "save") ? FK_SAVE : FK_RESUME, name);
		if (e)
			e->stream = id;
		return e;
	}
	return NULL;
}

static struct dfd *lookup(int fd)
{
	struct dfd *e;
	struct stat st;

	if (!root_len || fd < 0 || fd >= FD_TABLE)
		return NULL;
	e = fdtab[fd];
	if (e) {
		if (fstat(fd, &st) == 0 && st.st_dev == e->st_dev && st.st_ino == e->st_ino)
			return e;
		untrack(fd);    /* closed behind our back and the number reused */
	}
	return recognise(fd);
}

static int new_memfd(const char *kind, const char *dev, unsigned long id)
{
	char name[200];

	if (id)
		snprintf(name, sizeof(name), "vfio-double-%s:%s:%lu", kind, dev, id);
	else
		snprintf(name, sizeof(name), "vfio-double-%s:%s", kind, dev);
	return memfd_create(name, MFD_CLOEXEC);
}

static void holder_add(const char *dev, int fd)
{
	struct devstate s;
	int lk = lock_dev(dev);

	load_state(dev, &s);
	if (s.nholders < MAX_HOLDERS) {
		s.holders[s.nholders].pid = (int)getpid();
		s.holders[s.nholders].fd = fd;
		s.nholders++;
	}
	save_state(dev, &s);
	unlock_dev(lk);
}

static void holder_drop(const char *dev, int fd)
{
	struct devstate s;
	int lk = lock_dev(dev);
	int i, had;

	load_state(dev, &s);
	had = s.nholders;
	for (i = 0; i < s.nholders; i++) {
		if (s.holders[i].pid == (int)getpid() && s.holders[i].fd == fd) {
			s.holders[i] = s.holders[--s.nholders];
			break;
		}
	}
	if (had && !s.nholders)
		last_close(dev, &s);
	save_state(dev, &s);
	unlock_dev(lk);
}

/* Live opens of a device (by any process) as the double's holders record them. */
static int open_count(const char *dev)
{
	struct devstate s;
	int lk = lock_dev(dev);

	load_state(dev, &s);
	save_state(dev, &s);    /* keeps the pruning of dead holders */
	unlock_dev(lk);
	return s.nholders;
}

/* ---- open ---- */
static int path_under_dev(const char *path, const char **rest)
{
	if (!root_len || !path || strncmp(path, root, root_len) || strncmp(path + root_len, "/dev/", 5))
		return 0;
	*rest = path + root_len + 5;
	return 1;
}

static int fail_open(int fd, int err)
{
	real_close(fd);
	errno = err;
	return -1;
}

static int double_open(int dirfd, const char *path, int flags, mode_t mode)
{
	const char *rest;
	char name[128];
	struct dfd *e;
	int fd, err, group, noiommu = 0, i;

	if (!path_under_dev(path, &rest))
		return real_openat(dirfd, path, flags, mode);
	fd = real_openat(dirfd, path, flags & ~O_CREAT, mode);
	if (fd < 0)
		return fd;
	pthread_mutex_lock(&big_lock);
	if (!strcmp(rest, "vfio/vfio")) {
		track(fd, FK_CONTAINER, NULL);
	} else if (!strcmp(rest, "iommu")) {
		track(fd, FK_IOMMUFD, NULL);
	} else if (!strncmp(rest, "vfio/devices/", 13)) {
		if (!dev_by_cdev(rest + 13, name, sizeof(name))) {
			pthread_mutex_unlock(&big_lock);
			return fail_open(fd, ENODEV);
		}
		err = knob_errno(name, "open_errno");
		if (err) {
			pthread_mutex_unlock(&big_lock);
			return fail_open(fd, err);
		}
		track(fd, FK_DEVICE, name);
	} else if (!strncmp(rest, "vfio/", 5)) {
		const char *g = rest + 5;

		if (!strncmp(g, "noiommu-", 8)) {
			noiommu = 1;
			g += 8;
		}
		group = atoi(g);
		err = group_open_errno(group);
		if (err < 0)
			err = ENODEV;
		for (i = 0; !err && i < FD_TABLE; i++)   /* one open file per group */
			if (fdtab[i] && fdtab[i]->kind == FK_GROUP && fdtab[i]->group == group &&
			    i != fd && lookup(i))
				err = EBUSY;
		if (err) {
			pthread_mutex_unlock(&big_lock);
			return fail_open(fd, err);
		}
		e = track(fd, FK_GROUP, NULL);
		if (e) {
			e->group = group;
			e->noiommu = noiommu;
		}
	}
	pthread_mutex_unlock(&big_lock);
	return fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & (O_CREAT | __O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	ensure_init();
	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return double_open(AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	ensure_init();
	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return double_open(AT_FDCWD, path, flags | O_LARGEFILE, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	ensure_init();
	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return double_open(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	ensure_init();
	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return double_open(dirfd, path, flags | O_LARGEFILE, mode);
}

int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

int __open_2(const char *path, int flags)
{
	ensure_init();
	return double_open(AT_FDCWD, path, flags, 0);
}

int __open64_2(const char *path, int flags)
{
	ensure_init();
	return double_open(AT_FDCWD, path, flags | O_LARGEFILE, 0);
}

int __openat_2(int dirfd, const char *path, int flags)
{
	ensure_init();
	return double_open(dirfd, path, flags, 0);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	ensure_init();
	return double_open(dirfd, path, flags | O_LARGEFILE, 0);
}

/* ---- container, iommufd and group ioctls ---- */
static int container_ioctl(struct dfd *e, unsigned long cmd, void *arg)
{
	unsigned long ext = (unsigned long)arg;
	int i, noiommu = 0;

	for (i = 0; i < FD_TABLE; i++)
		if (fdtab[i] && fdtab[i]->kind == FK_GROUP && fdtab[i]->container_fd >= 0 &&
		    fdtab[fdtab[i]->container_fd] == e)
			noiommu |= fdtab[i]->noiommu;
	switch (cmd) {
	case D_GET_API_VERSION:
		return 0;
	case D_CHECK_EXTENSION:
		if (ext == D_TYPE1_IOMMU || ext == D_TYPE1v2_IOMMU)
			return 1;
		if (ext == D_NOIOMMU_IOMMU) {
			char path[PATH_MAX];
			struct stat st;

			snprintf(path, sizeof(path), "%s/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", root);
			return stat(path, &st) == 0;
		}
		return 0;
	case D_SET_IOMMU:
		if (!e->ngroups)
			return -EINVAL;
		if (e->iommu_type)
			return -EBUSY;
		/* 6.12: a type the container's groups cannot use is ENODEV */
		if (noiommu ? ext != D_NOIOMMU_IOMMU : (ext != D_TYPE1v2_IOMMU && ext != D_TYPE1_IOMMU))
			return -ENODEV;
		e->iommu_type = (int)ext;
		return 0;
	default:
		return -ENOTTY;
	}
}

static int group_viable(int group)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int viable = 1;

	snprintf(path, sizeof(path), "%s/double", root);
	d = opendir(path);
	if (!d)
		return 1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && dev_exists(de->d_name) &&
		    knob_int(de->d_name, "group", -1) == group &&
		    !knob_int(de->d_name, "group_viable", 1))
			viable = 0;
	closedir(d);
	return viable;
}

static int group_ioctl(struct dfd *e, int fd, unsigned long cmd, void *arg)
{
	struct dfd *c = NULL;
	char name[128];
	int newfd, tmp;

	if (e->container_fd >= 0) {
		c = lookup(e->container_fd);
		if (!c || c->kind != FK_CONTAINER) {
			e->container_fd = -1;
			c = NULL;
		}
	}
	switch (cmd) {
	case D_GROUP_GET_STATUS: {
		uint32_t *st = arg;

		if (st[0] < 8)
			return -EINVAL;
		st[1] = 0;
		if (c && c->iommu_type)
			st[1] = 3;          /* VIABLE | CONTAINER_SET */
		else if (group_viable(e->group))
			st[1] = 1;
		return 0;
	}
	case D_GROUP_SET_CONTAINER: {
		struct dfd *target;

		memcpy(&tmp, arg, sizeof(tmp));
		if (fcntl(tmp, F_GETFD) < 0)
			return -EBADF;
		if (c && c->iommu_type)
			return -EINVAL;
		if (c)
			return -EINVAL;
		target = lookup(tmp);
		if (!target || target->kind != FK_CONTAINER)
			return -EBADFD;
		if (!group_viable(e->group))
			return -EPERM;
		e->container_fd = tmp;
		target->ngroups++;
		return 0;
	}
	case D_GROUP_UNSET_CONTAINER:
		if (!c)
			return -EINVAL;
		if (--c->ngroups == 0)
			c->iommu_type = 0;
		e->container_fd = -1;
		return 0;
	case D_GROUP_GET_DEVICE_FD: {
		struct dfd *d;

		snprintf(name, sizeof(name), "%s", (const char *)arg);
		if (!dev_exists(name) || knob_int(name, "group", -1) != e->group ||
		    !knob_int(name, "vfio", 1))
			return -ENODEV;
		if (!c || !c->iommu_type)
			return -EINVAL;
		newfd = new_memfd("dev", name, 0);
		if (newfd < 0)
			return -errno;
		d = track(newfd, FK_DEVICE, name);
		if (!d) {
			real_close(newfd);
			return -ENOMEM;
		}
		d->bound = d->via_group = d->holder = 1;
		holder_add(name, newfd);
		return newfd;
	}
	default:
		(void)fd;
		return -ENOTTY;
	}
}

/* ---- the migration state machine ---- */
static int get_next_state(uint32_t flags, int cur, int target, int *next)
{
	if (cur < 0 || cur >= S_NR || (state_needs[cur] & flags) != state_needs[cur])
		return -EINVAL;
	if (target < 0 || target >= S_NR || (state_needs[target] & flags) != state_needs[target])
		return -EINVAL;
	/* The kernel's loop has no ERROR exit: for STOP_COPY -> PRE_COPY* it would spin on
	 * ERROR (state_needs[ERROR] is never met). The SPEC wants EINVAL; see README.md. */
	*next = next_hop[cur][target];
	while (*next != S_ERROR && (state_needs[*next] & flags) != state_needs[*next])
		*next = next_hop[*next][target];
	return *next != S_ERROR ? 0 : -EINVAL;
}

/* "FROM>TO ERRNO [error]" lines: fail that arc; "error" lands the device in ERROR. */
static int arc_fault(const char *dev, int from, int to, int *to_error)
{
	char buf[2048], *line, *save = NULL;

	*to_error = 0;
	if (!knob_str(dev, "fail_arc", buf, sizeof(buf)))
		return 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char a[32], b[32], err[32] = "EIO", land[32] = "";
		char *gt = strchr(line, '>');

		if (!gt)
			continue;
		*gt = ' ';
		if (sscanf(line, "%31s %31s %31s %31s", a, b, err, land) < 2)
			continue;
		if (parse_state(a) == from && parse_state(b) == to) {
			*to_error = !strcasecmp(land, "error");
			return parse_errno(err, EIO);
		}
	}
	return 0;
}

/* Whether knob NAME has a line "FROM>TO" naming this arc. */
static int arc_listed(const char *dev, const char *name, int from, int to)
{
	char buf[2048], *line, *save = NULL;

	if (!knob_str(dev, name, buf, sizeof(buf)))
		return 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char a[32], b[32];
		char *gt = strchr(line, '>');

		if (!gt)
			continue;
		*gt = ' ';
		if (sscanf(line, "%31s %31s", a, b) == 2 && parse_state(a) == from &&
		    parse_state(b) == to)
			return 1;
	}
	return 0;
}

static int record_restored(const char *dev, const struct devcfg *c)
{
	char path[PATH_MAX], out[PATH_MAX];
	unsigned char *buf = calloc(1, (size_t)c->size + 1);
	ssize_t n;
	int ret;

	if (!buf)
		return -ENOMEM;
	dev_path(path, sizeof(path), dev, "resume.buf");
	n = file_read(path, buf, (size_t)c->size);
	if (n < 0)
		n = 0;
	dev_path(out, sizeof(out), dev, "restored");
	ret = file_write(out, buf, (size_t)n);
	free(buf);
	return ret;
}

/* "FROM>TO MS" lines of knob arc_delay_ms: that arc takes MS (a slow driver). */
static long long arc_delay(const char *dev, int from, int to)
{
	char buf[2048], *line, *save = NULL;

	if (!knob_str(dev, "arc_delay_ms", buf, sizeof(buf)))
		return 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char a[32], b[32];
		long long ms = 0;
		char *gt = strchr(line, '>');

		if (!gt)
			continue;
		*gt = ' ';
		if (sscanf(line, "%31s %31s %lld", a, b, &ms) == 3 && parse_state(a) == from &&
		    parse_state(b) == to)
			return ms > 0 ? ms : 0;
	}
	return 0;
}

/* Slow arcs add up here and are slept off once the ioctl let go of every lock, so
 * that the caller's other threads (and other processes) carry on meanwhile, as they
 * do while a kernel driver works. */
static __thread long long pending_delay_ms;

static void sleep_ms(long long ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One arc, as a driver implements it (mtty's step function); *stream = 1 if it hands out
 * a new data file. */
static int step(const char *dev, const struct devcfg *c, struct devstate *s, int cur, int next,
		int *stream)
{
	int err, to_error;

	*stream = 0;
	pending_delay_ms += arc_delay(dev, cur, next);
	err = arc_fault(dev, cur, next, &to_error);
	if (err) {
		if (to_error) {
			s->state = S_ERROR;
			disable_streams(s);
		}
		return -err;
	}
	if (cur == S_RESUMING && next == S_STOP) {
		if (!s->resume_stream || s->resume_len < c->size)
			return -EINVAL;
		if (!c->generated)
			record_restored(dev, c);
		disable_streams(s);
		return 0;
	}
	if ((cur == S_PRE_COPY && next == S_RUNNING) ||
	    (cur == S_PRE_COPY_P2P && next == S_RUNNING_P2P) ||
	    (cur == S_STOP_COPY && next == S_STOP)) {
		disable_streams(s);
		return 0;
	}
	if ((cur == S_RUNNING && next == S_PRE_COPY) ||
	    (cur == S_RUNNING_P2P && next == S_PRE_COPY_P2P) || (cur == S_STOP && next == S_STOP_COPY) ||
	    ((cur == S_PRE_COPY || cur == S_PRE_COPY_P2P) && next == S_STOP_COPY)) {
		if (s->save_stream) {           /* PRE_COPY* -> STOP_COPY: the same file goes on */
			if (next == S_STOP_COPY)
				s->save_filled = c->size;
			/* precopy_new_fd=1: a driver that starts a new session here (lost fd). */
			if (next == S_STOP_COPY && knob_int(dev, "precopy_new_fd", 0)) {
				s->save_stream = s->next_stream++;
				s->save_pos = 0;
				*stream = 1;
			}
			return 0;
		}
		s->save_stream = s->next_stream++;
		s->save_pos = 0;
		s->save_filled = next == S_STOP_COPY ? c->size : c->precopy_bytes;
		*stream = 1;
		return 0;
	}
	if (cur == S_STOP && next == S_RESUMING) {
		char path[PATH_MAX];

		dev_path(path, sizeof(path), dev, "resume.buf");
		file_write(path, "", 0);
		s->resume_stream = s->next_stream++;
		s->resume_len = 0;
		*stream = 1;
		return 0;
	}
	return 0;   /* RUNNING <-> RUNNING_P2P, RUNNING_P2P -> STOP, STOP -> RUNNING_P2P, ... */
}

/* With knob trace=1 every arc the driver executes is appended to $R/double/<dev>/arcs. */
static void trace_arc(const char *dev, int from, int to)
{
	char path[PATH_MAX], line[64];
	int fd, n;

	if (!knob_int(dev, "trace", 0))
		return;
	dev_path(path, sizeof(path), dev, "arcs");
	fd = real_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	/* from < 0: a VFIO_DEVICE_RESET, logged as RESET>state */
	n = snprintf(line, sizeof(line), "%s>%s\n", from < 0 ? "RESET" : state_names[from],
		     state_names[to]);
	if (real_write(fd, line, (size_t)n) < 0)
		n = 0;
	real_close(fd);
}

/* extra_fd lines "FROM>TO": that arc also hands out a data fd (of no session). */
static int extra_fd(const char *dev, int from, int to, int *data_fd)
{
	int fd;
	struct dfd *e;

	if (from < 0 || !arc_listed(dev, "extra_fd", from, to))
		return 0;
	fd = new_memfd("save", dev, 0x7fffffffUL);
	if (fd < 0)
		return -errno;
	e = track(fd, FK_SAVE, dev);
	if (e)
		e->stream = 0x7fffffffUL;
	*data_fd = fd;
	return 0;
}

static int set_state(const char *dev, const struct devcfg *c, struct devstate *s, int target,
		     int *data_fd)
{
	int ret = 0, stream = 0, next, last_from = -1;

	*data_fd = -1;
	while (s->state != target) {
		ret = get_next_state(c->flags, s->state, target, &next);
		if (ret) {
			/* refuse_errno: a driver that refuses with its own errno, not EINVAL. */
			int other = knob_errno(dev, "refuse_errno");

			ret = other ? -other : ret;
			break;
		}
		last_from = s->state;
		ret = step(dev, c, s, s->state, next, &stream);
		if (ret)
			break;
		trace_arc(dev, s->state, next);
		s->state = next;
		if (stream && next != target) {   /* drivers refuse an fd mid-walk */
			ret = -EINVAL;
			stream = 0;
			break;
		}
	}
	if (!ret && stream) {
		int save = s->state != S_RESUMING;
		unsigned long id = save ? s->save_stream : s->resume_stream;
		int fd = new_memfd(save ? "save" : "resume", dev, id);
		struct dfd *e;

		if (fd < 0)
			return -errno;
		e = track(fd, save ? FK_SAVE : FK_RESUME, dev);
		if (e)
			e->stream = id;
		*data_fd = fd;
	} else if (!ret) {
		ret = extra_fd(dev, last_from, target, data_fd);
	}
	return ret;
}

/* vfio_check_feature(): 1 = go on, 0 = probe answered, <0 = error. */
static int check_feature(uint32_t flags, size_t argsz, uint32_t ops, size_t minsz)
{
	if ((flags & (D_FEATURE_GET | D_FEATURE_SET)) & ~ops)
		return -EINVAL;
	if (flags & D_FEATURE_PROBE)
		return 0;
	if (!(flags & (D_FEATURE_GET | D_FEATURE_SET)))
		return -EINVAL;
	if (argsz < minsz)
		return -EINVAL;
	return 1;
}

static int feature_ioctl(struct dfd *e, void *arg)
{
	uint32_t argsz, flags;
	unsigned char *data = (unsigned char *)arg + 8;
	struct devcfg c;
	struct devstate s;
	size_t payload;
	int ret, lk;

	memcpy(&argsz, arg, 4);
	memcpy(&flags, (char *)arg + 4, 4);
	if (argsz < 8)
		return -EINVAL;
	if (flags & ~(D_FEATURE_MASK | D_FEATURE_GET | D_FEATURE_SET | D_FEATURE_PROBE))
		return -EINVAL;
	if (!(flags & D_FEATURE_PROBE) && (flags & D_FEATURE_SET) && (flags & D_FEATURE_GET))
		return -EINVAL;
	payload = argsz - 8;
	load_cfg(e->dev, &c);
	switch (flags & D_FEATURE_MASK) {
	case F_MIGRATION: {
		uint64_t f = c.flags;

		if (!c.has_mig)
			return -ENOTTY;
		ret = check_feature(flags, payload, D_FEATURE_GET, 8);
		if (ret != 1)
			return ret;
		memcpy(data, &f, 8);
		return 0;
	}
	case F_MIG_DEVICE_STATE: {
		uint32_t want;
		int32_t fd;
		int data_fd;

		if (!c.has_mig)
			return -ENOTTY;
		ret = check_feature(flags, payload, D_FEATURE_GET | D_FEATURE_SET, 8);
		if (ret != 1)
			return ret;
		lk = lock_dev(e->dev);
		load_state(e->dev, &s);
		if (flags & D_FEATURE_GET) {
			ret = knob_errno(e->dev, "get_errno");
			want = (uint32_t)(s.reported ? s.reported - 1 : s.state);
			ret = -ret;
			data_fd = -1;
		} else {
			memcpy(&want, data, 4);
			ret = set_state(e->dev, &c, &s, want >= S_NR ? -1 : (int)want, &data_fd);
			/* get_reports_target=1: a driver that records the new state before the
			 * arc runs, so GET after a failed SET reports the requested state. */
			s.reported = ret && want < S_NR && knob_int(e->dev, "get_reports_target", 0)
				     ? (int)want + 1 : 0;
			save_state(e->dev, &s);
		}
		unlock_dev(lk);
		if (ret && (flags & D_FEATURE_GET))
			return ret;
		fd = data_fd;
		memcpy(data, &want, 4);
		memcpy(data + 4, &fd, 4);
		return ret;
	}
	case F_LOG_START:
		if (!c.dma_logging)
			return -ENOTTY;
		ret = check_feature(flags, payload, D_FEATURE_SET, 24);
		if (ret != 1)
			return ret;
		{
			uint32_t nranges;

			memcpy(&nranges, data + 8, 4);
			if (!nranges)
				return -EINVAL;
		}
		return 0;
	case F_LOG_STOP:
		if (!c.dma_logging)
			return -ENOTTY;
		ret = check_feature(flags, payload, D_FEATURE_SET, 0);
		return ret == 1 ? 0 : ret;
	case F_LOG_REPORT:
		if (!c.dma_logging)
			return -ENOTTY;
		ret = check_feature(flags, payload, D_FEATURE_GET, 32);
		if (ret != 1)
			return ret;
		{
			uint64_t page;

			memcpy(&page, data + 16, 8);
			if (page < 4096 || (page & (page - 1)))
				return -EINVAL;
		}
		return 0;
	case F_MIG_DATA_SIZE: {
		uint64_t len = (uint64_t)c.data_size;

		if (!c.has_mig)
			return -ENOTTY;
		ret = check_feature(flags, payload, D_FEATURE_GET, 8);
		if (ret != 1)
			return ret;
		memcpy(data, &len, 8);
		return 0;
	}
	default:
		return -ENOTTY;
	}
}

/* ---- device ioctls ---- */
static int bind_iommufd(struct dfd *e, void *arg)
{
	uint32_t b[4];
	int32_t iommufd;
	struct dfd *i;
	int err;

	memcpy(b, arg, 16);
	memcpy(&iommufd, &b[2], 4);
	if (b[0] < 16 || b[1] || iommufd < 0)
		return -EINVAL;
	if (e->via_group)
		return -EINVAL;
	err = knob_errno(e->dev, "bind_errno");
	if (err)
		return -err;
	if (e->bound)
		return -EINVAL;
	i = lookup(iommufd);
	if (!i || i->kind != FK_IOMMUFD)
		return fcntl(iommufd, F_GETFD) < 0 ? -EBADF : -EBADFD;
	if (!group_viable((int)knob_int(e->dev, "group", -1)))
		return -EPERM;
	if (open_count(e->dev))         /* vfio_df_open(): the cdev path opens a device once */
		return -EINVAL;
	e->bound = 1;
	e->holder = 1;
	holder_add(e->dev, e->fd);
	b[3] = 1;   /* out_devid */
	memcpy((char *)arg + 12, &b[3], 4);
	return 0;
}

static int region_size(const struct devcfg *c, uint32_t index)
{
	static const int pci_sizes[9] = { 0x20000, 0, 0, 0, 0, 0, 0, 0x1000, 0 };
	static const int mtty_sizes[9] = { 8, 8, 0, 0, 0, 0, 0, 0x100, 0 };

	if (index >= 9)
		return 0x1000;
	if (c->is_pci)
		return pci_sizes[index];
	return (index == 1 && c->nr_ports < 2) ? 0 : mtty_sizes[index];
}

static int device_ioctl(struct dfd *e, unsigned long cmd, void *arg)
{
	struct devcfg c;

	if (cmd == D_DEVICE_BIND_IOMMUFD)
		return bind_iommufd(e, arg);
	if (!e->bound)
		return -EINVAL;
	load_cfg(e->dev, &c);
	switch (cmd) {
	case D_DEVICE_GET_INFO: {
		uint32_t *info = arg;
		int v1 = (int)knob_int(e->dev, "v1_region", 0);

		if (info[0] < 16)
			return -EINVAL;
		info[1] = (uint32_t)knob_int(e->dev, "device_flags", c.is_pci ? 3 : 2);
		info[2] = (uint32_t)knob_int(e->dev, "num_regions", 9) + (v1 ? 1 : 0);
		info[3] = 5;
		return 0;
	}
	case D_DEVICE_GET_REGION_INFO: {
		uint32_t *ri = arg;      /* argsz flags index cap_offset size(u64) offset(u64) */
		uint32_t nreg = (uint32_t)knob_int(e->dev, "num_regions", 9);
		int v1 = (int)knob_int(e->dev, "v1_region", 0);
		uint64_t size, offset;

		if (ri[0] < 32)
			return -EINVAL;
		if (ri[2] >= nreg + (v1 ? 1 : 0))
			return -EINVAL;
		size = (uint64_t)region_size(&c, ri[2]);
		offset = (uint64_t)ri[2] << 40;
		ri[1] = 3;      /* READ | WRITE */
		memcpy(&ri[4], &size, 8);
		memcpy(&ri[6], &offset, 8);
		if (v1 && ri[2] == nreg) {
			/* the removed v1 migration region: a TYPE capability, type 3 subtype 1 */
			uint32_t cap[4] = { 2 | (1u << 16), 0, 3, 1 };

			ri[1] |= 8;     /* CAPS */
			if (ri[0] < 32 + sizeof(cap)) {
				ri[0] = 32 + sizeof(cap);
				ri[3] = 0;
			} else {
				memcpy((char *)arg + 32, cap, sizeof(cap));
				ri[3] = 32;
			}
		}
		return 0;
	}
	case D_DEVICE_FEATURE:
		return feature_ioctl(e, arg);
	case D_DEVICE_RESET: {
		struct devstate s;
		int err = knob_errno(e->dev, "reset_errno"), lk;

		if (err)
			return -err;
		if (c.is_pci && !(knob_int(e->dev, "device_flags", 3) & 1))
			return -EINVAL;
		lk = lock_dev(e->dev);
		load_state(e->dev, &s);
		if (!(s.state == S_ERROR && knob_int(e->dev, "reset_keeps_error", 0)))
			s.state = S_RUNNING;
		s.reported = 0;
		disable_streams(&s);
		save_state(e->dev, &s);
		unlock_dev(lk);
		trace_arc(e->dev, -1, s.state);
		return 0;
	}
	default:
		return -ENOTTY;
	}
}

static int precopy_info(struct dfd *e, void *arg)
{
	uint32_t *info = arg;
	struct devstate s;
	uint64_t initial, zero = 0;
	int lk, ret = 0;

	if (info[0] < 24)
		return -EINVAL;
	lk = lock_dev(e->dev);
	load_state(e->dev, &s);
	if (s.state != S_PRE_COPY && s.state != S_PRE_COPY_P2P &&
	    !knob_int(e->dev, "precopy_info_anywhere", 0))
		ret = -EINVAL;
	else if (s.save_stream != e->stream)
		ret = -ENODEV;
	else if (s.save_pos > s.save_filled)
		ret = -EINVAL;
	unlock_dev(lk);
	if (ret)
		return ret;
	/* precopy_initial_fixed=1: initial_bytes does not fall as data is read. */
	initial = (uint64_t)(s.save_filled -
			     (knob_int(e->dev, "precopy_initial_fixed", 0) ? 0 : s.save_pos));
	memcpy(&info[2], &initial, 8);
	memcpy(&info[4], &zero, 8);
	return 0;
}

int ioctl(int fd, unsigned long cmd, ...)
{
	va_list ap;
	void *arg;
	struct dfd *e;
	int ret;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	ensure_init();
	pthread_mutex_lock(&big_lock);
	e = lookup(fd);
	if (!e) {
		pthread_mutex_unlock(&big_lock);
		return real_ioctl(fd, cmd, arg);
	}
	switch (e->kind) {
	case FK_CONTAINER:
		ret = container_ioctl(e, cmd, arg);
		break;
	case FK_GROUP:
		ret = group_ioctl(e, fd, cmd, arg);
		break;
	case FK_DEVICE:
		ret = device_ioctl(e, cmd, arg);
		break;
	case FK_SAVE:
		ret = cmd == D_MIG_GET_PRECOPY_INFO ? precopy_info(e, arg) : -ENOTTY;
		break;
	default:
		ret = -ENOTTY;
		break;
	}
	pthread_mutex_unlock(&big_lock);
	sleep_ms(pending_delay_ms);
	pending_delay_ms = 0;
	if (ret < 0) {
		errno = -ret;
		return -1;
	}
	return ret;
}

/* ---- data fds ---- */
static void slow_down(const char *dev)
{
	sleep_ms(knob_int(dev, "delay_ms", 0));
}

/* "N [ERRNO]": I/O fails once the stream position reaches N bytes. */
static int fail_after(const char *dev, const char *knob, long long *limit)
{
	char buf[64], err[32] = "EIO";
	long long n;

	if (!knob_str(dev, knob, buf, sizeof(buf)) || sscanf(buf, "%lld %31s", &n, err) < 1)
		return 0;
	*limit = n;
	return parse_errno(err, EIO);
}

static ssize_t save_read(struct dfd *e, void *buf, size_t len)
{
	struct devcfg c;
	struct devstate s;
	long long limit = 0, n, max;
	int lk, err;
	ssize_t ret;
	unsigned char *blob;
	char end[32];

	load_cfg(e->dev, &c);
	lk = lock_dev(e->dev);
	load_state(e->dev, &s);
	if (s.save_stream != e->stream) {
		ret = -ENODEV;
		goto out;
	}
	if (s.save_pos > s.save_filled) {
		ret = -EINVAL;
		goto out;
	}
	n = s.save_filled - s.save_pos;
	if ((long long)len < n)
		n = (long long)len;
	/* a driver that hands out at most so many bytes a read (a page, a buffer) */
	max = knob_int(e->dev, "read_max", 0);
	if (max > 0 && n > max)
		n = max;
	err = fail_after(e->dev, "read_fail_after", &limit);
	if (err) {
		if (s.save_pos >= limit) {
			ret = -err;
			goto out;
		}
		if (s.save_pos + n > limit)
			n = limit - s.save_pos;
	}
	if (n == 0) {
		ret = 0;
		if ((s.state == S_PRE_COPY || s.state == S_PRE_COPY_P2P) &&
		    knob_str(e->dev, "precopy_end", end, sizeof(end)) && !strcasecmp(end, "ENOMSG"))
			ret = -ENOMSG;
		/* stopcopy_end=ENOMSG: a driver that ends STOP_COPY like PRE_COPY. */
		if (s.state == S_STOP_COPY && knob_errno(e->dev, "stopcopy_end"))
			ret = -knob_errno(e->dev, "stopcopy_end");
		goto out;
	}
	if (c.generated) {
		content_fill((uint64_t)s.save_pos, buf, (size_t)n);
	} else {
		blob = make_blob(e->dev, &c);
		if (!blob) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(buf, blob + s.save_pos, (size_t)n);
		free(blob);
	}
	s.save_pos += n;
	save_state(e->dev, &s);
	ret = (ssize_t)n;
out:
	unlock_dev(lk);
	return ret;
}

/* Compares resumed bytes with the generated content; a mismatch is recorded in the
 * device's "mismatch" file (the offset) and refused like a driver refusing data. */
static int generated_check(const char *dev, long long offset, const void *buf, size_t len)
{
	unsigned char expect[4096];
	size_t done = 0;

	while (done < len) {
		size_t n = len - done < sizeof(expect) ? len - done : sizeof(expect);

		content_fill((uint64_t)offset + done, expect, n);
		if (memcmp(expect, (const unsigned char *)buf + done, n) != 0) {
			char path[PATH_MAX], text[32];
			int tl = snprintf(text, sizeof(text), "%lld\n", offset + (long long)done);

			dev_path(path, sizeof(path), dev, "mismatch");
			file_write(path, text, (size_t)tl);
			return -EFAULT;
		}
		done += n;
	}
	return 0;
}

static ssize_t resume_write(struct dfd *e, const void *buf, size_t len)
{
	struct devcfg c;
	struct devstate s;
	long long limit = 0;
	unsigned char hdr[MTTY_HDR];
	char path[PATH_MAX];
	int lk, err, fd, bad = 0;
	ssize_t ret;

	load_cfg(e->dev, &c);
	lk = lock_dev(e->dev);
	load_state(e->dev, &s);
	if (s.resume_len + (long long)len > c.size) {
		ret = -ENOMEM;
		goto out;
	}
	if (s.resume_stream != e->stream) {
		ret = -ENODEV;
		goto out;
	}
	err = fail_after(e->dev, "write_fail_after", &limit);
	if (err) {
		if (s.resume_len >= limit) {
			ret = -err;
			goto out;
		}
		if (s.resume_len + (long long)len > limit)
			len = (size_t)(limit - s.resume_len);
	}
	if (c.generated) {
		/* Large-state mode keeps no copy: it checks the bytes against the content. */
		ret = generated_check(e->dev, s.resume_len, buf, len);
		if (ret == 0) {
			s.resume_len += (long long)len;
			save_state(e->dev, &s);
			ret = (ssize_t)len;
		}
		goto out;
	}
	dev_path(path, sizeof(path), e->dev, "resume.buf");
	fd = real_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -EIO;
		goto out;
	}
	if (real_pwrite(fd, buf, len, (off_t)s.resume_len) != (ssize_t)len) {
		real_close(fd);
		ret = -EIO;
		goto out;
	}
	if (c.header_check && s.resume_len < MTTY_HDR &&
	    s.resume_len + (long long)len >= MTTY_HDR) {
		if (real_pread(fd, hdr, MTTY_HDR, 0) != MTTY_HDR || !header_ok(hdr, &c))
			bad = 1;
	}
	real_close(fd);
	s.resume_len += (long long)len;    /* mtty counts the bytes even when the header fails */
	save_state(e->dev, &s);
	ret = bad ? -EFAULT : (ssize_t)len;
out:
	unlock_dev(lk);
	return ret;
}

ssize_t read(int fd, void *buf, size_t len)
{
	struct dfd *e;
	char dev[128];
	enum fd_kind kind;
	ssize_t ret;

	ensure_init();
	pthread_mutex_lock(&big_lock);
	e = lookup(fd);
	if (!e) {
		pthread_mutex_unlock(&big_lock);
		return real_read(fd, buf, len);
	}
	kind = e->kind;
	snprintf(dev, sizeof(dev), "%s", e->dev);
	pthread_mutex_unlock(&big_lock);
	if (kind == FK_SAVE)
		slow_down(dev);
	pthread_mutex_lock(&big_lock);
	e = lookup(fd);
	if (!e)
		ret = -EBADF;
	else if (kind == FK_SAVE)
		ret = save_read(e, buf, len);
	else if (kind == FK_RESUME)
		ret = -EBADF;          /* opened O_WRONLY */
	else
		ret = -EINVAL;         /* region access is not modelled */
	pthread_mutex_unlock(&big_lock);
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	return ret;
}

ssize_t write(int fd, const void *buf, size_t len)
{
	struct dfd *e;
	char dev[128];
	enum fd_kind kind;
	ssize_t ret;

	ensure_init();
	pthread_mutex_lock(&big_lock);
	e = lookup(fd);
	if (!e) {
		pthread_mutex_unlock(&big_lock);
		return real_write(fd, buf, len);
	}
	kind = e->kind;
	snprintf(dev, sizeof(dev), "%s", e->dev);
	pthread_mutex_unlock(&big_lock);
	if (kind == FK_RESUME)
		slow_down(dev);
	pthread_mutex_lock(&big_lock);
	e = lookup(fd);
	if (!e)
		ret = -EBADF;
	else if (kind == FK_RESUME)
		ret = resume_write(e, buf, len);
	else if (kind == FK_SAVE)
		ret = -EBADF;          /* opened O_RDONLY */
	else
		ret = -EINVAL;
	pthread_mutex_unlock(&big_lock);
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	return ret;
}

static ssize_t positioned(int fd, int *handled)
{
	struct dfd *e;
	ssize_t ret = 0;

	pthread_mutex_lock(&big_lock);
	e = lookup(fd);
	*handled = e != NULL;
	if (e)
		ret = (e->kind == FK_SAVE || e->kind == FK_RESUME) ? -ESPIPE : -EINVAL;
	pthread_mutex_unlock(&big_lock);
	if (ret < 0)
		errno = (int)-ret;
	return ret < 0 ? -1 : 0;
}

ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	int handled;
	ssize_t ret;

	ensure_init();
	ret = positioned(fd, &handled);
	return handled ? ret : real_pread(fd, buf, len, off);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	int handled;
	ssize_t ret;

	ensure_init();
	ret = positioned(fd, &handled);
	return handled ? ret : real_pwrite(fd, buf, len, off);
}

ssize_t pread64(int fd, void *buf, size_t len, off_t off)
{
	return pread(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	return pwrite(fd, buf, len, off);
}

int close(int fd)
{
	struct dfd *e;

	ensure_init();
	pthread_mutex_lock(&big_lock);
	e = (root_len && fd >= 0 && fd < FD_TABLE) ? fdtab[fd] : NULL;
	if (e) {
		struct stat st;

		if (fstat(fd, &st) < 0 || st.st_dev != e->st_dev || st.st_ino != e->st_ino) {
			untrack(fd);
			e = NULL;
		}
	}
	if (e) {
		if (e->kind == FK_DEVICE && e->holder)
			holder_drop(e->dev, fd);
		if (e->kind == FK_GROUP && e->container_fd >= 0) {
			struct dfd *c = lookup(e->container_fd);

			if (c && c->kind == FK_CONTAINER && --c->ngroups <= 0) {
				c->ngroups = 0;
				c->iommu_type = 0;
			}
		}
		untrack(fd);
	}
	pthread_mutex_unlock(&big_lock);
	return real_close(fd);
}
