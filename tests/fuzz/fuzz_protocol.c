/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target for the protocol parser. Input: a mode byte (bit 0: parse as the
 * source, else the destination; the rest seeds slice sizes), then the peer's bytes.
 * Each input is parsed whole and in slices; both must agree, every message must
 * re-encode to the bytes it came from, and the session must never crash.
 * Built with -DFUZZ_MAKE_CORPUS it writes seed inputs into the directory argv[1]. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
	int rc;
	unsigned messages;
	uint64_t digest;
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* Everything the parser accepted encodes to bytes that decode and encode again to
 * the same bytes (reserved bytes and field order may differ from the input). */
static void check_message(const struct proto_msg *m, enum proto_role from)
{
	static uint8_t one[PROTO_CONTROL_MAX], two[PROTO_CONTROL_MAX];
	static struct proto_identity ids;
	struct verr err = { 0 };
	struct proto_msg again;
	size_t len1, len2, used;

	if (m->type == PROTO_START || m->type == PROTO_DATA || m->type == PROTO_DEVICE_END)
		return;         /* their payloads are copied as they are */
	if (proto_encode(m, one, sizeof(one), &len1, &err) < 0 ||
	    proto_decode(one, len1, from, &again, &ids, &used, &err) < 0 || used != len1 ||
	    proto_encode(&again, two, sizeof(two), &len2, &err) < 0 || len1 != len2 ||
	    memcmp(one, two, len1) != 0)
		abort();
}

static struct outcome run(const uint8_t *buf, size_t len, enum proto_role local, unsigned seed,
			  bool pass)
{
	struct outcome out = { 0, 0, 0xcbf29ce484222325ull };
	struct proto_session session;
	struct proto_parser *p;
	struct verr err = { 0 };
	size_t pos = 0;
	uint32_t x = seed;

	if (proto_parser_new(local, "fuzz", &p, &err) < 0)
		abort();
	proto_parser_pass(p, pass);
	proto_session_init(&session, local);
	while (out.rc == 0 && pos < len) {
		struct proto_msg m;
		size_t n = len - pos, used;

		if (seed) {
			x = x * 1664525u + 1013904223u;
			n = 1 + (x >> 16) % (x & 0x10000 ? 3 : 97);
			n = n < len - pos ? n : len - pos;
		}
		out.rc = proto_parser_feed(p, buf + pos, n, &used, &m, &err);
		if (used > n || (out.rc < 0 && !err.set))
			abort();
		if (out.rc == 0 && m.type != PROTO_NONE) {
			struct verr serr = { 0 };

			check_message(&m, local == PROTO_ROLE_SOURCE ? PROTO_ROLE_DESTINATION :
				      PROTO_ROLE_SOURCE);
			proto_session_received(&session, &m, &serr);
			out.digest = mix(out.digest, m.payload, m.len);
			pos += used;
			used = 0;
			if (m.pending) {        /* pass mode: the payload, read around it */
				size_t k = m.pending < len - pos ? m.pending : len - pos;

				if (!pass || m.type != PROTO_DATA ||
				    proto_parser_pending(p) != m.pending)
					abort();
				out.digest = mix(out.digest, buf + pos, k);
				proto_parser_passed(p, k);
				pos += k;
				if (k < m.pending)
					break;  /* cut short: not a whole message */
			}
			out.digest = mix(out.digest, &m.offset, sizeof(m.offset));
			out.messages++;
		}
		pos += used;
	}
	if (out.rc == 0)
		out.rc = proto_parser_end(p, &err);
	proto_parser_free(p);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum proto_role local;
	struct outcome whole, sliced, passed;

	if (size < 1)
		return 0;
	local = data[0] & 1 ? PROTO_ROLE_SOURCE : PROTO_ROLE_DESTINATION;
	whole = run(data + 1, size - 1, local, 0, false);
	sliced = run(data + 1, size - 1, local, data[0] | 1u, false);
	passed = run(data + 1, size - 1, local, data[0] | 1u, true);
	if (whole.rc != sliced.rc || whole.messages != sliced.messages ||
	    whole.digest != sliced.digest)
		abort();
	/* DATA's payload read around the parser changes nothing but where an
	 * incomplete one is noticed */
	if (whole.messages != passed.messages || (whole.rc == 0) != (passed.rc == 0) ||
	    (whole.rc == 0 && whole.digest != passed.digest))
		abort();
	return 0;
}

#ifdef FUZZ_MAKE_CORPUS
/* Seeds: each role's messages in protocol order, one file per role. */
static size_t put(uint8_t *buf, size_t off, const struct proto_msg *m)
{
	struct verr err = { 0 };
	size_t len = 0;

	if (proto_encode(m, buf + off, PROTO_CONTROL_MAX, &len, &err) < 0) {
		fprintf(stderr, "seed: %s\n", err.what);
		exit(1);
	}
	return off + len;
}

static void save(const char *dir, const char *name, const uint8_t *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		exit(1);
}

int main(int argc, char **argv)
{
	static uint8_t buf[4 * PROTO_CONTROL_MAX], rec[256];
	static struct proto_identity ids = { .count = 1 };
	struct vstream_digester *dg;
	struct verr err = { 0 };
	uint8_t sid[VSTREAM_ID_LEN] = { 0 };
	struct proto_msg m = { .type = PROTO_HELLO, .device = PROTO_NO_DEVICE };
	size_t n;

	if (argc != 2)
		return 2;
	vstream_digester_new(NULL, &dg, &err);
	vstream_record_build(dg, sid, VSTREAM_REC_PRECOPY, 0, "seed", 4, rec);
	m.u.hello = (struct proto_hello){ PROTO_ROLE_DESTINATION, 1, 1, 1, 1, "seed" };
	buf[0] = 1;                     /* parsed by the source */
	n = put(buf, 1, &m);
	ids.dev[0].id.kind = VSTREAM_KIND_MDEV;
	strcpy(ids.dev[0].id.mdev_type, "mtty-2");
	strcpy(ids.dev[0].compat, "mtty v1");
	m = (struct proto_msg){ .type = PROTO_IDENTITY, .device = PROTO_NO_DEVICE, .u.identity = &ids };
	n = put(buf, n, &m);
	m = (struct proto_msg){ .type = PROTO_READY, .device = PROTO_NO_DEVICE };
	n = put(buf, n, &m);
	/* keepalives while the destination loads the state */
	m = (struct proto_msg){ .type = PROTO_PING, .device = PROTO_NO_DEVICE, .u.ping = 1 };
	n = put(buf, n, &m);
	m.u.ping = 2;
	n = put(buf, n, &m);
	m = (struct proto_msg){ .type = PROTO_COMMIT, .device = PROTO_NO_DEVICE, .u.resume_us = 5 };
	save(argv[1], "destination", buf, put(buf, n, &m));

	buf[0] = 0;                     /* parsed by the destination */
	m = (struct proto_msg){ .type = PROTO_HELLO, .device = PROTO_NO_DEVICE };
	m.u.hello = (struct proto_hello){ PROTO_ROLE_SOURCE, 1, 1, 1, 1, "seed" };
	n = put(buf, 1, &m);
	m = (struct proto_msg){ .type = PROTO_VERDICT, .device = PROTO_NO_DEVICE };
	proto_reason_set(&m.u.verdict.reason, PROTO_REASON_NONE, "ok");
	n = put(buf, n, &m);
	m = (struct proto_msg){ .type = PROTO_DATA, .device = 0, .payload = rec,
				.len = VSTREAM_RECORD_HEAD + 4 + VSTREAM_DIGEST_LEN };
	n = put(buf, n, &m);
	/* a keepalive while the source reads a slow device */
	m = (struct proto_msg){ .type = PROTO_PING, .device = PROTO_NO_DEVICE, .u.ping = 1 };
	n = put(buf, n, &m);
	m = (struct proto_msg){ .type = PROTO_SWITCHOVER, .device = PROTO_NO_DEVICE };
	n = put(buf, n, &m);
	m = (struct proto_msg){ .type = PROTO_ABORT, .device = 0 };
	proto_reason_set(&m.u.reason, PROTO_REASON_DEVICE, "resume failed");
	save(argv[1], "source", buf, put(buf, n, &m));

	/* feature CONNECTIONS: the source asks, joins, counts; the destination answers */
	m = (struct proto_msg){ .type = PROTO_HELLO, .device = PROTO_NO_DEVICE };
	m.u.hello = (struct proto_hello){ PROTO_ROLE_SOURCE, 2, 2, 1, PROTO_FEAT_CONNECTIONS,
					  "seed" };
	n = put(buf, 1, &m);
	m = (struct proto_msg){ .type = PROTO_CONNECTIONS, .device = PROTO_NO_DEVICE };
	m.u.join.count = 4;
	n = put(buf, n, &m);
	m = (struct proto_msg){ .type = PROTO_JOIN, .device = PROTO_NO_DEVICE };
	m.u.join.index = 3;
	n = put(buf, n, &m);
	m = (struct proto_msg){ .type = PROTO_RECORDS, .device = PROTO_NO_DEVICE };
	m.u.records.devices = 1;
	m.u.records.sent[0] = 9;
	save(argv[1], "source-connections", buf, put(buf, n, &m));
	buf[0] = 1;
	m = (struct proto_msg){ .type = PROTO_TOKEN, .device = PROTO_NO_DEVICE };
	m.u.join.count = 4;
	save(argv[1], "destination-token", buf, put(buf, 1, &m));
	vstream_digester_free(dg);
	return 0;
}
#endif
