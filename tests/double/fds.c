/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The per-process fd table and the open/openat/close interposers for paths under
 * $R/dev/; fds made elsewhere are recognised through /proc/self/fd. */
#include "double.h"

struct dfd *fdtab[FD_TABLE];

struct dfd *track(int fd, enum fd_kind kind, const char *dev)
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

/* Our entry for fd, unless the fd was closed behind our back and the number reused. */
static struct dfd *tracked(int fd)
{
	struct dfd *e;
	struct stat st;

	if (!root_len || fd < 0 || fd >= FD_TABLE || !fdtab[fd])
		return NULL;
	e = fdtab[fd];
	if (fstat(fd, &st) == 0 && st.st_dev == e->st_dev && st.st_ino == e->st_ino)
		return e;
	untrack(fd);
	return NULL;
}

struct dfd *lookup(int fd)
{
	struct dfd *e;

	if (!root_len || fd < 0 || fd >= FD_TABLE)
		return NULL;
	e = tracked(fd);
	return e ? e : recognise(fd);
}

int new_memfd(const char *kind, const char *dev, unsigned long id)
{
	char name[200];

	if (id)
		snprintf(name, sizeof(name), "vfio-double-%s:%s:%lu", kind, dev, id);
	else
		snprintf(name, sizeof(name), "vfio-double-%s:%s", kind, dev);
	return memfd_create(name, MFD_CLOEXEC);
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

int close(int fd)
{
	struct dfd *e;

	ensure_init();
	pthread_mutex_lock(&big_lock);
	e = tracked(fd);
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
