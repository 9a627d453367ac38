/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The incremental protocol parser: takes the peer's bytes in slices of any size,
 * holds one message at a time, and names the message and byte of every error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

struct proto_parser {
	enum proto_role peer;
	char object[128];
	uint8_t *buf;
	size_t cap, have, need;         /* need: bytes of the current message known so far */
	uint64_t offset;                /* bytes consumed */
	uint64_t start;                 /* where the current message began */
	uint64_t number;                /* messages completed, skipped ones included */
	bool failed;
	bool pass;                      /* DATA's payload is read around the parser */
	size_t pending;                 /* of the last passed DATA, still to come */
	uint64_t passed_start;          /* where that DATA began */
	struct proto_identity ids;
};

int proto_parser_new(enum proto_role local, const char *object, struct proto_parser **out,
		     struct verr *err)
{
	struct proto_parser *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return verr_set(err, VERR_FAILED, ENOMEM, object, NULL, "allocate a protocol parser");
	p->peer = local == PROTO_ROLE_SOURCE ? PROTO_ROLE_DESTINATION : PROTO_ROLE_SOURCE;
	snprintf(p->object, sizeof(p->object), "%s", object ? object : "peer");
	p->need = PROTO_HEAD_LEN;
	*out = p;
	return 0;
}

void proto_parser_free(struct proto_parser *p)
{
	if (!p)
		return;
	free(p->buf);
	free(p);
}

uint64_t proto_parser_offset(const struct proto_parser *p)
{
	return p->offset;
}

static int reserve(struct proto_parser *p, size_t need, struct verr *err)
{
	size_t cap = p->cap ? p->cap : 4096;
	uint8_t *buf;

	if (need <= p->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	buf = realloc(p->buf, cap);
	if (!buf)
		return verr_set(err, VERR_FAILED, ENOMEM, p->object, NULL,
				"allocate %zu bytes for a message", cap);
	p->buf = buf;
	p->cap = cap;
	return 0;
}

static int fail(struct proto_parser *p, const struct verr *why, struct verr *err)
{
	const char *name = NULL;
	char type[32];

	bool head = p->have >= PROTO_HEAD_LEN && !memcmp(p->buf, PROTO_MAGIC, PROTO_MAGIC_LEN);

	p->failed = true;
	if (head)
		name = proto_type_name(vstream_get16(p->buf + 4));
	if (!name)
		snprintf(type, sizeof(type), head ? "type %u" : "header",
			 head ? vstream_get16(p->buf + 4) : 0);
	verr_set(err, why->class, why->errnum, p->object, why->hint[0] ? why->hint : NULL,
		 "message %llu (%s) at byte %llu: %s", (unsigned long long)p->number,
		 name ? name : type, (unsigned long long)p->start, why->what);
	return why->errnum ? -why->errnum : -EBADMSG;
}

/* A decode's failure, as the parser's. */
static int refuse(struct proto_parser *p, int rc, struct verr *local, struct verr *err)
{
	if (!local->errnum)
		local->errnum = -rc;
	return fail(p, local, err);
}

/* msg came out; pending of its bytes are still to come around the parser. */
static void came_out(struct proto_parser *p, struct proto_msg *msg, size_t pending)
{
	msg->offset = p->start;
	msg->number = p->number++;
	p->passed_start = p->start;
	p->pending = pending;
	p->start = p->offset + pending;
	p->have = 0;
	p->need = PROTO_HEAD_LEN;
}

/* Tries to decode what is buffered: 1 with a message, 0 when more is needed. */
static int try_decode(struct proto_parser *p, struct proto_msg *msg, struct verr *err)
{
	struct verr local = { 0 };
	size_t total;
	int rc = proto_decode(p->buf, p->have, p->peer, msg, &p->ids, &total, &local);

	if (rc == -EAGAIN) {
		p->need = total;
		return reserve(p, total, err);
	}
	if (rc < 0)
		return refuse(p, rc, &local, err);
	came_out(p, msg, 0);
	if (!proto_type_name(msg->type)) {
		msg->type = PROTO_NONE;         /* an unknown type that may be skipped */
		return 0;
	}
	return 1;
}

/* In pass mode a DATA message comes out with its record's head, once known. */
static int try_pass(struct proto_parser *p, struct proto_msg *msg, struct verr *err)
{
	struct verr local = { 0 };
	size_t total;
	int rc = proto_decode_data_start(p->buf, p->have, p->peer, msg, &total, &local);

	if (rc < 0)
		return refuse(p, rc, &local, err);
	came_out(p, msg, msg->pending);
	return 1;
}

/* Where the current message's bytes stop for now: all of it, or in pass mode a
 * DATA message's head and record head. */
static size_t target(const struct proto_parser *p)
{
	if (p->pass && p->need > PROTO_DATA_START && p->have >= PROTO_HEAD_LEN &&
	    vstream_get16(p->buf + 4) == PROTO_DATA)
		return PROTO_DATA_START;
	return p->need;
}

void proto_parser_pass(struct proto_parser *p, bool on)
{
	p->pass = on;
}

void proto_parser_passed(struct proto_parser *p, size_t n)
{
	if (n > p->pending)
		n = p->pending;
	p->pending -= n;
	p->offset += n;
}

size_t proto_parser_pending(const struct proto_parser *p)
{
	return p->pending;
}

int proto_parser_feed(struct proto_parser *p, const void *buf, size_t len, size_t *used,
		      struct proto_msg *msg, struct verr *err)
{
	const uint8_t *in = buf;
	int rc;

	*used = 0;
	msg->type = PROTO_NONE;
	if (p->failed)
		return verr_set(err, VERR_DATA, EBADMSG, p->object, NULL,
				"protocol input after an error");
	if (p->pending)
		return verr_set(err, VERR_FAILED, EINVAL, p->object, NULL,
				"message %llu: %zu bytes of its payload not read yet",
				(unsigned long long)p->number - 1, p->pending);
	if (reserve(p, PROTO_HEAD_LEN, err) < 0)
		return -ENOMEM;
	while (*used < len) {
		size_t want = target(p);
		size_t take = want - p->have;

		if (take > len - *used)
			take = len - *used;
		memcpy(p->buf + p->have, in + *used, take);
		p->have += take;
		*used += take;
		p->offset += take;
		/* A partial header is checked too, so a stranger is named at once. */
		if (p->have < want && p->have >= PROTO_HEAD_LEN)
			continue;
		rc = want < p->need ? try_pass(p, msg, err) : try_decode(p, msg, err);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	return 0;
}

int proto_parser_end(struct proto_parser *p, struct verr *err)
{
	struct verr why = { .class = VERR_DATA, .errnum = EBADMSG };

	if (p->failed)
		return verr_set(err, VERR_DATA, EBADMSG, p->object, NULL, "protocol error earlier");
	if (p->pending) {
		p->failed = true;
		return verr_set(err, VERR_DATA, EBADMSG, p->object, NULL,
				"message %llu (DATA) at byte %llu: the peer closed the connection "
				"with %zu bytes of it to come", (unsigned long long)p->number - 1,
				(unsigned long long)p->passed_start, p->pending);
	}
	if (p->have == 0)
		return 0;
	snprintf(why.what, sizeof(why.what), "the peer closed the connection after %zu of "
		 "%zu bytes", p->have, p->need);
	return fail(p, &why, err);
}
