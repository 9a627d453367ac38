/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The monotonic clock in the two forms the program uses. */
#include "clock.h"

int64_t vclock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double vclock_seconds(const struct timespec *a, const struct timespec *b)
{
	struct timespec now;

	if (!b) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		b = &now;
	}
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

void vclock_deadline(clockid_t clock, long ms, struct timespec *ts)
{
	clock_gettime(clock, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}
