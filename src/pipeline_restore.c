/* The restore pipeline: one thread reads and verifies the stream while the caller
 * writes verified payloads to the device. Signals are taken by the reader thread,
 * whose blocking read is what a stalled sender leaves waiting. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "pipeline.h"
#include "queue.h"

#define READ_CHUNK (1u << 16)

struct vpipe_restore {
	struct vstream_reader *reader;
	struct xport_in *in;
	uint8_t *pending;
	size_t pending_len;
	struct vqueue queue;
	pthread_t thread;
	bool started, masked;
	sigset_t old_mask;
	int cancel[2];                  /* a byte in cancel[1] stops a reader waiting for input */
	struct verr err;                /* the reader's failure, read after the queue says so */
	atomic_bool failed;
	atomic_uint_fast64_t wire;
};

static int deliver(struct vpipe_restore *p, const struct vstream_event *ev, struct verr *err)
{
	struct vpipe_item *item = calloc(1, sizeof(*item));

	if (!item || (ev->len && !(item->data = malloc(ev->len)))) {
		free(item);
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "restore: record buffer");
	}
	item->type = ev->record.type;
	item->len = ev->len;
	if (ev->len)
		memcpy(item->data, ev->data, ev->len);
	if (vqueue_push(&p->queue, item) < 0) {
		vpipe_item_release(item);
		free(item);
		return -ECANCELED;
	}
	return 0;
}

static int feed(struct vpipe_restore *p, const uint8_t *buf, size_t len, struct verr *err)
{
	size_t pos = 0;

	while (pos < len) {
		struct vstream_event ev;
		size_t used = 0;

		if (vstream_reader_feed(p->reader, buf + pos, len - pos, &used, &ev, err) < 0)
			return -EBADMSG;
		pos += used;
		if (ev.kind == VSTREAM_EV_RECORD && deliver(p, &ev, err) < 0)
			return -EIO;
	}
	return 0;
}

/* Waits until the input has bytes, the caller cancels, or a signal interrupts. */
static int wait_input(struct vpipe_restore *p, struct verr *err)
{
	struct pollfd pfd[2] = {
		{ .fd = xport_in_fd(p->in), .events = POLLIN },
		{ .fd = p->cancel[0], .events = POLLIN },
	};

	for (;;) {
		if (poll(pfd, 2, -1) >= 0)
			return pfd[1].revents ? -ECANCELED : 0;
		if (errno != EINTR || io_interrupted())
			return verr_set(err, VERR_FAILED, errno, xport_in_name(p->in), NULL, "read");
	}
}

static int pump(struct vpipe_restore *p, uint8_t *buf, struct verr *err)
{
	if (p->pending_len && feed(p, p->pending, p->pending_len, err) < 0)
		return -EIO;
	for (;;) {
		int ret = wait_input(p, err);
		ssize_t n;

		if (ret < 0)
			return ret;
		n = xport_in_read(p->in, buf, READ_CHUNK, err);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return vstream_reader_end(p->reader, err);
		atomic_fetch_add(&p->wire, (uint64_t)n);
		if (feed(p, buf, (size_t)n, err) < 0)
			return -EIO;
	}
}

static void *reader_main(void *arg)
{
	struct vpipe_restore *p = arg;
	uint8_t *buf = malloc(READ_CHUNK);
	struct verr err = { 0 };
	int ret = buf ? pump(p, buf, &err)
		      : verr_set(&err, VERR_FAILED, ENOMEM, NULL, NULL, "restore: input buffer");

	free(buf);
	if (ret < 0 && ret != -ECANCELED) {
		p->err = err;
		atomic_store(&p->failed, true);
	}
	/* Closing lets the consumer drain what was verified, then see the outcome. */
	vqueue_close(&p->queue);
	return NULL;
}

int vpipe_restore_start(struct vstream_reader *reader, struct xport_in *in,
			const uint8_t *pending, size_t pending_len,
			struct vpipe_restore **pipe, struct verr *err)
{
	struct vpipe_restore *p = calloc(1, sizeof(*p));

	*pipe = NULL;
	if (!p || vqueue_init(&p->queue, VPIPE_RESTORE_DEPTH) < 0 ||
	    (pending_len && !(p->pending = malloc(pending_len)))) {
		if (p)
			vqueue_destroy(&p->queue);
		free(p);
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "restore: pipeline");
	}
	p->reader = reader;
	p->in = in;
	p->cancel[0] = p->cancel[1] = -1;
	if (pipe2(p->cancel, O_CLOEXEC) < 0) {
		vpipe_restore_stop(p);
		return verr_set(err, VERR_FAILED, errno, NULL, NULL, "restore: pipeline");
	}
	if (pending_len)
		memcpy(p->pending, pending, pending_len);
	p->pending_len = pending_len;
	if (pthread_create(&p->thread, NULL, reader_main, p) != 0) {
		vpipe_restore_stop(p);
		return verr_set(err, VERR_FAILED, EAGAIN, NULL, NULL, "restore: start the reader");
	}
	p->started = true;
	/* From here on INT/TERM/HUP go to the reader, whose read(2) they must interrupt. */
	io_block_interrupts(&p->old_mask);
	p->masked = true;
	*pipe = p;
	return 0;
}

int vpipe_restore_next(struct vpipe_restore *p, struct vpipe_item *item, struct verr *err)
{
	void *got;
	int ret = vqueue_pop(&p->queue, &got);

	memset(item, 0, sizeof(*item));
	if (ret == 0) {
		*item = *(struct vpipe_item *)got;
		free(got);
		return 0;
	}
	pthread_join(p->thread, NULL);
	p->started = false;
	if (atomic_load(&p->failed)) {
		*err = p->err;
		return -EIO;
	}
	item->end = true;
	return 0;
}

void vpipe_item_release(struct vpipe_item *item)
{
	free(item->data);
	item->data = NULL;
}

uint64_t vpipe_restore_wire(struct vpipe_restore *p)
{
	return atomic_load(&p->wire);
}

void vpipe_restore_stop(struct vpipe_restore *p)
{
	void *got;

	if (!p)
		return;
	if (p->started) {
		vqueue_cancel(&p->queue);
		/* One byte into an empty pipe cannot block; if it failed, the reader still
		 * ends when its input does. */
		if (write(p->cancel[1], "", 1) != 1) {
			/* nothing better to do */
		}
		pthread_join(p->thread, NULL);
	}
	if (p->masked)
		pthread_sigmask(SIG_SETMASK, &p->old_mask, NULL);
	if (p->cancel[0] >= 0)
		close(p->cancel[0]);
	if (p->cancel[1] >= 0)
		close(p->cancel[1]);
	while (p->queue.items && p->queue.count && vqueue_pop(&p->queue, &got) == 0) {
		vpipe_item_release(got);
		free(got);
	}
	vqueue_destroy(&p->queue);
	free(p->pending);
	free(p);
}
