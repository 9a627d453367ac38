/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Pieces the save and decode pipelines share: the thread count, starting worker
 * threads without the interrupt signals, and the window that puts results coming
 * back from workers out of order back in the order they were queued. */
#ifndef VFIOMIG_PIPELINE_INTERNAL_H
#define VFIOMIG_PIPELINE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
