/* The save pipeline: the caller fills pooled buffers with device data; workers
 * encode them into records in parallel; one writer puts records in sequence order
 * and writes them, then the trailer. The pool bounds memory. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "queue.h"

struct job {
	uint8_t *raw, *rec;
	size_t raw_len, rec_len;
	uint16_t type;
	uint64_t seq;
};

struct vpipe_save {
	struct vpipe_save_options opt;
	struct xport_out *out;
	struct vstream_writer *writer;
	struct vqueue free_q, work_q, done_q;
	struct job *jobs;
	unsigned njobs;
	struct job *current;
	uint64_t next_seq;
	pthread_t workers[VPIPE_THREADS_MAX], writer_thread;
	unsigned nworkers;
	bool writer_started;
	pthread_mutex_t lock;
	struct verr err;
	bool failed;
	struct vpipe_stats stats;
};

/* The first failure of any thread wins; everyone else stops. */
static void fail(struct vpipe_save *p, const struct verr *err)
{
	pthread_mutex_lock(&p->lock);
	if (!p->failed) {
		p->failed = true;
		p->err = *err;
	}
	pthread_mutex_unlock(&p->lock);
	vqueue_cancel(&p->free_q);
	vqueue_cancel(&p->work_q);
	vqueue_cancel(&p->done_q);
}

static void *worker_main(void *arg)
{
	struct vpipe_save *p = arg;
	struct vstream_encoder *enc = NULL;
	struct verr err = { 0 };
	void *item;

	if (vstream_encoder_new(p->opt.key, vstream_writer_stream_id(p->writer), &enc, &err) < 0) {
		fail(p, &err);
		return NULL;
	}
	while (vqueue_pop(&p->work_q, &item) == 0) {
		struct job *job = item;
		int level = p->opt.compress ? p->opt.level : VSTREAM_LEVEL_STORED;

		if (vstream_encode_record(enc, job->type, job->seq, level, job->raw, job->raw_len,
					  job->rec, vstream_record_bound(p->opt.chunk),
					  &job->rec_len, &err) < 0 ||
		    vqueue_push(&p->done_q, job) < 0) {
			if (err.set)
				fail(p, &err);
			break;
		}
	}
	vstream_encoder_free(enc);
	return NULL;
}

static int write_record(struct vpipe_save *p, struct job *job, struct verr *err)
{
	if (vstream_writer_add(p->writer, job->rec, job->rec_len, err) < 0 ||
	    xport_out_write(p->out, job->rec, job->rec_len, err) < 0)
		return -EIO;
	pthread_mutex_lock(&p->lock);
	p->stats.records++;
	p->stats.raw_bytes += job->raw_len;
	p->stats.wire_bytes += job->rec_len;
	p->stats.stored_bytes += job->rec_len - VSTREAM_RECORD_HEAD - VSTREAM_DIGEST_LEN;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* Workers finish out of order; at most njobs records are in flight, so a window
 * of njobs slots indexed by seq holds every early one. */
static void *writer_main(void *arg)
{
	struct vpipe_save *p = arg;
	struct job **window = calloc(p->njobs, sizeof(*window));
	uint64_t want = 0;
	struct verr err = { 0 };
	void *item;

	if (!window) {
		verr_set(&err, VERR_FAILED, ENOMEM, NULL, NULL, "pipeline: reorder window");
		fail(p, &err);
		return NULL;
	}
	while (vqueue_pop(&p->done_q, &item) == 0) {
		struct job *job = item;

		window[job->seq % p->njobs] = job;
		while ((job = window[want % p->njobs]) && job->seq == want) {
			window[want % p->njobs] = NULL;
			if (write_record(p, job, &err) < 0 || vqueue_push(&p->free_q, job) < 0) {
				if (err.set)
					fail(p, &err);
				free(window);
				return NULL;
			}
			want++;
		}
	}
	free(window);
	return NULL;
}

static int alloc_jobs(struct vpipe_save *p)
{
	p->njobs = 2 * p->opt.threads + 2;
	p->jobs = calloc(p->njobs, sizeof(*p->jobs));
	if (!p->jobs)
		return -ENOMEM;
	for (unsigned i = 0; i < p->njobs; i++) {
		p->jobs[i].raw = malloc(p->opt.chunk);
		p->jobs[i].rec = malloc(vstream_record_bound(p->opt.chunk));
		if (!p->jobs[i].raw || !p->jobs[i].rec)
			return -ENOMEM;
	}
	return 0;
}

static int start_threads(struct vpipe_save *p, struct verr *err)
{
	for (unsigned i = 0; i < p->njobs; i++)
		if (vqueue_push(&p->free_q, &p->jobs[i]) < 0)
			return verr_set(err, VERR_FAILED, EPIPE, NULL, NULL, "pipeline: start");
	for (; p->nworkers < p->opt.threads; p->nworkers++)
		if (pthread_create(&p->workers[p->nworkers], NULL, worker_main, p) != 0)
			return verr_set(err, VERR_FAILED, EAGAIN, NULL, NULL, "pipeline: start a worker");
	if (pthread_create(&p->writer_thread, NULL, writer_main, p) != 0)
		return verr_set(err, VERR_FAILED, EAGAIN, NULL, NULL, "pipeline: start the writer");
	p->writer_started = true;
	return 0;
}

static void destroy(struct vpipe_save *p)
{
	vqueue_cancel(&p->free_q);
	vqueue_cancel(&p->work_q);
	vqueue_cancel(&p->done_q);
	for (unsigned i = 0; i < p->nworkers; i++)
		pthread_join(p->workers[i], NULL);
	if (p->writer_started)
		pthread_join(p->writer_thread, NULL);
	for (unsigned i = 0; p->jobs && i < p->njobs; i++) {
		free(p->jobs[i].raw);
		free(p->jobs[i].rec);
	}
	free(p->jobs);
	vqueue_destroy(&p->free_q);
	vqueue_destroy(&p->work_q);
	vqueue_destroy(&p->done_q);
	vstream_writer_free(p->writer);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int vpipe_save_start(const struct vstream_header *hdr, const struct vpipe_save_options *opt,
		     struct xport_out *out, struct vpipe_save **pipe, struct verr *err)
{
	struct vpipe_save *p = calloc(1, sizeof(*p));
	const uint8_t *head;
	size_t head_len;
	int ret;

	*pipe = NULL;
	if (!p)
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "pipeline: start");
	p->opt = *opt;
	p->out = out;
	pthread_mutex_init(&p->lock, NULL);
	if (vqueue_init(&p->free_q, 2 * opt->threads + 2) < 0 ||
	    vqueue_init(&p->work_q, 2 * opt->threads + 2) < 0 ||
	    vqueue_init(&p->done_q, 2 * opt->threads + 2) < 0 || alloc_jobs(p) < 0) {
		destroy(p);
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "pipeline: buffers");
	}
	ret = vstream_writer_new(hdr, opt->key, &p->writer, err);
	if (ret == 0) {
		vstream_writer_header(p->writer, &head, &head_len);
		ret = xport_out_write(out, head, head_len, err);
	}
	if (ret == 0)
		ret = start_threads(p, err);
	if (ret < 0) {
		destroy(p);
		return ret;
	}
	p->stats.wire_bytes = head_len;
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
	return verr_set(err, VERR_FAILED, EPIPE, NULL, NULL, "pipeline: %s", what);
}

int vpipe_save_buffer(struct vpipe_save *p, uint8_t **buf, size_t *cap, struct verr *err)
{
	void *item;

	if (!p->current) {
		if (vqueue_pop(&p->free_q, &item) < 0)
			return pipe_error(p, err, "get a buffer");
		p->current = item;
	}
	*buf = p->current->raw;
	*cap = p->opt.chunk;
	return 0;
}

int vpipe_save_submit(struct vpipe_save *p, uint16_t type, size_t len, struct verr *err)
{
	struct job *job = p->current;

	if (!job || len > p->opt.chunk)
		return verr_set(err, VERR_FAILED, EINVAL, NULL, NULL, "pipeline: submit");
	job->type = type;
	job->raw_len = len;
	job->seq = p->next_seq++;
	p->current = NULL;
	if (vqueue_push(&p->work_q, job) < 0)
		return pipe_error(p, err, "submit a record");
	return 0;
}

int vpipe_save_finish(struct vpipe_save *p, struct vpipe_stats *stats, struct verr *err)
{
	uint8_t trailer[VSTREAM_TRAILER_MAX];
	size_t len;
	int ret = 0;

	/* Drain: workers stop after the work queue, the writer after the done queue. */
	vqueue_close(&p->work_q);
	for (unsigned i = 0; i < p->nworkers; i++)
		pthread_join(p->workers[i], NULL);
	p->nworkers = 0;
	vqueue_close(&p->done_q);
	pthread_join(p->writer_thread, NULL);
	p->writer_started = false;
	if (p->failed)
		ret = pipe_error(p, err, "finish");
	else if (vstream_writer_next_seq(p->writer) != p->next_seq)
		ret = verr_set(err, VERR_FAILED, EIO, NULL, NULL, "pipeline: %llu records lost",
			       (unsigned long long)(p->next_seq - vstream_writer_next_seq(p->writer)));
	if (ret == 0)
		ret = vstream_writer_finish(p->writer, trailer, sizeof(trailer), &len, err);
	if (ret == 0)
		ret = xport_out_write(p->out, trailer, len, err);
	if (ret == 0) {
		p->stats.wire_bytes += len;
		if (stats)
			*stats = p->stats;
	}
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
