/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Paths under /sys and /dev, all prefixed with $VFIOMIG_SYSROOT (the test suite's
 * fake root; empty in normal use), and small attribute readers. */
#ifndef VFIOMIG_SYSFS_H
#define VFIOMIG_SYSFS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

const char *sysfs_root(void);
/* Formats "$VFIOMIG_SYSROOT" + the formatted path; -ENAMETOOLONG if it does not fit. */
int sysfs_path(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Strips the root prefix again, for messages. */
const char *sysfs_unrooted(const char *path);
bool sysfs_exists(const char *path);
int sysfs_read_attr(const char *dir, const char *attr, char *buf, size_t size);
/* Up to size bytes of dir/attr as they are (no NUL added); the count or -errno. */
ssize_t sysfs_read_bytes(const char *dir, const char *attr, char *buf, size_t size);
int sysfs_read_hex(const char *dir, const char *attr, unsigned long *value);
/* Basename of the target of the symlink dir/link; -ENOENT when absent. */
int sysfs_link_name(const char *dir, const char *link, char *buf, size_t size);
/* The first entry of directory dir/sub that is not "." or ".."; -ENOENT when none. */
int sysfs_first_entry(const char *dir, const char *sub, char *buf, size_t size);

#endif
