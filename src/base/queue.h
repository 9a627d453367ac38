/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A bounded, blocking FIFO of pointers for the pipeline's threads: producers wait
 * when it is full, consumers when it is empty, and closing it wakes everyone. */
#ifndef VFIOMIG_QUEUE_H
#define VFIOMIG_QUEUE_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "stop.h"

/* How often a wait looks at the stop flag: a signal handler cannot wake a condition. */
#define VQUEUE_STOP_POLL_MS 20

struct vqueue {
	pthread_mutex_t lock;
	pthread_cond_t not_full, not_empty;
	void **items;
	size_t capacity, head, count;
	bool closed;            /* no more pushes; pops drain what is left */
	bool cancelled;         /* stop now: pushes and pops fail at once */
	vstop_t *stop;    /* non-zero: as cancelled, but -EINTR */
};

int vqueue_init(struct vqueue *q, size_t capacity);
void vqueue_destroy(struct vqueue *q);
/* From now on a push or pop that would wait, or finds *stop non-zero, gives -EINTR
 * within VQUEUE_STOP_POLL_MS of *stop becoming non-zero (a signal handler's flag).
 * NULL: waits are not interrupted. */
void vqueue_set_stop(struct vqueue *q, vstop_t *stop);
/* 0, -EPIPE when the queue was closed or cancelled, -EINTR when stopped. */
int vqueue_push(struct vqueue *q, void *item);
/* 0 with *item set; -ENODATA when closed and drained; -ECANCELED when cancelled;
 * -EINTR when stopped. */
int vqueue_pop(struct vqueue *q, void **item);
/* As vqueue_pop, without waiting: -EAGAIN when empty and open. */
int vqueue_try_pop(struct vqueue *q, void **item);
void vqueue_close(struct vqueue *q);
void vqueue_cancel(struct vqueue *q);

#endif
