/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Protocol messages over a connection, for the two sides of a live migration, and
 * the keepalive thread that speaks for a side busy with its devices. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "peer.h"
#include "base/clock.h"
#include "base/sysfs.h"

_Static_assert(VDEV_COMPAT_MAX == PROTO_COMPAT_MAX,
	       "a device's compatibility string must fit the IDENTITY field");

#define KEEPALIVE_MAX_MS 500

/* Whether the peer will read a PING we send now. The source, once every trailer is
 * out, only waits: a destination that ran its devices reads nothing more, and bytes
 * it left unread would make its close reset the connection, which could take its
 * COMMIT with them. */
static bool ping_welcome(const struct proto_session *s)
{
	return s->hello_sent && !proto_session_over(s) &&
	       !(s->role == PROTO_ROLE_SOURCE && s->phase >= PROTO_PHASE_LOADING);
}

/* Under peer->lock, while the caller is busy: one PING, if the channel takes it at
 * once (a channel that does not is full, so the peer is not waiting for us). */
static void send_ping(struct eng_peer *peer)
{
	struct proto_msg ping = { .type = PROTO_PING, .device = PROTO_NO_DEVICE };
	uint8_t buf[PROTO_HEAD_LEN + 8];
	struct verr quiet = { 0 };
	size_t len;
	int rc;

	peer->last_sent_ms = vclock_now_ms();
	if (!ping_welcome(&peer->session))
		return;
	ping.u.ping = peer->pings + 1;
	if (proto_encode(&ping, buf, sizeof(buf), &len, &quiet) < 0 ||
	    proto_session_sent(&peer->session, &ping, &quiet) < 0)
		return;
	rc = xport_conn_write_now(peer->conn, buf, len, &quiet);
	if (rc == 0) {
		peer->pings++;
		peer->sent += len;
	} else if (rc != -EAGAIN) {
		peer->keepalive_quit = true;    /* the caller meets the failure itself */
	}
}

static void *keepalive_main(void *arg)
{
	struct eng_peer *peer = arg;

	pthread_mutex_lock(&peer->lock);
	while (!peer->keepalive_quit) {
		int64_t due = peer->last_sent_ms + peer->keepalive_ms;
		struct timespec ts;

		/* While we read, the peer is the busy side and pings us. The reader does not
		 * wake this thread at every read (that was most of the receiving side's
		 * futex calls): it looks at the due time, and a read still going on puts
		 * the next look one period on. A ping may so come up to one period after a
		 * read ends: within the peer's idle timeout, which is three periods. */
		if (peer->reading && vclock_now_ms() >= due) {
			peer->last_sent_ms = vclock_now_ms();
			continue;
		}
		if (vclock_now_ms() >= due) {
			send_ping(peer);
			continue;
		}
		ts.tv_sec = (time_t)(due / 1000);
		ts.tv_nsec = (long)(due % 1000) * 1000000;
		pthread_cond_timedwait(&peer->wake, &peer->lock, &ts);
	}
	pthread_mutex_unlock(&peer->lock);
	return NULL;
}

/* Signals stay with the main thread, whose waits they must interrupt. */
static int keepalive_start(struct eng_peer *peer, struct verr *err)
{
	sigset_t block, old;
	int rc;

	peer->keepalive_ms = xport_conn_idle(peer->conn) / 3;
	if (peer->keepalive_ms > KEEPALIVE_MAX_MS)
		peer->keepalive_ms = KEEPALIVE_MAX_MS;
	if (peer->keepalive_ms <= 0)
		return 0;
	peer->last_sent_ms = vclock_now_ms();
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	rc = pthread_create(&peer->keepalive, NULL, keepalive_main, peer);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return verr_set(err, VERR_FAILED, rc, xport_conn_name(peer->conn), NULL,
				"start the keepalive thread");
	peer->keepalive_running = true;
	return 0;
}

static void keepalive_stop(struct eng_peer *peer)
{
	if (!peer->keepalive_running)
		return;
	pthread_mutex_lock(&peer->lock);
	peer->keepalive_quit = true;
	pthread_cond_signal(&peer->wake);
	pthread_mutex_unlock(&peer->lock);
	pthread_join(peer->keepalive, NULL);
	peer->keepalive_running = false;
	eng_debug("%s: sent %llu PING%s while busy", xport_conn_name(peer->conn),
		  (unsigned long long)peer->pings, peer->pings == 1 ? "" : "s");
}

int eng_peer_init(struct eng_peer *peer, enum proto_role role, struct xport_conn *conn,
		  vstop_t *stop, struct verr *err)
{
	pthread_condattr_t attr;

	memset(peer, 0, sizeof(*peer));
	peer->conn = conn;
	peer->stop = stop;
	proto_session_init(&peer->session, role);
	pthread_mutex_init(&peer->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&peer->wake, &attr);
	pthread_condattr_destroy(&attr);
	peer->out = malloc(PROTO_CONTROL_MAX);
	if (!peer->out)
		verr_set(err, VERR_FAILED, ENOMEM, xport_conn_name(conn), NULL, "protocol");
	if (!peer->out || proto_parser_new(role, xport_conn_name(conn), &peer->parser, err) < 0 ||
	    keepalive_start(peer, err) < 0) {
		eng_peer_finish(peer, true, PROTO_REASON_LOCAL, NULL);
		return -ENOMEM;
	}
	/* The handshake, up to READY, has the idle timeout in all: a peer that trickles
	 * bytes does not hold a device (or a listener) for ever before it is used. */
	eng_peer_set_deadline(peer, xport_conn_idle(conn));
	return 0;
}

void eng_peer_finish(struct eng_peer *peer, bool abort_first, uint16_t code, const char *why)
{
	struct verr quiet = { 0 };

	if (!peer->conn)
		return;
	keepalive_stop(peer);
	if (abort_first && !proto_session_over(&peer->session)) {
		struct proto_msg msg = { .type = PROTO_ABORT, .device = PROTO_NO_DEVICE };

		proto_reason_set(&msg.u.reason, code, "%s", why ? why : "");
		eng_peer_send(peer, &msg, &quiet);
	}
	if (abort_first)
		xport_conn_abort(peer->conn);
	else
		xport_conn_close(peer->conn, &quiet);
	peer->conn = NULL;
	proto_parser_free(peer->parser);
	peer->parser = NULL;
	free(peer->out);
	peer->out = NULL;
	pthread_cond_destroy(&peer->wake);
	pthread_mutex_destroy(&peer->lock);
}

uint16_t eng_peer_reason(const struct eng_peer *peer, const struct verr *err)
{
	if ((peer->stop && *peer->stop) || err->class == VERR_INTERRUPTED)
		return PROTO_REASON_INTERRUPTED;
	if (err->errnum == ETIMEDOUT)
		return PROTO_REASON_TIMEOUT;
	switch (err->class) {
	case VERR_DATA: return PROTO_REASON_DATA;
	case VERR_PEER: return PROTO_REASON_PROTOCOL;
	case VERR_UNSUPPORTED: return PROTO_REASON_VERSION;
	default: return PROTO_REASON_DEVICE;
	}
}

/* A message is head, then payload (NULL for none), written under the lock so that
 * no PING lands inside it. */
static int send_locked(struct eng_peer *peer, const struct proto_msg *msg, const uint8_t *head,
		       size_t head_len, const uint8_t *payload, size_t len, struct verr *err)
{
	int rc;

	pthread_mutex_lock(&peer->lock);
	rc = proto_session_sent(&peer->session, msg, err);
	if (rc == 0)
		rc = xport_conn_write(peer->conn, head, head_len, err);
	if (rc == 0 && payload)
		rc = xport_conn_write(peer->conn, payload, len, err);
	if (rc == 0)
		peer->sent += head_len + (payload ? len : 0);
	peer->last_sent_ms = vclock_now_ms();
	pthread_mutex_unlock(&peer->lock);
	return rc < 0 ? -EIO : 0;
}

int eng_peer_send(struct eng_peer *peer, const struct proto_msg *msg, struct verr *err)
{
	size_t len;

	if (proto_encode(msg, peer->out, PROTO_CONTROL_MAX, &len, err) < 0)
		return -EIO;
	return send_locked(peer, msg, peer->out, len, NULL, 0, err);
}

int eng_peer_send_payload(struct eng_peer *peer, uint16_t type, uint16_t device,
			  const uint8_t *payload, size_t len, struct verr *err)
{
	uint8_t head[PROTO_HEAD_LEN];
	struct proto_msg msg = { .type = type, .device = device, .payload = payload, .len = len };

	if (proto_encode_head(type, device, len, head, err) < 0)
		return -EIO;
	return send_locked(peer, &msg, head, sizeof(head), payload, len, err);
}

/* While we read, the keepalive keeps off the connection. */
static void set_reading(struct eng_peer *peer, bool reading)
{
	pthread_mutex_lock(&peer->lock);
	peer->reading = reading;
	pthread_mutex_unlock(&peer->lock);
}

/* With a deadline, no read waits past it, whatever the peer sends meanwhile. */
static ssize_t io_read_some(struct eng_peer *peer, uint8_t *buf, size_t len, struct verr *err)
{
	int idle = xport_conn_idle(peer->conn);
	int64_t left = peer->deadline_ms - vclock_now_ms();
	ssize_t n;

	if (!peer->deadline_ms)
		return xport_conn_read(peer->conn, buf, len, err);
	if (left <= 0)
		return verr_set(err, VERR_PEER, ETIMEDOUT, xport_conn_name(peer->conn), NULL,
				"no answer from the peer in phase %s",
				proto_phase_name(peer->session.phase));
	xport_conn_set_idle(peer->conn, idle > 0 && idle < left ? idle : (int)left);
	n = xport_conn_read(peer->conn, buf, len, err);
	xport_conn_set_idle(peer->conn, idle);
	return n;
}

/* Some bytes from the peer, at least one; its end is an error that says why. */
static ssize_t peer_read(struct eng_peer *peer, uint8_t *buf, size_t len, struct verr *err)
{
	ssize_t n;

	set_reading(peer, true);
	n = io_read_some(peer, buf, len, err);
	set_reading(peer, false);
	if (n < 0)
		return n;
	if (n == 0) {
		if (proto_parser_end(peer->parser, err) < 0)
			return -EBADMSG;
		return verr_set(err, VERR_PEER, ECONNRESET, xport_conn_name(peer->conn),
				"see the other side's messages for why it stopped",
				"the peer closed the connection in phase %s",
				proto_phase_name(peer->session.phase));
	}
	__atomic_fetch_add(&peer->received, (uint64_t)n, __ATOMIC_RELAXED);
	return n;
}

/* After a large DATA the next read takes only what the parser needs before the next
 * payload, so that the payload can be read in place (eng_peer_recv_rest). */
static int fill(struct eng_peer *peer, struct verr *err)
{
	ssize_t n = peer_read(peer, peer->in, peer->exact ? PROTO_DATA_START : sizeof(peer->in),
			      err);

	if (n < 0)
		return (int)n;
	peer->in_len = (size_t)n;
	peer->in_pos = 0;
	return 0;
}

/* A payload at least this long is read in place, sparing two copies. */
#define PASS_IN_PLACE_MIN (16u << 10)

void eng_peer_pass_data(struct eng_peer *peer, bool on)
{
	proto_parser_pass(peer->parser, on);
	peer->exact = false;
}

int eng_peer_recv_rest(struct eng_peer *peer, const struct eng_peer_sink *sink,
		       struct verr *err)
{
	size_t left = proto_parser_pending(peer->parser);
	int rc = 0;

	peer->exact = left >= PASS_IN_PLACE_MIN;
	while (left && rc == 0) {
		uint8_t *at = peer->in;
		size_t n = peer->in_len - peer->in_pos;

		if (n) {                        /* what the last read brought first */
			at += peer->in_pos;
			n = n < left ? n : left;
			peer->in_pos += n;
		} else {
			size_t room = sink->space(sink->ctx, &at);
			ssize_t got;

			if (!room) {            /* the sink failed: take() says how */
				at = peer->in;
				room = sizeof(peer->in);
			}
			got = peer_read(peer, at, room < left ? room : left, err);
			if (got < 0)
				return (int)got;
			n = (size_t)got;
		}
		proto_parser_passed(peer->parser, n);
		left -= n;
		rc = sink->take(sink->ctx, at, n, err);
	}
	return rc;
}

int eng_peer_recv(struct eng_peer *peer, struct proto_msg *msg, struct verr *err)
{
	for (;;) {
		size_t used = 0;
		int rc;

		if (peer->in_pos == peer->in_len && fill(peer, err) < 0)
			return -EIO;
		if (proto_parser_feed(peer->parser, peer->in + peer->in_pos,
				      peer->in_len - peer->in_pos, &used, msg, err) < 0)
			return -EBADMSG;
		peer->in_pos += used;
		if (msg->type == PROTO_NONE)
			continue;
		if (msg->type == PROTO_IDENTITY)
			peer->ids = *msg->u.identity;
		pthread_mutex_lock(&peer->lock);
		rc = proto_session_received(&peer->session, msg, err);
		pthread_mutex_unlock(&peer->lock);
		if (rc < 0)
			return -EPROTO;
		if (msg->type == PROTO_PING) {
			peer->pings_received++;
			continue;
		}
		if (msg->type == PROTO_ABORT) {
			peer->abort_received = true;
			peer->abort_code = msg->u.reason.code;
			return verr_set(err, VERR_PEER, 0, xport_conn_name(peer->conn), NULL,
					"the peer aborted (%s): %s",
					proto_reason_name(msg->u.reason.code) ?
					proto_reason_name(msg->u.reason.code) : "?",
					msg->u.reason.text);
		}
		if (!msg->pending)
			peer->exact = false;
		return 0;
	}
}

int eng_compat_usable(const struct vdev_ident *id, struct verr *err)
{
	if (!id->compat.problem[0])
		return 0;
	return verr_set(err, VERR_PEER, 0, id->name,
			"the driver publishes a malformed " VDEV_COMPAT_ATTR "; fix or update it",
			"%s/%s: %s; vfiomig compares the whole string or refuses",
			sysfs_unrooted(id->sysfs), id->compat.file, id->compat.problem);
}

int eng_peer_hello(struct eng_peer *peer, enum proto_role role, unsigned devices,
		   uint64_t features, uint64_t *agreed, struct verr *err)
{
	struct proto_msg mine = { .type = PROTO_HELLO, .device = PROTO_NO_DEVICE };
	struct proto_msg theirs;
	uint16_t version;

	mine.u.hello.role = role;
	mine.u.hello.min_version = PROTO_VERSION_MIN;
	mine.u.hello.max_version = PROTO_VERSION_MAX;
	mine.u.hello.devices = (uint16_t)devices;
	mine.u.hello.features = features;
	snprintf(mine.u.hello.software, sizeof(mine.u.hello.software), "vfiomig %s",
		 VFIOMIG_VERSION);
	if (eng_peer_send(peer, &mine, err) < 0 || eng_peer_recv(peer, &theirs, err) < 0)
		return -EIO;
	if (theirs.type != PROTO_HELLO)
		return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(peer->conn), NULL,
				"expected HELLO, got %s", proto_type_name(theirs.type));
	eng_debug("%s: peer speaks %s", xport_conn_name(peer->conn), theirs.u.hello.software);
	return proto_negotiate(&mine.u.hello, &theirs.u.hello, &version, agreed, err);
}

void eng_peer_set_deadline(struct eng_peer *peer, int ms)
{
	peer->deadline_ms = ms > 0 ? vclock_now_ms() + ms : 0;
}

bool eng_peer_aborted(const struct eng_peer *peer)
{
	return peer->abort_received;
}
