/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The save pipeline with several streams: whatever the number of encoders, the sink
 * gets headers, records, marks and trailers in the order they were queued, each
 * stream reads back complete and verified, and a sink failure stops everything.
 * With a feeding thread per stream, each stream still reads back whole; and the
 * decode pipeline's parallel sink writes each stream on its own thread, in order,
 * streams at once, and a drain returns only once every writer is done. The
 * throttle: on two CPUs, one encoder runs while a reader is busy, two while none
 * is, one still with more busy readers than CPUs; a stop or a failure ends an
 * encoder's wait for its turn. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/io.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_internal.h"
#include "stream/stream.h"
#include "unit.h"

#define CHUNK 4096
#define ROUNDS 200
#define MAX_LOG (2 * ROUNDS + 8)

static const uint8_t key_bytes[32] = "pipeline test key, 32 bytes....";
static const struct vstream_key key = { key_bytes, sizeof(key_bytes) };

struct sink_log {
	unsigned n, fail_at;            /* fail_at: fail the sink's nth call (1-based) */
	struct { unsigned stream; enum vpipe_part part; } item[MAX_LOG];
	uint8_t *bytes[2];
	size_t len[2];
};

static int collect(void *ctx, unsigned stream, enum vpipe_part part, const uint8_t *buf,
		   size_t len, struct verr *err)
{
	struct sink_log *log = ctx;

	if (log->n >= MAX_LOG || (log->fail_at && log->n + 1 == log->fail_at))
		return verr_set(err, VERR_PEER, EPIPE, "test sink", NULL, "write");
	log->item[log->n].stream = stream;
	log->item[log->n].part = part;
	log->n++;
	if (part == VPIPE_MARK)
		return 0;
	log->bytes[stream] = realloc(log->bytes[stream], log->len[stream] + len);
	memcpy(log->bytes[stream] + log->len[stream], buf, len);
	log->len[stream] += len;
	return 0;
}

static size_t record_len(unsigned stream, unsigned k)
{
	return 1 + (k * 37 + stream * 11) % CHUNK;
}

static void fill(uint8_t *buf, size_t len, unsigned stream, unsigned k)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(stream * 31 + k + i / 64);
}

/* Counts the encoders running a job at once (the pipeline's on_encode hook). */
struct encode_watch {
	pthread_mutex_t lock;
	pthread_cond_t two;
	unsigned jobs, most;
	bool hold_for_two;      /* each job waits (2 s at most) until two encoders run */
};

static void watch_encode(void *ctx, unsigned encoding)
{
	struct encode_watch *w = ctx;
	struct timespec ts;

	pthread_mutex_lock(&w->lock);
	w->jobs++;
	if (encoding > w->most)
		w->most = encoding;
	if (w->hold_for_two) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 2;
		pthread_cond_broadcast(&w->two);
		while (w->most < 2 && pthread_cond_timedwait(&w->two, &w->lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&w->lock);
	/* long enough for another encoder to come in, if the throttle let it */
	if (!w->hold_for_two)
		usleep(2000);
}

static struct vpipe_save *start_on(struct sink_log *log, unsigned threads, unsigned cpus,
				   struct encode_watch *watch, struct verr *err)
{
	struct vstream_header hdrs[2];
	struct vpipe_save_options opt = {
		.level = 1, .compress = true, .threads = threads, .chunk = CHUNK, .key = &key,
		.cpus = cpus, .on_encode = watch ? watch_encode : NULL, .on_encode_ctx = watch,
	};
	struct vpipe_save *pipe = NULL;

	for (unsigned s = 0; s < 2; s++) {
		vstream_header_init(&hdrs[s], err);
		hdrs[s].id.kind = VSTREAM_KIND_MDEV;
	}
	vpipe_save_start(hdrs, 2, &opt, &(struct vpipe_sink){ collect, log }, &pipe, err);
	return pipe;
}

static struct vpipe_save *start(struct sink_log *log, unsigned threads, struct verr *err)
{
	return start_on(log, threads, 0, NULL, err);
}

static int submit(struct vpipe_save *pipe, unsigned stream, unsigned k, struct verr *err)
{
	uint8_t *buf;
	size_t cap;

	if (vpipe_save_buffer(pipe, stream, &buf, &cap, err) < 0)
		return -1;
	fill(buf, record_len(stream, k), stream, k);
	return vpipe_save_submit(pipe, stream,
				 k < ROUNDS / 2 ? VSTREAM_REC_PRECOPY : VSTREAM_REC_STOPCOPY,
				 record_len(stream, k), err);
}

/* Reads a stream back; true when every record is the one queued and it verified. */
static bool reads_back(const struct sink_log *log, unsigned stream, unsigned records)
{
	struct vstream_reader *r;
	struct verr err = { 0 };
	size_t pos = 0;
	unsigned k = 0;
	bool good = true, trailer = false;

	if (vstream_reader_new(&key, "test", &r, &err) < 0)
		return false;
	while (good && pos < log->len[stream]) {
		struct vstream_event ev;
		size_t used = 0;
		uint8_t want[CHUNK];

		if (vstream_reader_feed(r, log->bytes[stream] + pos, log->len[stream] - pos, &used,
					&ev, &err) < 0)
			good = false;
		pos += used;
		if (ev.kind == VSTREAM_EV_RECORD) {
			fill(want, record_len(stream, k), stream, k);
			good = ev.len == record_len(stream, k) && !memcmp(ev.data, want, ev.len);
			k++;
		}
		trailer |= ev.kind == VSTREAM_EV_TRAILER;
	}
	good = good && trailer && k == records && vstream_reader_end(r, &err) == 0;
	vstream_reader_free(r);
	return good;
}

static void check_order_and_content(unsigned threads)
{
	struct sink_log log = { 0 }, want = { 0 };
	struct verr err = { 0 };
	struct vpipe_save *pipe = start(&log, threads, &err);
	struct vpipe_stats stats = { 0 };
	unsigned records[2] = { 0, 0 };
	bool ok = pipe != NULL, flushed = true;

	for (unsigned s = 0; s < 2; s++)
		want.item[want.n++] = (typeof(want.item[0])){ s, VPIPE_HEADER };
	for (unsigned k = 0; ok && k < ROUNDS; k++) {
		if (k == ROUNDS / 2) {
			flushed = vpipe_save_flush(pipe, &err) == 0 && log.n == want.n;
			ok = vpipe_save_mark(pipe, &err) == 0;
			want.item[want.n++] = (typeof(want.item[0])){ VPIPE_NO_STREAM, VPIPE_MARK };
		}
		if (k == ROUNDS * 3 / 4) {
			ok = ok && vpipe_save_end(pipe, 1, &err) == 0;
			want.item[want.n++] = (typeof(want.item[0])){ 1, VPIPE_TRAILER };
		}
		for (unsigned s = 0; ok && s < 2; s++) {
			if (s == 1 && k >= ROUNDS * 3 / 4)
				continue;
			ok = submit(pipe, s, records[s]++, &err) == 0;
			want.item[want.n++] = (typeof(want.item[0])){ s, VPIPE_RECORD };
		}
	}
	want.item[want.n++] = (typeof(want.item[0])){ 0, VPIPE_TRAILER };
	CHECK(ok, "%u encoders: 2 streams, %u records, a mark and an early end queue", threads,
	      records[0] + records[1]);
	CHECK(flushed, "%u encoders: a flush returns once the sink has had everything", threads);
	CHECK(ok && submit(pipe, 1, 0, &err) < 0 && err.errnum == EINVAL,
	      "%u encoders: an ended stream takes no more records", threads);
	CHECK(ok && vpipe_save_finish(pipe, &stats, &err) == 0,
	      "%u encoders: finish writes the last trailer", threads);
	CHECK(log.n == want.n && !memcmp(log.item, want.item, want.n * sizeof(want.item[0])),
	      "%u encoders: the sink gets everything in queued order", threads);
	CHECK(stats.records == records[0] + records[1], "%u encoders: stats count %llu records",
	      threads, (unsigned long long)stats.records);
	CHECK(reads_back(&log, 0, records[0]) && reads_back(&log, 1, records[1]),
	      "%u encoders: both streams read back complete and verified", threads);
	free(log.bytes[0]);
	free(log.bytes[1]);
}

static void check_sink_failure(void)
{
	struct sink_log log = { .fail_at = 6 };
	struct verr err = { 0 };
	struct vpipe_save *pipe = start(&log, 3, &err);
	unsigned k = 0;

	while (pipe && k < 1000 && submit(pipe, k % 2, k / 2, &err) == 0)
		k++;
	CHECK(k < 1000 && err.class == VERR_PEER && !strcmp(err.what, "write"),
	      "a failed sink stops the submitter with the sink's error");
	memset(&err, 0, sizeof(err));
	CHECK(pipe && vpipe_save_finish(pipe, NULL, &err) < 0 && err.class == VERR_PEER,
	      "finish reports the sink's error too");
	free(log.bytes[0]);
	free(log.bytes[1]);

	memset(&log, 0, sizeof(log));
	pipe = start(&log, 2, &err);
	CHECK(pipe && submit(pipe, 0, 0, &err) == 0, "a pipeline to abort has work queued");
	vpipe_save_abort(pipe);
	vpipe_save_abort(NULL);
	free(log.bytes[0]);
	free(log.bytes[1]);
}

static vstop_t test_stop;

static void on_usr1(int sig)
{
	test_stop = sig;
}

/* Sets the stop flag after 200 ms without sending a signal: the signal that set it
 * went to another thread, or came just before the writer's write began. */
static void *stop_later(void *arg)
{
	(void)arg;
	usleep(200 * 1000);
	test_stop = SIGUSR1;
	return NULL;
}

static int to_pipe(void *ctx, unsigned stream, enum vpipe_part part, const uint8_t *buf,
		   size_t len, struct verr *err)
{
	int ret = io_write_full(*(int *)ctx, buf, len);

	(void)stream;
	(void)part;
	return ret < 0 ? verr_set(err, VERR_FAILED, -ret, "test pipe", NULL, "write") : 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A writer blocked in a pipe no one reads, and a stop flag that no signal to it
 * set: the submitter's wait ends, and abort gets the writer out of its write. */
static void check_stop_with_blocked_writer(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };      /* no SA_RESTART */
	struct vpipe_save_options opt = {
		.compress = false, .threads = 2, .chunk = CHUNK, .stop = &test_stop,
	};
	struct vstream_header hdr;
	struct vpipe_save *pipe = NULL;
	struct verr err = { 0 };
	pthread_t t;
	int fds[2], ret = 0;
	unsigned k = 0;
	double t0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	io_set_interrupt_flag(&test_stop);
	if (pipe2(fds, O_CLOEXEC) < 0)
		return;
	fcntl(fds[1], F_SETPIPE_SZ, 4096);
	vstream_header_init(&hdr, &err);
	hdr.id.kind = VSTREAM_KIND_MDEV;
	test_stop = 0;
	vpipe_save_start(&hdr, 1, &opt, &(struct vpipe_sink){ to_pipe, &fds[1] }, &pipe, &err);
	pthread_create(&t, NULL, stop_later, NULL);
	while (pipe && k < 10000 && (ret = submit(pipe, 0, k, &err)) == 0)
		k++;
	pthread_join(t, NULL);
	CHECK(ret < 0 && err.class == VERR_INTERRUPTED,
	      "a submitter waiting on a stuck writer stops on the flag (%u records in)", k);
	t0 = now_s();
	vpipe_save_abort(pipe);
	CHECK(now_s() - t0 < 2, "abort gets the writer out of its blocked write (%.3f s)",
	      now_s() - t0);
	io_set_interrupt_flag(NULL);
	close(fds[0]);
	close(fds[1]);
}


/* One feeding thread per stream, as the migration source's device readers. */
struct feeder {
	struct vpipe_save *pipe;
	unsigned stream, records;
	int rc;
	struct verr err;
};

static void *feed_stream(void *arg)
{
	struct feeder *f = arg;

	for (unsigned k = 0; k < f->records && f->rc == 0; k++) {
		f->rc = submit(f->pipe, f->stream, k, &f->err);
		if (k % 17 == f->stream)
			sched_yield();
	}
	if (f->rc == 0)
		f->rc = vpipe_save_end(f->pipe, f->stream, &f->err);
	return NULL;
}

static void check_concurrent_feeders(unsigned threads)
{
	struct sink_log log = { 0 };
	struct verr err = { 0 };
	struct vpipe_save *pipe = start(&log, threads, &err);
	struct feeder f[2] = { { pipe, 0, ROUNDS - 7, 0, { 0 } }, { pipe, 1, ROUNDS, 0, { 0 } } };
	pthread_t t[2];
	bool interleaved = false;

	for (unsigned i = 0; pipe && i < 2; i++)
		pthread_create(&t[i], NULL, feed_stream, &f[i]);
	for (unsigned i = 0; pipe && i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK(pipe && f[0].rc == 0 && f[1].rc == 0 && vpipe_save_finish(pipe, NULL, &err) == 0,
	      "%u encoders, a feeder per stream: every record and trailer queued and written",
	      threads);
	for (unsigned i = 3; i < log.n; i++)
		interleaved |= log.item[i].stream != log.item[i - 1].stream &&
			       log.item[i].part == VPIPE_RECORD && log.item[i - 1].part == VPIPE_RECORD;
	CHECK(reads_back(&log, 0, ROUNDS - 7) && reads_back(&log, 1, ROUNDS),
	      "%u encoders, a feeder per stream: each stream reads back whole and in order%s",
	      threads, interleaved ? " (records interleaved)" : "");
	free(log.bytes[0]);
	free(log.bytes[1]);
}

/* The decode side's parallel sink: a slow device per stream. */
struct writer_log {
	pthread_mutex_t lock;
	unsigned busy, most_busy, fail_stream, fail_at, calls[2], after_failure;
	bool failed;
	bool in_order[2];
};

static int slow_write(void *ctx, unsigned stream, const uint8_t *data, size_t len,
		      struct verr *err)
{
	struct writer_log *w = ctx;
	uint8_t want[CHUNK];
	unsigned k;

	pthread_mutex_lock(&w->lock);
	k = w->calls[stream]++;
	if (w->failed)
		w->after_failure++;
	if (++w->busy > w->most_busy)
		w->most_busy = w->busy;
	pthread_mutex_unlock(&w->lock);
	fill(want, record_len(stream, k), stream, k);
	if (len != record_len(stream, k) || memcmp(data, want, len))
		w->in_order[stream] = false;
	usleep(300);
	pthread_mutex_lock(&w->lock);
	w->busy--;
	pthread_mutex_unlock(&w->lock);
	if (w->fail_at && stream == w->fail_stream && k + 1 == w->fail_at) {
		pthread_mutex_lock(&w->lock);
		w->failed = true;
		pthread_mutex_unlock(&w->lock);
		return verr_set(err, VERR_FAILED, EIO, "test device", NULL, "write");
	}
	return 0;
}

/* Feeds both streams of log through a parallel decode pipeline, alternating slices
 * of each; rc of the first call that failed, or of the ends. */
static int decode_parallel(const struct sink_log *log, struct writer_log *w, unsigned *drained)
{
	const struct vpipe_decode_sink sink = { slow_write, w, NULL, true };
	struct vstream_reader *r[2] = { NULL, NULL };
	struct vpipe_decode *pipe = NULL;
	struct verr err = { 0 };
	size_t pos[2] = { 0, 0 };
	int rc = 0;

	for (unsigned s = 0; s < 2 && rc == 0; s++) {
		struct vstream_event ev;
		size_t used = 0;

		w->in_order[s] = true;
		rc = vstream_reader_new(&key, "test", &r[s], &err);
		/* the header, as the destination checks it before the pipeline starts */
		while (rc == 0 && !vstream_reader_header(r[s])) {
			rc = vstream_reader_feed(r[s], log->bytes[s] + pos[s], log->len[s] - pos[s],
						 &used, &ev, &err);
			pos[s] += used;
		}
	}
	if (rc == 0)
		rc = vpipe_decode_start(r, 2, &key, 3, &sink, &pipe, &err);
	while (rc == 0 && (pos[0] < log->len[0] || pos[1] < log->len[1]))
		for (unsigned s = 0; s < 2 && rc == 0; s++) {
			size_t n = log->len[s] - pos[s] < 5000 ? log->len[s] - pos[s] : 5000;

			rc = vpipe_decode_feed(pipe, s, log->bytes[s] + pos[s], n, &err);
			pos[s] += n;
		}
	if (rc == 0) {
		rc = vpipe_decode_drain(pipe, &err);
		*drained = w->calls[0] + w->calls[1];
	}
	for (unsigned s = 0; s < 2 && rc == 0; s++)
		rc = vpipe_decode_end(pipe, s, &err);
	vpipe_decode_stop(pipe);
	vstream_reader_free(r[0]);
	vstream_reader_free(r[1]);
	return rc < 0 && strcmp(err.what, "write") ? -EBADMSG : rc;
}

static void check_parallel_writers(void)
{
	struct sink_log log = { 0 };
	struct verr err = { 0 };
	struct vpipe_save *pipe = start(&log, 2, &err);
	struct writer_log w = { .lock = PTHREAD_MUTEX_INITIALIZER };
	unsigned drained = 0;
	int rc;

	for (unsigned k = 0; pipe && k < ROUNDS / 2; k++)
		if (submit(pipe, 0, k, &err) < 0 || submit(pipe, 1, k, &err) < 0)
			break;
	if (!pipe || vpipe_save_finish(pipe, NULL, &err) < 0)
		return;
	rc = decode_parallel(&log, &w, &drained);
	CHECK(rc == 0 && w.calls[0] == ROUNDS / 2 && w.calls[1] == ROUNDS / 2 && w.in_order[0] &&
	      w.in_order[1], "parallel sink: each stream's records reach its writer whole and in "
	      "order (rc %d, %u + %u)", rc, w.calls[0], w.calls[1]);
	CHECK(w.most_busy == 2, "parallel sink: the two streams are written at once");
	CHECK(drained == ROUNDS, "parallel sink: a drain returns once every writer is done (%u)",
	      drained);

	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.lock, NULL);
	w.fail_stream = 1;
	w.fail_at = 20;
	rc = decode_parallel(&log, &w, &drained);
	CHECK(rc < 0 && rc != -EBADMSG, "parallel sink: a writer's failure is the pipeline's (%d)",
	      rc);
	CHECK(w.calls[1] == 20 && w.after_failure <= 1,
	      "parallel sink: nothing more is written after it (%u on stream 1, %u after)",
	      w.calls[1], w.after_failure);
	free(log.bytes[0]);
	free(log.bytes[1]);
}

static void watch_init(struct encode_watch *w, bool hold_for_two)
{
	pthread_condattr_t attr;

	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->two, &attr);
	pthread_condattr_destroy(&attr);
	w->hold_for_two = hold_for_two;
}

/* Two encoders on two CPUs, six records queued while busy_readers readers are busy
 * (fewer than the pool's buffers: a reader waiting for one is not busy): the most
 * encoders that ran a job at once, or 0 when the pipeline failed. */
static unsigned most_encoding(unsigned busy_readers, bool hold_for_two, unsigned *jobs)
{
	struct sink_log log = { 0 };
	struct encode_watch w;
	struct verr err = { 0 };
	struct vpipe_save *pipe;
	bool ok;

	watch_init(&w, hold_for_two);
	pipe = start_on(&log, 2, 2, &w, &err);
	ok = pipe != NULL;
	for (unsigned s = 0; ok && s < busy_readers; s++)
		vpipe_save_reading(pipe, s, true);
	for (unsigned k = 0; ok && k < 6; k++)
		ok = submit(pipe, k % 2, k / 2, &err) == 0;
	ok = ok && vpipe_save_flush(pipe, &err) == 0;
	for (unsigned s = 0; ok && s < busy_readers; s++)
		vpipe_save_reading(pipe, s, false);
	ok = ok && vpipe_save_finish(pipe, NULL, &err) == 0 && reads_back(&log, 0, 3) &&
	     reads_back(&log, 1, 3);
	if (!ok)
		vpipe_save_abort(pipe);
	free(log.bytes[0]);
	free(log.bytes[1]);
	*jobs = w.jobs;
	return ok ? w.most : 0;
}

static void check_throttle(void)
{
	unsigned jobs, most;

	most = most_encoding(0, true, &jobs);
	CHECK(most == 2, "2 CPUs, no reader busy: both encoders run at once (%u of %u jobs)",
	      most, jobs);
	most = most_encoding(1, false, &jobs);
	CHECK(most == 1 && jobs == 6,
	      "2 CPUs, a reader busy: one encoder runs at a time (at most %u, %u jobs)", most, jobs);
	most = most_encoding(2, false, &jobs);
	CHECK(most == 1 && jobs == 6,
	      "2 CPUs, two readers busy: one encoder still runs (at most %u, %u jobs)", most, jobs);
}

/* An encoder waiting for its turn, and what ends the wait. */
struct turn {
	struct vpipe_throttle *t;
	int ret;
};

static void *take_turn(void *arg)
{
	struct turn *turn = arg;
	unsigned encoding;

	turn->ret = vpipe_throttle_enter(turn->t, &encoding);
	if (turn->ret == 0)
		vpipe_throttle_leave(turn->t);
	return NULL;
}

/* Starts an encoder that must wait (2 CPUs: one reader busy, one encoder in);
 * true once it waits, false if it has not within 5 s. */
static bool wait_for_turn(struct vpipe_throttle *t, struct turn *turn, pthread_t *id)
{
	unsigned encoding, waiting = 0;
	double until = now_s() + 5;

	vpipe_throttle_reading(t, true);
	vpipe_throttle_enter(t, &encoding);
	turn->t = t;
	turn->ret = 1;
	pthread_create(id, NULL, take_turn, turn);
	while (!waiting && now_s() < until) {
		pthread_mutex_lock(&t->lock);
		waiting = t->waiting;
		pthread_mutex_unlock(&t->lock);
		usleep(1000);
	}
	return waiting;
}

/* Joins the encoder; one still waiting after 5 s is let go (the throttle turned
 * off), and its turn fails. */
static void end_turn(struct vpipe_throttle *t, struct turn *turn, pthread_t id)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	if (pthread_timedjoin_np(id, NULL, &ts) == 0)
		return;
	pthread_mutex_lock(&t->lock);
	t->off = true;
	pthread_cond_broadcast(&t->open);
	pthread_mutex_unlock(&t->lock);
	pthread_join(id, NULL);
	turn->ret = 1;
}

static void check_throttle_wakes(void)
{
	struct vpipe_throttle t;
	struct vpipe_read_clock clock;
	struct turn turn;
	pthread_t id;
	bool waited;

	vpipe_throttle_init(&t, 2, 2, 1, NULL);
	waited = wait_for_turn(&t, &turn, &id);
	vpipe_throttle_reading(&t, false);
	end_turn(&t, &turn, id);
	CHECK(waited && turn.ret == 0, "throttle: an encoder waits while a reader is busy and "
	      "another encodes, and the end of the read lets it in (%d)", turn.ret);
	vpipe_throttle_leave(&t);
	waited = wait_for_turn(&t, &turn, &id);
	vpipe_throttle_cancel(&t);
	end_turn(&t, &turn, id);
	CHECK(waited && turn.ret == -ECANCELED, "throttle: a failure ends an encoder's wait (%d)",
	      turn.ret);
	vpipe_throttle_destroy(&t);

	test_stop = 0;
	vpipe_throttle_init(&t, 2, 2, 1, &test_stop);
	waited = wait_for_turn(&t, &turn, &id);
	test_stop = SIGUSR1;
	end_turn(&t, &turn, id);
	CHECK(waited && turn.ret == -EINTR, "throttle: a signal's flag ends an encoder's wait (%d)",
	      turn.ret);
	vpipe_throttle_destroy(&t);
	test_stop = 0;

	vpipe_throttle_init(&t, 2, 2, 1, NULL);
	vpipe_read_clock_start(&t, &clock);
	usleep(20 * 1000);
	CHECK(vpipe_read_clock_slept(&t, &clock), "throttle: a read that sleeps is seen to");
	vpipe_throttle_destroy(&t);
	vpipe_throttle_init(&t, 4, 2, 1, NULL);
	CHECK(t.off, "throttle: off with a CPU for every encoder and reader");
	vpipe_throttle_destroy(&t);
}

/* The CPU count follows the affinity mask (taskset, cpusets), not only the online
 * CPUs. */
static void check_cpus(void)
{
	cpu_set_t saved, one;

	if (sched_getaffinity(0, sizeof(saved), &saved) < 0)
		return;
	CPU_ZERO(&one);
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &saved)) {
			CPU_SET(i, &one);
			break;
		}
	sched_setaffinity(0, sizeof(one), &one);
	CHECK(vpipe_cpus() == 1 && vpipe_threads(0, CHUNK) == 1,
	      "bound to one CPU: one CPU counted, one worker (%u)", vpipe_cpus());
	sched_setaffinity(0, sizeof(saved), &saved);
	CHECK(vpipe_cpus() == (unsigned)CPU_COUNT(&saved), "the affinity mask's CPUs: %u",
	      vpipe_cpus());
}

int main(void)
{
	check_order_and_content(1);
	check_order_and_content(4);
	check_sink_failure();
	check_stop_with_blocked_writer();
	check_concurrent_feeders(1);
	check_concurrent_feeders(3);
	check_parallel_writers();
	check_throttle();
	check_throttle_wakes();
	check_cpus();
	return unit_done();
}
