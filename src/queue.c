/* Bounded blocking queue. */
#include <errno.h>
#include <stdlib.h>

#include "queue.h"

int vqueue_init(struct vqueue *q, size_t capacity)
{
	q->items = calloc(capacity, sizeof(*q->items));
	if (!q->items)
		return -ENOMEM;
	q->capacity = capacity;
	q->head = q->count = 0;
	q->closed = q->cancelled = false;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->not_full, NULL);
	pthread_cond_init(&q->not_empty, NULL);
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

int vqueue_push(struct vqueue *q, void *item)
{
	int ret = 0;

	pthread_mutex_lock(&q->lock);
	while (q->count == q->capacity && !q->closed && !q->cancelled)
		pthread_cond_wait(&q->not_full, &q->lock);
	if (q->closed || q->cancelled) {
		ret = -EPIPE;
	} else {
		q->items[(q->head + q->count) % q->capacity] = item;
		q->count++;
		pthread_cond_signal(&q->not_empty);
	}
	pthread_mutex_unlock(&q->lock);
	return ret;
}

int vqueue_pop(struct vqueue *q, void **item)
{
	int ret = 0;

	pthread_mutex_lock(&q->lock);
	while (q->count == 0 && !q->closed && !q->cancelled)
		pthread_cond_wait(&q->not_empty, &q->lock);
	if (q->cancelled) {
		ret = -ECANCELED;
	} else if (q->count == 0) {
		ret = -ENODATA;
	} else {
		*item = q->items[q->head];
		q->head = (q->head + 1) % q->capacity;
		q->count--;
		pthread_cond_signal(&q->not_full);
	}
	pthread_mutex_unlock(&q->lock);
	return ret;
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
