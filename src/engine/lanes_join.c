/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The destination's extra connections join: TOKEN on the primary, then each one
 * authenticated by the listener (TLS) and proving with its JOIN that it belongs to
 * this migration (docs/protocol.md §8). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "lanes_internal.h"
#include "base/clock.h"

/* The JOIN, and nothing after it, within ms: exactly its bytes are read. */
static int read_join(struct xport_conn *conn, int ms, struct proto_msg *msg, struct verr *err)
{
	uint8_t buf[PROTO_HEAD_LEN + 8 + PROTO_TOKEN_LEN];
	size_t got = 0, len;
	int64_t deadline = vclock_now_ms() + ms;

	while (got < sizeof(buf)) {
		int64_t left = deadline - vclock_now_ms();
		ssize_t n;

		if (left <= 0)
			return verr_set(err, VERR_PEER, ETIMEDOUT, xport_conn_name(conn), NULL,
					"no JOIN within %d ms", ms);
		xport_conn_set_idle(conn, (int)left);
		n = xport_conn_read(conn, buf + got, sizeof(buf) - got, err);
		if (n == -ETIMEDOUT) {
			verr_clear(err);
			return verr_set(err, VERR_PEER, ETIMEDOUT, xport_conn_name(conn), NULL,
					"no JOIN within %d ms", ms);
		}
		if (n < 0)
			return -EIO;
		if (n == 0)
			return verr_set(err, VERR_PEER, ECONNRESET, xport_conn_name(conn), NULL,
					"closed before its JOIN");
		got += (size_t)n;
		if (got >= PROTO_HEAD_LEN && vstream_get16(buf + 4) != PROTO_JOIN)
			break;          /* the decoder says what it is */
	}
	if (proto_decode(buf, got, PROTO_ROLE_SOURCE, msg, NULL, &len, err) < 0 ||
	    msg->type != PROTO_JOIN)
		return err->set ? -EBADMSG : verr_set(err, VERR_PEER, EPROTO, xport_conn_name(conn),
						      NULL, "its first message is not JOIN");
	return 0;
}

/* Whether conn is one of ours: JOIN, the token, an index not taken yet. Its index,
 * or -1 with why in err. */
static int check_join(struct eng_lanes_in *l, struct xport_conn *conn, const uint8_t *token,
		      struct verr *err)
{
	const char *name = xport_conn_name(conn);
	struct proto_msg msg;
	unsigned i;

	if (read_join(conn, ENG_JOIN_WAIT_MS, &msg, err) < 0)
		return -1;
	i = msg.u.join.index;
	if (!proto_token_equal(msg.u.join.token, token))
		verr_set(err, VERR_PEER, EACCES, name, NULL, "JOIN with a wrong token");
	else if (i >= l->n)
		verr_set(err, VERR_PEER, EPROTO, name, NULL, "JOIN as connection %u of %u",
			 i + 1, l->n);
	else if (l->lane[i].conn)
		verr_set(err, VERR_PEER, EPROTO, name, NULL, "JOIN as connection %u, which has "
			 "joined already", i + 1);
	return err->set ? -1 : (int)i;
}

/* TOKEN: n and a fresh random token, for this session only. */
static int offer(struct eng_peer *peer, unsigned n, uint8_t *token, struct verr *err)
{
	struct proto_msg msg = { .type = PROTO_TOKEN, .device = PROTO_NO_DEVICE };
	size_t got = 0;
	int ret;

	while (got < PROTO_TOKEN_LEN) {
		ssize_t r = getrandom(token + got, PROTO_TOKEN_LEN - got, 0);

		if (r < 0 && errno != EINTR)
			return verr_set(err, VERR_FAILED, errno, NULL, NULL,
					"getrandom for the session's token");
		got += r > 0 ? (size_t)r : 0;
	}
	msg.u.join.count = (uint16_t)n;
	memcpy(msg.u.join.token, token, PROTO_TOKEN_LEN);
	ret = eng_peer_send(peer, &msg, err);
	explicit_bzero(msg.u.join.token, PROTO_TOKEN_LEN);
	return ret;
}

static int accept_joins(struct eng_lanes_in *l, const uint8_t *token,
			const struct eng_acceptor *accept, int timeout_ms,
			unsigned *turned_away, struct verr *err);

int eng_lanes_in_open(struct eng_peer *peer, unsigned n, const struct eng_acceptor *accept,
		      int timeout_ms, struct eng_lanes_in **out, unsigned *turned_away,
		      struct verr *err)
{
	struct eng_lanes_in *l = calloc(1, sizeof(*l));
	uint8_t token[PROTO_TOKEN_LEN];
	pthread_condattr_t attr;
	int ret;

	*out = l;
	if (!l)
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "connections");
	l->peer = peer;
	l->n = n;
	pthread_mutex_init(&l->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&l->more, &attr);
	pthread_cond_init(&l->room, &attr);
	pthread_condattr_destroy(&attr);
	for (unsigned i = 0; i < n; i++) {
		l->lane[i].l = l;
		l->lane[i].index = i;
	}
	l->lane[0].conn = peer->conn;
	if (offer(peer, n, token, err) < 0)
		ret = -EIO;
	else
		ret = accept_joins(l, token, accept, timeout_ms, turned_away, err);
	explicit_bzero(token, sizeof(token));
	return ret;
}

/* Until every index joined, within timeout_ms in all. */
static int accept_joins(struct eng_lanes_in *l, const uint8_t *token,
			const struct eng_acceptor *accept, int timeout_ms,
			unsigned *turned_away, struct verr *err)
{
	int64_t deadline = vclock_now_ms() + timeout_ms;
	struct eng_peer *peer = l->peer;
	unsigned joined = 0, n = l->n;

	while (joined < n - 1) {
		int64_t left = deadline - vclock_now_ms();
		struct xport_conn *conn = NULL;
		struct verr why = { 0 };
		char text[1200];
		int i;

		if (left > 0 && accept->accept(accept->ctx, (int)left, ENG_JOIN_WAIT_MS, &conn,
					       err) < 0 && err->errnum != ETIMEDOUT)
			return -EIO;
		if (!conn) {
			verr_clear(err);
			return verr_set(err, VERR_PEER, ETIMEDOUT, xport_conn_name(peer->conn),
					"check the network between the hosts, or raise --timeout",
					"%u of %u extra connections joined in %d ms (%u turned "
					"away)", joined, n - 1, timeout_ms, *turned_away);
		}
		i = check_join(l, conn, token, &why);
		if (i < 0) {
			verr_format(&why, text, sizeof(text));
			eng_debug("turned away: %s", text);
			(*turned_away)++;
			xport_conn_abort(conn);
			continue;
		}
		l->lane[i].conn = conn;
		joined++;
		eng_debug("%s: connection %d of %u joined", xport_conn_name(conn), i + 1, n);
	}
	return 0;
}
