/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The stream reader against damaged and hostile input: every corruption class is
 * refused with its own message, and nothing unverified ever comes out. */
#define TEST_STREAM_LIB_INCLUDED
#include "test_stream_lib.c"

static const struct spec small[] = {
	{ VSTREAM_REC_PRECOPY, 40, false }, { VSTREAM_REC_PRECOPY, 24, true },
	{ VSTREAM_REC_STOPCOPY, 300, false },
};

/* The records a damaged stream did yield were all intact, and no trailer came. */
static bool nothing_unverified(const struct built *b, const struct event_log *log)
{
	for (unsigned i = 0; i < log->n; i++) {
		const typeof(log->ev[0]) *e = &log->ev[i];

		if (e->kind == VSTREAM_EV_TRAILER)
			return false;
		if (e->kind == VSTREAM_EV_RECORD &&
		    (e->seq >= b->nrec || e->len != b->raw_len[e->seq] ||
		     e->hash != fnv(b->raw[e->seq], e->len)))
			return false;
	}
	return log->rc < 0;
}

static void test_bit_flips(const struct vstream_key *key, const char *what)
{
	struct event_log log;
	struct built b;
	unsigned refused = 0, total = 0;
	char want[64];

	build(&b, key, NULL, small, 3, 3);
	b.buf[VSTREAM_HEADER_FIXED + 5] ^= 0x10;
	read_all(key, b.buf, b.len, 0, &log);
	EXPECT(log.rc == -EBADMSG && log.n == 0 && has_msg(&log, "header: digest mismatch"),
	      "%s: a bit flip in the header's identity is a header digest mismatch", what);
	b.buf[VSTREAM_HEADER_FIXED + 5] ^= 0x10;
	snprintf(want, sizeof(want), "record 1 at byte %zu: digest mismatch", b.rec_at[1]);
	b.buf[b.rec_at[1] + 12] ^= 0x01;
	read_all(key, b.buf, b.len, 0, &log);
	EXPECT(log.rc == -EBADMSG && log.n == 2 && has_msg(&log, want),
	      "%s: a bit flip in a record's sequence number is a digest mismatch", what);
	b.buf[b.rec_at[1] + 12] ^= 0x01;
	b.buf[b.rec_at[1] + 30] ^= 0x80;
	read_all(key, b.buf, b.len, 0, &log);
	EXPECT(log.rc == -EBADMSG && log.n == 2 && has_msg(&log, want),
	      "%s: a bit flip in a payload is a digest mismatch, the record withheld", what);
	b.buf[b.rec_at[1] + 30] ^= 0x80;
	snprintf(want, sizeof(want), "record 3 at byte %zu: digest mismatch", b.rec_at[3]);
	b.buf[b.rec_at[3] + VSTREAM_RECORD_HEAD + 10] ^= 0x04;
	read_all(key, b.buf, b.len, 0, &log);
	EXPECT(log.rc == -EBADMSG && log.n == 4 && has_msg(&log, want),
	      "%s: a bit flip in the trailer's totals is a digest mismatch", what);
	b.buf[b.rec_at[3] + VSTREAM_RECORD_HEAD + 10] ^= 0x04;
	for (size_t bit = 0; bit < b.len * 8; bit++) {
		b.buf[bit / 8] ^= (uint8_t)(1u << bit % 8);
		read_all(key, b.buf, b.len, 0, &log);
		refused += nothing_unverified(&b, &log);
		total++;
		b.buf[bit / 8] ^= (uint8_t)(1u << bit % 8);
	}
	EXPECT(refused == total, "%s: each of the %u single-bit flips is refused, yielding only "
	      "intact records (%u refused)", what, total, refused);
	built_free(&b);
}

static void test_truncation(const struct vstream_key *key, const char *what)
{
	struct event_log log;
	struct built b;
	unsigned bad = 0, boundary_ok = 0, inside_ok = 0;
	char want[96];

	build(&b, key, NULL, small, 3, 3);
	for (size_t len = 0; len < b.len; len++) {
		read_all(key, b.buf, len, 1, &log);
		bad += !nothing_unverified(&b, &log);
		read_all(key, b.buf, len, 0, &log);
		bad += !nothing_unverified(&b, &log);
		for (unsigned i = 0; i <= b.nrec; i++) {
			snprintf(want, sizeof(want), "no trailer after %u records", i);
			boundary_ok += len == b.rec_at[i] && strstr(log.msg, want);
			snprintf(want, sizeof(want), "record %u at byte %zu: stream ends inside the record",
				 i, b.rec_at[i]);
			inside_ok += len > b.rec_at[i] && len < b.rec_at[i + 1] && strstr(log.msg, want);
		}
	}
	EXPECT(bad == 0, "%s: no prefix of %zu bytes, fed whole or byte by byte, yields a trailer or an unverified record",
	      what, b.len);
	EXPECT(boundary_ok == b.nrec + 1, "%s: a cut at each of the %u record boundaries says "
	      "no trailer after N records", what, b.nrec + 1);
	EXPECT(inside_ok == b.len - b.rec_at[0] - (b.nrec + 1),
	      "%s: a cut inside a record names the record and its offset", what);
	read_all(key, b.buf, 30, 1, &log);
	EXPECT(has_msg(&log, "header: stream ends after 30 bytes, inside the header"),
	      "%s: a cut inside the header says so", what);
	built_free(&b);
}

/* Moves the bytes of record from to where record to starts (to < from). */
static void move_record(struct built *b, unsigned from, unsigned to, struct built *out)
{
	size_t n = b->rec_at[from + 1] - b->rec_at[from];

	memset(out, 0, sizeof(*out));
	append(out, b->buf, b->rec_at[to]);
	append(out, b->buf + b->rec_at[from], n);
	append(out, b->buf + b->rec_at[to], b->rec_at[from] - b->rec_at[to]);
	append(out, b->buf + b->rec_at[from + 1], b->len - b->rec_at[from + 1]);
}

static void test_order(void)
{
	struct built b, moved;
	struct event_log log;
	char want[128];

	build(&b, &key_a, NULL, small, 3, 3);
	move_record(&b, 2, 1, &moved);
	read_all(&key_a, moved.buf, moved.len, 0, &log);
	snprintf(want, sizeof(want), "record 1 at byte %zu: sequence number 2, expected 1 "
		 "(records reordered, duplicated or lost)", b.rec_at[1]);
	EXPECT(log.rc == -EBADMSG && log.n == 2 && has_msg(&log, want), "swapped records are refused");
	free(moved.buf);
	memset(&moved, 0, sizeof(moved));
	append(&moved, b.buf, b.rec_at[2]);
	append(&moved, b.buf + b.rec_at[1], b.len - b.rec_at[1]);
	read_all(&key_a, moved.buf, moved.len, 0, &log);
	snprintf(want, sizeof(want), "record 2 at byte %zu: sequence number 1, expected 2", b.rec_at[2]);
	EXPECT(log.rc == -EBADMSG && log.n == 3 && has_msg(&log, want), "a duplicated record is refused");
	free(moved.buf);
	memset(&moved, 0, sizeof(moved));
	append(&moved, b.buf, b.rec_at[1]);
	append(&moved, b.buf + b.rec_at[2], b.len - b.rec_at[2]);
	read_all(&key_a, moved.buf, moved.len, 0, &log);
	EXPECT(log.rc == -EBADMSG && has_msg(&log, "sequence number 2, expected 1"),
	      "a dropped record is refused");
	free(moved.buf);
	built_free(&b);
}

static void test_splice_and_garbage(void)
{
	struct built a, other;
	struct event_log log;
	char want[96];
	uint8_t junk = 0;

	build(&a, &key_a, NULL, small, 3, 3);
	build(&other, &key_a, NULL, small, 3, 3);
	memcpy(a.buf + a.rec_at[1], other.buf + other.rec_at[1], a.rec_at[2] - a.rec_at[1]);
	read_all(&key_a, a.buf, a.len, 0, &log);
	snprintf(want, sizeof(want), "record 1 at byte %zu: digest mismatch", a.rec_at[1]);
	EXPECT(log.rc == -EBADMSG && log.n == 2 && has_msg(&log, want),
	      "an identical record spliced from another stream with the same key is refused");
	built_free(&a);
	built_free(&other);
	build(&a, NULL, NULL, small, 3, 3);
	append(&a, &junk, 1);
	read_all(NULL, a.buf, a.len, 0, &log);
	snprintf(want, sizeof(want), "byte %zu: trailing data after the trailer", a.len - 1);
	EXPECT(log.rc == -EBADMSG && has_msg(&log, want), "a byte after the trailer is refused");
	read_all(NULL, a.buf, a.len, 1, &log);
	EXPECT(log.rc == -EBADMSG && has_msg(&log, want), "... also when fed byte by byte");
	built_free(&a);
}

/* Replaces record index's bytes with a record forged with a valid (unkeyed)
 * digest: the reader must catch what a digest cannot. */
static void forge(struct built *b, unsigned index, uint16_t type, uint64_t seq,
		  const uint8_t *payload, size_t len, uint8_t codec, uint32_t raw_len)
{
	struct vstream_digester *dg;
	uint8_t *rec = malloc(VSTREAM_RECORD_HEAD + len + VSTREAM_DIGEST_LEN);
	struct built out = { 0 };
	const uint8_t *id = b->buf + 24;

	vstream_digester_new(NULL, &dg, NULL);
	vstream_record_build(dg, id, type, seq, payload, len, rec);
	if (codec != VSTREAM_CODEC_STORED || raw_len != len) {
		rec[2] = codec;
		vstream_put32(rec + 4, raw_len);
		vstream_digest2(dg, VSTREAM_LABEL_RECORD, id, VSTREAM_ID_LEN, rec,
				VSTREAM_RECORD_HEAD + len, rec + VSTREAM_RECORD_HEAD + len);
	}
	append(&out, b->buf, b->rec_at[index]);
	append(&out, rec, VSTREAM_RECORD_HEAD + len + VSTREAM_DIGEST_LEN);
	append(&out, b->buf + b->rec_at[index + 1], b->len - b->rec_at[index + 1]);
	free(b->buf);
	b->buf = out.buf;
	b->len = out.len;
	free(rec);
	vstream_digester_free(dg);
}

static void test_hostile_lengths(void)
{
	struct event_log log;
	struct built b;
	uint8_t payload[64] = { 0 };

	build(&b, NULL, NULL, small, 3, 3);
	vstream_put32(b.buf + b.rec_at[1] + 4, VSTREAM_RECORD_RAW_MAX + 1);
	vstream_put32(b.buf + b.rec_at[1] + 8, VSTREAM_RECORD_RAW_MAX + 1);
	read_all(NULL, b.buf, b.len, 0, &log);
	EXPECT(log.rc == -EBADMSG && has_msg(&log, "raw length 16777217 exceeds the 16777216-byte limit"),
	      "a raw length over 16 MiB is refused before the payload is read");
	vstream_put32(b.buf + b.rec_at[1] + 4, 10);
	vstream_put32(b.buf + b.rec_at[1] + 8, 0xffffffffu);
	read_all(NULL, b.buf, b.len, 0, &log);
	EXPECT(log.rc == -EBADMSG && has_msg(&log, "stored length 4294967295 exceeds raw length 10"),
	      "a stored length over the raw length is refused");
	built_free(&b);
	build(&b, NULL, NULL, small, 3, 3);
	vstream_put32(b.buf + 20, 0xfffffff0u);
	read_all(NULL, b.buf, b.len, 0, &log);
	EXPECT(log.rc == -EBADMSG && has_msg(&log, "identity area of 4294967280 bytes exceeds"),
	      "an identity area over 4096 bytes is refused");
	built_free(&b);
	build(&b, NULL, NULL, small, 3, 3);
	forge(&b, 1, VSTREAM_REC_PRECOPY, 1, payload, sizeof(payload), VSTREAM_CODEC_ZSTD, 1000);
	read_all(NULL, b.buf, b.len, 0, &log);
	EXPECT(log.rc == -EBADMSG && log.n == 2 && has_msg(&log, "record 1 at byte") &&
	      has_msg(&log, "zstd: "), "a zstd record that is not zstd is refused");
	built_free(&b);
}

static void test_forged_trailer(void)
{
	struct vstream_totals totals = { 0 };
	struct event_log log;
	struct built b;
	uint8_t payload[VSTREAM_TRAILER_MAX], digest[VSTREAM_DIGEST_LEN] = { 0 };
	size_t n;

	build(&b, NULL, NULL, small, 3, 3);
	n = vstream_trailer_payload(&totals, digest, payload);
	forge(&b, 3, VSTREAM_REC_END, 3, payload, n, VSTREAM_CODEC_STORED, (uint32_t)n);
	read_all(NULL, b.buf, b.len, 0, &log);
	EXPECT(log.rc == -EBADMSG && log.n == 4 && has_msg(&log, "record 3 at byte") &&
	      has_msg(&log, "stream digest mismatch"),
	      "a trailer with a wrong stream digest is refused");
	built_free(&b);
	build(&b, NULL, NULL, small, 3, 3);
	forge(&b, 3, VSTREAM_REC_END, 3, b.buf + b.rec_at[3] + VSTREAM_RECORD_HEAD, 8 + 32, 0, 40);
	read_all(NULL, b.buf, b.len, 0, &log);
	EXPECT(log.rc == -EBADMSG && has_msg(&log, "trailer has a malformed totals table"),
	      "a trailer whose totals table does not fit is refused");
	built_free(&b);
}

int main(void)
{
	test_bit_flips(NULL, "unkeyed");
	test_bit_flips(&key_a, "keyed");
	test_truncation(NULL, "unkeyed");
	test_truncation(&key_a, "keyed");
	test_order();
	test_splice_and_garbage();
	test_hostile_lengths();
	test_forged_trailer();
	return unit_done();
}
