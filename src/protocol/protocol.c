/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Protocol messages: the type table (who sends what, length limits), the fixed
 * header, and the small payloads; IDENTITY's entries are in protocol_identity.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "protocol.h"
#include "protocol_internal.h"

enum { HEAD_MAGIC = 0, HEAD_TYPE = 4, HEAD_FLAGS = 6, HEAD_DEVICE = 8, HEAD_LEN = 12 };
enum { FROM_SOURCE = 1, FROM_DESTINATION = 2, FROM_BOTH = 3 };
enum device_rule { DEV_NONE, DEV_REQUIRED, DEV_OPTIONAL };

#define REASON_MIN 4
#define REASON_MAX (REASON_MIN + PROTO_TEXT_MAX)

typedef int decode_fn(const uint8_t *p, size_t len, struct proto_msg *m,
		      struct proto_identity *ids, struct verr *err);
typedef ssize_t encode_fn(const struct proto_msg *m, uint8_t *out, size_t cap,
			  struct verr *err);

static decode_fn join_decode, records_decode, hello_decode, verdict_decode, start_decode, record_decode, u32_decode,
	u64_decode, reason_decode, empty_decode, identity_msg_decode;
static encode_fn hello_encode, verdict_encode, bytes_encode, switchover_encode,
	commit_encode, loaded_encode, ping_encode, sync_encode, reason_encode, empty_encode, identity_msg_encode,
	join_encode, records_encode;

/* Version 2's messages: sender, device index rule, payload limits (docs §3). */
static const struct msg_kind {
	uint16_t type;
	const char *name;
	unsigned from;
	enum device_rule device;
	size_t min, max;
	decode_fn *decode;
	encode_fn *encode;
} kinds[] = {
	{ PROTO_HELLO, "HELLO", FROM_BOTH, DEV_NONE, 16, PROTO_HELLO_MAX,
	  hello_decode, hello_encode },
	{ PROTO_IDENTITY, "IDENTITY", FROM_DESTINATION, DEV_NONE, 4, PROTO_IDENTITY_MAX,
	  identity_msg_decode, identity_msg_encode },
	{ PROTO_VERDICT, "VERDICT", FROM_SOURCE, DEV_OPTIONAL, 4 + REASON_MIN, 4 + REASON_MAX,
	  verdict_decode, verdict_encode },
	{ PROTO_READY, "READY", FROM_DESTINATION, DEV_NONE, 0, 0, empty_decode, empty_encode },
	{ PROTO_START, "START", FROM_SOURCE, DEV_REQUIRED,
	  VSTREAM_HEADER_FIXED + VSTREAM_DIGEST_LEN, VSTREAM_HEADER_MAX,
	  start_decode, bytes_encode },
	{ PROTO_DATA, "DATA", FROM_SOURCE, DEV_REQUIRED,
	  VSTREAM_RECORD_HEAD + VSTREAM_DIGEST_LEN, PROTO_DATA_MAX, record_decode, bytes_encode },
	{ PROTO_SWITCHOVER, "SWITCHOVER", FROM_SOURCE, DEV_NONE, 8, 8,
	  u32_decode, switchover_encode },
	{ PROTO_DEVICE_END, "DEVICE_END", FROM_SOURCE, DEV_REQUIRED,
	  VSTREAM_RECORD_HEAD + 8 + 2 * VSTREAM_DIGEST_LEN, VSTREAM_TRAILER_MAX,
	  record_decode, bytes_encode },
	{ PROTO_COMMIT, "COMMIT", FROM_DESTINATION, DEV_NONE, 8, 8, u64_decode, commit_encode },
	{ PROTO_ABORT, "ABORT", FROM_BOTH, DEV_OPTIONAL, REASON_MIN, REASON_MAX,
	  reason_decode, reason_encode },
	{ PROTO_PING, "PING", FROM_BOTH, DEV_NONE, 8, 8, u64_decode, ping_encode },
	{ PROTO_SYNC, "SYNC", FROM_BOTH, DEV_NONE, 8, 8, u64_decode, sync_encode },
	{ PROTO_LOADED, "LOADED", FROM_DESTINATION, DEV_NONE, 8, 8, u64_decode, loaded_encode },
	{ PROTO_RUN, "RUN", FROM_SOURCE, DEV_NONE, 0, 0, empty_decode, empty_encode },
	{ PROTO_CONNECTIONS, "CONNECTIONS", FROM_SOURCE, DEV_NONE, 8, 8, join_decode, join_encode },
	{ PROTO_TOKEN, "TOKEN", FROM_DESTINATION, DEV_NONE, 8 + PROTO_TOKEN_LEN,
	  8 + PROTO_TOKEN_LEN, join_decode, join_encode },
	{ PROTO_JOIN, "JOIN", FROM_SOURCE, DEV_NONE, 8 + PROTO_TOKEN_LEN, 8 + PROTO_TOKEN_LEN,
	  join_decode, join_encode },
	{ PROTO_RECORDS, "RECORDS", FROM_SOURCE, DEV_NONE, 16, 8 + 8 * PROTO_MAX_DEVICES,
	  records_decode, records_encode },
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static const struct msg_kind *kind_find(uint16_t type)
{
	for (size_t i = 0; i < NKINDS; i++)
		if (kinds[i].type == type)
			return &kinds[i];
	return NULL;
}

const char *proto_type_name(uint16_t type)
{
	const struct msg_kind *k = kind_find(type);

	return k ? k->name : NULL;
}

/* Payload codecs, in the order of the table. */

static int hello_decode(const uint8_t *p, size_t len, struct proto_msg *m,
			struct proto_identity *ids, struct verr *err)
{
	struct proto_hello *h = &m->u.hello;
	size_t slen = p[5];

	h->min_version = vstream_get16(p);
	h->max_version = vstream_get16(p + 2);
	h->role = p[4];
	h->devices = vstream_get16(p + 6);
	h->features = vstream_get64(p + 8);
	if (!proto_role_name(h->role))
		return proto_bad(err, "unknown role %u", p[4]);
	if (h->min_version == 0 || h->min_version > h->max_version)
		return proto_bad(err, "version range %u..%u is empty", h->min_version,
				 h->max_version);
	if (h->devices == 0 || h->devices > PROTO_MAX_DEVICES)
		return proto_bad(err, "%u devices (1 to %u allowed)", h->devices,
				 PROTO_MAX_DEVICES);
	/* Bytes after the string are for later versions: HELLO only ever grows. */
	if (16 + slen > len || proto_get_string(h->software, sizeof(h->software), p + 16, slen))
		return proto_bad(err, "software string is malformed");
	return 0;
}

static ssize_t hello_encode(const struct proto_msg *m, uint8_t *out, size_t cap,
			    struct verr *err)
{
	const struct proto_hello *h = &m->u.hello;
	size_t slen = strnlen(h->software, sizeof(h->software));

	if (slen > PROTO_SOFTWARE_MAX || cap < 16 + slen)
		return -ENOSPC;
	vstream_put16(out, h->min_version);
	vstream_put16(out + 2, h->max_version);
	out[4] = (uint8_t)h->role;
	out[5] = (uint8_t)slen;
	vstream_put16(out + 6, h->devices);
	vstream_put64(out + 8, h->features);
	memcpy(out + 16, h->software, slen);
	return (ssize_t)(16 + slen);
}

static int reason_parse(const uint8_t *p, size_t len, struct proto_reason *r,
			struct verr *err)
{
	size_t tlen = vstream_get16(p + 2);

	r->code = vstream_get16(p);
	if (REASON_MIN + tlen != len || proto_get_string(r->text, sizeof(r->text), p + 4, tlen))
		return proto_bad(err, "reason text is malformed");
	return 0;
}

static ssize_t reason_put(const struct proto_reason *r, uint8_t *out, size_t cap)
{
	size_t tlen = strnlen(r->text, sizeof(r->text));

	if (tlen > PROTO_TEXT_MAX || cap < REASON_MIN + tlen)
		return -ENOSPC;
	vstream_put16(out, r->code);
	vstream_put16(out + 2, (uint16_t)tlen);
	memcpy(out + 4, r->text, tlen);
	return (ssize_t)(REASON_MIN + tlen);
}

static int verdict_decode(const uint8_t *p, size_t len, struct proto_msg *m,
			  struct proto_identity *ids, struct verr *err)
{
	m->u.verdict.kind = p[0];
	if (!proto_verdict_name(p[0]))
		return proto_bad(err, "unknown verdict %u", p[0]);
	return reason_parse(p + 4, len - 4, &m->u.verdict.reason, err);
}

static ssize_t verdict_encode(const struct proto_msg *m, uint8_t *out, size_t cap,
			      struct verr *err)
{
	ssize_t n;

	if (cap < 4)
		return -ENOSPC;
	memset(out, 0, 4);
	out[0] = (uint8_t)m->u.verdict.kind;
	n = reason_put(&m->u.verdict.reason, out + 4, cap - 4);
	return n < 0 ? n : n + 4;
}

static int start_decode(const uint8_t *p, size_t len, struct proto_msg *m,
			struct proto_identity *ids, struct verr *err)
{
	/* The stream reader checks the rest, with the key only it holds. */
	if (memcmp(p, VSTREAM_MAGIC, VSTREAM_MAGIC_LEN) != 0)
		return proto_bad(err, "payload is not a stream header");
	return 0;
}

/* DATA and DEVICE_END carry exactly one record, a trailer only in DEVICE_END: the
 * record's head (the first VSTREAM_RECORD_HEAD bytes) says so for len bytes. */
static int record_fits(const uint8_t *p, size_t len, uint16_t type,
		       struct vstream_record_head *head, struct verr *err)
{
	bool trailer = type == PROTO_DEVICE_END;
	struct verr local = { 0 };

	if (vstream_record_head_parse(p, head, "record", &local) < 0)
		return proto_bad(err, "%s", local.what);
	if (vstream_record_size(head) != len)
		return proto_bad(err, "payload of %zu bytes holds a record of %zu bytes", len,
				 vstream_record_size(head));
	if (trailer != (head->type == VSTREAM_REC_END))
		return proto_bad(err, "record type %u does not belong in %s", head->type,
				 trailer ? "DEVICE_END" : "DATA");
	return 0;
}

static int record_decode(const uint8_t *p, size_t len, struct proto_msg *m,
			 struct proto_identity *ids, struct verr *err)
{
	return record_fits(p, len, m->type, &m->u.record, err);
}

static ssize_t bytes_encode(const struct proto_msg *m, uint8_t *out, size_t cap,
			    struct verr *err)
{
	if (cap < m->len)
		return -ENOSPC;
	if (m->len)
		memcpy(out, m->payload, m->len);
	return (ssize_t)m->len;
}

static int u32_decode(const uint8_t *p, size_t len, struct proto_msg *m,
		      struct proto_identity *ids, struct verr *err)
{
	m->u.precopy_rounds = vstream_get32(p);
	return 0;
}

static ssize_t switchover_encode(const struct proto_msg *m, uint8_t *out, size_t cap,
				 struct verr *err)
{
	if (cap < 8)
		return -ENOSPC;
	vstream_put32(out, m->u.precopy_rounds);
	vstream_put32(out + 4, 0);
	return 8;
}

static int u64_decode(const uint8_t *p, size_t len, struct proto_msg *m,
		      struct proto_identity *ids, struct verr *err)
{
	if (m->type == PROTO_COMMIT)
		m->u.resume_us = vstream_get64(p);
	else if (m->type == PROTO_SYNC)
		m->u.sync = vstream_get64(p);
	else if (m->type == PROTO_LOADED)
		m->u.loaded_us = vstream_get64(p);
	else
		m->u.ping = vstream_get64(p);
	return 0;
}

static ssize_t u64_put(uint64_t v, uint8_t *out, size_t cap)
{
	if (cap < 8)
		return -ENOSPC;
	vstream_put64(out, v);
	return 8;
}

static ssize_t commit_encode(const struct proto_msg *m, uint8_t *out, size_t cap,
			     struct verr *err)
{
	return u64_put(m->u.resume_us, out, cap);
}

static ssize_t loaded_encode(const struct proto_msg *m, uint8_t *out, size_t cap,
			     struct verr *err)
{
	return u64_put(m->u.loaded_us, out, cap);
}

static ssize_t ping_encode(const struct proto_msg *m, uint8_t *out, size_t cap,
			   struct verr *err)
{
	return u64_put(m->u.ping, out, cap);
}

static ssize_t sync_encode(const struct proto_msg *m, uint8_t *out, size_t cap,
			   struct verr *err)
{
	return u64_put(m->u.sync, out, cap);
}

/* CONNECTIONS: count; TOKEN: count and token; JOIN: index and token. */
static int join_decode(const uint8_t *p, size_t len, struct proto_msg *m,
		       struct proto_identity *ids, struct verr *err)
{
	uint16_t v = vstream_get16(p);

	if (m->type == PROTO_JOIN) {
		if (v == 0 || v >= PROTO_CONNECTIONS_MAX)
			return proto_bad(err, "connection index %u (1 to %u allowed)", v,
					 PROTO_CONNECTIONS_MAX - 1);
		m->u.join.index = v;
	} else {
		if (v < 2 || v > PROTO_CONNECTIONS_MAX)
			return proto_bad(err, "%u connections (2 to %u allowed)", v,
					 PROTO_CONNECTIONS_MAX);
		m->u.join.count = v;
	}
	if (m->type != PROTO_CONNECTIONS)
		memcpy(m->u.join.token, p + 8, PROTO_TOKEN_LEN);
	return 0;
}

static ssize_t join_encode(const struct proto_msg *m, uint8_t *out, size_t cap,
			   struct verr *err)
{
	size_t len = m->type == PROTO_CONNECTIONS ? 8 : 8 + PROTO_TOKEN_LEN;
	uint16_t v = m->type == PROTO_JOIN ? m->u.join.index : m->u.join.count;

	if (cap < len)
		return -ENOSPC;
	memset(out, 0, 8);
	vstream_put16(out, v);
	if (len > 8)
		memcpy(out + 8, m->u.join.token, PROTO_TOKEN_LEN);
	return (ssize_t)len;
}

static int records_decode(const uint8_t *p, size_t len, struct proto_msg *m,
			  struct proto_identity *ids, struct verr *err)
{
	unsigned n = vstream_get16(p);

	if (n == 0 || n > PROTO_MAX_DEVICES || len != 8 + 8 * (size_t)n)
		return proto_bad(err, "%u devices in %zu bytes", n, len);
	m->u.records.devices = (uint16_t)n;
	for (unsigned i = 0; i < n; i++)
		m->u.records.sent[i] = vstream_get64(p + 8 + 8 * i);
	return 0;
}

static ssize_t records_encode(const struct proto_msg *m, uint8_t *out, size_t cap,
			      struct verr *err)
{
	unsigned n = m->u.records.devices;

	if (n == 0 || n > PROTO_MAX_DEVICES)
		return -EINVAL;
	if (cap < 8 + 8 * (size_t)n)
		return -ENOSPC;
	memset(out, 0, 8);
	vstream_put16(out, (uint16_t)n);
	for (unsigned i = 0; i < n; i++)
		vstream_put64(out + 8 + 8 * i, m->u.records.sent[i]);
	return (ssize_t)(8 + 8 * n);
}

static int reason_decode(const uint8_t *p, size_t len, struct proto_msg *m,
			 struct proto_identity *ids, struct verr *err)
{
	return reason_parse(p, len, &m->u.reason, err);
}

static ssize_t reason_encode(const struct proto_msg *m, uint8_t *out, size_t cap,
			     struct verr *err)
{
	return reason_put(&m->u.reason, out, cap);
}

static int empty_decode(const uint8_t *p, size_t len, struct proto_msg *m,
			struct proto_identity *ids, struct verr *err)
{
	return 0;
}

static ssize_t empty_encode(const struct proto_msg *m, uint8_t *out, size_t cap,
			    struct verr *err)
{
	return 0;
}

static int identity_msg_decode(const uint8_t *p, size_t len, struct proto_msg *m,
			       struct proto_identity *ids, struct verr *err)
{
	if (!ids)
		return proto_bad(err, "no room to decode an identity");
	m->u.identity = ids;
	return proto_identity_decode(p, len, ids, err);
}

static ssize_t identity_msg_encode(const struct proto_msg *m, uint8_t *out, size_t cap,
				   struct verr *err)
{
	if (!m->u.identity)
		return -EINVAL;
	return proto_identity_encode(m->u.identity, out, cap, err);
}

/* The fixed header. */

static int device_check(const struct msg_kind *k, uint16_t device)
{
	bool none = device == PROTO_NO_DEVICE, valid = device < PROTO_MAX_DEVICES;

	switch (k->device) {
	case DEV_NONE: return none ? 0 : -1;
	case DEV_REQUIRED: return valid ? 0 : -1;
	case DEV_OPTIONAL: return none || valid ? 0 : -1;
	}
	return -1;
}

static void head_put(uint8_t *out, uint16_t type, uint16_t flags, uint16_t device,
		     size_t payload_len)
{
	memcpy(out + HEAD_MAGIC, PROTO_MAGIC, PROTO_MAGIC_LEN);
	vstream_put16(out + HEAD_TYPE, type);
	vstream_put16(out + HEAD_FLAGS, flags);
	vstream_put16(out + HEAD_DEVICE, device);
	vstream_put16(out + HEAD_DEVICE + 2, 0);
	vstream_put32(out + HEAD_LEN, (uint32_t)payload_len);
}

static int usage_bad(struct verr *err, const char *what, uint16_t type)
{
	const char *name = proto_type_name(type);

	verr_set(err, VERR_USAGE, EINVAL, NULL, NULL, "encode %s message: %s",
		 name ? name : "unknown", what);
	return -EINVAL;
}

int proto_encode_head(uint16_t type, uint16_t device, size_t payload_len,
		      uint8_t out[PROTO_HEAD_LEN], struct verr *err)
{
	const struct msg_kind *k = kind_find(type);

	if (!k)
		return usage_bad(err, "unknown type", type);
	if (device_check(k, device) < 0)
		return usage_bad(err, "device index out of range", type);
	if (payload_len < k->min || payload_len > k->max)
		return usage_bad(err, "payload length out of range", type);
	head_put(out, type, 0, device, payload_len);
	return 0;
}

int proto_encode(const struct proto_msg *msg, uint8_t *out, size_t cap, size_t *len,
		 struct verr *err)
{
	const struct msg_kind *k = kind_find(msg->type);
	ssize_t n;

	*len = 0;
	if (!k)
		return usage_bad(err, "unknown type", msg->type);
	if (cap < PROTO_HEAD_LEN)
		return verr_set(err, VERR_FAILED, ENOSPC, NULL, NULL, "encode %s message", k->name);
	n = k->encode(msg, out + PROTO_HEAD_LEN, cap - PROTO_HEAD_LEN, err);
	if (n == -ENOSPC)
		return verr_set(err, VERR_FAILED, ENOSPC, NULL, NULL, "encode %s message", k->name);
	if (n < 0)
		return err && err->set ? (int)n : usage_bad(err, "malformed content", msg->type);
	if (proto_encode_head(msg->type, msg->device, (size_t)n, out, err) < 0)
		return -EINVAL;
	vstream_put16(out + HEAD_FLAGS, msg->flags);
	*len = PROTO_HEAD_LEN + (size_t)n;
	return 0;
}

/* Says what a peer that does not speak the protocol sent instead, for the error. */
static void describe_stranger(const uint8_t *buf, size_t size, char *out, size_t cap)
{
	size_t n = 0;

	if (size >= 2 && (buf[0] == 0x16 || buf[0] == 0x15) && buf[1] == 0x03)
		snprintf(out, cap, "the peer speaks TLS (give both sides the same "
			 "--psk-file or certificates)");
	else if (size >= 4 && memcmp(buf, "SSH-", 4) == 0)
		snprintf(out, cap, "the peer is an ssh server");
	else if (size >= 4 && memcmp(buf, VSTREAM_MAGIC, 4) == 0)
		snprintf(out, cap, "the peer sent a saved stream, not the protocol");
	else {
		while (n < size && n < 40 && buf[n] >= 0x20 && buf[n] < 0x7f)
			n++;
		if (n >= 4)
			snprintf(out, cap, "the peer sent text \"%.*s\" (is something "
				 "printing to stdout on the remote side?)", (int)n, (const char *)buf);
		else
			snprintf(out, cap, "not a vfiomig peer");
	}
}

static int head_check(const uint8_t *buf, size_t size, enum proto_role from,
		      const struct msg_kind **kp, size_t *need, struct verr *err)
{
	uint16_t type, flags, device;
	const struct msg_kind *k;
	size_t plen;

	*kp = NULL;
	*need = PROTO_HEAD_LEN;
	if (memcmp(buf, PROTO_MAGIC, size < PROTO_MAGIC_LEN ? size : PROTO_MAGIC_LEN)) {
		char what[128];

		describe_stranger(buf, size, what, sizeof(what));
		return proto_bad(err, "bad magic: %s", what);
	}
	if (size < PROTO_HEAD_LEN)
		return -EAGAIN;
	type = vstream_get16(buf + HEAD_TYPE);
	flags = vstream_get16(buf + HEAD_FLAGS);
	device = vstream_get16(buf + HEAD_DEVICE);
	plen = vstream_get32(buf + HEAD_LEN);
	k = kind_find(type);
	if (!k && !(type & PROTO_TYPE_MAY_SKIP)) {
		verr_set(err, VERR_UNSUPPORTED, 0, NULL, "upgrade vfiomig on this side",
			 "unknown message type %u", type);
		return -EPROTONOSUPPORT;
	}
	if (flags & PROTO_FLAGS_REQUIRED & ~PROTO_FLAGS_KNOWN) {
		verr_set(err, VERR_UNSUPPORTED, 0, NULL, "upgrade vfiomig on this side",
			 "unknown required flags 0x%04x",
			 flags & PROTO_FLAGS_REQUIRED & ~PROTO_FLAGS_KNOWN);
		return -EPROTONOSUPPORT;
	}
	if (!k) {
		if (plen > PROTO_DATA_MAX)
			return proto_bad(err, "length %zu exceeds the %u-byte limit", plen,
					 (unsigned)PROTO_DATA_MAX);
	} else if (!(k->from & from)) {
		return proto_bad(err, "a %s may not send %s", proto_role_name(from), k->name);
	} else if (device_check(k, device) < 0) {
		return proto_bad(err, "device index %u is out of range", device);
	} else if (plen < k->min || plen > k->max) {
		return proto_bad(err, "length %zu is outside %zu..%zu", plen, k->min, k->max);
	}
	*kp = k;
	*need = PROTO_HEAD_LEN + plen;
	return size < *need ? -EAGAIN : 0;
}

int proto_decode(const uint8_t *buf, size_t size, enum proto_role from,
		 struct proto_msg *msg, struct proto_identity *ids, size_t *len,
		 struct verr *err)
{
	const struct msg_kind *k;
	int rc;

	rc = head_check(buf, size, from, &k, len, err);
	if (rc < 0)
		return rc;
	memset(msg, 0, sizeof(*msg));
	msg->type = vstream_get16(buf + HEAD_TYPE);
	msg->flags = vstream_get16(buf + HEAD_FLAGS);
	msg->device = vstream_get16(buf + HEAD_DEVICE);
	msg->payload = buf + PROTO_HEAD_LEN;
	msg->len = *len - PROTO_HEAD_LEN;
	return k ? k->decode(msg->payload, msg->len, msg, ids, err) : 0;
}

int proto_decode_data_start(const uint8_t *buf, size_t size, enum proto_role from,
			    struct proto_msg *msg, size_t *len, struct verr *err)
{
	const struct msg_kind *k;
	int rc = head_check(buf, size, from, &k, len, err);

	if (rc < 0 && rc != -EAGAIN)
		return rc;
	if (size < PROTO_DATA_START)
		return -EAGAIN;
	if (vstream_get16(buf + HEAD_TYPE) != PROTO_DATA)
		return 0;
	memset(msg, 0, sizeof(*msg));
	msg->type = PROTO_DATA;
	msg->flags = vstream_get16(buf + HEAD_FLAGS);
	msg->device = vstream_get16(buf + HEAD_DEVICE);
	msg->payload = buf + PROTO_HEAD_LEN;
	msg->len = VSTREAM_RECORD_HEAD;
	msg->pending = *len - PROTO_DATA_START;
	rc = record_fits(msg->payload, *len - PROTO_HEAD_LEN, PROTO_DATA, &msg->u.record, err);
	if (rc < 0)
		return rc;
	return 1;
}

int proto_negotiate(const struct proto_hello *mine, const struct proto_hello *peer,
		    uint16_t *version, uint64_t *features, struct verr *err)
{
	uint16_t lo = mine->min_version > peer->min_version ? mine->min_version : peer->min_version;
	uint16_t hi = mine->max_version < peer->max_version ? mine->max_version : peer->max_version;

	if (peer->role == mine->role)
		return verr_set(err, VERR_PEER, EPROTO, NULL,
				"run 'migrate' on one host and 'receive' on the other",
				"both sides are the %s", proto_role_name(mine->role));
	if (lo > hi) {
		verr_set(err, VERR_UNSUPPORTED, 0, NULL, "install matching vfiomig versions",
			 "no common protocol version: the peer (%s) speaks %u..%u, this side %u..%u",
			 peer->software[0] ? peer->software : "unknown", peer->min_version,
			 peer->max_version, mine->min_version, mine->max_version);
		return -EPROTONOSUPPORT;
	}
	if (peer->devices != mine->devices)
		return verr_set(err, VERR_PEER, EPROTO, NULL,
				"name as many devices on both sides; they pair up in order",
				"the source migrates %u device(s), the destination has %u",
				mine->role == PROTO_ROLE_SOURCE ? mine->devices : peer->devices,
				mine->role == PROTO_ROLE_SOURCE ? peer->devices : mine->devices);
	*version = hi;
	*features = mine->features & peer->features;
	return 0;
}
