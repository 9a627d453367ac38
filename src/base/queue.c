/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Bounded blocking queue. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "queue.h"

int vqueue_init(struct vqueue *q, size_t capacity)
{
	pthread_condattr_t attr;

	q->items = calloc(capacity, sizeof(*q->items));
	if (!q->items)
		return -ENOMEM;
	q->capacity = capacity;
	q->head = q->count = 0;
	q->closed = q->cancelled = false;
	q->stop = NULL;
	pthread_mutex_init(&q->lock, NULL);
	/* Timed waits count on the monotonic clock, which no one sets back. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&q->not_full, &attr);
	pthread_cond_init(&q->not_empty, &attr);
	pthread_condattr_destroy(&attr);
	return 0;
}

void vqueue_destroy(struct vqueue *q)
{
	pthread_cond_destroy(&q->not_full);
	pthread_cond_destroy(&q->not_empty);
	pthread_mutex_destroy(&q->lock);
	free(q->items);
	q->items = NULL;
}

void vqueue_set_stop(struct vqueue *q, vstop_t *stop)
{
	pthread_mutex_lock(&q->lock);
	q->stop = stop;
	pthread_mutex_unlock(&q->lock);
}

static bool stopped(const struct vqueue *q)
{
	return q->stop && *q->stop;
}

/* One wait on cond, in slices when a stop flag may end it; the caller looks again. */
static void wait_on(struct vqueue *q, pthread_cond_t *cond)
{
	struct timespec ts;

	if (!q->stop) {
		pthread_cond_wait(cond, &q->lock);
		return;
	}
	vclock_deadline(CLOCK_MONOTONIC, VQUEUE_STOP_POLL_MS, &ts);
	pthread_cond_timedwait(cond, &q->lock, &ts);
}

int vqueue_push(struct vqueue *q, void *item)
{
	int ret = 0;

	pthread_mutex_lock(&q->lock);
	while (q->count == q->capacity && !q->closed && !q->cancelled && !stopped(q))
		wait_on(q, &q->not_full);
	if (q->closed || q->cancelled) {
		ret = -EPIPE;
	} else if (stopped(q)) {
		ret = -EINTR;
	} else {
		q->items[(q->head + q->count) % q->capacity] = item;
		q->count++;
		pthread_cond_signal(&q->not_empty);
	}
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static int pop(struct vqueue *q, void **item, bool wait)
{
	int ret = 0;

	pthread_mutex_lock(&q->lock);
	while (wait && q->count == 0 && !q->closed && !q->cancelled && !stopped(q))
		wait_on(q, &q->not_empty);
	if (q->cancelled) {
		ret = -ECANCELED;
	} else if (stopped(q)) {
		ret = -EINTR;
	} else if (q->count == 0) {
		ret = wait || q->closed ? -ENODATA : -EAGAIN;
	} else {
		*item = q->items[q->head];
		q->head = (q->head + 1) % q->capacity;
		q->count--;
		pthread_cond_signal(&q->not_full);
	}
	pthread_mutex_unlock(&q->lock);
	return ret;
}

int vqueue_pop(struct vqueue *q, void **item)
{
	return pop(q, item, true);
}

int vqueue_try_pop(struct vqueue *q, void **item)
{
	return pop(q, item, false);
}

void vqueue_close(struct vqueue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->not_empty);
	pthread_cond_broadcast(&q->not_full);
	pthread_mutex_unlock(&q->lock);
}

void vqueue_cancel(struct vqueue *q)
{
	pthread_mutex_lock(&q->lock);
	q->cancelled = true;
	pthread_cond_broadcast(&q->not_empty);
	pthread_cond_broadcast(&q->not_full);
	pthread_mutex_unlock(&q->lock);
}
