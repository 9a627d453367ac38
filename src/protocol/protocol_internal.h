/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the protocol files share and nothing else needs. */
#ifndef VFIOMIG_PROTOCOL_INTERNAL_H
#define VFIOMIG_PROTOCOL_INTERNAL_H

#include <sys/types.h>

#include "protocol.h"

/* Records "WHAT" as malformed (VERR_DATA); returns -EBADMSG. */
int proto_bad(struct verr *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copies an n-byte string field; -1 if it holds a NUL or does not fit size. */
int proto_get_string(char *dst, size_t size, const uint8_t *src, size_t n);
/* IDENTITY payloads (protocol_identity.c); encode returns the length or -errno. */
int proto_identity_decode(const uint8_t *p, size_t len, struct proto_identity *ids,
			  struct verr *err);
ssize_t proto_identity_encode(const struct proto_identity *ids, uint8_t *out, size_t cap,
			      struct verr *err);

#endif
