/* The bounded queue: order, bounds, close and cancel semantics under threads. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include "queue.h"
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
	return unit_done();
}
