/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The bounded queue: order, bounds, close and cancel semantics under threads. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "base/queue.h"
#include "unit.h"

#define ITEMS 100000

static void *producer(void *arg)
{
	struct vqueue *q = arg;

	for (uintptr_t i = 1; i <= ITEMS; i++)
		if (vqueue_push(q, (void *)i) < 0)
			break;
	vqueue_close(q);
	return NULL;
}

static vstop_t stop_flag;

/* Sets the stop flag after 100 ms, as a signal handler would: without waking anyone. */
static void *raise_stop(void *arg)
{
	(void)arg;
	usleep(100 * 1000);
	stop_flag = SIGTERM;
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A wait that nothing else ends gives -EINTR soon after the stop flag is set. */
static void check_stop(void)
{
	struct vqueue q;
	pthread_t t;
	void *item;
	double t0;
	int ret;

	vqueue_init(&q, 1);
	vqueue_set_stop(&q, &stop_flag);
	stop_flag = 0;
	t0 = now_s();
	pthread_create(&t, NULL, raise_stop, NULL);
	ret = vqueue_pop(&q, &item);
	pthread_join(t, NULL);
	CHECK(ret == -EINTR && now_s() - t0 < 2, "a pop waiting on an empty queue ends with EINTR "
	      "once the stop flag is set (%d)", ret);

	stop_flag = 0;
	CHECK(vqueue_push(&q, &q) == 0, "a stoppable queue takes an item while not stopped");
	pthread_create(&t, NULL, raise_stop, NULL);
	ret = vqueue_push(&q, &q);
	pthread_join(t, NULL);
	CHECK(ret == -EINTR, "a push waiting on a full queue ends with EINTR once stopped (%d)", ret);
	CHECK(vqueue_pop(&q, &item) == -EINTR, "a stopped queue refuses pops even when not empty");
	vqueue_destroy(&q);
}

int main(void)
{
	struct vqueue q;
	pthread_t t;
	void *item;
	uintptr_t expected = 1;
	bool in_order = true;
	int ret;

	CHECK(vqueue_init(&q, 4) == 0, "a queue of 4 is made");
	pthread_create(&t, NULL, producer, &q);
	while ((ret = vqueue_pop(&q, &item)) == 0) {
		if ((uintptr_t)item != expected)
			in_order = false;
		expected++;
	}
	pthread_join(t, NULL);
	CHECK(in_order && expected == ITEMS + 1, "%d items cross a 4-slot queue in order", ITEMS);
	CHECK(ret == -ENODATA, "a closed, drained queue says ENODATA");
	CHECK(vqueue_push(&q, &q) == -EPIPE, "pushing into a closed queue says EPIPE");
	vqueue_destroy(&q);

	vqueue_init(&q, 2);
	vqueue_push(&q, &q);
	vqueue_cancel(&q);
	CHECK(vqueue_pop(&q, &item) == -ECANCELED, "a cancelled queue refuses pops even when not empty");
	vqueue_destroy(&q);
	check_stop();
	return unit_done();
}
