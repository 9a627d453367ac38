/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target for the stream reader. Input: a mode byte (bit 0: read with the
 * key; the rest seeds the slice sizes), then stream bytes. Each input is read once
 * whole, once in slices and once in split mode (records framed, decoded apart and
 * accepted back, as the decode pipeline does); all must agree, and no event may
 * break the API. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The key of the keyed test vector, so seeds from docs/stream-format.md verify. */
static const uint8_t key_bytes[32] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
};

struct outcome {
	int rc;
	unsigned events;
	uint64_t digest;               /* of the event sequence */
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static void check_event(const struct vstream_event *ev, struct outcome *out, bool *trailer)
{
	if (*trailer)
		abort();                /* nothing may follow the trailer */
	if (ev->kind == VSTREAM_EV_RECORD) {
		if (ev->len != ev->record.raw_len || ev->len > VSTREAM_RECORD_RAW_MAX ||
		    (ev->len && !ev->data))
			abort();
		out->digest = mix(out->digest, ev->data, ev->len);
		out->digest = mix(out->digest, &ev->record.seq, sizeof(ev->record.seq));
	}
	*trailer = ev->kind == VSTREAM_EV_TRAILER;
	out->digest = mix(out->digest, &ev->kind, sizeof(ev->kind));
	out->digest = mix(out->digest, &ev->offset, sizeof(ev->offset));
	out->events++;
}

static struct outcome run(const uint8_t *buf, size_t len, const struct vstream_key *key,
			  unsigned seed)
{
	struct outcome out = { 0, 0, 0xcbf29ce484222325ull };
	struct vstream_reader *r;
	struct verr err = { 0 };
	bool trailer = false;
	size_t pos = 0;
	uint32_t x = seed;

	if (vstream_reader_new(key, "fuzz", &r, &err) < 0)
		abort();
	while (out.rc == 0 && pos < len) {
		struct vstream_event ev;
		size_t n = len - pos, used;

		if (seed) {
			x = x * 1664525u + 1013904223u;
			n = 1 + (x >> 16) % (x & 0x10000 ? 3 : 97);
			n = n < len - pos ? n : len - pos;
		}
		out.rc = vstream_reader_feed(r, buf + pos, n, &used, &ev, &err);
		if (used > n || (out.rc < 0 && !err.set))
			abort();
		if (out.rc == 0 && ev.kind != VSTREAM_EV_NONE)
			check_event(&ev, &out, &trailer);
		pos += used;
	}
	if (out.rc == 0)
		out.rc = vstream_reader_end(r, &err);
	if (out.rc == 0 && !trailer)
		abort();                /* complete only when a trailer verified */
	vstream_reader_free(r);
	return out;
}

/* Split mode: a record decoded apart, then accepted or refused in order. */
static int take_split(struct vstream_reader *r, struct vstream_decoder **dec,
		      const struct vstream_key *key, const struct vstream_event *split,
		      struct vstream_event *ev, struct verr *err)
{
	struct vstream_record_head head;
	const uint8_t *data;
	size_t len;
	int rc;

	if (!*dec && vstream_decoder_new(key, vstream_reader_header(r)->stream_id, dec, err) < 0)
		abort();
	rc = vstream_decode_record(*dec, split->data, split->len, &head, &data, &len, split->where,
				   err);
	if (rc < 0)
		return vstream_reader_refuse(r, rc, err);
	return vstream_reader_accept(r, &split->record, split->data + split->len - VSTREAM_DIGEST_LEN,
				     data, len, split->where, split->offset, ev, err);
}

static struct outcome run_split(const uint8_t *buf, size_t len, const struct vstream_key *key)
{
	struct outcome out = { 0, 0, 0xcbf29ce484222325ull };
	struct vstream_decoder *dec = NULL;
	struct vstream_reader *r;
	struct verr err = { 0 };
	bool trailer = false;
	size_t pos = 0;

	if (vstream_reader_new(key, "fuzz", &r, &err) < 0)
		abort();
	vstream_reader_split(r);
	while (out.rc == 0 && pos < len) {
		struct vstream_event ev;
		size_t used;

		out.rc = vstream_reader_feed(r, buf + pos, len - pos, &used, &ev, &err);
		pos += used;
		if (out.rc == 0 && ev.kind == VSTREAM_EV_SPLIT) {
			struct vstream_event split = ev;

			out.rc = take_split(r, &dec, key, &split, &ev, &err);
		}
		if (out.rc < 0 && !err.set)
			abort();
		if (out.rc == 0 && ev.kind != VSTREAM_EV_NONE)
			check_event(&ev, &out, &trailer);
	}
	if (out.rc == 0)
		out.rc = vstream_reader_end(r, &err);
	if (out.rc == 0 && !trailer)
		abort();
	vstream_decoder_free(dec);
	vstream_reader_free(r);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct vstream_key key = { key_bytes, sizeof(key_bytes) };
	struct outcome whole, sliced, split;

	if (size < 1)
		return 0;
	whole = run(data + 1, size - 1, data[0] & 1 ? &key : NULL, 0);
	sliced = run(data + 1, size - 1, data[0] & 1 ? &key : NULL, data[0] | 1u << 8);
	split = run_split(data + 1, size - 1, data[0] & 1 ? &key : NULL);
	if (whole.rc != sliced.rc || whole.events != sliced.events || whole.digest != sliced.digest)
		abort();
	if (whole.rc != split.rc || whole.events != split.events || whole.digest != split.digest)
		abort();
	return 0;
}
