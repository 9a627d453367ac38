/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The transport layer: where stream bytes go and come from — stdio, or a file. A
 * regular file (or a new name) is written atomically (temporary file, fsync, rename,
 * fsync of the directory) so a failed save leaves nothing that looks valid; an
 * existing device node or FIFO is written in place, never replaced. */
#ifndef VFIOMIG_TRANSPORT_H
#define VFIOMIG_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/verr.h"

struct xport_out;
struct xport_in;

/* path NULL or "-" is stdout, refused when it is a terminal unless allow_tty, as is
 * a path that is one; a directory is refused (VERR_USAGE). */
int xport_out_open(const char *path, bool allow_tty, struct xport_out **out, struct verr *err);
int xport_out_write(struct xport_out *out, const void *buf, size_t len, struct verr *err);
/* Makes the output durable and visible under its name; the object is freed. */
int xport_out_commit(struct xport_out *out, struct verr *err);
/* Removes a partial file (not a device node or FIFO); the object is freed. Safe on NULL. */
void xport_out_abort(struct xport_out *out);
const char *xport_out_name(const struct xport_out *out);

/* path NULL or "-" is stdin, refused when it is a terminal. */
int xport_in_open(const char *path, struct xport_in **in, struct verr *err);
/* Returns bytes read, 0 at end of input, or -errno with err set. */
ssize_t xport_in_read(struct xport_in *in, void *buf, size_t len, struct verr *err);
void xport_in_close(struct xport_in *in);
int xport_in_fd(const struct xport_in *in);       /* for poll(2) */
const char *xport_in_name(const struct xport_in *in);

/*
 * Key files (stream and TLS keys, X.509 private keys) as OpenSSH treats private
 * keys: refused (VERR_USAGE) when not owned by the user or root, when the group or
 * others may read or write them, or when they are directories. Symbolic links are
 * followed. check looks at the file only; read also reads up to size bytes into buf.
 */
int xport_key_file_check(const char *path, struct verr *err);
int xport_key_file_read(const char *path, uint8_t *buf, size_t size, size_t *len,
			struct verr *err);

#endif
