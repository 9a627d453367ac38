/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The save pipeline: the caller fills pooled buffers with device data for its
 * streams; workers encode them into records in parallel; one writer hands records,
 * trailers and marks to the sink in the order they were queued. The pool bounds
 * memory. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/io.h"
#include "pipeline.h"
#include "pipeline_internal.h"
#include "base/queue.h"

enum job_kind { JOB_RECORD, JOB_END, JOB_MARK };

struct job {
	uint8_t *raw, *rec;
	size_t raw_len, rec_len;
	enum job_kind kind;
	unsigned stream;
	uint16_t type;
	uint64_t seq;                   /* the record's sequence number in its stream */
	uint64_t order;                 /* queued position over all streams */
};

/* A stream's fields belong to the one thread that feeds it, except the writer,
 * which belongs to the writer thread. */
struct save_stream {
	struct vstream_writer *writer;
	struct job *current;            /* the buffer being filled for this stream */
	uint64_t next_seq;
	bool ended;
	bool reading;                   /* its reader is busy, for the throttle */
	bool reads_sleep;               /* its last read was mostly off CPU */
};

struct vpipe_save {
	struct vpipe_save_options opt;
	struct vpipe_sink sink;
	struct save_stream *streams;
	unsigned nstreams;
	size_t rec_cap;
	struct vqueue free_q, work_q, done_q;
	struct job *jobs;
	unsigned njobs;
	struct job *mark;               /* the buffer a mark takes */
	uint64_t next_order;            /* under lock */
	uint64_t written;               /* jobs the sink has had; under lock */
	pthread_t workers[VPIPE_THREADS_MAX], writer_thread;
	unsigned nworkers;
	bool writer_started, writer_done, masked;
	sigset_t caller_mask;
	pthread_mutex_t lock;
	pthread_cond_t drained;
	struct vpipe_throttle throttle;
	struct verr err;
	bool failed;
	struct vpipe_stats stats;
};

static bool stopped(const struct vpipe_save *p)
{
	return p->opt.stop && *p->opt.stop;
}

static int interrupted(const struct vpipe_save *p, struct verr *err)
{
	return verr_set(err, VERR_INTERRUPTED, 0, NULL, NULL, "pipeline: interrupted by signal %d",
			(int)*p->opt.stop);
}

/* The first failure of any thread wins; everyone else stops. After a signal,
 * whatever failed, the signal is the cause. */
static void fail(struct vpipe_save *p, const struct verr *err)
{
	pthread_mutex_lock(&p->lock);
	if (!p->failed) {
		p->failed = true;
		p->err = *err;
		if (stopped(p)) {
			verr_clear(&p->err);
			interrupted(p, &p->err);
		}
	}
	pthread_cond_broadcast(&p->drained);
	pthread_mutex_unlock(&p->lock);
	vpipe_throttle_cancel(&p->throttle);
	vqueue_cancel(&p->free_q);
	vqueue_cancel(&p->work_q);
	vqueue_cancel(&p->done_q);
}

/* One job through the encoder, once the throttle lets it run. */
static int encode_job(struct vpipe_save *p, struct vstream_encoder *enc, struct job *job,
		      struct verr *err)
{
	int level = p->opt.compress ? p->opt.level : VSTREAM_LEVEL_STORED;
	unsigned encoding;
	int ret;

	if (vpipe_throttle_enter(&p->throttle, &encoding) < 0)
		return -ECANCELED;
	if (p->opt.on_encode)
		p->opt.on_encode(p->opt.on_encode_ctx, encoding);
	ret = vstream_encode_record(enc, job->type, job->seq, level, job->raw, job->raw_len,
				    job->rec, p->rec_cap, &job->rec_len, err);
	vpipe_throttle_leave(&p->throttle);
	return ret;
}

static void *worker_main(void *arg)
{
	struct vpipe_save *p = arg;
	struct vstream_encoder *enc = NULL;
	unsigned bound = 0;
	struct verr err = { 0 };
	void *item;

	if (vstream_encoder_new(p->opt.key, vstream_writer_stream_id(p->streams[0].writer), &enc,
				&err) < 0) {
		fail(p, &err);
		return NULL;
	}
	while (vqueue_pop(&p->work_q, &item) == 0) {
		struct job *job = item;

		if (job->stream != bound) {
			bound = job->stream;
			vstream_encoder_set_stream(enc, vstream_writer_stream_id(p->streams[bound].writer));
		}
		if (encode_job(p, enc, job, &err) < 0 || vqueue_push(&p->done_q, job) < 0) {
			if (err.set)
				fail(p, &err);
			break;
		}
	}
	vstream_encoder_free(enc);
	return NULL;
}

static int write_job(struct vpipe_save *p, struct job *job, struct verr *err)
{
	struct vstream_writer *w = job->kind == JOB_MARK ? NULL : p->streams[job->stream].writer;
	enum vpipe_part part = job->kind == JOB_END ? VPIPE_TRAILER : VPIPE_RECORD;

	if (job->kind == JOB_MARK)
		return p->sink.write(p->sink.ctx, VPIPE_NO_STREAM, VPIPE_MARK, NULL, 0, err);
	if (job->kind == JOB_END ? vstream_writer_finish(w, job->rec, p->rec_cap, &job->rec_len,
							 err) < 0
				 : vstream_writer_add(w, job->rec, job->rec_len, err) < 0)
		return -EIO;
	if (p->sink.write(p->sink.ctx, job->stream, part, job->rec, job->rec_len, err) < 0)
		return -EIO;
	pthread_mutex_lock(&p->lock);
	p->stats.wire_bytes += job->rec_len;
	if (job->kind == JOB_RECORD) {
		p->stats.records++;
		p->stats.raw_bytes += job->raw_len;
		p->stats.stored_bytes += job->rec_len - VSTREAM_RECORD_HEAD - VSTREAM_DIGEST_LEN;
	}
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* Workers finish out of order; at most njobs jobs are in flight, which is what
 * the window holds. A signal ends the writing between any two jobs. */
static void write_jobs(struct vpipe_save *p)
{
	struct vpipe_window window;
	struct verr err = { 0 };
	struct job *job;
	void *item;
	int rc;

	if (vpipe_window_init(&window, p->njobs) < 0) {
		verr_set(&err, VERR_FAILED, ENOMEM, NULL, NULL, "pipeline: reorder window");
		fail(p, &err);
		return;
	}
	while ((rc = vqueue_pop(&p->done_q, &item)) == 0) {
		job = item;
		if (vpipe_window_put(&window, job->order, job) < 0) {
			verr_set(&err, VERR_FAILED, ERANGE, NULL, NULL, "pipeline: job %llu out of order",
				 (unsigned long long)job->order);
			fail(p, &err);
			break;
		}
		while ((job = vpipe_window_take(&window))) {
			if (stopped(p) || write_job(p, job, &err) < 0 ||
			    vqueue_push(&p->free_q, job) < 0) {
				if (err.set || stopped(p))
					fail(p, &err);
				vpipe_window_free(&window);
				return;
			}
			pthread_mutex_lock(&p->lock);
			p->written = window.next;
			pthread_cond_broadcast(&p->drained);
			pthread_mutex_unlock(&p->lock);
		}
	}
	if (rc == -EINTR)
		fail(p, &err);
	vpipe_window_free(&window);
}

static void *writer_main(void *arg)
{
	struct vpipe_save *p = arg;

	write_jobs(p);
	pthread_mutex_lock(&p->lock);
	p->writer_done = true;
	pthread_cond_broadcast(&p->drained);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static int alloc_jobs(struct vpipe_save *p)
{
	p->njobs = 2 * p->opt.threads + 2 + p->nstreams;
	p->jobs = calloc(p->njobs, sizeof(*p->jobs));
	if (!p->jobs)
		return -ENOMEM;
	for (unsigned i = 0; i < p->njobs; i++) {
		p->jobs[i].raw = malloc(p->opt.chunk);
		p->jobs[i].rec = malloc(p->rec_cap);
		if (!p->jobs[i].raw || !p->jobs[i].rec)
			return -ENOMEM;
	}
	return 0;
}

/* The writer keeps the caller's signal mask; the caller and the workers block
 * INT, TERM and HUP, so these reach the thread whose output may be stalled. */
static int start_threads(struct vpipe_save *p, struct verr *err)
{
	for (unsigned i = 0; i < p->njobs; i++)
		if (vqueue_push(&p->free_q, &p->jobs[i]) < 0)
			return verr_set(err, VERR_FAILED, EPIPE, NULL, NULL, "pipeline: start");
	if (pthread_create(&p->writer_thread, NULL, writer_main, p) != 0)
		return verr_set(err, VERR_FAILED, EAGAIN, NULL, NULL, "pipeline: start the writer");
	p->writer_started = true;
	io_block_interrupts(&p->caller_mask);
	p->masked = true;
	if (vpipe_spawn(p->workers, p->opt.threads, &p->nworkers, worker_main, p) < 0)
		return verr_set(err, VERR_FAILED, EAGAIN, NULL, NULL, "pipeline: start a worker");
	return 0;
}

/* One wait for the writer's news, under p->lock; in slices when a signal may end
 * it, since a handler cannot wake anyone. */
static void wait_writer(struct vpipe_save *p)
{
	struct timespec ts;

	if (!p->opt.stop) {
		pthread_cond_wait(&p->drained, &p->lock);
		return;
	}
	vclock_deadline(CLOCK_MONOTONIC, VQUEUE_STOP_POLL_MS, &ts);
	pthread_cond_timedwait(&p->drained, &p->lock, &ts);
}

/* After a signal the writer may be blocked in the sink's output (a pipe no one
 * reads): the signal may have come just before its write began, or gone to
 * another thread. It gets the signal again until its write gives up. */
static void join_writer(struct vpipe_save *p)
{
	pthread_mutex_lock(&p->lock);
	while (!p->writer_done) {
		int sig = stopped(p) ? (int)*p->opt.stop : 0;

		if (sig > 0 && sig < NSIG)
			pthread_kill(p->writer_thread, sig);
		wait_writer(p);
	}
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->writer_thread, NULL);
}

static void stop_threads(struct vpipe_save *p)
{
	for (unsigned i = 0; i < p->nworkers; i++)
		pthread_join(p->workers[i], NULL);
	p->nworkers = 0;
	if (p->writer_started)
		join_writer(p);
	p->writer_started = false;
	if (p->masked)
		pthread_sigmask(SIG_SETMASK, &p->caller_mask, NULL);
	p->masked = false;
}

static void destroy(struct vpipe_save *p)
{
	vpipe_throttle_cancel(&p->throttle);
	vqueue_cancel(&p->free_q);
	vqueue_cancel(&p->work_q);
	vqueue_cancel(&p->done_q);
	stop_threads(p);
	for (unsigned i = 0; p->jobs && i < p->njobs; i++) {
		free(p->jobs[i].raw);
		free(p->jobs[i].rec);
	}
	free(p->jobs);
	vqueue_destroy(&p->free_q);
	vqueue_destroy(&p->work_q);
	vqueue_destroy(&p->done_q);
	for (unsigned i = 0; p->streams && i < p->nstreams; i++)
		vstream_writer_free(p->streams[i].writer);
	free(p->streams);
	vpipe_throttle_destroy(&p->throttle);
	pthread_cond_destroy(&p->drained);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* Each stream's writer, and its header to the sink on the caller's thread. */
static int start_streams(struct vpipe_save *p, const struct vstream_header *hdrs,
			 struct verr *err)
{
	for (unsigned i = 0; i < p->nstreams; i++) {
		struct save_stream *s = &p->streams[i];
		const uint8_t *head;
		size_t len;

		if (vstream_writer_new(&hdrs[i], p->opt.key, &s->writer, err) < 0)
			return -EIO;
		vstream_writer_header(s->writer, &head, &len);
		if (p->sink.write(p->sink.ctx, i, VPIPE_HEADER, head, len, err) < 0)
			return -EIO;
		p->stats.wire_bytes += len;
	}
	return 0;
}

int vpipe_save_start(const struct vstream_header *hdrs, unsigned nstreams,
		     const struct vpipe_save_options *opt, const struct vpipe_sink *sink,
		     struct vpipe_save **pipe, struct verr *err)
{
	struct vpipe_save *p = calloc(1, sizeof(*p));
	size_t queue = 2 * opt->threads + 2 + nstreams;
	pthread_condattr_t attr;

	*pipe = NULL;
	if (!p)
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "pipeline: start");
	p->opt = *opt;
	p->sink = *sink;
	p->nstreams = nstreams;
	p->rec_cap = vstream_record_bound(opt->chunk);
	if (p->rec_cap < VSTREAM_TRAILER_MAX)
		p->rec_cap = VSTREAM_TRAILER_MAX;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->drained, &attr);
	pthread_condattr_destroy(&attr);
	vpipe_throttle_init(&p->throttle, opt->cpus ? opt->cpus : vpipe_cpus(), opt->threads,
			    nstreams, opt->stop);
	p->streams = calloc(nstreams ? nstreams : 1, sizeof(*p->streams));
	if (!p->streams || vqueue_init(&p->free_q, queue) < 0 || vqueue_init(&p->work_q, queue) < 0 ||
	    vqueue_init(&p->done_q, queue) < 0 || alloc_jobs(p) < 0) {
		destroy(p);
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "pipeline: buffers");
	}
	vqueue_set_stop(&p->free_q, opt->stop);
	vqueue_set_stop(&p->work_q, opt->stop);
	vqueue_set_stop(&p->done_q, opt->stop);
	if (!nstreams || start_streams(p, hdrs, err) < 0 || start_threads(p, err) < 0) {
		if (!nstreams)
			verr_set(err, VERR_FAILED, EINVAL, NULL, NULL, "pipeline: no stream");
		destroy(p);
		return -EIO;
	}
	*pipe = p;
	return 0;
}

static int pipe_error(struct vpipe_save *p, struct verr *err, const char *what)
{
	pthread_mutex_lock(&p->lock);
	if (p->failed) {
		*err = p->err;
		pthread_mutex_unlock(&p->lock);
		return -EIO;
	}
	pthread_mutex_unlock(&p->lock);
	if (stopped(p))
		return interrupted(p, err);
	return verr_set(err, VERR_FAILED, EPIPE, NULL, NULL, "pipeline: %s", what);
}

static void set_reading(struct vpipe_save *p, struct save_stream *s, bool reading)
{
	if (s->reading != reading)
		vpipe_throttle_reading(&p->throttle, reading);
	s->reading = reading;
}

/* s: the stream whose reader may wait (NULL for a mark); it is not busy meanwhile. */
static int take_buffer(struct vpipe_save *p, struct save_stream *s, struct job **slot,
		       struct verr *err)
{
	bool reading = s && s->reading;
	void *item;
	int ret;

	if (*slot)
		return 0;
	ret = vqueue_try_pop(&p->free_q, &item);
	if (ret == -EAGAIN) {
		if (reading)
			set_reading(p, s, false);
		ret = vqueue_pop(&p->free_q, &item);
		if (reading)
			set_reading(p, s, true);
	}
	if (ret < 0)
		return pipe_error(p, err, "get a buffer");
	*slot = item;
	return 0;
}

int vpipe_save_buffer(struct vpipe_save *p, unsigned stream, uint8_t **buf, size_t *cap,
		      struct verr *err)
{
	if (stream >= p->nstreams)
		return verr_set(err, VERR_FAILED, EINVAL, NULL, NULL,
				"pipeline: no stream %u", stream);
	if (take_buffer(p, &p->streams[stream], &p->streams[stream].current, err) < 0)
		return -EIO;
	*buf = p->streams[stream].current->raw;
	*cap = p->opt.chunk;
	return 0;
}

/* Queues the buffer in slot as a job; records go to the workers, the rest straight
 * to the writer, which orders everything. Its place in that order is taken under
 * the lock, so callers on several threads interleave whole jobs; the writer's
 * window puts them back in order whichever queue push comes first. */
static int queue_job(struct vpipe_save *p, struct job **slot, enum job_kind kind, unsigned stream,
		     struct verr *err)
{
	struct job *job = *slot;

	job->kind = kind;
	job->stream = stream;
	pthread_mutex_lock(&p->lock);
	job->order = p->next_order++;
	pthread_mutex_unlock(&p->lock);
	*slot = NULL;
	if (vqueue_push(kind == JOB_RECORD ? &p->work_q : &p->done_q, job) < 0)
		return pipe_error(p, err, "queue a record");
	return 0;
}

static int open_stream(struct vpipe_save *p, unsigned stream, struct verr *err)
{
	if (stream >= p->nstreams || p->streams[stream].ended)
		return verr_set(err, VERR_FAILED, EINVAL, NULL, NULL,
				"pipeline: stream %u is not open", stream);
	return 0;
}

int vpipe_save_submit(struct vpipe_save *p, unsigned stream, uint16_t type, size_t len,
		      struct verr *err)
{
	struct save_stream *s;

	if (open_stream(p, stream, err) < 0)
		return -EINVAL;
	s = &p->streams[stream];
	if (!s->current || len > p->opt.chunk)
		return verr_set(err, VERR_FAILED, EINVAL, NULL, NULL, "pipeline: submit");
	s->current->type = type;
	s->current->raw_len = len;
	s->current->seq = s->next_seq++;
	return queue_job(p, &s->current, JOB_RECORD, stream, err);
}

void vpipe_save_reading(struct vpipe_save *p, unsigned stream, bool reading)
{
	if (stream < p->nstreams)
		set_reading(p, &p->streams[stream], reading);
}

static int fill_buffer(struct vpipe_save *p, struct vdev *dev, uint8_t *buf, size_t cap,
		       size_t *fill, bool *drained, struct verr *err)
{
	while (*fill < cap) {
		bool end;
		ssize_t n;

		/* A driver may hand out a page a read: a buffer can take many. */
		if (stopped(p))
			return interrupted(p, err);
		n = vdev_read_data(dev, buf + *fill, cap - *fill, &end, err);
		if (n < 0)
			return (int)n;
		if (n == 0) {
			*drained = true;
			break;
		}
		*fill += (size_t)n;
	}
	return 0;
}

/* The reader stays busy from one read to the next, so that an encoder its submit
 * wakes does not take its CPU before it reads again; unless its reads sleep. */
int vpipe_save_read(struct vpipe_save *p, unsigned stream, struct vdev *dev, uint16_t type,
		    size_t *got, bool *drained, struct verr *err)
{
	struct vpipe_read_clock clock;
	struct save_stream *s;
	uint8_t *buf = NULL;
	size_t cap = 0, fill = 0;
	int ret;

	*got = 0;
	*drained = false;
	if (open_stream(p, stream, err) < 0)
		return -EIO;
	s = &p->streams[stream];
	ret = vpipe_save_buffer(p, stream, &buf, &cap, err);
	if (ret == 0) {
		set_reading(p, s, !s->reads_sleep);
		vpipe_read_clock_start(&p->throttle, &clock);
		ret = fill_buffer(p, dev, buf, cap, &fill, drained, err);
		s->reads_sleep = vpipe_read_clock_slept(&p->throttle, &clock);
	}
	if (ret == 0 && fill) {
		*got = fill;
		ret = vpipe_save_submit(p, stream, type, fill, err);
	}
	if (ret < 0 || *drained || s->reads_sleep)
		set_reading(p, s, false);
	return ret < 0 ? -EIO : 0;
}

int vpipe_save_end(struct vpipe_save *p, unsigned stream, struct verr *err)
{
	struct save_stream *s;

	if (open_stream(p, stream, err) < 0)
		return -EIO;
	s = &p->streams[stream];
	set_reading(p, s, false);
	if (take_buffer(p, s, &s->current, err) < 0)
		return -EIO;
	s->ended = true;
	return queue_job(p, &s->current, JOB_END, stream, err);
}

int vpipe_save_mark(struct vpipe_save *p, struct verr *err)
{
	if (take_buffer(p, NULL, &p->mark, err) < 0)
		return -EIO;
	return queue_job(p, &p->mark, JOB_MARK, VPIPE_NO_STREAM, err);
}

int vpipe_save_flush(struct vpipe_save *p, struct verr *err)
{
	bool failed;

	pthread_mutex_lock(&p->lock);
	while (!p->failed && !stopped(p) && p->written < p->next_order)
		wait_writer(p);
	failed = p->failed || stopped(p);
	pthread_mutex_unlock(&p->lock);
	return failed ? pipe_error(p, err, "flush") : 0;
}

int vpipe_save_finish(struct vpipe_save *p, struct vpipe_stats *stats, struct verr *err)
{
	int ret = 0;

	for (unsigned i = 0; i < p->nstreams && ret == 0; i++)
		if (!p->streams[i].ended)
			ret = vpipe_save_end(p, i, err);
	/* Drain: workers stop after the work queue, the writer after the done queue. */
	vqueue_close(&p->work_q);
	for (unsigned i = 0; i < p->nworkers; i++)
		pthread_join(p->workers[i], NULL);
	p->nworkers = 0;
	vqueue_close(&p->done_q);
	stop_threads(p);
	if (p->failed)
		ret = pipe_error(p, err, "finish");
	else if (ret == 0 && p->written != p->next_order)   /* no caller left: no lock */
		ret = verr_set(err, VERR_FAILED, EIO, NULL, NULL, "pipeline: %llu records lost",
			       (unsigned long long)(p->next_order - p->written));
	if (ret == 0 && stats)
		*stats = p->stats;
	destroy(p);
	return ret;
}

void vpipe_save_abort(struct vpipe_save *p)
{
	if (p)
		destroy(p);
}

void vpipe_save_progress(struct vpipe_save *p, struct vpipe_stats *stats)
{
	pthread_mutex_lock(&p->lock);
	*stats = p->stats;
	pthread_mutex_unlock(&p->lock);
}
