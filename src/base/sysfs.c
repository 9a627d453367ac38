/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sysfs and /dev path helpers. */
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "sysfs.h"

const char *sysfs_root(void)
{
	static const char *root;

	if (!root) {
		const char *env = getenv("VFIOMIG_SYSROOT");

		root = env ? env : "";
	}
	return root;
}

int sysfs_path(char *buf, size_t size, const char *fmt, ...)
{
	const char *root = sysfs_root();
	size_t len = strlen(root);
	va_list ap;
	int n;

	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(buf, root, len);
	va_start(ap, fmt);
	n = vsnprintf(buf + len, size - len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - len)
		return -ENAMETOOLONG;
	return 0;
}

const char *sysfs_unrooted(const char *path)
{
	const char *root = sysfs_root();
	size_t len = strlen(root);

	if (len && strncmp(path, root, len) == 0)
		return path + len;
	return path;
}

bool sysfs_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* dir/name into path (PATH_MAX bytes). */
static int entry_path(char *path, const char *dir, const char *name)
{
	int n = snprintf(path, PATH_MAX, "%s/%s", dir, name);

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int sysfs_read_attr(const char *dir, const char *attr, char *buf, size_t size)
{
	char path[PATH_MAX];

	if (entry_path(path, dir, attr) < 0)
		return -ENAMETOOLONG;
	return io_read_text_file(path, buf, size);
}

ssize_t sysfs_read_bytes(const char *dir, const char *attr, char *buf, size_t size)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (entry_path(path, dir, attr) < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = io_read_full(fd, buf, size);
	close(fd);
	return n;
}

int sysfs_read_hex(const char *dir, const char *attr, unsigned long *value)
{
	char text[32], *end;
	int ret = sysfs_read_attr(dir, attr, text, sizeof(text));

	if (ret < 0)
		return ret;
	errno = 0;
	*value = strtoul(text, &end, 16);
	if (errno || end == text || *end)
		return -EINVAL;
	return 0;
}

int sysfs_link_name(const char *dir, const char *link, char *buf, size_t size)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t len;

	if (entry_path(path, dir, link) < 0)
		return -ENAMETOOLONG;
	len = readlink(path, target, sizeof(target) - 1);
	if (len < 0)
		return -errno;
	target[len] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= size)
		return -ENAMETOOLONG;
	strcpy(buf, base);
	return 0;
}

int sysfs_first_entry(const char *dir, const char *sub, char *buf, size_t size)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int ret = -ENOENT;

	if (entry_path(path, dir, sub) < 0)
		return -ENAMETOOLONG;
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (strlen(de->d_name) >= size) {
			ret = -ENAMETOOLONG;
			break;
		}
		strcpy(buf, de->d_name);
		ret = 0;
		break;
	}
	closedir(d);
	return ret;
}
