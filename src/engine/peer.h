/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One side of a live migration's conversation: protocol messages over a transport
 * connection, checked against the session's order, for the engine's source and
 * destination. */
#ifndef VFIOMIG_ENGINE_PEER_H
#define VFIOMIG_ENGINE_PEER_H

#include <pthread.h>

#include <signal.h>

#include "engine.h"
#include "protocol/protocol.h"
#include "transport/transport_net.h"
#include "base/stop.h"

struct eng_peer {
	struct xport_conn *conn;
	vstop_t *stop;     /* the signal flag: an ABORT's reason */
	struct proto_parser *parser;
	struct proto_session session;
	struct proto_identity ids;       /* the last IDENTITY received */
	uint8_t *out;                    /* PROTO_CONTROL_MAX */
	uint8_t in[1 << 16];
	size_t in_len, in_pos;
	uint64_t sent, received;         /* bytes on the wire; received: __atomic, the
					  * lanes' reader of this connection adds to it */
	/* The keepalive thread sends PING while this side is busy. The lock makes it
	 * the connection's only user: it writes only under the lock, and never while
	 * the caller waits for the peer (reading). */
	pthread_mutex_t lock;            /* guards conn writes, session, sent, the below */
	pthread_cond_t wake;
	pthread_t keepalive;
	bool keepalive_running, keepalive_quit;
	bool reading;                    /* the caller waits in a read: the peer is the busy one */
	int keepalive_ms;
	int64_t last_sent_ms;
	uint64_t pings;                  /* PINGs sent (the keepalive thread, under lock) */
	uint64_t pings_received;         /* PINGs read (the caller's thread) */
	int64_t deadline_ms;             /* reads end by then (monotonic ms); 0: none */
	bool exact;                      /* the last DATA was large: read just the next head */
	bool abort_received;
	uint16_t abort_code;             /* the received ABORT's reason code */
};

/* Takes ownership of conn (also on failure), and starts the keepalive thread when
 * conn has an idle timeout: after keepalive_ms (a third of it, at most 0.5 s) without
 * sending, a side that is not waiting for the peer sends PING. The handshake gets
 * that timeout in all (eng_peer_set_deadline): clear it before any device operation. */
int eng_peer_init(struct eng_peer *peer, enum proto_role role, struct xport_conn *conn,
		  vstop_t *stop, struct verr *err);
/* Stops the keepalive; best effort ABORT (unless the conversation is over), then
 * closes everything. */
void eng_peer_finish(struct eng_peer *peer, bool abort_first, uint16_t code, const char *why);
int eng_peer_send(struct eng_peer *peer, const struct proto_msg *msg, struct verr *err);
/* The ABORT reason code for a local failure. */
uint16_t eng_peer_reason(const struct eng_peer *peer, const struct verr *err);
/* START, DATA, DEVICE_END: the header, then the payload from where it lies. */
int eng_peer_send_payload(struct eng_peer *peer, uint16_t type, uint16_t device,
			  const uint8_t *payload, size_t len, struct verr *err);
/* The next message, PINGs skipped; a closed connection or ABORT is an error
 * (VERR_PEER) that says why. */
int eng_peer_recv(struct eng_peer *peer, struct proto_msg *msg, struct verr *err);
/* Where a DATA payload's bytes go when they are read around the parser: space
 * offers a place to read them to (0: none, they come in a buffer of the peer's),
 * take gets them in order. */
struct eng_peer_sink {
	size_t (*space)(void *ctx, uint8_t **at);
	int (*take)(void *ctx, const uint8_t *buf, size_t len, struct verr *err);
	void *ctx;
};
/* Pass mode (proto_parser_pass): eng_peer_recv returns DATA with its record's head
 * only and msg->pending bytes to come, which the caller must then have read by
 * eng_peer_recv_rest before anything else; large payloads are read in place. */
void eng_peer_pass_data(struct eng_peer *peer, bool on);
int eng_peer_recv_rest(struct eng_peer *peer, const struct eng_peer_sink *sink,
		       struct verr *err);
/* From now, reads give up after ms in all, however the peer keeps the line alive
 * (its PINGs restart the idle timer, not this); 0 removes the deadline. */
void eng_peer_set_deadline(struct eng_peer *peer, int ms);
/* The peer's ABORT ended the conversation (not ours). */
bool eng_peer_aborted(const struct eng_peer *peer);
/* HELLO both ways and the negotiated features. */
int eng_peer_hello(struct eng_peer *peer, enum proto_role role, unsigned devices,
		   uint64_t features, uint64_t *agreed, struct verr *err);

/* pair.c: 1 with why and a hint when dst cannot take the state of dev (flags: its
 * migration flags), by identity, by the drivers' compatibility strings, or by a build
 * difference that policy refuses (the others are warnings). */
int eng_pair_mismatch(struct vdev *dev, uint64_t flags, const struct proto_device_identity *dst,
		      enum eng_compat policy, char *why, size_t size, const char **hint);

#endif
