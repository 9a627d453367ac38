/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The in-order side of writing a stream: encodes the header, accounts each
 * encoded record in sequence, chains their digests and writes the trailer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

struct vstream_writer {
	struct vstream_digester *dg;
	struct vstream_digest *chain;           /* the stream digest, running */
	uint8_t header[VSTREAM_HEADER_MAX];
	size_t header_len;
	uint8_t stream_id[VSTREAM_ID_LEN];
	uint64_t next_seq;
	struct vstream_totals totals;
	bool finished;
};

int vstream_writer_new(const struct vstream_header *hdr, const struct vstream_key *key,
		       struct vstream_writer **out, struct verr *err)
{
	struct vstream_writer *w = calloc(1, sizeof(*w));
	int rc;

	*out = NULL;
	if (!w)
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "allocate a stream writer");
	rc = vstream_header_encode(hdr, key, w->header, sizeof(w->header), &w->header_len, err);
	if (rc == 0)
		rc = vstream_digester_new(key, &w->dg, err);
	if (rc < 0) {
		vstream_writer_free(w);
		return rc;
	}
	memcpy(w->stream_id, hdr->stream_id, VSTREAM_ID_LEN);
	w->chain = vstream_digest_begin(w->dg, VSTREAM_LABEL_STREAM);
	vstream_digest_update(w->chain, w->header + w->header_len - VSTREAM_DIGEST_LEN,
			      VSTREAM_DIGEST_LEN);
	*out = w;
	return 0;
}

void vstream_writer_free(struct vstream_writer *w)
{
	uint8_t unused[VSTREAM_DIGEST_LEN];

	if (!w)
		return;
	if (w->chain)
		vstream_digest_end(w->chain, unused);
	vstream_digester_free(w->dg);
	free(w);
}

void vstream_writer_header(const struct vstream_writer *w, const uint8_t **buf, size_t *len)
{
	*buf = w->header;
	*len = w->header_len;
}

const uint8_t *vstream_writer_stream_id(const struct vstream_writer *w)
{
	return w->stream_id;
}

uint64_t vstream_writer_next_seq(const struct vstream_writer *w)
{
	return w->next_seq;
}

const struct vstream_totals *vstream_writer_totals(const struct vstream_writer *w)
{
	return &w->totals;
}

int vstream_writer_add(struct vstream_writer *w, const uint8_t *rec, size_t len,
		       struct verr *err)
{
	struct vstream_record_head head;
	char where[64];
	int rc;

	snprintf(where, sizeof(where), "write record %llu", (unsigned long long)w->next_seq);
	if (w->finished || len < VSTREAM_RECORD_HEAD + VSTREAM_DIGEST_LEN)
		return verr_set(err, VERR_FAILED, EINVAL, NULL, NULL, "%s: %s", where,
				w->finished ? "after the trailer" : "record cut short");
	rc = vstream_record_head_parse(rec, &head, where, err);
	if (rc < 0)
		return rc;
	if (len != vstream_record_size(&head) || head.seq != w->next_seq ||
	    head.type == VSTREAM_REC_END)
		return verr_set(err, VERR_FAILED, EINVAL, NULL, NULL,
				"%s: got type %u seq %llu, %zu bytes", where, head.type,
				(unsigned long long)head.seq, len);
	if (vstream_totals_add(&w->totals, &head) < 0)
		return verr_set(err, VERR_FAILED, ENOSPC, NULL, NULL,
				"%s: more than %d record types", where, VSTREAM_MAX_TYPES);
	vstream_digest_update(w->chain, rec + len - VSTREAM_DIGEST_LEN, VSTREAM_DIGEST_LEN);
	w->next_seq++;
	return 0;
}

int vstream_writer_finish(struct vstream_writer *w, uint8_t *out, size_t cap, size_t *len,
			  struct verr *err)
{
	uint8_t payload[VSTREAM_TRAILER_MAX];
	uint8_t stream_digest[VSTREAM_DIGEST_LEN];
	size_t n;
	int rc;

	if (w->finished || cap < VSTREAM_TRAILER_MAX)
		return verr_set(err, VERR_FAILED, w->finished ? EINVAL : ENOSPC, NULL, NULL,
				"write the stream trailer");
	w->finished = true;
	rc = vstream_digest_end(w->chain, stream_digest);
	w->chain = NULL;
	n = vstream_trailer_payload(&w->totals, stream_digest, payload);
	if (rc == 0)
		rc = vstream_record_build(w->dg, w->stream_id, VSTREAM_REC_END, w->next_seq,
					  payload, n, out);
	if (rc < 0)
		return verr_set(err, VERR_FAILED, -rc, NULL, NULL,
				"libcrypto: digest the stream trailer");
	*len = VSTREAM_RECORD_HEAD + n + VSTREAM_DIGEST_LEN;
	return 0;
}
