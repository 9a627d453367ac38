/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The trailer: the END record's payload of per-type totals and the digest over
 * the whole stream, and the totals bookkeeping writer and reader share. */
#include <errno.h>
#include <string.h>

#include "stream.h"

#define ENTRY_LEN 32
#define ENTRIES_AT 8

int vstream_totals_add(struct vstream_totals *totals, const struct vstream_record_head *head)
{
	unsigned i = 0;

	while (i < totals->ntypes && totals->type[i].type < head->type)
		i++;
	if (i == totals->ntypes || totals->type[i].type != head->type) {
		if (totals->ntypes == VSTREAM_MAX_TYPES)
			return -ENOSPC;
		memmove(&totals->type[i + 1], &totals->type[i],
			(totals->ntypes - i) * sizeof(totals->type[0]));
		memset(&totals->type[i], 0, sizeof(totals->type[0]));
		totals->type[i].type = head->type;
		totals->ntypes++;
	}
	totals->type[i].records++;
	totals->type[i].raw_bytes += head->raw_len;
	totals->type[i].stored_bytes += head->stored_len;
	totals->records++;
	totals->raw_bytes += head->raw_len;
	totals->stored_bytes += head->stored_len;
	return 0;
}

size_t vstream_trailer_payload(const struct vstream_totals *totals,
			       const uint8_t stream_digest[VSTREAM_DIGEST_LEN], uint8_t *out)
{
	uint8_t *p = out + ENTRIES_AT;

	memset(out, 0, ENTRIES_AT + ENTRY_LEN * totals->ntypes);
	vstream_put32(out, totals->ntypes);
	for (unsigned i = 0; i < totals->ntypes; i++, p += ENTRY_LEN) {
		vstream_put16(p, totals->type[i].type);
		vstream_put64(p + 8, totals->type[i].records);
		vstream_put64(p + 16, totals->type[i].raw_bytes);
		vstream_put64(p + 24, totals->type[i].stored_bytes);
	}
	memcpy(p, stream_digest, VSTREAM_DIGEST_LEN);
	return (size_t)(p - out) + VSTREAM_DIGEST_LEN;
}

static int trailer_bad(struct verr *err, const char *where, const char *what)
{
	verr_set(err, VERR_DATA, 0, NULL, NULL, "%s: trailer %s", where, what);
	return -EBADMSG;
}

int vstream_trailer_parse(const uint8_t *payload, size_t len, struct vstream_totals *totals,
			  uint8_t stream_digest[VSTREAM_DIGEST_LEN], const char *where,
			  struct verr *err)
{
	const uint8_t *p;
	uint32_t n;

	memset(totals, 0, sizeof(*totals));
	/* An empty payload may come as NULL: no pointer arithmetic before the length check. */
	if (len < ENTRIES_AT + VSTREAM_DIGEST_LEN)
		return trailer_bad(err, where, "is too short");
	p = payload + ENTRIES_AT;
	n = vstream_get32(payload);
	if (n > VSTREAM_MAX_TYPES || len != ENTRIES_AT + ENTRY_LEN * (size_t)n + VSTREAM_DIGEST_LEN)
		return trailer_bad(err, where, "has a malformed totals table");
	for (uint32_t i = 0; i < n; i++, p += ENTRY_LEN) {
		struct vstream_type_total *t = &totals->type[i];

		t->type = vstream_get16(p);
		t->records = vstream_get64(p + 8);
		t->raw_bytes = vstream_get64(p + 16);
		t->stored_bytes = vstream_get64(p + 24);
		if ((i && t->type <= totals->type[i - 1].type) || t->type == VSTREAM_REC_END)
			return trailer_bad(err, where, "has a malformed totals table");
		totals->records += t->records;
		totals->raw_bytes += t->raw_bytes;
		totals->stored_bytes += t->stored_bytes;
	}
	totals->ntypes = n;
	memcpy(stream_digest, p, VSTREAM_DIGEST_LEN);
	return 0;
}
