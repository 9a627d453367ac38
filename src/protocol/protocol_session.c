/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The conversation's state machine (docs/protocol.md §4): which message may come
 * next from either side, and whether the destination has committed. */
#include <errno.h>
#include <stdio.h>

#include <openssl/crypto.h>

#include "protocol.h"

/* The phase in which each message type is expected; PING and ABORT go anywhere. */
static const struct step {
	uint16_t type;
	enum proto_phase phase;
	enum proto_role from;
} steps[] = {
	{ PROTO_IDENTITY, PROTO_PHASE_IDENTITY, PROTO_ROLE_DESTINATION },
	{ PROTO_VERDICT, PROTO_PHASE_VERDICT, PROTO_ROLE_SOURCE },
	{ PROTO_READY, PROTO_PHASE_READY, PROTO_ROLE_DESTINATION },
	{ PROTO_START, PROTO_PHASE_READY, PROTO_ROLE_SOURCE },
	{ PROTO_DATA, PROTO_PHASE_TRANSFER, PROTO_ROLE_SOURCE },
	{ PROTO_SWITCHOVER, PROTO_PHASE_TRANSFER, PROTO_ROLE_SOURCE },
	{ PROTO_DEVICE_END, PROTO_PHASE_TRANSFER, PROTO_ROLE_SOURCE },
	{ PROTO_LOADED, PROTO_PHASE_LOADING, PROTO_ROLE_DESTINATION },
	{ PROTO_RUN, PROTO_PHASE_HANDOVER, PROTO_ROLE_SOURCE },
	{ PROTO_COMMIT, PROTO_PHASE_COMMIT, PROTO_ROLE_DESTINATION },
	{ PROTO_CONNECTIONS, PROTO_PHASE_READY, PROTO_ROLE_SOURCE },
	{ PROTO_TOKEN, PROTO_PHASE_READY, PROTO_ROLE_DESTINATION },
	{ PROTO_RECORDS, PROTO_PHASE_TRANSFER, PROTO_ROLE_SOURCE },
};

void proto_session_init(struct proto_session *s, enum proto_role role)
{
	*s = (struct proto_session){ .role = role, .phase = PROTO_PHASE_HELLO };
}

bool proto_session_over(const struct proto_session *s)
{
	return s->phase == PROTO_PHASE_COMMITTED || s->phase == PROTO_PHASE_REFUSED ||
	       s->phase == PROTO_PHASE_ABORTED;
}

bool proto_session_committed(const struct proto_session *s)
{
	return s->phase == PROTO_PHASE_COMMITTED;
}

bool proto_session_handed_over(const struct proto_session *s)
{
	return s->handed_over;
}

bool proto_token_equal(const uint8_t a[PROTO_TOKEN_LEN], const uint8_t b[PROTO_TOKEN_LEN])
{
	return CRYPTO_memcmp(a, b, PROTO_TOKEN_LEN) == 0;
}

/* Feature CONNECTIONS (docs §8): CONNECTIONS once, before any START, answered by
 * TOKEN before the STARTs; RECORDS only in a session of several connections, each
 * followed by the source's SYNC. */
static int connections(struct proto_session *s, const struct proto_msg *m)
{
	switch (m->type) {
	case PROTO_CONNECTIONS:
		if (s->connections || s->started_count)
			return -1;
		s->connections = m->u.join.count;
		return 0;
	case PROTO_TOKEN:
		if (!s->connections || s->token || m->u.join.count != s->connections)
			return -1;
		s->token = true;
		return 0;
	default:        /* RECORDS */
		if (s->connections < 2 || s->switched_over || s->records_pending ||
		    m->u.records.devices != s->devices)
			return -1;
		s->records_pending = true;
		return 0;
	}
}

static int hello(struct proto_session *s, const struct proto_msg *m, bool mine)
{
	bool *flag = mine ? &s->hello_sent : &s->hello_received;

	if (*flag)
		return -1;
	*flag = true;
	if (m->u.hello.role == PROTO_ROLE_SOURCE)
		s->devices = m->u.hello.devices;
	if (s->hello_sent && s->hello_received)
		s->phase = PROTO_PHASE_IDENTITY;
	return 0;
}

/* START (before READY), DATA, SWITCHOVER, DEVICE_END (in TRANSFER): per-device order. */
static int transfer(struct proto_session *s, const struct proto_msg *m)
{
	uint32_t bit = m->device < 32 ? 1u << m->device : 0;

	if (m->type == PROTO_SWITCHOVER) {
		if (s->switched_over)
			return -1;
		s->switched_over = true;
		return 0;
	}
	if (!bit || m->device >= s->devices || (s->ended & bit))
		return -1;
	if (m->type == PROTO_START) {
		if ((s->started & bit) || (s->connections && !s->token))
			return -1;
		s->started |= bit;
		s->started_count++;
		return 0;
	}
	if (!(s->started & bit))
		return -1;
	if (m->type == PROTO_DEVICE_END) {
		if (!s->switched_over)
			return -1;
		s->ended |= bit;
		if (++s->ended_count == s->devices)
			s->phase = PROTO_PHASE_LOADING;
	}
	return 0;
}

static int step(struct proto_session *s, const struct proto_msg *m, enum proto_role from)
{
	bool mine = from == s->role;

	if (proto_session_over(s))
		return -1;
	if (m->type == PROTO_HELLO)
		return s->phase == PROTO_PHASE_HELLO ? hello(s, m, mine) : -1;
	/* The source is silent once every trailer is out (docs §3, Keepalive). */
	if (m->type == PROTO_PING && from == PROTO_ROLE_SOURCE && s->phase >= PROTO_PHASE_LOADING)
		return -1;
	if (m->type == PROTO_PING)
		return mine ? (s->hello_sent ? 0 : -1) : (s->hello_received ? 0 : -1);
	/* SYNC: pre-copy only, the source's question and the destination's echo; over
	 * several connections the source's comes right after RECORDS. */
	if (m->type == PROTO_SYNC) {
		if (s->phase != PROTO_PHASE_TRANSFER || s->switched_over)
			return -1;
		if (from == PROTO_ROLE_SOURCE && s->connections > 1) {
			if (!s->records_pending)
				return -1;
			s->records_pending = false;
		}
		return 0;
	}
	/* After RUN the source has no say: only the destination may still abort. */
	if (m->type == PROTO_ABORT) {
		if (s->handed_over && from == PROTO_ROLE_SOURCE)
			return -1;
		s->phase = PROTO_PHASE_ABORTED;
		return 0;
	}
	if (s->records_pending && from == PROTO_ROLE_SOURCE)
		return -1;      /* nothing but SYNC after RECORDS */
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (steps[i].type != m->type)
			continue;
		if (steps[i].phase != s->phase || steps[i].from != from)
			return -1;
		switch (m->type) {
		case PROTO_IDENTITY: s->phase = PROTO_PHASE_VERDICT; return 0;
		case PROTO_VERDICT:
			s->phase = m->u.verdict.kind == PROTO_VERDICT_REFUSE ?
				   PROTO_PHASE_REFUSED : PROTO_PHASE_READY;
			return 0;
		case PROTO_READY:
			/* every stream header came first: the destination checked them all */
			if (s->started_count != s->devices || (s->connections && !s->token))
				return -1;
			s->phase = PROTO_PHASE_TRANSFER;
			return 0;
		case PROTO_LOADED: s->phase = PROTO_PHASE_HANDOVER; return 0;
		case PROTO_RUN:
			s->handed_over = true;
			s->phase = PROTO_PHASE_COMMIT;
			return 0;
		case PROTO_COMMIT: s->phase = PROTO_PHASE_COMMITTED; return 0;
		case PROTO_CONNECTIONS: case PROTO_TOKEN: case PROTO_RECORDS:
			return connections(s, m);
		default: return transfer(s, m);
		}
	}
	return -1;
}

static int out_of_order(struct proto_session *s, const struct proto_msg *m, bool mine,
			struct verr *err)
{
	const char *name = proto_type_name(m->type);
	char device[32] = "";

	if (m->device != PROTO_NO_DEVICE)
		snprintf(device, sizeof(device), " for device %u", m->device);
	return verr_set(err, mine ? VERR_FAILED : VERR_PEER, EPROTO, NULL, NULL,
			"%s %s%s out of order (phase %s)", mine ? "sending" : "received",
			name ? name : "an unknown message", device, proto_phase_name(s->phase));
}

int proto_session_sent(struct proto_session *s, const struct proto_msg *msg, struct verr *err)
{
	if (step(s, msg, s->role) < 0)
		return out_of_order(s, msg, true, err);
	return 0;
}

int proto_session_received(struct proto_session *s, const struct proto_msg *msg,
			   struct verr *err)
{
	enum proto_role peer = s->role == PROTO_ROLE_SOURCE ? PROTO_ROLE_DESTINATION :
			       PROTO_ROLE_SOURCE;

	if (step(s, msg, peer) < 0)
		return out_of_order(s, msg, false, err);
	return 0;
}
