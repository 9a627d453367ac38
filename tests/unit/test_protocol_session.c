/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The conversation rules: version negotiation, the order of messages both peers
 * enforce, and the commit rule that decides rollback. */
#include <errno.h>
#include <string.h>

#include "protocol/protocol.h"
#include "unit.h"

static struct proto_msg msg(uint16_t type, uint16_t device)
{
	struct proto_msg m = { .type = type, .device = device };

	return m;
}

static struct proto_msg hello(enum proto_role role, uint16_t devices)
{
	struct proto_msg m = msg(PROTO_HELLO, PROTO_NO_DEVICE);

	m.u.hello = (struct proto_hello){ role, 2, 2, devices, 0, "test" };
	return m;
}

/* Steps both sessions through one message sent by `from`; 0 if both accept it. */
static int deliver(struct proto_session *src, struct proto_session *dst, enum proto_role from,
		   struct proto_msg m)
{
	struct proto_session *sender = from == PROTO_ROLE_SOURCE ? src : dst;
	struct proto_session *receiver = from == PROTO_ROLE_SOURCE ? dst : src;
	struct verr err = { 0 };

	if (proto_session_sent(sender, &m, &err) < 0)
		return -1;
	return proto_session_received(receiver, &m, &err) < 0 ? -2 : 0;
}

#define S PROTO_ROLE_SOURCE
#define D PROTO_ROLE_DESTINATION

static int run_to_verdict(struct proto_session *src, struct proto_session *dst, unsigned n)
{
	struct proto_msg v = msg(PROTO_VERDICT, PROTO_NO_DEVICE);

	proto_session_init(src, S);
	proto_session_init(dst, D);
	v.u.verdict.kind = PROTO_VERDICT_ACCEPT;
	return deliver(src, dst, S, hello(S, (uint16_t)n)) || deliver(src, dst, D, hello(D, (uint16_t)n)) ||
	       deliver(src, dst, D, msg(PROTO_IDENTITY, PROTO_NO_DEVICE)) || deliver(src, dst, S, v);
}

/* Every device's START, then READY. */
static int run_to_transfer(struct proto_session *src, struct proto_session *dst, unsigned n)
{
	int rc = run_to_verdict(src, dst, n);

	for (unsigned i = 0; i < n && !rc; i++)
		rc = deliver(src, dst, S, msg(PROTO_START, (uint16_t)i));
	return rc || deliver(src, dst, D, msg(PROTO_READY, PROTO_NO_DEVICE));
}

/* One device through its trailer: the source waits for LOADED. */
static int run_to_loading(struct proto_session *src, struct proto_session *dst)
{
	return run_to_transfer(src, dst, 1) ||
	       deliver(src, dst, S, msg(PROTO_SWITCHOVER, PROTO_NO_DEVICE)) ||
	       deliver(src, dst, S, msg(PROTO_DEVICE_END, 0));
}

static void test_happy_path(void)
{
	struct proto_session src, dst;
	int rc = run_to_transfer(&src, &dst, 2);

	CHECK(rc == 0 && src.phase == PROTO_PHASE_TRANSFER && dst.phase == PROTO_PHASE_TRANSFER,
	      "HELLO, IDENTITY, VERDICT accept, every START and READY lead to the transfer");
	rc = deliver(&src, &dst, S, msg(PROTO_DATA, 0)) || deliver(&src, &dst, D, msg(PROTO_PING, PROTO_NO_DEVICE)) ||
	     deliver(&src, &dst, S, msg(PROTO_SYNC, PROTO_NO_DEVICE)) ||
	     deliver(&src, &dst, D, msg(PROTO_SYNC, PROTO_NO_DEVICE)) ||
	     deliver(&src, &dst, S, msg(PROTO_SWITCHOVER, PROTO_NO_DEVICE)) ||
	     deliver(&src, &dst, S, msg(PROTO_DATA, 1)) || deliver(&src, &dst, S, msg(PROTO_DEVICE_END, 1)) ||
	     deliver(&src, &dst, S, msg(PROTO_DATA, 0)) || deliver(&src, &dst, S, msg(PROTO_DEVICE_END, 0));
	CHECK(rc == 0 && src.phase == PROTO_PHASE_LOADING && dst.phase == PROTO_PHASE_LOADING,
	      "two devices interleaved reach the wait for LOADED");
	rc = deliver(&src, &dst, D, msg(PROTO_PING, PROTO_NO_DEVICE)) ||
	     deliver(&src, &dst, D, msg(PROTO_LOADED, PROTO_NO_DEVICE));
	CHECK(rc == 0 && src.phase == PROTO_PHASE_HANDOVER && !proto_session_handed_over(&src) &&
	      !proto_session_handed_over(&dst), "LOADED hands nothing over yet");
	rc = deliver(&src, &dst, S, msg(PROTO_RUN, PROTO_NO_DEVICE));
	CHECK(rc == 0 && proto_session_handed_over(&src) && proto_session_handed_over(&dst) &&
	      !proto_session_committed(&src) && !proto_session_committed(&dst),
	      "RUN hands the state over on both sides, uncommitted");
	rc = deliver(&src, &dst, D, msg(PROTO_PING, PROTO_NO_DEVICE)) ||
	     deliver(&src, &dst, D, msg(PROTO_COMMIT, PROTO_NO_DEVICE));
	CHECK(rc == 0 && proto_session_committed(&src) && proto_session_committed(&dst) &&
	      proto_session_over(&src), "COMMIT commits both sides");
	CHECK(deliver(&src, &dst, S, msg(PROTO_PING, PROTO_NO_DEVICE)) == -1,
	      "nothing may follow COMMIT");
}

/* The handover's order, and who may still abort (docs §5). */
static void test_handover(void)
{
	struct proto_session src, dst;

	run_to_verdict(&src, &dst, 2);
	CHECK(deliver(&src, &dst, S, msg(PROTO_START, 0)) == 0 &&
	      deliver(&src, &dst, D, msg(PROTO_READY, PROTO_NO_DEVICE)) == -1,
	      "READY before every device's START is refused");
	run_to_transfer(&src, &dst, 1);
	CHECK(deliver(&src, &dst, S, msg(PROTO_START, 0)) == -1, "START after READY is refused");
	run_to_transfer(&src, &dst, 1);
	deliver(&src, &dst, S, msg(PROTO_SWITCHOVER, PROTO_NO_DEVICE));
	CHECK(deliver(&src, &dst, D, msg(PROTO_LOADED, PROTO_NO_DEVICE)) == -1,
	      "LOADED before every trailer is refused");
	run_to_loading(&src, &dst);
	CHECK(deliver(&src, &dst, S, msg(PROTO_RUN, PROTO_NO_DEVICE)) == -1,
	      "RUN before LOADED is refused");
	CHECK(deliver(&src, &dst, D, msg(PROTO_COMMIT, PROTO_NO_DEVICE)) == -1,
	      "COMMIT before RUN is refused");
	run_to_loading(&src, &dst);
	CHECK(deliver(&src, &dst, S, msg(PROTO_PING, PROTO_NO_DEVICE)) == -1,
	      "the source sends no PING once every trailer is out");
	run_to_loading(&src, &dst);
	deliver(&src, &dst, D, msg(PROTO_LOADED, PROTO_NO_DEVICE));
	CHECK(deliver(&src, &dst, S, msg(PROTO_ABORT, PROTO_NO_DEVICE)) == 0 &&
	      !proto_session_handed_over(&dst), "the source may abort before RUN");
	run_to_loading(&src, &dst);
	deliver(&src, &dst, D, msg(PROTO_LOADED, PROTO_NO_DEVICE));
	deliver(&src, &dst, S, msg(PROTO_RUN, PROTO_NO_DEVICE));
	CHECK(deliver(&src, &dst, S, msg(PROTO_ABORT, PROTO_NO_DEVICE)) == -1,
	      "the source may not abort after RUN");
	CHECK(deliver(&src, &dst, D, msg(PROTO_ABORT, PROTO_NO_DEVICE)) == 0 &&
	      src.phase == PROTO_PHASE_ABORTED && proto_session_handed_over(&src) &&
	      !proto_session_committed(&src), "the destination may abort after RUN");
}

static void test_order(void)
{
	struct proto_session src, dst;
	struct proto_msg refuse = msg(PROTO_VERDICT, PROTO_NO_DEVICE);
	struct verr err = { 0 };

	proto_session_init(&src, S);
	proto_session_init(&dst, D);
	CHECK(deliver(&src, &dst, D, msg(PROTO_IDENTITY, PROTO_NO_DEVICE)) == -1,
	      "IDENTITY before HELLO is refused");
	CHECK(deliver(&src, &dst, S, hello(S, 1)) == 0 && deliver(&src, &dst, S, hello(S, 1)) == -1,
	      "a second HELLO is refused");

	run_to_verdict(&src, &dst, 2);
	CHECK(deliver(&src, &dst, S, msg(PROTO_DATA, 0)) == -1, "DATA before START is refused");
	deliver(&src, &dst, S, msg(PROTO_START, 0));
	CHECK(deliver(&src, &dst, S, msg(PROTO_START, 0)) == -1, "a second START is refused");
	CHECK(deliver(&src, &dst, S, msg(PROTO_START, 2)) == -1,
	      "START for a device beyond the HELLO count is refused");
	deliver(&src, &dst, S, msg(PROTO_START, 1));
	deliver(&src, &dst, D, msg(PROTO_READY, PROTO_NO_DEVICE));
	CHECK(deliver(&src, &dst, S, msg(PROTO_DEVICE_END, 0)) == -1,
	      "DEVICE_END before SWITCHOVER is refused");
	CHECK(deliver(&src, &dst, D, msg(PROTO_COMMIT, PROTO_NO_DEVICE)) == -1,
	      "COMMIT before every trailer is refused");
	CHECK(deliver(&src, &dst, S, msg(PROTO_SWITCHOVER, PROTO_NO_DEVICE)) == 0 &&
	      deliver(&src, &dst, S, msg(PROTO_SYNC, PROTO_NO_DEVICE)) == -1 &&
	      deliver(&src, &dst, D, msg(PROTO_SYNC, PROTO_NO_DEVICE)) == -1,
	      "SYNC after SWITCHOVER is refused both ways");

	/* The receiving side's check, with the message a peer would see. */
	proto_session_init(&dst, D);
	struct proto_msg data = msg(PROTO_DATA, 1);
	CHECK(proto_session_received(&dst, &data, &err) == -EPROTO && err.class == VERR_PEER &&
	      strstr(err.what, "received DATA for device 1 out of order (phase hello)"),
	      "an out-of-order message names itself and the phase: %s", err.what);

	run_to_transfer(&src, &dst, 1);
	CHECK(deliver(&src, &dst, D, msg(PROTO_ABORT, PROTO_NO_DEVICE)) == 0 &&
	      src.phase == PROTO_PHASE_ABORTED && !proto_session_committed(&src) &&
	      !proto_session_committed(&dst), "ABORT ends the session uncommitted");

	proto_session_init(&src, S);
	proto_session_init(&dst, D);
	refuse.u.verdict.kind = PROTO_VERDICT_REFUSE;
	deliver(&src, &dst, S, hello(S, 1));
	deliver(&src, &dst, D, hello(D, 1));
	deliver(&src, &dst, D, msg(PROTO_IDENTITY, PROTO_NO_DEVICE));
	CHECK(deliver(&src, &dst, S, refuse) == 0 && dst.phase == PROTO_PHASE_REFUSED &&
	      deliver(&src, &dst, D, msg(PROTO_READY, PROTO_NO_DEVICE)) == -1,
	      "a refusing VERDICT ends the session");
}

static void test_negotiate(void)
{
	struct proto_hello a = { S, 1, 3, 2, PROTO_FEAT_PRECOPY | PROTO_FEAT_KEYED_RECORDS, "a" };
	struct proto_hello b = { D, 2, 5, 2, PROTO_FEAT_PRECOPY | (1ull << 40), "b" };
	struct verr err = { 0 };
	uint64_t features;
	uint16_t version;

	CHECK(proto_negotiate(&a, &b, &version, &features, &err) == 0 && version == 3 &&
	      features == PROTO_FEAT_PRECOPY, "the highest common version, the common features");
	b.min_version = 4;
	CHECK(proto_negotiate(&a, &b, &version, &features, &err) == -EPROTONOSUPPORT &&
	      err.class == VERR_UNSUPPORTED && strstr(err.what, "4..5"),
	      "disjoint versions are refused: %s", err.what);
	b.min_version = 1;
	b.role = S;
	verr_clear(&err);
	CHECK(proto_negotiate(&a, &b, &version, &features, &err) == -EPROTO &&
	      err.class == VERR_PEER, "two sources are refused: %s", err.what);
	b.role = D;
	b.devices = 1;
	verr_clear(&err);
	CHECK(proto_negotiate(&a, &b, &version, &features, &err) == -EPROTO &&
	      strstr(err.what, "2 device(s), the destination has 1"),
	      "different device counts are refused: %s", err.what);
}

static struct proto_msg count_msg(uint16_t type, uint16_t count)
{
	struct proto_msg m = msg(type, PROTO_NO_DEVICE);

	m.u.join.count = count;
	m.u.records.devices = count;
	return m;
}

/* Feature CONNECTIONS: asked once before the STARTs, answered before them; RECORDS
 * only with several connections, and SYNC right after it. */
static void test_connections(void)
{
	struct proto_session src, dst;
	struct proto_msg records = msg(PROTO_RECORDS, PROTO_NO_DEVICE);

	records.u.records.devices = 2;
	run_to_verdict(&src, &dst, 2);
	CHECK(deliver(&src, &dst, D, count_msg(PROTO_TOKEN, 4)) == -1,
	      "TOKEN before CONNECTIONS is refused");
	CHECK(deliver(&src, &dst, S, count_msg(PROTO_CONNECTIONS, 4)) == 0,
	      "CONNECTIONS after an accepting VERDICT is taken");
	CHECK(deliver(&src, &dst, S, msg(PROTO_START, 0)) == -1,
	      "START before TOKEN is refused");
	CHECK(deliver(&src, &dst, D, count_msg(PROTO_TOKEN, 3)) == -1,
	      "TOKEN for another number of connections is refused");
	CHECK(deliver(&src, &dst, D, count_msg(PROTO_TOKEN, 4)) == 0 &&
	      deliver(&src, &dst, D, count_msg(PROTO_TOKEN, 4)) == -1,
	      "TOKEN is taken once");
	CHECK(deliver(&src, &dst, S, msg(PROTO_START, 0)) == 0 &&
	      deliver(&src, &dst, S, count_msg(PROTO_CONNECTIONS, 4)) == -1,
	      "CONNECTIONS after a START is refused");
	deliver(&src, &dst, S, msg(PROTO_START, 1));
	deliver(&src, &dst, D, msg(PROTO_READY, PROTO_NO_DEVICE));
	CHECK(deliver(&src, &dst, S, msg(PROTO_SYNC, PROTO_NO_DEVICE)) == -1,
	      "over several connections, SYNC without RECORDS is refused");
	CHECK(deliver(&src, &dst, S, records) == 0 &&
	      deliver(&src, &dst, S, msg(PROTO_DATA, 0)) == -1,
	      "after RECORDS, DATA is refused until SYNC");
	run_to_transfer(&src, &dst, 2);
	deliver(&src, &dst, S, count_msg(PROTO_CONNECTIONS, 2));
	CHECK(src.phase == PROTO_PHASE_TRANSFER && deliver(&src, &dst, S, records) == -1,
	      "RECORDS in a session of one connection is refused");
	run_to_verdict(&src, &dst, 2);
	deliver(&src, &dst, S, count_msg(PROTO_CONNECTIONS, 2));
	deliver(&src, &dst, D, count_msg(PROTO_TOKEN, 2));
	deliver(&src, &dst, S, msg(PROTO_START, 0));
	deliver(&src, &dst, S, msg(PROTO_START, 1));
	deliver(&src, &dst, D, msg(PROTO_READY, PROTO_NO_DEVICE));
	CHECK(deliver(&src, &dst, S, records) == 0 &&
	      deliver(&src, &dst, D, msg(PROTO_PING, PROTO_NO_DEVICE)) == 0 &&
	      deliver(&src, &dst, S, msg(PROTO_SYNC, PROTO_NO_DEVICE)) == 0 &&
	      deliver(&src, &dst, D, msg(PROTO_SYNC, PROTO_NO_DEVICE)) == 0 &&
	      deliver(&src, &dst, S, msg(PROTO_DATA, 1)) == 0,
	      "RECORDS, SYNC and its echo, then DATA again");
	records.u.records.devices = 1;
	CHECK(deliver(&src, &dst, S, records) == -1,
	      "RECORDS counting another number of devices is refused");
	CHECK(deliver(&src, &dst, S, msg(PROTO_JOIN, PROTO_NO_DEVICE)) == -1,
	      "JOIN on the primary connection is refused");
}

int main(void)
{
	test_happy_path();
	test_connections();
	test_order();
	test_handover();
	test_negotiate();
	return unit_done();
}
