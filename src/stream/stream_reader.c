/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The incremental stream reader: takes bytes in slices of any size and yields the
 * header, each record once its digest verified, and the verified trailer. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

enum phase { PH_HEADER, PH_RECORD_HEAD, PH_RECORD_BODY, PH_DONE, PH_FAILED };

struct vstream_reader {
	uint8_t *key_bytes;                     /* a copy; NULL when unkeyed */
	struct vstream_key key;
	char object[128];
	enum phase phase;
	uint8_t *buf;                           /* the item being assembled */
	size_t have, need, cap;
	uint64_t offset;                        /* bytes consumed */
	uint64_t item_offset;                   /* where the current item starts */
	uint64_t next_seq;                      /* records framed so far */
	char where[64];                         /* "record N at byte M" */
	char split_where[64];                   /* the last EV_SPLIT's where */
	bool split;                             /* records go out unverified (EV_SPLIT) */
	uint64_t accepted;                      /* records through accept_record */
	bool trailer_ok;
	bool order_failed;                      /* a failure in stream order, not framing */
	struct vstream_header header;
	struct vstream_record_head head;
	struct vstream_decoder *dec;
	struct vstream_digester *dg;
	struct vstream_digest *chain;           /* the stream digest, running */
	struct vstream_totals totals;           /* of the records read */
	struct verr failure;
	int failed_rc;
};

static int reader_bad(struct verr *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A corrupt or truncated stream: VERR_DATA, "record N at byte M: ...". */
static int reader_bad(struct verr *err, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	verr_set(err, VERR_DATA, 0, NULL, NULL, "%s", what);
	return -EBADMSG;
}

int vstream_reader_new(const struct vstream_key *key, const char *object,
		       struct vstream_reader **out, struct verr *err)
{
	struct vstream_reader *r;
	int rc;

	*out = NULL;
	rc = vstream_key_check(key, err);
	if (rc < 0)
		return rc;
	r = calloc(1, sizeof(*r));
	if (r && key) {
		r->key_bytes = malloc(key->len);
		if (r->key_bytes) {
			memcpy(r->key_bytes, key->data, key->len);
			r->key = (struct vstream_key){ r->key_bytes, key->len };
		}
	}
	if (!r || (key && !r->key_bytes)) {
		vstream_reader_free(r);
		return verr_set(err, VERR_FAILED, ENOMEM, object, NULL, "allocate a stream reader");
	}
	snprintf(r->object, sizeof(r->object), "%s", object ? object : "");
	r->phase = PH_HEADER;
	r->need = VSTREAM_MAGIC_LEN;
	*out = r;
	return 0;
}

void vstream_reader_free(struct vstream_reader *r)
{
	uint8_t unused[VSTREAM_DIGEST_LEN];

	if (!r)
		return;
	if (r->chain)
		vstream_digest_end(r->chain, unused);
	vstream_decoder_free(r->dec);
	vstream_digester_free(r->dg);
	if (r->key_bytes)
		memset(r->key_bytes, 0, r->key.len);
	free(r->key_bytes);
	free(r->buf);
	free(r);
}

uint64_t vstream_reader_offset(const struct vstream_reader *r)
{
	return r->offset;
}

static void next_item(struct vstream_reader *r, enum phase phase, size_t need)
{
	r->phase = phase;
	r->have = 0;
	r->need = need;
	r->item_offset = r->offset;
	snprintf(r->where, sizeof(r->where), "record %llu at byte %llu",
		 (unsigned long long)r->next_seq, (unsigned long long)r->item_offset);
}

static int step_header(struct vstream_reader *r, struct vstream_event *ev, struct verr *err)
{
	const struct vstream_key *key = r->key_bytes ? &r->key : NULL;
	size_t need;
	int rc;

	rc = vstream_header_decode(r->buf, r->have, key, &r->header, &need, err);
	if (rc == -EAGAIN) {
		r->need = need;
		return 0;
	}
	if (rc < 0)
		return rc;
	rc = vstream_decoder_new(key, r->header.stream_id, &r->dec, err);
	if (rc == 0)
		rc = vstream_digester_new(key, &r->dg, err);
	if (rc < 0)
		return rc;
	r->chain = vstream_digest_begin(r->dg, VSTREAM_LABEL_STREAM);
	vstream_digest_update(r->chain, r->header.digest_value, VSTREAM_DIGEST_LEN);
	ev->kind = VSTREAM_EV_HEADER;
	ev->offset = 0;
	ev->header = &r->header;
	next_item(r, PH_RECORD_HEAD, VSTREAM_RECORD_HEAD);
	return 0;
}

static int step_record_head(struct vstream_reader *r, struct verr *err)
{
	int rc = vstream_record_head_parse(r->buf, &r->head, r->where, err);

	if (rc < 0)
		return rc;
	r->phase = PH_RECORD_BODY;
	r->need = vstream_record_size(&r->head);
	return 0;
}

static bool totals_equal(const struct vstream_totals *a, const struct vstream_totals *b)
{
	if (a->ntypes != b->ntypes)
		return false;
	for (unsigned i = 0; i < a->ntypes; i++)
		if (a->type[i].type != b->type[i].type || a->type[i].records != b->type[i].records ||
		    a->type[i].raw_bytes != b->type[i].raw_bytes ||
		    a->type[i].stored_bytes != b->type[i].stored_bytes)
			return false;
	return true;
}

static int step_trailer(struct vstream_reader *r, const uint8_t *data, size_t len,
			const char *where, uint64_t offset, struct vstream_event *ev,
			struct verr *err)
{
	uint8_t said[VSTREAM_DIGEST_LEN], computed[VSTREAM_DIGEST_LEN];
	struct vstream_totals claimed;
	int rc;

	rc = vstream_trailer_parse(data, len, &claimed, said, where, err);
	if (rc < 0)
		return rc;
	rc = vstream_digest_end(r->chain, computed);
	r->chain = NULL;
	if (rc < 0)
		return verr_set(err, VERR_FAILED, -rc, NULL, NULL, "libcrypto: stream digest");
	if (!vstream_digest_equal(said, computed))
		return reader_bad(err, "%s: stream digest mismatch", where);
	if (!totals_equal(&claimed, &r->totals))
		return reader_bad(err, "%s: trailer totals (%llu records, %llu bytes) differ "
				  "from the records read (%llu records, %llu bytes)", where,
				  (unsigned long long)claimed.records,
				  (unsigned long long)claimed.raw_bytes,
				  (unsigned long long)r->totals.records,
				  (unsigned long long)r->totals.raw_bytes);
	ev->kind = VSTREAM_EV_TRAILER;
	ev->offset = offset;
	ev->totals = &r->totals;
	r->trailer_ok = true;
	return 0;
}

/* Accounts a verified data record; *deliver false when it is to be skipped. */
static int account_record(struct vstream_reader *r, const struct vstream_record_head *head,
			  const uint8_t *digest, const char *where, bool *deliver,
			  struct verr *err)
{
	uint16_t type = head->type;

	*deliver = vstream_type_known(type);
	if (!*deliver && !(type & VSTREAM_REC_MAY_SKIP)) {
		verr_set(err, VERR_UNSUPPORTED, 0, NULL, "read it with a newer vfiomig",
			 "%s: unknown record type 0x%04x", where, type);
		return -EPROTONOSUPPORT;
	}
	if (vstream_totals_add(&r->totals, head) < 0)
		return reader_bad(err, "%s: more than %d record types", where, VSTREAM_MAX_TYPES);
	vstream_digest_update(r->chain, digest, VSTREAM_DIGEST_LEN);
	return 0;
}

/* What depends on the order of records, once one's digest verified: its sequence
 * number, the totals, the stream digest and, for END, the trailer. */
static int accept_record(struct vstream_reader *r, const struct vstream_record_head *head,
			 const uint8_t *digest, const uint8_t *data, size_t len,
			 const char *where, uint64_t offset, struct vstream_event *ev,
			 struct verr *err)
{
	bool deliver;
	int rc;

	if (r->trailer_ok)
		return reader_bad(err, "%s: a record after the trailer", where);
	if (head->seq != r->accepted)
		return reader_bad(err, "%s: sequence number %llu, expected %llu (records "
				  "reordered, duplicated or lost)", where,
				  (unsigned long long)head->seq,
				  (unsigned long long)r->accepted);
	if (head->type == VSTREAM_REC_END)
		return step_trailer(r, data, len, where, offset, ev, err);
	rc = account_record(r, head, digest, where, &deliver, err);
	if (rc < 0)
		return rc;
	if (deliver) {
		ev->kind = VSTREAM_EV_RECORD;
		ev->offset = offset;
		ev->record = *head;
		ev->data = data;
		ev->len = len;
	}
	r->accepted++;
	return 0;
}

/* Split mode: the complete record goes out as it is, for a worker to verify. */
static void split_record(struct vstream_reader *r, struct vstream_event *ev)
{
	ev->kind = VSTREAM_EV_SPLIT;
	ev->offset = r->item_offset;
	ev->record = r->head;
	ev->data = r->buf;
	ev->len = r->have;
	memcpy(r->split_where, r->where, sizeof(r->where));
	ev->where = r->split_where;
}

static int step_record_body(struct vstream_reader *r, struct vstream_event *ev,
			    struct verr *err)
{
	const uint8_t *data;
	size_t len;
	int rc;

	if (r->split) {
		split_record(r, ev);
		if (r->head.type == VSTREAM_REC_END) {
			r->phase = PH_DONE;
			return 0;
		}
	} else {
		rc = vstream_decode_record(r->dec, r->buf, r->have, &r->head, &data, &len,
					   r->where, err);
		if (rc == 0)
			rc = accept_record(r, &r->head, r->buf + r->have - VSTREAM_DIGEST_LEN, data,
					   len, r->where, r->item_offset, ev, err);
		if (rc < 0)
			return rc;
		if (r->trailer_ok) {
			r->phase = PH_DONE;
			return 0;
		}
	}
	r->next_seq++;
	next_item(r, PH_RECORD_HEAD, VSTREAM_RECORD_HEAD);
	return 0;
}

static int step(struct vstream_reader *r, struct vstream_event *ev, struct verr *err)
{
	switch (r->phase) {
	case PH_HEADER: return step_header(r, ev, err);
	case PH_RECORD_HEAD: return step_record_head(r, err);
	case PH_RECORD_BODY: return step_record_body(r, ev, err);
	default: return -EINVAL;
	}
}

/* Remembers the first failure so every later call repeats it. */
static int reader_fail(struct vstream_reader *r, int rc, struct verr *err)
{
	struct verr local = { 0 };

	if (!err)
		err = &local;
	if (!err->set)
		verr_set(err, VERR_DATA, 0, NULL, NULL, "%s: stream refused", r->where);
	if (!err->object[0])
		snprintf(err->object, sizeof(err->object), "%s", r->object);
	r->failure = *err;
	r->failed_rc = rc;
	r->phase = PH_FAILED;
	return rc;
}

static int reader_repeat(const struct vstream_reader *r, struct verr *err)
{
	if (err && !err->set)
		*err = r->failure;
	return r->failed_rc;
}

static int reader_grow(struct vstream_reader *r, struct verr *err)
{
	uint8_t *bigger;

	if (r->cap >= r->need)
		return 0;
	bigger = realloc(r->buf, r->need);
	if (!bigger)
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "%s: allocate %zu bytes",
				r->where, r->need);
	r->buf = bigger;
	r->cap = r->need;
	return 0;
}

int vstream_reader_feed(struct vstream_reader *r, const void *buf, size_t len, size_t *used,
			struct vstream_event *ev, struct verr *err)
{
	const uint8_t *in = buf;
	int rc = 0;

	*used = 0;
	memset(ev, 0, sizeof(*ev));
	if (r->phase == PH_FAILED)
		return reader_repeat(r, err);
	while (*used < len && ev->kind == VSTREAM_EV_NONE && rc == 0) {
		size_t take = r->need - r->have;

		if (r->phase == PH_DONE) {
			rc = reader_bad(err, "byte %llu: trailing data after the trailer",
					(unsigned long long)r->offset);
			break;
		}
		if (take > len - *used)
			take = len - *used;
		rc = reader_grow(r, err);
		if (rc < 0)
			break;
		/* bytes read into vstream_reader_space() are already in place */
		if (in + *used != r->buf + r->have)
			memcpy(r->buf + r->have, in + *used, take);
		r->have += take;
		r->offset += take;
		*used += take;
		if (r->have == r->need)
			rc = step(r, ev, err);
	}
	if (rc < 0) {
		memset(ev, 0, sizeof(*ev));
		return reader_fail(r, rc, err);
	}
	return 0;
}

int vstream_reader_end(struct vstream_reader *r, struct verr *err)
{
	int rc;

	if (r->phase == PH_FAILED)
		return reader_repeat(r, err);
	if (r->phase == PH_DONE && r->trailer_ok)
		return 0;
	if (r->phase == PH_DONE)
		rc = reader_bad(err, "%s: the trailer was not verified", r->where);
	else if (r->phase == PH_HEADER)
		rc = reader_bad(err, "header: stream ends after %llu bytes, inside the header",
				(unsigned long long)r->offset);
	else if (r->phase == PH_RECORD_HEAD && r->have == 0)
		rc = reader_bad(err, "stream is incomplete: no trailer after %llu records "
				"(ends at byte %llu)", (unsigned long long)r->next_seq,
				(unsigned long long)r->offset);
	else
		rc = reader_bad(err, "%s: stream ends inside the record (%zu of %zu bytes)",
				r->where, r->have, r->need);
	if (err)
		verr_hint(err, "the writer was interrupted or the stream was cut short");
	return reader_fail(r, rc, err);
}

size_t vstream_reader_space(struct vstream_reader *r, uint8_t **at)
{
	*at = NULL;
	if (r->phase != PH_HEADER && r->phase != PH_RECORD_HEAD && r->phase != PH_RECORD_BODY)
		return 0;
	if (reader_grow(r, NULL) < 0)
		return 0;
	*at = r->buf + r->have;
	return r->need - r->have;
}

void vstream_reader_split(struct vstream_reader *r)
{
	r->split = true;
}

void vstream_reader_swap_buffer(struct vstream_reader *r, uint8_t **buf, size_t *cap)
{
	uint8_t *mine = r->buf;
	size_t mine_cap = r->cap;

	r->buf = *buf;
	r->cap = *cap;
	*buf = mine;
	*cap = mine_cap;
}

const struct vstream_header *vstream_reader_header(const struct vstream_reader *r)
{
	return r->dec ? &r->header : NULL;
}

int vstream_reader_accept(struct vstream_reader *r, const struct vstream_record_head *head,
			  const uint8_t digest[VSTREAM_DIGEST_LEN], const uint8_t *data,
			  size_t len, const char *where, uint64_t offset,
			  struct vstream_event *ev, struct verr *err)
{
	int rc;

	memset(ev, 0, sizeof(*ev));
	if (r->order_failed)
		return reader_repeat(r, err);
	rc = accept_record(r, head, digest, data, len, where, offset, ev, err);
	if (rc < 0) {
		memset(ev, 0, sizeof(*ev));
		return vstream_reader_refuse(r, rc, err);
	}
	return 0;
}

/* An earlier record's failure replaces a framing failure found further on. */
int vstream_reader_refuse(struct vstream_reader *r, int rc, struct verr *err)
{
	if (r->order_failed)
		return reader_repeat(r, err);
	r->order_failed = true;
	return reader_fail(r, rc, err);
}
