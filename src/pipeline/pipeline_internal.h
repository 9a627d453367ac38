/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Pieces the save and decode pipelines share: the thread count, starting worker
 * threads without the interrupt signals, and the window that puts results coming
 * back from workers out of order back in the order they were queued. */
#ifndef VFIOMIG_PIPELINE_INTERNAL_H
#define VFIOMIG_PIPELINE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/stop.h"

struct vpipe_window_slot {
	uint64_t order;
	void *item;                     /* NULL: empty */
};

/* At most size items are in flight at once, so slot order % size is free when an
 * item numbered order arrives. */
struct vpipe_window {
	struct vpipe_window_slot *slot;
	size_t size;
	uint64_t next;                  /* the number to hand out next */
};

int vpipe_window_init(struct vpipe_window *w, size_t size);
void vpipe_window_free(struct vpipe_window *w);
/* Holds item, queued as number order; -ERANGE unless next <= order < next + size
 * and its slot is free (a bug in the caller: more in flight than the window). */
int vpipe_window_put(struct vpipe_window *w, uint64_t order, void *item);
/* The item numbered next, and next moves on; NULL while it has not come back. */
void *vpipe_window_take(struct vpipe_window *w);

/* Starts n threads running main(arg), with SIGINT, SIGTERM and SIGHUP blocked in
 * them so the caller's thread keeps taking those; *started counts the ones that
 * run. -EAGAIN when one could not be started. */
int vpipe_spawn(pthread_t *threads, unsigned n, unsigned *started, void *(*main)(void *),
		void *arg);

/* How many CPUs this process may run on: its affinity mask, else the online CPUs. */
unsigned vpipe_cpus(void);

/*
 * The save pipeline's throttle: readers in a device read are "busy"; an encoder
 * starts a job only while fewer than max(1, cpus - busy readers) encoders run one,
 * so that on a few CPUs the serial reader is not left a fraction of one. A reader
 * waiting for a free buffer is not busy. Off (encoders only counted) when cpus >=
 * encoders + readers.
 */
struct vpipe_throttle {
	pthread_mutex_t lock;
	pthread_cond_t open;            /* a reader ended a read or an encoder a job */
	vstop_t *stop;
	unsigned cpus, busy_readers, encoding, waiting;
	bool off, cancelled;
};

void vpipe_throttle_init(struct vpipe_throttle *t, unsigned cpus, unsigned encoders,
			 unsigned readers, vstop_t *stop);
void vpipe_throttle_destroy(struct vpipe_throttle *t);
/* A reader's thread begins (true) or ends (false) a device read. */
void vpipe_throttle_reading(struct vpipe_throttle *t, bool reading);
/* Waits until an encoder may start a job; *encoding: how many run one now, this
 * one included. -ECANCELED once cancelled, -EINTR once *stop is set. */
int vpipe_throttle_enter(struct vpipe_throttle *t, unsigned *encoding);
void vpipe_throttle_leave(struct vpipe_throttle *t);
/* Fails every wait, now and later (the pipeline is stopping). */
void vpipe_throttle_cancel(struct vpipe_throttle *t);

/* A reader's clocks around one read: whether it spent most of it off CPU, in which
 * case it should not count as busy for its next (an encoder can have the CPU). */
struct vpipe_read_clock {
	struct timespec wall, cpu;
};

void vpipe_read_clock_start(const struct vpipe_throttle *t, struct vpipe_read_clock *c);
bool vpipe_read_clock_slept(const struct vpipe_throttle *t, const struct vpipe_read_clock *c);

#endif
