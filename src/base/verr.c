/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Error context recording and formatting. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "verr.h"

int verr_set(struct verr *err, enum verr_class class, int errnum, const char *object,
	     const char *hint, const char *fmt, ...)
{
	va_list ap;

	if (errnum < 0)
		errnum = -errnum;
	if (!err || err->set)
		return errnum ? -errnum : -EIO;
	err->set = true;
	err->class = class;
	err->errnum = errnum;
	snprintf(err->object, sizeof(err->object), "%s", object ? object : "");
	snprintf(err->hint, sizeof(err->hint), "%s", hint ? hint : "");
	va_start(ap, fmt);
	vsnprintf(err->what, sizeof(err->what), fmt, ap);
	va_end(ap);
	return errnum ? -errnum : -EIO;
}

void verr_hint(struct verr *err, const char *fmt, ...)
{
	va_list ap;

	if (!err || !err->set)
		return;
	va_start(ap, fmt);
	vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
	va_end(ap);
}

void verr_clear(struct verr *err)
{
	memset(err, 0, sizeof(*err));
}

void verr_format(const struct verr *err, char *buf, unsigned size)
{
	int n = 0;

	if (!size)
		return;
	buf[0] = '\0';
	if (err->object[0])
		n = snprintf(buf, size, "%s: ", err->object);
	if (n < 0 || (unsigned)n >= size)
		return;
	n += snprintf(buf + n, size - (unsigned)n, "%s", err->what);
	if (err->errnum && (unsigned)n < size)
		n += snprintf(buf + n, size - (unsigned)n, ": %s", strerror(err->errnum));
	if (err->hint[0] && (unsigned)n < size)
		snprintf(buf + n, size - (unsigned)n, " (%s)", err->hint);
}
