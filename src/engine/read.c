/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The PRE_COPY and STOP_COPY read loop, written once: a device's data fd into a save
 * pipeline, a chunk at a time, with the stop flag looked at before every read; and a
 * pass over several devices at once, one reader thread each, so that N devices cost
 * the time of the slowest rather than the sum. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "base/clock.h"
#include "engine.h"

#define PASS_TICK_MS 100                /* how often a pass reports progress */

int eng_read_chunk(const struct eng_reader *r, unsigned stream, struct vdev *dev,
		   uint16_t type, size_t *got, bool *drained, struct verr *err)
{
	*got = 0;
	if (eng_stopped(r->stop, vdev_ident(dev)->name, err) < 0)
		return -EINTR;
	if (r->cancel && atomic_load(r->cancel))
		return verr_set(err, VERR_FAILED, ECANCELED, vdev_ident(dev)->name, NULL,
				"reading stopped: another device failed");
	if (vpipe_save_read(r->pipe, stream, dev, type, got, drained, err) < 0)
		return -EIO;
	if (r->progress)
		r->progress(r->ctx, stream, *got);
	return 0;
}

int eng_read_phase(const struct eng_reader *r, unsigned stream, struct vdev *dev,
		   uint16_t type, uint64_t *bytes, struct verr *err)
{
	bool drained = false;

	while (!drained) {
		size_t got;

		if (eng_read_chunk(r, stream, dev, type, &got, &drained, err) < 0)
			return -EIO;
		*bytes += got;
	}
	return 0;
}

/* One pass: what its reader threads share. Progress goes through counters, which
 * the caller's thread hands to r->progress, so the callback never runs on two
 * threads at once. */
struct pass {
	const struct eng_reader *caller;
	struct eng_reader reader;       /* the caller's, with cancel and counting */
	struct eng_read_dev *devs;
	uint16_t type;
	bool end;
	atomic_bool cancel;
	_Atomic uint64_t *unreported;
	pthread_mutex_t lock;
	pthread_cond_t done;
	unsigned running;
	int failed;                     /* the device that failed first, or -1 */
	struct verr *errs;
};

struct pass_thread {
	struct pass *pass;
	unsigned i;
};

static void count(void *ctx, unsigned stream, size_t got)
{
	struct pass *pass = ctx;

	for (unsigned i = 0;; i++)
		if (pass->devs[i].stream == stream) {
			atomic_fetch_add(&pass->unreported[i], got);
			return;
		}
}

/* One device drained (and in stop-copy its stream ended), on its own thread. */
static int read_device(const struct eng_reader *r, struct eng_read_dev *d, uint16_t type,
		       bool end, struct verr *err)
{
	if (eng_read_phase(r, d->stream, d->dev, type, &d->bytes, err) < 0)
		return -EIO;
	return end ? vpipe_save_end(r->pipe, d->stream, err) : 0;
}

static void *reader_main(void *arg)
{
	struct pass_thread *t = arg;
	struct pass *pass = t->pass;
	int ret = read_device(&pass->reader, &pass->devs[t->i], pass->type, pass->end,
			      &pass->errs[t->i]);

	pthread_mutex_lock(&pass->lock);
	if (ret < 0) {
		/* A device cancelled by another's failure does not hide it. */
		if (pass->failed < 0 && pass->errs[t->i].errnum != ECANCELED)
			pass->failed = (int)t->i;
		atomic_store(&pass->cancel, true);
	}
	pass->running--;
	pthread_cond_signal(&pass->done);
	pthread_mutex_unlock(&pass->lock);
	return NULL;
}

static void report(struct pass *pass, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t got = atomic_exchange(&pass->unreported[i], 0);

		if (got && pass->caller->progress)
			pass->caller->progress(pass->caller->ctx, pass->devs[i].stream, got);
	}
}

/* Waits for the readers, reporting progress every tick. */
static void await_readers(struct pass *pass, unsigned n)
{
	struct timespec ts;

	pthread_mutex_lock(&pass->lock);
	while (pass->running) {
		vclock_deadline(CLOCK_MONOTONIC, PASS_TICK_MS, &ts);
		pthread_cond_timedwait(&pass->done, &pass->lock, &ts);
		pthread_mutex_unlock(&pass->lock);
		report(pass, n);
		pthread_mutex_lock(&pass->lock);
	}
	pthread_mutex_unlock(&pass->lock);
	report(pass, n);
}

static int init_pass(struct pass *pass, const struct eng_reader *r, struct eng_read_dev *devs,
		     unsigned n)
{
	pthread_condattr_t attr;

	pass->caller = r;
	pass->reader = *r;
	pass->reader.cancel = &pass->cancel;
	pass->reader.progress = count;
	pass->reader.ctx = pass;
	pass->devs = devs;
	atomic_init(&pass->cancel, false);
	pass->failed = -1;
	pass->unreported = calloc(n, sizeof(*pass->unreported));
	pass->errs = calloc(n, sizeof(*pass->errs));
	if (!pass->unreported || !pass->errs)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		atomic_init(&pass->unreported[i], 0);
	pthread_mutex_init(&pass->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&pass->done, &attr);
	pthread_condattr_destroy(&attr);
	return 0;
}

/* The first failure decides the error; without one (every thread cancelled, which
 * cannot happen without a failure, or a thread that could not start), a generic one. */
static int pass_result(struct pass *pass, unsigned n, unsigned started, struct verr *err)
{
	if (pass->failed >= 0) {
		*err = pass->errs[pass->failed];
		return -EIO;
	}
	for (unsigned i = 0; i < n; i++)
		if (pass->errs[i].set) {
			*err = pass->errs[i];
			return -EIO;
		}
	if (started < n)
		return verr_set(err, VERR_FAILED, EAGAIN, vdev_ident(pass->devs[started].dev)->name,
				NULL, "start a reader thread");
	return 0;
}

int eng_read_devices(const struct eng_reader *r, struct eng_read_dev *devs, unsigned n,
		     uint16_t type, bool end, struct verr *err)
{
	struct pass pass = { .type = type, .end = end };
	struct pass_thread *threads;
	pthread_t *ids;
	unsigned started = 0;
	int ret;

	if (n == 1)
		return read_device(r, &devs[0], type, end, err);
	threads = calloc(n, sizeof(*threads));
	ids = calloc(n, sizeof(*ids));
	if (!threads || !ids || init_pass(&pass, r, devs, n) < 0) {
		free(threads);
		free(ids);
		free(pass.unreported);
		free(pass.errs);
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "start the device readers");
	}
	for (; started < n; started++) {
		threads[started] = (struct pass_thread){ &pass, started };
		pthread_mutex_lock(&pass.lock);
		pass.running++;
		pthread_mutex_unlock(&pass.lock);
		if (pthread_create(&ids[started], NULL, reader_main, &threads[started]) != 0) {
			pthread_mutex_lock(&pass.lock);
			pass.running--;
			pthread_mutex_unlock(&pass.lock);
			atomic_store(&pass.cancel, true);
			break;
		}
	}
	await_readers(&pass, n);
	for (unsigned i = 0; i < started; i++)
		pthread_join(ids[i], NULL);
	ret = pass_result(&pass, n, started, err);
	pthread_cond_destroy(&pass.done);
	pthread_mutex_destroy(&pass.lock);
	free(pass.unreported);
	free(pass.errs);
	free(threads);
	free(ids);
	return ret;
}
