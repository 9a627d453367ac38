/* A bounded, blocking FIFO of pointers for the pipeline's threads: producers wait
 * when it is full, consumers when it is empty, and closing it wakes everyone. */
#ifndef VFIOMIG_QUEUE_H
#define VFIOMIG_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct vqueue {
	pthread_mutex_t lock;
	pthread_cond_t not_full, not_empty;
	void **items;
	size_t capacity, head, count;
	bool closed;            /* no more pushes; pops drain what is left */
	bool cancelled;         /* stop now: pushes and pops fail at once */
};

int vqueue_init(struct vqueue *q, size_t capacity);
void vqueue_destroy(struct vqueue *q);
/* 0, or -EPIPE when the queue was closed or cancelled. */
int vqueue_push(struct vqueue *q, void *item);
/* 0 with *item set; -ENODATA when closed and drained; -ECANCELED when cancelled. */
int vqueue_pop(struct vqueue *q, void **item);
void vqueue_close(struct vqueue *q);
void vqueue_cancel(struct vqueue *q);

#endif
