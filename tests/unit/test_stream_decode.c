/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The decode pipeline against the serial stream reader: on intact and on damaged
 * streams, whatever the number of workers and the slicing of the input, it yields
 * the same records in the same order and refuses with the same message, naming
 * the first bad record; nothing from that record or after it reaches the sink. */
#define TEST_STREAM_LIB_INCLUDED
#include "test_stream_lib.c"

#include "pipeline/pipeline.h"
#include "pipeline/pipeline_internal.h"

static const struct spec mixed[] = {
	{ VSTREAM_REC_PRECOPY, 700, false }, { VSTREAM_REC_PRECOPY, 300, true },
	{ VSTREAM_REC_PRECOPY, 0, false },   { VSTREAM_REC_STOPCOPY, 1500, false },
	{ VSTREAM_REC_STOPCOPY, 200, true }, { VSTREAM_REC_STOPCOPY, 900, false },
	{ VSTREAM_REC_STOPCOPY, 64, true },  { VSTREAM_REC_STOPCOPY, 2000, false },
	{ VSTREAM_REC_STOPCOPY, 10, false }, { VSTREAM_REC_STOPCOPY, 400, true },
};
#define NMIXED (sizeof(mixed) / sizeof(mixed[0]))

struct sink_state {
	struct event_log *log;
	unsigned fail_at;               /* fail the sink's nth call (1-based); 0: never */
	unsigned calls;
};

/* The pipeline's stop flag, which the sink raises after its stop_after-th record
 * (0: never), as a signal arriving during that device write would. */
static vstop_t test_stop;
static unsigned stop_after;

static int log_record(void *ctx, unsigned stream, const uint8_t *data, size_t len,
		      struct verr *err)
{
	struct sink_state *s = ctx;
	struct vstream_event ev = { .kind = VSTREAM_EV_RECORD, .data = data, .len = len };

	(void)stream;
	if (++s->calls == s->fail_at)
		return verr_set(err, VERR_FAILED, EIO, "test device", NULL, "write");
	log_event(s->log, &ev);
	if (s->calls == stop_after)
		test_stop = SIGTERM;
	return 0;
}

/* Like read_all, through the pipeline: logs the header and each record the sink
 * got (kind, len, hash), and the outcome. */
static int decode_all(const struct vstream_key *key, const uint8_t *buf, size_t len,
		      size_t slice, unsigned threads, unsigned fail_at, struct event_log *log)
{
	struct sink_state state = { log, fail_at, 0 };
	const struct vpipe_decode_sink sink = { log_record, &state, &test_stop, false };
	struct vpipe_decode *pipe = NULL;
	struct vstream_reader *r;
	struct verr err = { 0 };
	size_t pos = 0;
	int rc;

	memset(log, 0, sizeof(*log));
	test_stop = 0;
	rc = vstream_reader_new(key, "test", &r, &err);
	/* The header first, as restore reads it, then the rest through the pipeline. */
	while (rc == 0 && pos < len && !vstream_reader_header(r)) {
		struct vstream_event ev;
		size_t used;

		rc = vstream_reader_feed(r, buf + pos, slice && slice < len - pos ? slice : len - pos,
					 &used, &ev, &err);
		pos += used;
		if (rc == 0 && ev.kind == VSTREAM_EV_HEADER)
			log_event(log, &ev);
	}
	if (rc == 0)
		rc = vpipe_decode_start(&r, 1, key, threads, &sink, &pipe, &err);
	while (rc == 0 && pos < len) {
		size_t n = slice && slice < len - pos ? slice : len - pos;

		rc = vpipe_decode_feed(pipe, 0, buf + pos, n, &err);
		pos += n;
	}
	if (rc == 0)
		rc = vpipe_decode_end(pipe, 0, &err);
	vpipe_decode_stop(pipe);
	vstream_reader_free(r);
	return log_outcome(log, rc, &err);
}

/* The serial reader's records (offsets aside) and verdict, as the pipeline logs them. */
static void serial_view(struct event_log *log)
{
	unsigned n = 0;

	for (unsigned i = 0; i < log->n; i++) {
		if (log->ev[i].kind == VSTREAM_EV_TRAILER)
			continue;
		log->ev[n] = log->ev[i];
		if (log->ev[n].kind == VSTREAM_EV_RECORD) {
			log->ev[n].type = 0;
			log->ev[n].seq = 0;
			log->ev[n].offset = 0;
		}
		n++;
	}
	log->n = n;
}

static bool agrees(const struct vstream_key *key, const uint8_t *buf, size_t len, size_t slice,
		   unsigned threads)
{
	struct event_log serial, parallel;

	read_all(key, buf, len, 0, &serial);
	serial_view(&serial);
	decode_all(key, buf, len, slice, threads, 0, &parallel);
	if (same_events(&serial, &parallel))
		return true;
	printf("# serial: rc %d, %u events, %s\n# parallel: rc %d, %u events, %s\n", serial.rc,
	       serial.n, serial.msg, parallel.rc, parallel.n, parallel.msg);
	return false;
}

static void test_intact(void)
{
	static const unsigned threads[] = { 1, 2, 3, 8 };
	static const size_t slices[] = { 0, 1, 7, 4096 };
	struct event_log log;
	struct built b;

	build(&b, &key_a, NULL, mixed, NMIXED, 3);
	for (unsigned t = 0; t < 4; t++)
		for (unsigned s = 0; s < 4; s++)
			EXPECT(agrees(&key_a, b.buf, b.len, slices[s], threads[t]),
			       "%u threads, slices of %zu: every record, in order, and the trailer",
			       threads[t], slices[s]);
	decode_all(&key_a, b.buf, b.len, 100, 3, 0, &log);
	EXPECT(log.rc == 0 && log.n == NMIXED + 1 && log.ev[4].hash == fnv(b.raw[3], b.raw_len[3]),
	       "the sink gets each payload as it was written");
	built_free(&b);
}

/* Every single-bit flip and every truncation: the pipeline's verdict is the serial
 * reader's, and the sink got exactly the records before the first bad one. */
static void test_damage(const struct vstream_key *key, const char *what)
{
	unsigned flips = 0, cuts = 0, flips_ok = 0, cuts_ok = 0;
	struct built b;

	build(&b, key, NULL, mixed, NMIXED, 3);
	for (size_t i = b.rec_at[0]; i < b.len; i++) {
		b.buf[i] ^= 1u << (i % 8);
		flips++;
		flips_ok += agrees(key, b.buf, b.len, i % 3 ? 512 : 0, 1 + (unsigned)(i % 4));
		b.buf[i] ^= 1u << (i % 8);
	}
	for (size_t cut = b.rec_at[0]; cut < b.len; cut += 3) {
		cuts++;
		cuts_ok += agrees(key, b.buf, cut, 256, 3);
	}
	EXPECT(flips_ok == flips, "%s: %u bit flips refused as the serial reader does", what,
	       flips);
	EXPECT(cuts_ok == cuts, "%s: %u truncations refused as the serial reader does", what,
	       cuts);
	built_free(&b);
}

/* Records k and k+1 swapped, or record k twice. */
static void splice(const struct built *b, unsigned k, bool duplicate, struct built *out)
{
	size_t k_len = b->rec_at[k + 1] - b->rec_at[k];
	size_t rest = duplicate ? b->rec_at[k + 1] : b->rec_at[k + 2];

	memset(out, 0, sizeof(*out));
	append(out, b->buf, b->rec_at[k]);
	if (!duplicate)
		append(out, b->buf + b->rec_at[k + 1], b->rec_at[k + 2] - b->rec_at[k + 1]);
	append(out, b->buf + b->rec_at[k], k_len);
	if (duplicate)
		append(out, b->buf + b->rec_at[k], k_len);
	append(out, b->buf + rest, b->len - rest);
}

static void test_first_error_wins(void)
{
	struct event_log log;
	struct built b, s;
	char want[64];

	build(&b, NULL, NULL, mixed, NMIXED, 3);
	/* A digest failure at record 3, then a head no reader accepts at record 8. */
	b.buf[b.rec_at[3] + VSTREAM_RECORD_HEAD + 5] ^= 0x40;
	b.buf[b.rec_at[8] + 2] = 0x77;
	snprintf(want, sizeof(want), "record 3 at byte %zu: digest mismatch", b.rec_at[3]);
	decode_all(NULL, b.buf, b.len, 0, 4, 0, &log);
	EXPECT(log.rc == -EBADMSG && log.n == 1 + 3 && has_msg(&log, want),
	       "a bad record before a bad head: the record's error, and only records 0-2 out");
	/* The head alone: everything before it is delivered, then its own error. */
	b.buf[b.rec_at[3] + VSTREAM_RECORD_HEAD + 5] ^= 0x40;
	snprintf(want, sizeof(want), "record 8 at byte %zu: unknown codec 119", b.rec_at[8]);
	decode_all(NULL, b.buf, b.len, 0, 4, 0, &log);
	EXPECT(log.rc < 0 && log.n == 1 + 8 && has_msg(&log, want),
	       "a bad head alone is reported after records 0-7");
	built_free(&b);

	build(&b, NULL, NULL, mixed, NMIXED, 3);
	splice(&b, 5, false, &s);
	EXPECT(agrees(NULL, s.buf, s.len, 0, 4), "records 5 and 6 swapped: refused at record 5");
	decode_all(NULL, s.buf, s.len, 0, 4, 0, &log);
	EXPECT(log.n == 1 + 5 && has_msg(&log, "sequence number 6, expected 5"),
	       "the swap is named by its sequence numbers");
	free(s.buf);
	splice(&b, 5, true, &s);
	EXPECT(agrees(NULL, s.buf, s.len, 0, 4), "record 5 twice: refused at its second copy");
	free(s.buf);
	EXPECT(agrees(&key_b, b.buf, b.len, 0, 4), "the wrong key is refused at the header");
	decode_all(NULL, b.buf, b.len, 0, 3, 4, &log);
	EXPECT(log.rc < 0 && log.n == 1 + 3 && has_msg(&log, "test device: write"),
	       "a sink failure stops the pipeline with the sink's error");
	built_free(&b);
}

/* A signal during a record's write: the sink gets no record after it, whatever is
 * queued or still to be fed, and the pipeline says it was interrupted. */
static void test_stop_flag(void)
{
	static const unsigned threads[] = { 1, 4 };
	struct event_log log;
	struct built b;

	build(&b, NULL, NULL, mixed, NMIXED, 3);
	for (unsigned t = 0; t < 2; t++) {
		stop_after = 2;
		decode_all(NULL, b.buf, b.len, 0, threads[t], 0, &log);
		EXPECT(log.rc == -EINTR && log.n == 1 + 2 && has_msg(&log, "interrupted by signal"),
		       "%u threads, all fed at once: stopped after the record in the sink's hands",
		       threads[t]);
		decode_all(NULL, b.buf, b.len, 300, threads[t], 0, &log);
		EXPECT(log.rc == -EINTR && log.n == 1 + 2,
		       "%u threads, fed in slices: stopped after the record in the sink's hands",
		       threads[t]);
	}
	stop_after = 0;
	built_free(&b);
}

static void test_window(void)
{
	struct vpipe_window w;
	int items[4];
	bool ordered = true;

	vpipe_window_init(&w, 4);
	EXPECT(vpipe_window_take(&w) == NULL, "an empty window gives nothing");
	EXPECT(vpipe_window_put(&w, 2, &items[2]) == 0 && vpipe_window_put(&w, 1, &items[1]) == 0 &&
	       vpipe_window_take(&w) == NULL, "items 1 and 2 wait for item 0");
	EXPECT(vpipe_window_put(&w, 4, &items[0]) == -ERANGE,
	       "an item beyond the window is refused");
	vpipe_window_put(&w, 0, &items[0]);
	for (int i = 0; i < 3; i++)
		ordered &= vpipe_window_take(&w) == &items[i];
	EXPECT(ordered && vpipe_window_take(&w) == NULL, "then 0, 1 and 2 come out in order");
	EXPECT(vpipe_window_put(&w, 2, &items[2]) == -ERANGE, "an item already taken is refused");
	vpipe_window_free(&w);
}

int main(void)
{
	test_window();
	test_intact();
	test_damage(NULL, "unkeyed");
	test_damage(&key_a, "keyed");
	test_first_error_wins();
	test_stop_flag();
	return unit_done();
}
