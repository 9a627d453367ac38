/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The fake root and libc: the real entry points, $VFIOMIG_SYSROOT, and file helpers
 * that never go through the double's own wrappers. */
#include "double.h"

/* ---- real libc entry points ---- */
int (*real_open)(const char *, int, ...);
int (*real_openat)(int, const char *, int, ...);
int (*real_ioctl)(int, unsigned long, ...);
ssize_t (*real_read)(int, void *, size_t);
ssize_t (*real_write)(int, const void *, size_t);
ssize_t (*real_pread)(int, void *, size_t, off_t);
ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
int (*real_close)(int);

char root[1024];
size_t root_len;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
pthread_mutex_t big_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

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

void ensure_init(void)
{
	pthread_once(&init_once, init);
}

/* ---- small file helpers that never go through our own wrappers ---- */
ssize_t file_read(const char *path, void *buf, size_t size)
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

int file_write(const char *path, const void *buf, size_t size)
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

void dev_path(char *out, size_t size, const char *dev, const char *file)
{
	snprintf(out, size, "%s/double/%s/%s", root, dev, file);
}
