/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Parsing of the ways a user names a VFIO device: pure string work. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* DDDD:BB:SS.F or BB:SS.F, hex, slot < 0x20 and function < 8 as PCI defines them. */
bool vdev_is_bdf(const char *text, char *normalized, unsigned size)
{
	char domain[5] = "0000";
	const char *p = text;
	unsigned long slot, func;
	size_t len = strlen(text);

	if (len == 12) {
		if (!all_hex(p, 4) || p[4] != ':')
			return false;
		memcpy(domain, p, 4);
		p += 5;
	} else if (len != 7) {
		return false;
	}
	if (!all_hex(p, 2) || p[2] != ':' || !all_hex(p + 3, 2) || p[5] != '.' ||
	    !isdigit((unsigned char)p[6]))
		return false;
	slot = strtoul((char[3]){ p[3], p[4], 0 }, NULL, 16);
	func = (unsigned long)(p[6] - '0');
	if (slot >= 0x20 || func >= 8)
		return false;
	if (normalized) {
		if (size < 13)
			return false;
		snprintf(normalized, size, "%.4s:%.2s:%.2s.%c", domain, p, p + 3, p[6]);
		for (char *c = normalized; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	}
	return true;
}

bool vdev_is_uuid(const char *text, char *normalized, unsigned size)
{
	static const int groups[] = { 8, 4, 4, 4, 12 };
	const char *p = text;

	if (strlen(text) != 36)
		return false;
	for (int g = 0; g < 5; g++) {
		if (!all_hex(p, (size_t)groups[g]))
			return false;
		p += groups[g];
		if (g < 4 && *p++ != '-')
			return false;
	}
	if (normalized) {
		if (size < 37)
			return false;
		for (int i = 0; i <= 36; i++)
			normalized[i] = (char)tolower((unsigned char)text[i]);
	}
	return true;
}

static int parse_fd(const char *digits, int *fd)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)digits[0]))
		return -EINVAL;
	errno = 0;
	v = strtol(digits, &end, 10);
	if (errno || *end || v < 0 || v > 65535)
		return -EINVAL;
	*fd = (int)v;
	return 0;
}

static int parse_basename(const char *base, struct vdev_name *name)
{
	if (vdev_is_bdf(base, name->id, sizeof(name->id))) {
		name->kind = VDEV_KIND_PCI;
		return 0;
	}
	if (vdev_is_uuid(base, name->id, sizeof(name->id))) {
		name->kind = VDEV_KIND_MDEV;
		return 0;
	}
	return -EINVAL;
}

int vdev_name_parse(const char *text, struct vdev_name *name)
{
	static const char cdev_dir[] = "/dev/vfio/devices/";
	const char *base;
	char trimmed[256];
	size_t len;

	memset(name, 0, sizeof(*name));
	name->fd = -1;
	len = strlen(text);
	if (len == 0 || len >= sizeof(trimmed))
		return -EINVAL;
	strcpy(trimmed, text);
	while (len > 1 && trimmed[len - 1] == '/')
		trimmed[--len] = '\0';

	if (strncmp(trimmed, "fd:", 3) == 0) {
		name->form = VDEV_NAME_FD;
		name->kind = VDEV_KIND_FD;
		return parse_fd(trimmed + 3, &name->fd);
	}
	if (strncmp(trimmed, cdev_dir, sizeof(cdev_dir) - 1) == 0) {
		base = trimmed + sizeof(cdev_dir) - 1;
		if (strncmp(base, "vfio", 4) != 0 || !base[4] || strchr(base, '/') ||
		    strlen(base) >= sizeof(name->id))
			return -EINVAL;
		for (const char *c = base + 4; *c; c++)
			if (!isdigit((unsigned char)*c))
				return -EINVAL;
		name->form = VDEV_NAME_CDEV;
		strcpy(name->id, base);
		return 0;
	}
	if (strncmp(trimmed, "/sys/", 5) == 0) {
		base = strrchr(trimmed, '/') + 1;
		name->form = VDEV_NAME_SYSFS;
		return parse_basename(base, name);
	}
	if (parse_basename(trimmed, name) == 0) {
		name->form = name->kind == VDEV_KIND_PCI ? VDEV_NAME_PCI : VDEV_NAME_MDEV;
		return 0;
	}
	return -EINVAL;
}

const char *vdev_kind_name(enum vdev_kind kind)
{
	static const char *const names[] = {
		[VDEV_KIND_PCI] = "pci", [VDEV_KIND_MDEV] = "mdev", [VDEV_KIND_FD] = "fd",
	};
	return (unsigned)kind < 3 ? names[kind] : "unknown";
}

static const char *const via_names[] = {
	[VDEV_VIA_AUTO] = "auto", [VDEV_VIA_CDEV] = "cdev",
	[VDEV_VIA_GROUP] = "group", [VDEV_VIA_FD] = "fd",
};

int vdev_open_via_parse(const char *text, enum vdev_open_via *via)
{
	for (unsigned i = 0; i < VDEV_VIA_FD; i++)
		if (strcmp(text, via_names[i]) == 0) {
			*via = (enum vdev_open_via)i;
			return 0;
		}
	return -EINVAL;
}

const char *vdev_open_via_name(enum vdev_open_via via)
{
	return (unsigned)via <= VDEV_VIA_FD ? via_names[via] : "unknown";
}
