/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The protocol messages: every type round-trips, the parser yields the same
 * messages however the bytes are sliced, and malformed input is refused with the
 * message and byte it is at. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/protocol.h"
#include "unit.h"

#define MAX_MSGS 16

static uint8_t record_buf[256], trailer_buf[VSTREAM_TRAILER_MAX], header_buf[VSTREAM_HEADER_MAX];
static size_t record_len, trailer_len, header_len;
static struct proto_identity sample_ids;

/* A real stream header, one data record and a trailer, from the stream layer. */
static void make_stream_parts(void)
{
	struct vstream_digester *dg;
	struct vstream_header hdr;
	struct vstream_totals totals = { 0 };
	uint8_t digest[VSTREAM_DIGEST_LEN] = { 0 }, payload[VSTREAM_TRAILER_MAX];
	uint8_t id[VSTREAM_ID_LEN] = { 1, 2, 3 };
	struct verr err = { 0 };
	size_t plen;

	memset(&hdr, 0, sizeof(hdr));
	hdr.major = VSTREAM_VERSION_MAJOR;
	hdr.id.kind = VSTREAM_KIND_MDEV;
	strcpy(hdr.id.mdev_type, "mtty-2");
	vstream_header_encode(&hdr, NULL, header_buf, sizeof(header_buf), &header_len, &err);
	vstream_digester_new(NULL, &dg, &err);
	vstream_record_build(dg, id, VSTREAM_REC_STOPCOPY, 0, "sixteen bytes ok", 16, record_buf);
	record_len = VSTREAM_RECORD_HEAD + 16 + VSTREAM_DIGEST_LEN;
	plen = vstream_trailer_payload(&totals, digest, payload);
	vstream_record_build(dg, id, VSTREAM_REC_END, 1, payload, plen, trailer_buf);
	trailer_len = VSTREAM_RECORD_HEAD + plen + VSTREAM_DIGEST_LEN;
	vstream_digester_free(dg);
}

static void make_identity(void)
{
	memset(&sample_ids, 0, sizeof(sample_ids));
	sample_ids.count = 2;
	sample_ids.dev[0].id.kind = VSTREAM_KIND_PCI;
	strcpy(sample_ids.dev[0].id.device_name, "0000:5e:00.2");
	sample_ids.dev[0].id.vendor = 0x15b3;
	sample_ids.dev[0].id.device = 0x101e;
	sample_ids.dev[0].id.revision = 1;
	strcpy(sample_ids.dev[0].id.driver, "mlx5_vfio_pci");
	sample_ids.dev[0].id.migration_flags = 7;
	strcpy(sample_ids.dev[0].compat, "mlx5 fw=28.39 caps=0x3f");
	sample_ids.dev[1].id.kind = VSTREAM_KIND_MDEV;
	strcpy(sample_ids.dev[1].id.mdev_type, "mtty-2");
	strcpy(sample_ids.dev[1].id.driver, "mtty");
	sample_ids.dev[1].id.stop_copy_estimate = 96;
}

/* One message of every type, as the given role would send them. */
static unsigned samples(enum proto_role from, struct proto_msg *m)
{
	unsigned n = 0;

	memset(m, 0, sizeof(*m) * MAX_MSGS);
	for (unsigned i = 0; i < MAX_MSGS; i++)
		m[i].device = PROTO_NO_DEVICE;
	m[n].type = PROTO_HELLO;
	m[n].u.hello = (struct proto_hello){ from, 1, 1, 2, PROTO_FEAT_PRECOPY, "vfiomig 0.1.0" };
	n++;
	if (from == PROTO_ROLE_DESTINATION) {
		m[n].type = PROTO_IDENTITY;
		m[n++].u.identity = &sample_ids;
		m[n++].type = PROTO_READY;
		m[n].type = PROTO_COMMIT;
		m[n++].u.resume_us = 123456;
		m[n].type = PROTO_TOKEN;
		m[n].u.join.count = 4;
		memset(m[n++].u.join.token, 0xa5, PROTO_TOKEN_LEN);
	} else {
		m[n].type = PROTO_VERDICT;
		m[n].device = 1;
		m[n].u.verdict.kind = PROTO_VERDICT_FORCED;
		proto_reason_set(&m[n++].u.verdict.reason, PROTO_REASON_INCOMPATIBLE, "rev 1 vs 2");
		m[n].type = PROTO_START;
		m[n].device = 0;
		m[n].payload = header_buf;
		m[n++].len = header_len;
		m[n].type = PROTO_DATA;
		m[n].device = 0;
		m[n].payload = record_buf;
		m[n++].len = record_len;
		m[n].type = PROTO_SWITCHOVER;
		m[n++].u.precopy_rounds = 3;
		m[n].type = PROTO_DEVICE_END;
		m[n].device = 0;
		m[n].payload = trailer_buf;
		m[n++].len = trailer_len;
		m[n].type = PROTO_CONNECTIONS;
		m[n++].u.join.count = 16;
		m[n].type = PROTO_JOIN;
		m[n].u.join.index = 15;
		memset(m[n++].u.join.token, 0x5a, PROTO_TOKEN_LEN);
		m[n].type = PROTO_RECORDS;
		m[n].u.records.devices = 2;
		m[n].u.records.sent[0] = 7;
		m[n++].u.records.sent[1] = 1ull << 40;
	}
	m[n].type = PROTO_PING;
	m[n++].u.ping = 42;
	m[n].type = PROTO_SYNC;
	m[n++].u.sync = 7;
	m[n].type = PROTO_ABORT;
	proto_reason_set(&m[n++].u.reason, PROTO_REASON_TIMEOUT, "%s", "");
	return n;
}

static bool identity_equal(const struct proto_identity *a, const struct proto_identity *b)
{
	if (a->count != b->count)
		return false;
	for (unsigned i = 0; i < a->count; i++) {
		const struct vstream_identity *x = &a->dev[i].id, *y = &b->dev[i].id;

		if (strcmp(a->dev[i].compat, b->dev[i].compat) || x->kind != y->kind ||
		    strcmp(x->device_name, y->device_name) || x->vendor != y->vendor ||
		    x->device != y->device || x->revision != y->revision ||
		    strcmp(x->driver, y->driver) || strcmp(x->mdev_type, y->mdev_type) ||
		    x->migration_flags != y->migration_flags ||
		    x->stop_copy_estimate != y->stop_copy_estimate)
			return false;
	}
	return true;
}

static bool msg_equal(const struct proto_msg *a, const struct proto_msg *b)
{
	if (a->type != b->type || a->device != b->device)
		return false;
	switch (a->type) {
	case PROTO_HELLO:
		return a->u.hello.role == b->u.hello.role && a->u.hello.devices == b->u.hello.devices &&
		       a->u.hello.min_version == b->u.hello.min_version &&
		       a->u.hello.max_version == b->u.hello.max_version &&
		       a->u.hello.features == b->u.hello.features &&
		       strcmp(a->u.hello.software, b->u.hello.software) == 0;
	case PROTO_IDENTITY: return identity_equal(a->u.identity, b->u.identity);
	case PROTO_VERDICT:
		return a->u.verdict.kind == b->u.verdict.kind &&
		       a->u.verdict.reason.code == b->u.verdict.reason.code &&
		       strcmp(a->u.verdict.reason.text, b->u.verdict.reason.text) == 0;
	case PROTO_START: case PROTO_DATA: case PROTO_DEVICE_END:
		return a->len == b->len && memcmp(a->payload, b->payload, a->len) == 0;
	case PROTO_SWITCHOVER: return a->u.precopy_rounds == b->u.precopy_rounds;
	case PROTO_COMMIT: return a->u.resume_us == b->u.resume_us;
	case PROTO_PING: return a->u.ping == b->u.ping;
	case PROTO_SYNC: return a->u.sync == b->u.sync;
	case PROTO_CONNECTIONS: return a->u.join.count == b->u.join.count;
	case PROTO_TOKEN: case PROTO_JOIN:
		return a->u.join.count == b->u.join.count && a->u.join.index == b->u.join.index &&
		       memcmp(a->u.join.token, b->u.join.token, PROTO_TOKEN_LEN) == 0;
	case PROTO_RECORDS:
		return a->u.records.devices == b->u.records.devices &&
		       memcmp(a->u.records.sent, b->u.records.sent,
			      a->u.records.devices * sizeof(uint64_t)) == 0;
	case PROTO_ABORT:
		return a->u.reason.code == b->u.reason.code &&
		       strcmp(a->u.reason.text, b->u.reason.text) == 0;
	}
	return true;
}

/* Encodes msgs back to back into a new buffer; *at gets each start. */
static uint8_t *encode_all(const struct proto_msg *m, unsigned n, size_t *len, size_t *at)
{
	uint8_t *buf = malloc(n * (size_t)PROTO_CONTROL_MAX);
	struct verr err = { 0 };
	size_t off = 0, one;

	for (unsigned i = 0; i < n; i++) {
		at[i] = off;
		if (proto_encode(&m[i], buf + off, PROTO_CONTROL_MAX, &one, &err) < 0) {
			printf("# encode %u: %s\n", i, err.what);
			free(buf);
			return NULL;
		}
		off += one;
	}
	at[n] = off;
	*len = off;
	return buf;
}

/* Feeds buf in slices of `step` bytes (0: whole); compares with want[]. In pass mode
 * a DATA payload's pending bytes are taken from buf around the parser, in slices too,
 * and the message compared whole. */
static bool parse_matches(enum proto_role local, const uint8_t *buf, size_t len, size_t step,
			  const struct proto_msg *want, unsigned n, bool pass)
{
	static uint8_t whole[PROTO_DATA_MAX];
	struct proto_parser *p;
	struct verr err = { 0 };
	unsigned got = 0;
	size_t pos = 0;
	bool ok = true;

	proto_parser_new(local, "peer", &p, &err);
	proto_parser_pass(p, pass);
	while (ok && pos < len) {
		size_t slice = step && step < len - pos ? step : len - pos, used;
		struct proto_msg m;

		if (proto_parser_feed(p, buf + pos, slice, &used, &m, &err) < 0) {
			printf("# %s\n", err.what);
			ok = false;
		} else if (m.type != PROTO_NONE) {
			pos += used;
			used = 0;
			if (m.pending) {
				ok = m.type == PROTO_DATA && m.len + m.pending <= sizeof(whole) &&
				     m.pending <= len - pos && proto_parser_pending(p) == m.pending;
				if (!ok)
					break;
				memcpy(whole, m.payload, m.len);
				memcpy(whole + m.len, buf + pos, m.pending);
				while (proto_parser_pending(p)) {
					size_t k = step ? step : proto_parser_pending(p);

					proto_parser_passed(p, k);
				}
				pos += m.pending;
				m.payload = whole;
				m.len += m.pending;
				m.pending = 0;
			}
			ok = got < n && msg_equal(&m, &want[got]) && m.number == got;
			got++;
		}
		pos += used;
	}
	ok = ok && got == n && proto_parser_end(p, &err) == 0 &&
	     proto_parser_offset(p) == len;
	proto_parser_free(p);
	return ok;
}

static void test_round_trips(void)
{
	static const enum proto_role roles[] = { PROTO_ROLE_SOURCE, PROTO_ROLE_DESTINATION };
	struct proto_msg m[MAX_MSGS];
	size_t at[MAX_MSGS + 1], len;

	for (unsigned r = 0; r < 2; r++) {
		unsigned n = samples(roles[r], m);
		enum proto_role local = roles[1 - r];
		uint8_t *buf = encode_all(m, n, &len, at);
		bool each = buf != NULL;

		for (unsigned i = 0; each && i < n; i++) {
			struct proto_msg d;
			struct proto_identity ids;
			struct verr err = { 0 };
			size_t used;

			each = proto_decode(buf + at[i], len - at[i], roles[r], &d, &ids, &used,
					    &err) == 0 && used == at[i + 1] - at[i] && msg_equal(&d, &m[i]);
			if (!each)
				printf("# message %u (%s): %s\n", i, proto_type_name(m[i].type), err.what);
		}
		CHECK(each, "every %s message round-trips through encode and decode",
		      proto_role_name(roles[r]));
		for (int pass = 0; pass < 2; pass++) {
			const char *mode = pass ? ", DATA payloads passed around it" : "";

			CHECK(buf && parse_matches(local, buf, len, 0, m, n, pass),
			      "the parser yields every %s message from one buffer%s",
			      proto_role_name(roles[r]), mode);
			CHECK(buf && parse_matches(local, buf, len, 1, m, n, pass),
			      "the parser yields every %s message fed a byte at a time%s",
			      proto_role_name(roles[r]), mode);
			CHECK(buf && parse_matches(local, buf, len, 7, m, n, pass),
			      "the parser yields every %s message fed 7 bytes at a time%s",
			      proto_role_name(roles[r]), mode);
		}
		free(buf);
	}
}

/* Every proper prefix is incomplete: decode says -EAGAIN, the parser's end errs. */
static void test_truncation(void)
{
	struct proto_msg m[MAX_MSGS];
	size_t at[MAX_MSGS + 1], len, bad = 0;
	unsigned n = samples(PROTO_ROLE_SOURCE, m);
	uint8_t *buf = encode_all(m, n, &len, at);

	for (unsigned i = 0; buf && i < n; i++) {
		for (size_t cut = 0; cut < at[i + 1] - at[i]; cut++) {
			struct proto_parser *p;
			struct proto_msg d;
			struct proto_identity ids;
			struct verr err = { 0 };
			size_t used;

			if (proto_decode(buf + at[i], cut, PROTO_ROLE_SOURCE, &d, &ids, &used,
					 &err) != -EAGAIN)
				bad++;
			proto_parser_new(PROTO_ROLE_DESTINATION, "peer", &p, &err);
			if (proto_parser_feed(p, buf + at[i], cut, &used, &d, &err) < 0 ||
			    d.type != PROTO_NONE || used != cut ||
			    (cut > 0) != (proto_parser_end(p, &err) == -EBADMSG))
				bad++;
			proto_parser_free(p);
		}
	}
	CHECK(buf && bad == 0, "every prefix of every message is incomplete, never an error "
	      "or a message (%zu bad)", bad);
	free(buf);
}

static int decode_one(const uint8_t *buf, size_t len, enum proto_role from, struct verr *err)
{
	struct proto_msg d;
	struct proto_identity ids;
	size_t used;

	verr_clear(err);
	return proto_decode(buf, len, from, &d, &ids, &used, err);
}

static size_t put_head(uint8_t *buf, uint16_t type, uint16_t flags, uint16_t device,
		       uint32_t len)
{
	memcpy(buf, PROTO_MAGIC, PROTO_MAGIC_LEN);
	vstream_put16(buf + 4, type);
	vstream_put16(buf + 6, flags);
	vstream_put16(buf + 8, device);
	vstream_put16(buf + 10, 0);
	vstream_put32(buf + 12, len);
	return PROTO_HEAD_LEN;
}

static void test_limits(void)
{
	static const uint16_t types[] = { PROTO_HELLO, PROTO_IDENTITY, PROTO_VERDICT, PROTO_READY,
		PROTO_START, PROTO_DATA, PROTO_SWITCHOVER, PROTO_DEVICE_END, PROTO_COMMIT,
		PROTO_ABORT, PROTO_PING, PROTO_SYNC };
	uint8_t buf[PROTO_HEAD_LEN];
	struct verr err;
	unsigned refused = 0;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		bool device = types[i] == PROTO_START || types[i] == PROTO_DATA ||
			      types[i] == PROTO_DEVICE_END;
		enum proto_role from = types[i] == PROTO_IDENTITY || types[i] == PROTO_READY ||
				       types[i] == PROTO_COMMIT ? PROTO_ROLE_DESTINATION :
				       PROTO_ROLE_SOURCE;

		put_head(buf, types[i], 0, device ? 0 : PROTO_NO_DEVICE, 0xffffffffu);
		if (decode_one(buf, sizeof(buf), from, &err) == -EBADMSG && err.class == VERR_DATA)
			refused++;
	}
	CHECK(refused == sizeof(types) / sizeof(types[0]),
	      "a 4 GiB length is refused from the header alone, for every type");
	put_head(buf, PROTO_DATA, 0, 0, PROTO_DATA_MAX + 1);
	CHECK(decode_one(buf, sizeof(buf), PROTO_ROLE_SOURCE, &err) == -EBADMSG &&
	      strstr(err.what, "length"), "DATA one byte over its limit is refused: %s", err.what);
	put_head(buf, PROTO_COMMIT, 0, PROTO_NO_DEVICE, 9);
	CHECK(decode_one(buf, sizeof(buf), PROTO_ROLE_DESTINATION, &err) == -EBADMSG,
	      "COMMIT with 9 payload bytes is refused");
	put_head(buf, PROTO_DATA, 0, PROTO_MAX_DEVICES, 100);
	CHECK(decode_one(buf, sizeof(buf), PROTO_ROLE_SOURCE, &err) == -EBADMSG &&
	      strstr(err.what, "device index"), "DATA for device 32 is refused");
	put_head(buf, PROTO_READY, 0, 3, 0);
	CHECK(decode_one(buf, sizeof(buf), PROTO_ROLE_DESTINATION, &err) == -EBADMSG,
	      "READY naming a device is refused");
	put_head(buf, PROTO_DATA, 0, 0, 100);
	CHECK(decode_one(buf, sizeof(buf), PROTO_ROLE_DESTINATION, &err) == -EBADMSG &&
	      strstr(err.what, "destination may not send DATA"),
	      "DATA from a destination is refused: %s", err.what);
	put_head(buf, PROTO_COMMIT, 0, PROTO_NO_DEVICE, 8);
	CHECK(decode_one(buf, sizeof(buf), PROTO_ROLE_SOURCE, &err) == -EBADMSG,
	      "COMMIT from a source is refused");
}

/* Version rules: unknown types and flags, a future HELLO, strangers. */
static void test_unknown(void)
{
	uint8_t buf[256], hello[PROTO_HEAD_LEN + 40];
	struct proto_parser *p;
	struct proto_msg m;
	struct verr err;
	size_t used, n;

	put_head(buf, 99, 0, PROTO_NO_DEVICE, 0);
	CHECK(decode_one(buf, PROTO_HEAD_LEN, PROTO_ROLE_SOURCE, &err) == -EPROTONOSUPPORT &&
	      err.class == VERR_UNSUPPORTED, "an unknown type is unsupported: %s", err.what);
	put_head(buf, PROTO_PING, 0x0001, PROTO_NO_DEVICE, 8);
	memset(buf + PROTO_HEAD_LEN, 0, 8);
	CHECK(decode_one(buf, PROTO_HEAD_LEN + 8, PROTO_ROLE_SOURCE, &err) == -EPROTONOSUPPORT,
	      "an unknown required flag is unsupported");
	put_head(buf, PROTO_PING, 0x0100, PROTO_NO_DEVICE, 8);
	CHECK(decode_one(buf, PROTO_HEAD_LEN + 8, PROTO_ROLE_SOURCE, &err) == 0,
	      "an unknown optional flag is ignored");

	/* A may-skip message of an unknown type, then a PING: only the PING comes out. */
	n = put_head(buf, 0x8063, 0, 7, 5);
	memcpy(buf + n, "later", 5);
	n += 5;
	n += put_head(buf + n, PROTO_PING, 0, PROTO_NO_DEVICE, 8);
	vstream_put64(buf + n, 9);
	n += 8;
	err = (struct verr){ 0 };
	proto_parser_new(PROTO_ROLE_DESTINATION, "peer", &p, &err);
	CHECK(proto_parser_feed(p, buf, n, &used, &m, &err) == 0 && m.type == PROTO_PING &&
	      m.u.ping == 9 && m.number == 1 && m.offset == PROTO_HEAD_LEN + 5 && used == n,
	      "an unknown type with the may-skip bit is skipped");
	proto_parser_free(p);

	/* A later version's HELLO may be longer; this one reads what it knows. */
	memset(hello, 0xee, sizeof(hello));
	put_head(hello, PROTO_HELLO, 0, PROTO_NO_DEVICE, 40);
	vstream_put16(hello + 16, 1);
	vstream_put16(hello + 18, 7);
	hello[20] = PROTO_ROLE_SOURCE;
	hello[21] = 3;
	vstream_put16(hello + 22, 1);
	memcpy(hello + 32, "v99", 3);
	struct proto_msg d;
	struct proto_identity ids;
	err = (struct verr){ 0 };
	CHECK(proto_decode(hello, sizeof(hello), PROTO_ROLE_SOURCE, &d, &ids, &n, &err) == 0 &&
	      d.u.hello.max_version == 7 && strcmp(d.u.hello.software, "v99") == 0,
	      "a longer HELLO from a newer version is read");
	hello[20] = 3;
	CHECK(decode_one(hello, sizeof(hello), PROTO_ROLE_SOURCE, &err) == -EBADMSG,
	      "a HELLO with an unknown role is refused");
}

static void test_strangers(void)
{
	static const struct { const char *bytes; size_t len; const char *says; } cases[] = {
		{ "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11, "TLS" },
		{ "SSH-2.0-OpenSSH_9.2", 19, "ssh server" },
		{ "\x89VFMIG\r\n\x01\x00", 10, "saved stream" },
		{ "bash: vfiomig: command not found\n", 33, "text \"bash: vfiomig" },
		{ "\x01\x02", 2, "not a vfiomig peer" },
	};
	struct verr err = { 0 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct proto_parser *p;
		struct proto_msg m;
		size_t used;
		int rc;

		verr_clear(&err);
		proto_parser_new(PROTO_ROLE_SOURCE, "exec 'ssh dst'", &p, &err);
		rc = proto_parser_feed(p, cases[i].bytes, cases[i].len, &used, &m, &err);
		CHECK(rc == -EBADMSG && strstr(err.what, cases[i].says) &&
		      strstr(err.what, "message 0 (header) at byte 0") &&
		      strcmp(err.object, "exec 'ssh dst'") == 0,
		      "a peer that is not vfiomig is named: %s", err.what);
		CHECK(proto_parser_feed(p, "x", 1, &used, &m, &err) < 0,
		      "the parser refuses input after an error");
		proto_parser_free(p);
	}
}

/* Errors inside a message carry its number and offset, in pass mode too. */
static void test_error_offsets(void)
{
	struct proto_msg m[MAX_MSGS];
	size_t at[MAX_MSGS + 1], len;
	unsigned n = samples(PROTO_ROLE_SOURCE, m);
	uint8_t *buf = encode_all(m, n, &len, at);
	char want[64];

	buf[at[3] + PROTO_HEAD_LEN + 20] ^= 1;   /* DATA: its record's payload length */
	buf[at[3] + PROTO_HEAD_LEN + 8] ^= 0x80;
	snprintf(want, sizeof(want), "message 3 (DATA) at byte %zu:", at[3]);
	for (int pass = 0; pass < 2; pass++) {
		struct proto_parser *p;
		struct verr err = { 0 };
		size_t used = 0, pos = 0;
		int rc = 0;

		proto_parser_new(PROTO_ROLE_DESTINATION, "peer", &p, &err);
		proto_parser_pass(p, pass);
		while (rc == 0 && pos < len) {
			struct proto_msg d;

			rc = proto_parser_feed(p, buf + pos, len - pos, &used, &d, &err);
			pos += used;
			if (rc == 0 && d.type != PROTO_NONE && d.pending) {
				proto_parser_passed(p, d.pending);
				pos += d.pending;
			}
		}
		CHECK(rc == -EBADMSG && strstr(err.what, want), "a bad record in DATA is reported "
		      "with its message number and byte%s: %s", pass ? " (pass mode)" : "",
		      err.what);
		proto_parser_free(p);
	}
	free(buf);
}

/* Pass mode: a DATA message comes out at its record's head; the parser takes
 * nothing while its payload is pending, and an end inside it is an error. */
static void test_pass_mode(void)
{
	struct proto_msg m[MAX_MSGS], d;
	size_t at[MAX_MSGS + 1], len, used;
	unsigned n = samples(PROTO_ROLE_SOURCE, m), data = n;
	uint8_t *buf = encode_all(m, n, &len, at);
	struct proto_parser *p;
	struct verr err = { 0 };

	for (unsigned i = 0; i < n && data == n; i++)
		if (m[i].type == PROTO_DATA)
			data = i;
	proto_parser_new(PROTO_ROLE_DESTINATION, "peer", &p, &err);
	proto_parser_pass(p, true);
	for (size_t pos = 0; data < n && pos < at[data]; pos += used)
		if (proto_parser_feed(p, buf + pos, at[data] - pos, &used, &d, &err) < 0)
			break;
	CHECK(data < n && proto_parser_offset(p) == at[data] &&
	      proto_parser_feed(p, buf + at[data], len - at[data], &used, &d, &err) == 0 &&
	      d.type == PROTO_DATA && used == PROTO_DATA_START && d.len == VSTREAM_RECORD_HEAD &&
	      d.pending == at[data + 1] - at[data] - PROTO_DATA_START && d.offset == at[data],
	      "pass mode: DATA comes out after %d bytes, its payload pending", PROTO_DATA_START);
	CHECK(proto_parser_feed(p, buf, 1, &used, &d, &err) == -EINVAL && used == 0,
	      "the parser takes nothing while a payload is pending: %s", err.what);
	verr_clear(&err);
	proto_parser_passed(p, 1);
	CHECK(proto_parser_end(p, &err) == -EBADMSG && strstr(err.what, "to come"),
	      "an end inside a passed payload is an error: %s", err.what);
	proto_parser_free(p);
	free(buf);
}

static void test_payload_rules(void)
{
	uint8_t buf[PROTO_HEAD_LEN + VSTREAM_TRAILER_MAX];
	struct verr err = { 0 };
	size_t n;

	memcpy(buf + PROTO_HEAD_LEN, trailer_buf, trailer_len);
	put_head(buf, PROTO_DATA, 0, 0, (uint32_t)trailer_len);
	CHECK(decode_one(buf, PROTO_HEAD_LEN + trailer_len, PROTO_ROLE_SOURCE, &err) == -EBADMSG,
	      "a trailer in DATA is refused: %s", err.what);
	memcpy(buf + PROTO_HEAD_LEN, record_buf, record_len);
	memset(buf + PROTO_HEAD_LEN + record_len, 0, 8);
	put_head(buf, PROTO_DATA, 0, 0, (uint32_t)record_len + 8);
	CHECK(decode_one(buf, PROTO_HEAD_LEN + record_len + 8, PROTO_ROLE_SOURCE, &err) == -EBADMSG,
	      "DATA with bytes after its record is refused: %s", err.what);
	memset(buf + PROTO_HEAD_LEN, 'A', 104);
	put_head(buf, PROTO_START, 0, 0, 104);
	CHECK(decode_one(buf, PROTO_HEAD_LEN + 104, PROTO_ROLE_SOURCE, &err) == -EBADMSG,
	      "START without a stream header is refused");
	put_head(buf, PROTO_ABORT, 0, PROTO_NO_DEVICE, 8);
	vstream_put16(buf + 16, 1);
	vstream_put16(buf + 18, 4);
	memcpy(buf + 20, "a\0bc", 4);
	CHECK(decode_one(buf, PROTO_HEAD_LEN + 8, PROTO_ROLE_DESTINATION, &err) == -EBADMSG,
	      "a reason text with a NUL byte is refused");

	struct proto_msg m = { .type = PROTO_IDENTITY, .device = PROTO_NO_DEVICE };
	static uint8_t big[PROTO_CONTROL_MAX];

	m.u.identity = &sample_ids;
	proto_encode(&m, big, sizeof(big), &n, &err);
	big[PROTO_HEAD_LEN + 4 + 4 + 30] ^= 1;   /* inside device 0's stream header */
	CHECK(decode_one(big, n, PROTO_ROLE_DESTINATION, &err) == -EBADMSG &&
	      strstr(err.what, "device 0"), "a corrupt identity names its device: %s", err.what);
	m.type = PROTO_DATA;
	m.device = 0;
	m.payload = record_buf;
	m.len = 3;
	verr_clear(&err);
	CHECK(proto_encode(&m, big, sizeof(big), &n, &err) == -EINVAL && err.class == VERR_USAGE,
	      "the encoder refuses a DATA payload shorter than a record");
	m.type = PROTO_PING;
	m.device = 4;
	verr_clear(&err);
	CHECK(proto_encode(&m, big, sizeof(big), &n, &err) == -EINVAL,
	      "the encoder refuses a PING naming a device");
	m.device = PROTO_NO_DEVICE;
	verr_clear(&err);
	CHECK(proto_encode(&m, big, 20, &n, &err) == -ENOSPC, "the encoder says when out is short");
	CHECK(proto_encode_head(PROTO_DATA, 3, record_len, big, &err) == 0 &&
	      vstream_get32(big + 12) == record_len && vstream_get16(big + 8) == 3,
	      "proto_encode_head writes a DATA header for a payload sent separately");
}

/* Feature CONNECTIONS: counts, indexes and lengths out of range are malformed. */
static void test_connections(void)
{
	uint8_t buf[PROTO_HEAD_LEN + 8 + 8 * PROTO_MAX_DEVICES] = { 0 };
	uint8_t a[PROTO_TOKEN_LEN], b[PROTO_TOKEN_LEN];
	struct verr err = { 0 };

	put_head(buf, PROTO_CONNECTIONS, 0, PROTO_NO_DEVICE, 8);
	vstream_put16(buf + 16, 1);
	CHECK(decode_one(buf, PROTO_HEAD_LEN + 8, PROTO_ROLE_SOURCE, &err) == -EBADMSG,
	      "CONNECTIONS asking for 1 connection is refused: %s", err.what);
	vstream_put16(buf + 16, 17);
	CHECK(decode_one(buf, PROTO_HEAD_LEN + 8, PROTO_ROLE_SOURCE, &err) == -EBADMSG,
	      "CONNECTIONS asking for 17 connections is refused");
	vstream_put16(buf + 16, 16);
	CHECK(decode_one(buf, PROTO_HEAD_LEN + 8, PROTO_ROLE_SOURCE, &err) == 0,
	      "CONNECTIONS asking for 16 is taken");
	CHECK(decode_one(buf, PROTO_HEAD_LEN + 8, PROTO_ROLE_DESTINATION, &err) == -EBADMSG,
	      "CONNECTIONS from a destination is refused");
	put_head(buf, PROTO_JOIN, 0, PROTO_NO_DEVICE, 8 + PROTO_TOKEN_LEN);
	vstream_put16(buf + 16, 0);
	CHECK(decode_one(buf, PROTO_HEAD_LEN + 8 + PROTO_TOKEN_LEN, PROTO_ROLE_SOURCE, &err) ==
	      -EBADMSG, "JOIN with index 0 (the primary's) is refused");
	vstream_put16(buf + 16, 16);
	CHECK(decode_one(buf, PROTO_HEAD_LEN + 8 + PROTO_TOKEN_LEN, PROTO_ROLE_SOURCE, &err) ==
	      -EBADMSG, "JOIN with index 16 is refused");
	put_head(buf, PROTO_JOIN, 0, PROTO_NO_DEVICE, 8 + PROTO_TOKEN_LEN - 1);
	CHECK(decode_one(buf, PROTO_HEAD_LEN + 8 + PROTO_TOKEN_LEN, PROTO_ROLE_SOURCE, &err) ==
	      -EBADMSG, "JOIN with a short token is refused");
	put_head(buf, PROTO_TOKEN, 0, PROTO_NO_DEVICE, 8 + PROTO_TOKEN_LEN);
	vstream_put16(buf + 16, 4);
	CHECK(decode_one(buf, PROTO_HEAD_LEN + 8 + PROTO_TOKEN_LEN, PROTO_ROLE_SOURCE, &err) ==
	      -EBADMSG, "TOKEN from a source is refused");
	put_head(buf, PROTO_RECORDS, 0, PROTO_NO_DEVICE, 24);
	vstream_put16(buf + 16, 3);
	CHECK(decode_one(buf, PROTO_HEAD_LEN + 24, PROTO_ROLE_SOURCE, &err) == -EBADMSG,
	      "RECORDS whose device count does not match its length is refused");
	vstream_put16(buf + 16, 2);
	CHECK(decode_one(buf, PROTO_HEAD_LEN + 24, PROTO_ROLE_SOURCE, &err) == 0,
	      "RECORDS of 2 devices in 24 bytes is taken");
	put_head(buf, PROTO_RECORDS, 0, PROTO_NO_DEVICE, 8 + 8 * PROTO_MAX_DEVICES + 8);
	CHECK(decode_one(buf, sizeof(buf), PROTO_ROLE_SOURCE, &err) == -EBADMSG,
	      "RECORDS longer than 32 devices need is refused");
	memset(a, 1, sizeof(a));
	memcpy(b, a, sizeof(b));
	CHECK(proto_token_equal(a, b), "equal tokens compare equal");
	b[PROTO_TOKEN_LEN - 1] ^= 0x80;
	CHECK(!proto_token_equal(a, b), "a token differing in its last bit does not");
}

static void test_names(void)
{
	CHECK(strcmp(proto_type_name(PROTO_DEVICE_END), "DEVICE_END") == 0 &&
	      proto_type_name(0) == NULL && proto_type_name(999) == NULL, "type names");
	CHECK(strcmp(proto_reason_name(PROTO_REASON_TIMEOUT), "timeout") == 0 &&
	      proto_reason_name(200) == NULL, "reason names");
	CHECK(strcmp(proto_verdict_name(PROTO_VERDICT_FORCED), "accept-forced") == 0 &&
	      strcmp(proto_role_name(PROTO_ROLE_DESTINATION), "destination") == 0,
	      "verdict and role names");
}

int main(void)
{
	make_stream_parts();
	make_identity();
	test_round_trips();
	test_truncation();
	test_limits();
	test_unknown();
	test_strangers();
	test_error_offsets();
	test_pass_mode();
	test_payload_rules();
	test_connections();
	test_names();
	return unit_done();
}
