/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The decode pipeline: the caller's thread frames records off each stream, workers
 * verify and decompress them in parallel, and the caller's thread takes them back
 * in the order they were fed, for the in-order checks and the sink, which runs there
 * or, for a parallel sink, on one writer thread per stream. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"
#include "pipeline.h"
#include "pipeline_internal.h"
#include "base/queue.h"

struct decode_job {
	uint8_t *rec, *out;             /* the encoded record; a decompressed payload */
	size_t rec_cap, rec_len, out_cap;
	const uint8_t *data;            /* the payload: in rec (stored) or out */
	size_t len;
	unsigned stream;
	uint8_t stream_id[VSTREAM_ID_LEN];
	struct vstream_record_head head;
	uint64_t offset, order;
	char where[64];
	int rc;                         /* the worker's verdict, with err */
	struct verr err;
	const uint8_t *payload;         /* verified, for a stream's writer */
	size_t payload_len;
};

/* A parallel sink's thread for one stream: it takes the stream's verified payloads
 * in order and gives the jobs back through the pipeline's returned queue. */
struct decode_writer {
	struct vpipe_decode *pipe;
	unsigned stream;
	struct vqueue q;
	pthread_t thread;
	bool started;
};

struct vpipe_decode {
	struct vstream_reader **readers;
	unsigned nstreams;
	const struct vstream_key *key;
	struct vpipe_decode_sink sink;
	struct decode_job *jobs, **free_jobs;
	unsigned njobs, nfree;
	struct vqueue work_q, done_q;
	struct vpipe_window window;
	uint64_t fed;                   /* order numbers handed out */
	pthread_t workers[VPIPE_THREADS_MAX];
	unsigned nworkers;
	int failed;                     /* 0, or the first error, repeated from then on */
	struct verr err;
	/* A parallel sink: writers, jobs they hold (the caller's count), what they
	 * give back, and the first failure of any of them, under wlock. */
	struct decode_writer *writers;
	unsigned at_writers;
	struct vqueue returned_q;
	pthread_mutex_t wlock;
	int wfailed;
	struct verr werr;
};

static void decode_job(struct decode_job *job, struct vstream_decoder *dec)
{
	struct vstream_record_head head;
	const uint8_t *data;
	size_t len;

	vstream_decoder_set_stream(dec, job->stream_id);
	job->rc = vstream_decode_record(dec, job->rec, job->rec_len, &head, &data, &len,
					job->where, &job->err);
	if (job->rc < 0)
		return;
	if (head.codec != VSTREAM_CODEC_STORED) {
		/* The payload is in the decoder's buffer: take it, leave ours. */
		vstream_decoder_swap_output(dec, &job->out, &job->out_cap);
		data = job->out;
	}
	job->data = data;
	job->len = len;
}

static void *worker_main(void *arg)
{
	struct vpipe_decode *p = arg;
	static const uint8_t no_stream[VSTREAM_ID_LEN];
	struct vstream_decoder *dec = NULL;
	struct verr err = { 0 };
	void *item;

	/* Without a decoder every job fails with why; nothing is lost. */
	int rc = vstream_decoder_new(p->key, no_stream, &dec, &err);

	while (vqueue_pop(&p->work_q, &item) == 0) {
		struct decode_job *job = item;

		if (rc < 0) {
			job->rc = rc;
			job->err = err;
		} else {
			decode_job(job, dec);
		}
		if (vqueue_push(&p->done_q, job) < 0)
			break;
	}
	vstream_decoder_free(dec);
	return NULL;
}

static int pipe_failed(struct vpipe_decode *p, struct verr *err)
{
	*err = p->err;
	return p->failed;
}

static int fail(struct vpipe_decode *p, int rc, const struct verr *err)
{
	p->failed = rc < 0 ? rc : -EIO;
	p->err = *err;
	return p->failed;
}

/* A signal ends the work between records: the sink gets nothing more. */
static int check_stop(struct vpipe_decode *p, struct verr *err)
{
	struct verr local = { 0 };

	if (p->failed)
		return pipe_failed(p, err);
	if (p->writers) {
		pthread_mutex_lock(&p->wlock);
		if (p->wfailed) {
			local = p->werr;
			fail(p, p->wfailed, &local);
		}
		pthread_mutex_unlock(&p->wlock);
		if (p->failed)
			return pipe_failed(p, err);
	}
	if (!p->sink.stop || !*p->sink.stop)
		return 0;
	verr_set(&local, VERR_INTERRUPTED, 0, NULL, NULL,
		 "pipeline: interrupted by signal %d; %llu queued records dropped",
		 (int)*p->sink.stop, (unsigned long long)(p->njobs - p->nfree));
	fail(p, -EINTR, &local);
	return pipe_failed(p, err);
}

/* Checks the oldest job in order and hands its payload to the sink. */
static int deliver(struct vpipe_decode *p, struct decode_job *job, struct verr *err)
{
	struct vstream_reader *r = p->readers[job->stream];
	const uint8_t *digest = job->rec + job->rec_len - VSTREAM_DIGEST_LEN;
	struct vstream_event ev;
	int rc;

	if (job->rc < 0) {
		*err = job->err;
		return vstream_reader_refuse(r, job->rc, err);
	}
	rc = vstream_reader_accept(r, &job->head, digest, job->data, job->len, job->where,
				   job->offset, &ev, err);
	if (rc < 0)
		return rc;
	if (ev.kind != VSTREAM_EV_RECORD)
		return 0;
	if (!p->writers)
		return p->sink.record(p->sink.ctx, job->stream, ev.data, ev.len, err);
	job->payload = ev.data;
	job->payload_len = ev.len;
	return 1;                       /* the stream's writer has it now */
}

static void writer_fail(struct vpipe_decode *p, int rc, const struct verr *err)
{
	pthread_mutex_lock(&p->wlock);
	if (!p->wfailed) {
		p->wfailed = rc < 0 ? rc : -EIO;
		p->werr = *err;
	}
	pthread_mutex_unlock(&p->wlock);
}

static bool writers_failed(struct vpipe_decode *p)
{
	bool failed;

	pthread_mutex_lock(&p->wlock);
	failed = p->wfailed != 0;
	pthread_mutex_unlock(&p->wlock);
	return failed;
}

/* After any writer failed, or a signal, the writers drop what they are given: the
 * sink gets nothing more. */
static void *writer_main(void *arg)
{
	struct decode_writer *w = arg;
	struct vpipe_decode *p = w->pipe;
	void *item;

	while (vqueue_pop(&w->q, &item) == 0) {
		struct decode_job *job = item;
		struct verr err = { 0 };
		int rc;

		if (!writers_failed(p) && !(p->sink.stop && *p->sink.stop)) {
			rc = p->sink.record(p->sink.ctx, job->stream, job->payload, job->payload_len,
					    &err);
			if (rc < 0)
				writer_fail(p, rc, &err);
		}
		if (vqueue_push(&p->returned_q, job) < 0)
			break;
	}
	return NULL;
}

/* A job back from a writer, to the free list; waits when block. 1 when one came. */
static int reclaim(struct vpipe_decode *p, bool block, struct verr *err)
{
	void *item;
	int rc;

	if (!p->at_writers)
		return 0;
	rc = block ? vqueue_pop(&p->returned_q, &item) : vqueue_try_pop(&p->returned_q, &item);
	if (rc == -EAGAIN)
		return 0;
	if (rc == -EINTR)
		return check_stop(p, err);
	if (rc < 0) {
		struct verr local = { 0 };

		verr_set(&local, VERR_FAILED, EPIPE, NULL, NULL, "pipeline: writers stopped");
		return fail(p, -EPIPE, &local), pipe_failed(p, err);
	}
	p->at_writers--;
	p->free_jobs[p->nfree++] = item;
	return 1;
}

/* Waits for the oldest job in flight and delivers it. */
static int take_one(struct vpipe_decode *p, struct verr *err)
{
	struct decode_job *job;
	struct verr local = { 0 };
	void *item;
	int rc;

	if ((rc = check_stop(p, err)) < 0)
		return rc;
	while (!(job = vpipe_window_take(&p->window))) {
		rc = vqueue_pop(&p->done_q, &item);
		if (rc == -EINTR)
			return check_stop(p, err);
		if (rc < 0) {
			verr_set(&local, VERR_FAILED, EPIPE, NULL, NULL, "pipeline: workers stopped");
			return fail(p, -EPIPE, &local), pipe_failed(p, err);
		}
		job = item;
		if (vpipe_window_put(&p->window, job->order, job) < 0) {
			verr_set(&local, VERR_FAILED, ERANGE, NULL, NULL,
				 "pipeline: record %llu out of order", (unsigned long long)job->order);
			return fail(p, -ERANGE, &local), pipe_failed(p, err);
		}
	}
	rc = deliver(p, job, &local);
	if (rc == 1) {
		p->at_writers++;
		if (vqueue_push(&p->writers[job->stream].q, job) < 0) {
			p->at_writers--;
			p->free_jobs[p->nfree++] = job;
			verr_set(&local, VERR_FAILED, EPIPE, NULL, NULL, "pipeline: writers stopped");
			rc = -EPIPE;
		} else {
			rc = 0;
		}
	} else {
		p->free_jobs[p->nfree++] = job;
	}
	if (rc < 0)
		fail(p, rc, &local);
	return rc < 0 ? pipe_failed(p, err) : 0;
}

/* Jobs with the workers or waiting in order: not yet delivered. */
static unsigned undelivered(const struct vpipe_decode *p)
{
	return p->njobs - p->nfree - p->at_writers;
}

/* A free job: one a writer gave back, else the oldest delivered, else wait for a
 * writer. */
static int free_one(struct vpipe_decode *p, struct verr *err)
{
	int rc = reclaim(p, false, err);

	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (undelivered(p))
		return take_one(p, err);
	rc = reclaim(p, true, err);
	return rc < 0 ? rc : 0;
}

/* Takes a framed record from the reader's buffer into a free job, whose buffer the
 * reader gets instead, and queues it for the workers. */
static int submit(struct vpipe_decode *p, unsigned stream, const struct vstream_event *ev,
		  struct verr *err)
{
	struct vstream_reader *r = p->readers[stream];
	struct decode_job *job;
	int rc;

	while (!p->nfree)
		if ((rc = free_one(p, err)) < 0)
			return rc;
	job = p->free_jobs[--p->nfree];
	vstream_reader_swap_buffer(r, &job->rec, &job->rec_cap);
	job->rec_len = ev->len;
	job->stream = stream;
	memcpy(job->stream_id, vstream_reader_header(r)->stream_id, VSTREAM_ID_LEN);
	job->head = ev->record;
	job->offset = ev->offset;
	job->order = p->fed++;
	snprintf(job->where, sizeof(job->where), "%s", ev->where);
	job->rc = 0;
	memset(&job->err, 0, sizeof(job->err));
	rc = vqueue_push(&p->work_q, job);
	if (rc == -EINTR)
		return check_stop(p, err);
	if (rc < 0) {
		struct verr local = { 0 };

		verr_set(&local, VERR_FAILED, EPIPE, NULL, NULL, "pipeline: workers stopped");
		return fail(p, -EPIPE, &local), pipe_failed(p, err);
	}
	return 0;
}

int vpipe_decode_drain(struct vpipe_decode *p, struct verr *err)
{
	int rc = check_stop(p, err);

	while (rc == 0 && undelivered(p))
		rc = take_one(p, err);
	/* and every writer done with what it has */
	while (rc >= 0 && p->at_writers)
		rc = reclaim(p, true, err);
	return rc < 0 ? rc : check_stop(p, err);
}

int vpipe_decode_feed(struct vpipe_decode *p, unsigned stream, const uint8_t *buf, size_t len,
		      struct verr *err)
{
	size_t pos = 0;
	int rc;

	while ((rc = check_stop(p, err)) == 0 && pos < len) {
		struct vstream_event ev;
		struct verr framing = { 0 };
		size_t used = 0;

		rc = vstream_reader_feed(p->readers[stream], buf + pos, len - pos, &used, &ev,
					 &framing);
		if (rc < 0) {
			/* A record before this point may have failed too: the first wins. */
			if (vpipe_decode_drain(p, err) < 0)
				return p->failed;
			*err = framing;
			return fail(p, rc, &framing);
		}
		pos += used;
		if (ev.kind == VSTREAM_EV_SPLIT && (rc = submit(p, stream, &ev, err)) < 0)
			return rc;
	}
	return rc;
}

size_t vpipe_decode_space(struct vpipe_decode *p, unsigned stream, uint8_t **at)
{
	*at = NULL;
	if (p->failed)
		return 0;
	return vstream_reader_space(p->readers[stream], at);
}

int vpipe_decode_end(struct vpipe_decode *p, unsigned stream, struct verr *err)
{
	struct verr local = { 0 };
	int rc;

	rc = vpipe_decode_drain(p, err);
	if (rc < 0)
		return rc;
	rc = vstream_reader_end(p->readers[stream], &local);
	if (rc < 0) {
		*err = local;
		return fail(p, rc, &local);
	}
	return 0;
}

static int alloc_pipe(struct vpipe_decode *p, unsigned threads, unsigned writers)
{
	/* Enough for every worker to have one job while as many wait in order, and
	 * for every writer one to write and one to come. */
	p->njobs = 2 * threads + 2 + 2 * writers;
	p->jobs = calloc(p->njobs, sizeof(*p->jobs));
	p->free_jobs = calloc(p->njobs, sizeof(*p->free_jobs));
	if (!p->jobs || !p->free_jobs || vqueue_init(&p->work_q, p->njobs) < 0 ||
	    vqueue_init(&p->done_q, p->njobs) < 0 || vpipe_window_init(&p->window, p->njobs) < 0)
		return -ENOMEM;
	for (unsigned i = 0; i < p->njobs; i++)
		p->free_jobs[p->nfree++] = &p->jobs[i];
	return 0;
}

/* One writer per stream, signals blocked as the workers' are. */
static int start_writers(struct vpipe_decode *p)
{
	sigset_t saved;
	int ret = 0;

	pthread_mutex_init(&p->wlock, NULL);
	p->writers = calloc(p->nstreams, sizeof(*p->writers));
	if (!p->writers || vqueue_init(&p->returned_q, p->njobs) < 0)
		return -ENOMEM;
	vqueue_set_stop(&p->returned_q, p->sink.stop);
	io_block_interrupts(&saved);
	for (unsigned i = 0; i < p->nstreams && ret == 0; i++) {
		struct decode_writer *w = &p->writers[i];

		w->pipe = p;
		w->stream = i;
		if (vqueue_init(&w->q, p->njobs) < 0)
			ret = -ENOMEM;
		else if (pthread_create(&w->thread, NULL, writer_main, w) != 0)
			ret = -EAGAIN;
		else
			w->started = true;
	}
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	return ret;
}

static void stop_writers(struct vpipe_decode *p)
{
	if (!p->writers)
		return;
	/* What a writer has not begun is dropped: the pipeline is being stopped. */
	for (unsigned i = 0; i < p->nstreams; i++)
		if (p->writers[i].q.items)
			vqueue_cancel(&p->writers[i].q);
	if (p->returned_q.items)
		vqueue_cancel(&p->returned_q);
	for (unsigned i = 0; i < p->nstreams; i++) {
		if (p->writers[i].started)
			pthread_join(p->writers[i].thread, NULL);
		if (p->writers[i].q.items)
			vqueue_destroy(&p->writers[i].q);
	}
	if (p->returned_q.items)
		vqueue_destroy(&p->returned_q);
	free(p->writers);
	pthread_mutex_destroy(&p->wlock);
	p->writers = NULL;
}

int vpipe_decode_start(struct vstream_reader *const *readers, unsigned nstreams,
		       const struct vstream_key *key, unsigned threads,
		       const struct vpipe_decode_sink *sink, struct vpipe_decode **pipe,
		       struct verr *err)
{
	struct vpipe_decode *p = calloc(1, sizeof(*p));

	*pipe = NULL;
	if (threads < 1 || threads > VPIPE_THREADS_MAX)
		threads = threads < 1 ? 1 : VPIPE_THREADS_MAX;
	bool parallel = sink->parallel && nstreams > 1;

	if (!p || !(p->readers = calloc(nstreams ? nstreams : 1, sizeof(*p->readers))) ||
	    alloc_pipe(p, threads, parallel ? nstreams : 0) < 0) {
		vpipe_decode_stop(p);
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "pipeline: decode buffers");
	}
	memcpy(p->readers, readers, nstreams * sizeof(*readers));
	p->nstreams = nstreams;
	p->key = key;
	p->sink = *sink;
	for (unsigned i = 0; i < nstreams; i++)
		vstream_reader_split(p->readers[i]);
	/* Workers stop at once too; the caller's wait for them ends on the flag. */
	vqueue_set_stop(&p->work_q, sink->stop);
	vqueue_set_stop(&p->done_q, sink->stop);
	if (vpipe_spawn(p->workers, threads, &p->nworkers, worker_main, p) < 0) {
		vpipe_decode_stop(p);
		return verr_set(err, VERR_FAILED, EAGAIN, NULL, NULL, "pipeline: start a worker");
	}
	if (parallel && start_writers(p) < 0) {
		vpipe_decode_stop(p);
		return verr_set(err, VERR_FAILED, EAGAIN, NULL, NULL, "pipeline: start a writer");
	}
	*pipe = p;
	return 0;
}

void vpipe_decode_stop(struct vpipe_decode *p)
{
	if (!p)
		return;
	if (p->work_q.items)
		vqueue_cancel(&p->work_q);
	if (p->done_q.items)
		vqueue_cancel(&p->done_q);
	for (unsigned i = 0; i < p->nworkers; i++)
		pthread_join(p->workers[i], NULL);
	stop_writers(p);
	for (unsigned i = 0; p->jobs && i < p->njobs; i++) {
		free(p->jobs[i].rec);
		free(p->jobs[i].out);
	}
	if (p->work_q.items)
		vqueue_destroy(&p->work_q);
	if (p->done_q.items)
		vqueue_destroy(&p->done_q);
	vpipe_window_free(&p->window);
	free(p->jobs);
	free(p->free_jobs);
	free(p->readers);
	free(p);
}
