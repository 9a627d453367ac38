/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Field helpers every payload parser of the protocol uses: a malformed field's
 * error, and string fields. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "protocol_internal.h"

int proto_bad(struct verr *err, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	verr_set(err, VERR_DATA, 0, NULL, NULL, "%s", what);
	return -EBADMSG;
}

/* Copies a string field of n bytes; refuses NUL bytes and overlong strings. */
int proto_get_string(char *dst, size_t size, const uint8_t *src, size_t n)
{
	if (n >= size || memchr(src, 0, n))
		return -1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}
