/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A minimal TAP harness for the C unit tests: one "ok"/"not ok" line per check. */
#ifndef VFIOMIG_UNIT_H
#define VFIOMIG_UNIT_H

#include <stdio.h>

static int unit_count, unit_failed;

/* cond is evaluated once: it may have side effects. */
#define CHECK(cond, ...) do {                                              \
	int unit_ok_ = !!(cond);                                           \
	unit_count++;                                                      \
	if (unit_ok_) {                                                    \
		printf("ok %d - ", unit_count);                            \
	} else {                                                           \
		unit_failed++;                                             \
		printf("not ok %d - ", unit_count);                        \
	}                                                                  \
	printf(__VA_ARGS__);                                               \
	putchar('\n');                                                     \
	if (!unit_ok_)                                                     \
		printf("#   %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
} while (0)

static inline int unit_done(void)
{
	printf("1..%d\n", unit_count);
	return unit_failed ? 1 : 0;
}

#endif
