/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers the stream tests share: build a stream from a list of records, read one
 * back in slices into an event log. The other test_stream*.c include this file;
 * built alone it checks the helpers themselves. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stream/stream.h"
#include "unit.h"

/* unit.h's CHECK evaluates its condition twice; these tests' conditions build and
 * read streams, so they go through EXPECT, which evaluates once. */
#define EXPECT(cond, ...) do {                                             \
	bool expect_ok_ = (cond);                                          \
	CHECK(expect_ok_, __VA_ARGS__);                                    \
	if (!expect_ok_)                                                   \
		printf("#   %s\n", #cond);                                    \
} while (0)

/* Each including file uses some of the helpers. */
#define HELPER static __attribute__((unused))

#define MAX_RECORDS 128
#define MAX_EVENTS (MAX_RECORDS + 4)

static const uint8_t key_a_bytes[32] = "key A: thirty-two bytes of key.";
static const uint8_t key_b_bytes[32] = "key B: thirty-two bytes of key.";
static const struct vstream_key key_a = { key_a_bytes, sizeof(key_a_bytes) };
static const struct vstream_key key_b = { key_b_bytes, sizeof(key_b_bytes) };

struct spec {
	uint16_t type;
	size_t len;
	bool random;            /* incompressible, else a compressible pattern */
};

struct built {
	uint8_t *buf;
	size_t len;
	unsigned nrec;                          /* data records */
	size_t rec_at[MAX_RECORDS + 2];         /* record i starts; [nrec] is END; [nrec+1] end */
	uint8_t *raw[MAX_RECORDS];
	size_t raw_len[MAX_RECORDS];
};

struct event_log {
	unsigned n;
	struct { int kind; uint16_t type; uint64_t seq; size_t len; uint64_t offset, hash; } ev[MAX_EVENTS];
	int rc;
	char msg[512];
	enum verr_class class;
	struct vstream_header header;
	struct vstream_totals totals;
};

HELPER uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

HELPER void fill(uint8_t *p, size_t n, unsigned seed, bool random)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x = x * 1664525u + 1013904223u;
		p[i] = random ? (uint8_t)(x >> 24) : (uint8_t)((i / 64 + seed) & 0x0f);
	}
}

HELPER void append(struct built *b, const uint8_t *p, size_t n)
{
	b->buf = realloc(b->buf, b->len + n);
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

HELPER void header_sample(struct vstream_header *hdr)
{
	vstream_header_init(hdr, NULL);
	hdr->id.kind = VSTREAM_KIND_PCI;
	strcpy(hdr->id.device_name, "0000:3b:00.1");
	hdr->id.vendor = 0x15b3;
	hdr->id.device = 0x101e;
	hdr->id.subsystem_vendor = 0x15b3;
	hdr->id.subsystem_device = 0x0063;
	hdr->id.class_code = 0x020000;
	hdr->id.revision = 1;
	strcpy(hdr->id.driver, "mlx5_vfio_pci");
	hdr->id.migration_flags = 7;
	hdr->id.stop_copy_estimate = 123456;
	strcpy(hdr->id.vfiomig_version, "0.1.0");
	strcpy(hdr->id.host_name, "source.example");
}

/* Writes a stream of the given records; hdr NULL means header_sample(). */
HELPER int build(struct built *b, const struct vstream_key *key, struct vstream_header *hdr,
		 const struct spec *specs, unsigned n, int level)
{
	struct vstream_header local;
	struct vstream_writer *w;
	struct vstream_encoder *enc;
	const uint8_t *h;
	size_t hlen, len;
	uint8_t *out;
	int rc = 0;

	memset(b, 0, sizeof(*b));
	if (!hdr) {
		header_sample(&local);
		hdr = &local;
	}
	if (vstream_writer_new(hdr, key, &w, NULL) < 0)
		return -1;
	vstream_encoder_new(key, hdr->stream_id, &enc, NULL);
	vstream_writer_header(w, &h, &hlen);
	append(b, h, hlen);
	for (unsigned i = 0; i < n && rc == 0; i++) {
		b->raw[i] = malloc(specs[i].len + 1);
		b->raw_len[i] = specs[i].len;
		fill(b->raw[i], specs[i].len, i, specs[i].random);
		out = malloc(vstream_record_bound(specs[i].len));
		rc = vstream_encode_record(enc, specs[i].type, i, level, b->raw[i], specs[i].len,
					   out, vstream_record_bound(specs[i].len), &len, NULL);
		if (rc == 0)
			rc = vstream_writer_add(w, out, len, NULL);
		b->rec_at[i] = b->len;
		append(b, out, len);
		free(out);
	}
	b->nrec = n;
	out = malloc(VSTREAM_TRAILER_MAX);
	if (rc == 0)
		rc = vstream_writer_finish(w, out, VSTREAM_TRAILER_MAX, &len, NULL);
	b->rec_at[n] = b->len;
	if (rc == 0)
		append(b, out, len);
	b->rec_at[n + 1] = b->len;
	free(out);
	vstream_encoder_free(enc);
	vstream_writer_free(w);
	return rc;
}

HELPER void built_free(struct built *b)
{
	for (unsigned i = 0; i < b->nrec; i++)
		free(b->raw[i]);
	free(b->buf);
}

HELPER void log_event(struct event_log *log, const struct vstream_event *ev)
{
	if (ev->kind == VSTREAM_EV_HEADER)
		log->header = *ev->header;
	if (ev->kind == VSTREAM_EV_TRAILER)
		log->totals = *ev->totals;
	if (log->n == MAX_EVENTS)
		return;
	log->ev[log->n].kind = ev->kind;
	log->ev[log->n].type = ev->record.type;
	log->ev[log->n].seq = ev->record.seq;
	log->ev[log->n].len = ev->len;
	log->ev[log->n].offset = ev->offset;
	log->ev[log->n].hash = fnv(ev->data, ev->len);
	log->n++;
}

/* Notes how reading ended: rc, and the error's class and message. */
HELPER int log_outcome(struct event_log *log, int rc, const struct verr *err)
{
	log->rc = rc;
	log->class = err->class;
	if (rc < 0)
		verr_format(err, log->msg, sizeof(log->msg));
	return rc;
}

/* Feeds buf to a reader slice bytes at a time (0: all at once), then ends it. */
HELPER int read_all(const struct vstream_key *key, const uint8_t *buf, size_t len,
		    size_t slice, struct event_log *log)
{
	struct vstream_reader *r;
	struct verr err = { 0 };
	size_t pos = 0;
	int rc;

	memset(log, 0, sizeof(*log));
	rc = vstream_reader_new(key, "test", &r, &err);
	while (rc == 0 && pos < len) {
		size_t n = slice && slice < len - pos ? slice : len - pos, done = 0;

		while (rc == 0 && done < n) {
			struct vstream_event ev;
			size_t used;

			rc = vstream_reader_feed(r, buf + pos + done, n - done, &used, &ev, &err);
			done += used;
			if (rc == 0 && ev.kind != VSTREAM_EV_NONE)
				log_event(log, &ev);
		}
		pos += n;
	}
	if (rc == 0)
		rc = vstream_reader_end(r, &err);
	vstream_reader_free(r);
	return log_outcome(log, rc, &err);
}

HELPER bool has_msg(const struct event_log *log, const char *text)
{
	if (!strstr(log->msg, text)) {
		printf("# message: %s\n# wanted: %s\n", log->msg, text);
		return false;
	}
	return true;
}

HELPER bool last_is_trailer(const struct event_log *log)
{
	return log->n && log->ev[log->n - 1].kind == VSTREAM_EV_TRAILER;
}

/* Every record came out whole and in order, then the trailer. */
HELPER bool matches(const struct built *b, const struct event_log *log)
{
	if (log->rc != 0 || log->n != b->nrec + 2 || log->ev[0].kind != VSTREAM_EV_HEADER ||
	    !last_is_trailer(log))
		return false;
	for (unsigned i = 0; i < b->nrec; i++) {
		const typeof(log->ev[0]) *e = &log->ev[i + 1];

		if (e->kind != VSTREAM_EV_RECORD || e->seq != i || e->len != b->raw_len[i] ||
		    e->hash != fnv(b->raw[i], b->raw_len[i]) || e->offset != b->rec_at[i])
			return false;
	}
	return log->totals.records == b->nrec;
}

HELPER bool same_events(const struct event_log *a, const struct event_log *b)
{
	return a->rc == b->rc && a->n == b->n && !memcmp(a->ev, b->ev, a->n * sizeof(a->ev[0])) &&
	       !strcmp(a->msg, b->msg);
}

#ifndef TEST_STREAM_LIB_INCLUDED
int main(void)
{
	static const struct spec specs[] = { { VSTREAM_REC_PRECOPY, 100, false } };
	struct event_log log;
	struct built b;

	EXPECT(build(&b, NULL, NULL, specs, 1, 3) == 0, "helper builds a one-record stream");
	read_all(NULL, b.buf, b.len, 0, &log);
	EXPECT(matches(&b, &log), "helper reads back what it built");
	built_free(&b);
	EXPECT(build(&b, &key_a, NULL, specs, 1, 3) == 0, "helper builds a keyed stream");
	read_all(&key_a, b.buf, b.len, 1, &log);
	EXPECT(matches(&b, &log), "helper reads a keyed stream byte by byte");
	read_all(&key_b, b.buf, b.len, 0, &log);
	EXPECT(log.rc < 0 && has_msg(&log, "wrong key"), "helper reports the reader's error");
	EXPECT(!same_events(&log, &log) == false, "helper compares event logs");
	built_free(&b);
	return unit_done();
}
#endif
