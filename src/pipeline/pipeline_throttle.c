/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The save pipeline's encoders give way to its device readers: while readers are
 * busy reading, an encoder starts a job only if fewer encoders than the CPUs left
 * over run one. No priorities and no privilege: every thread keeps the process's
 * nice value, so other processes gain nothing on it (docs/performance.md, "Threads
 * that do not fight"). */
#include <errno.h>
#include <time.h>

#include "base/clock.h"
#include "base/queue.h"
#include "pipeline_internal.h"

void vpipe_throttle_init(struct vpipe_throttle *t, unsigned cpus, unsigned encoders,
			 unsigned readers, vstop_t *stop)
{
	pthread_condattr_t attr;

	t->cpus = cpus ? cpus : 1;
	/* Enough CPUs for every encoder and every reader at once: nothing to share. */
	t->off = t->cpus >= encoders + readers;
	t->stop = stop;
	t->busy_readers = t->encoding = t->waiting = 0;
	t->cancelled = false;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&t->open, &attr);
	pthread_condattr_destroy(&attr);
}

void vpipe_throttle_destroy(struct vpipe_throttle *t)
{
	pthread_cond_destroy(&t->open);
	pthread_mutex_destroy(&t->lock);
}

/* Under t->lock. At least one encoder always runs, whatever the readers. */
static bool may_encode(const struct vpipe_throttle *t)
{
	unsigned limit = t->busy_readers < t->cpus ? t->cpus - t->busy_readers : 1;

	return t->encoding < limit;
}

/* Under t->lock: a slot opened; wake a waiter only if there is one (no futex call
 * per job otherwise). */
static void wake(struct vpipe_throttle *t)
{
	if (t->waiting)
		pthread_cond_signal(&t->open);
}

void vpipe_throttle_reading(struct vpipe_throttle *t, bool reading)
{
	if (t->off)
		return;
	pthread_mutex_lock(&t->lock);
	if (reading) {
		t->busy_readers++;
	} else {
		t->busy_readers--;
		wake(t);
	}
	pthread_mutex_unlock(&t->lock);
}

/* In slices when a signal may end the wait, since a handler cannot wake anyone. */
static void wait_open(struct vpipe_throttle *t)
{
	struct timespec ts;

	if (!t->stop) {
		pthread_cond_wait(&t->open, &t->lock);
		return;
	}
	vclock_deadline(CLOCK_MONOTONIC, VQUEUE_STOP_POLL_MS, &ts);
	pthread_cond_timedwait(&t->open, &t->lock, &ts);
}

int vpipe_throttle_enter(struct vpipe_throttle *t, unsigned *encoding)
{
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	t->waiting++;
	while (!t->off && !t->cancelled && !(t->stop && *t->stop) && !may_encode(t))
		wait_open(t);
	t->waiting--;
	if (t->cancelled)
		ret = -ECANCELED;
	else if (t->stop && *t->stop)
		ret = -EINTR;
	else
		*encoding = ++t->encoding;
	pthread_mutex_unlock(&t->lock);
	return ret;
}

void vpipe_throttle_leave(struct vpipe_throttle *t)
{
	pthread_mutex_lock(&t->lock);
	t->encoding--;
	wake(t);
	pthread_mutex_unlock(&t->lock);
}

void vpipe_throttle_cancel(struct vpipe_throttle *t)
{
	pthread_mutex_lock(&t->lock);
	t->cancelled = true;
	pthread_cond_broadcast(&t->open);
	pthread_mutex_unlock(&t->lock);
}

void vpipe_read_clock_start(const struct vpipe_throttle *t, struct vpipe_read_clock *c)
{
	if (t->off)
		return;
	clock_gettime(CLOCK_MONOTONIC, &c->wall);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c->cpu);
}

/* Less than half the time on a CPU: the driver slept (DMA, firmware), or other
 * processes had the CPU; either way the reader left it to others. The thread's
 * CPU clock costs a system call, nothing against a chunk's read. */
bool vpipe_read_clock_slept(const struct vpipe_throttle *t, const struct vpipe_read_clock *c)
{
	struct timespec wall, cpu;

	if (t->off)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &wall);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
	return 2 * vclock_seconds(&c->cpu, &cpu) < vclock_seconds(&c->wall, &wall);
}
