/* sysfs and /dev path helpers. */
#include <dirent.h>
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

int sysfs_read_attr(const char *dir, const char *attr, char *buf, size_t size)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", dir, attr);

	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	return read_text_file(path, buf, size);
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
	int n = snprintf(path, sizeof(path), "%s/%s", dir, link);

	if (n < 0 || (size_t)n >= sizeof(path))
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
	int n = snprintf(path, sizeof(path), "%s/%s", dir, sub);

	if (n < 0 || (size_t)n >= sizeof(path))
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
