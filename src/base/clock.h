/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The monotonic clock, the one way every layer reads it. */
#ifndef VFIOMIG_CLOCK_H
#define VFIOMIG_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Now in milliseconds. */
int64_t vclock_now_ms(void);
/* Seconds from a to b (CLOCK_MONOTONIC readings); b NULL means now. */
double vclock_seconds(const struct timespec *a, const struct timespec *b);
/* *ts = the time on clock ms milliseconds from now, for pthread_cond_timedwait. */
void vclock_deadline(clockid_t clock, long ms, struct timespec *ts);

#endif
