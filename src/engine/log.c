/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The engine's words, handed to whoever set the log (the CLI), and its one way of
 * saying that a signal stopped it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "engine.h"

static struct eng_log log_to;

void eng_set_log(const struct eng_log *log)
{
	log_to = log ? *log : (struct eng_log){ 0 };
}

static void say(void (*to)(const char *msg), const char *fmt, va_list ap)
{
	char msg[1024];

	if (!to)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	to(msg);
}

void eng_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(log_to.note, fmt, ap);
	va_end(ap);
}

void eng_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(log_to.debug, fmt, ap);
	va_end(ap);
}

int eng_stopped(vstop_t *stop, const char *object, struct verr *err)
{
	if (!stop || !*stop)
		return 0;
	verr_set(err, VERR_INTERRUPTED, 0, object, NULL, "interrupted by signal %d", (int)*stop);
	return -EINTR;
}
