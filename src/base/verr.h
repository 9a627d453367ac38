/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Error context: below the CLI, functions return 0 or -errno and record once what
 * failed, on which object, and what the user can do; the CLI prints it. */
#ifndef VFIOMIG_VERR_H
#define VFIOMIG_VERR_H

#include <stdbool.h>

/* Which exit code a failure maps to; the CLI owns the numbers (cli.h, vfiomig(1)). */
enum verr_class {
	VERR_FAILED = 0,      /* an operation failed */
	VERR_USAGE,           /* the user asked for something malformed */
	VERR_UNAVAILABLE,     /* the device cannot be found or opened */
	VERR_UNSUPPORTED,     /* the device or driver does not support it */
	VERR_DATA,            /* data integrity */
	VERR_PEER,            /* peer or compatibility refusal */
	VERR_INTERRUPTED,     /* a signal asked us to stop */
	VERR_UNKNOWN,         /* the outcome is not known: the peer may have acted */
};

struct verr {
	int errnum;                 /* positive errno, 0 when the message says it all */
	enum verr_class class;
	bool set;
	char object[128];           /* device or file the failure is about */
	char what[1024];            /* the operation; room for two compatibility strings */
	char hint[256];             /* what the user can do; may be empty */
};

/* Records the first failure only: later calls on the way up keep the root cause. */
int verr_set(struct verr *err, enum verr_class class, int errnum, const char *object,
	     const char *hint, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Replaces the hint of a recorded failure (callers higher up often know better). */
void verr_hint(struct verr *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void verr_clear(struct verr *err);
/* "OBJECT: WHAT: strerror (HINT)" into buf. */
void verr_format(const struct verr *err, char *buf, unsigned size);

#endif
