/* One side of a live migration's conversation: protocol messages over a transport
 * connection, checked against the session's order, for migrate and receive. */
#ifndef VFIOMIG_CLI_PEER_H
#define VFIOMIG_CLI_PEER_H

#include <pthread.h>

#include "cli.h"
#include "cli_stream.h"
#include "protocol/protocol.h"
#include "transport/transport_net.h"

struct cli_peer {
	struct xport_conn *conn;
	struct proto_parser *parser;
	struct proto_session session;
	struct proto_identity ids;       /* the last IDENTITY received */
	uint8_t *out;                    /* PROTO_CONTROL_MAX */
	uint8_t in[1 << 16];
	size_t in_len, in_pos;
	uint64_t sent, received;         /* bytes on the wire */
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
	bool abort_received;
};

/* Takes ownership of conn (also on failure), and starts the keepalive thread when
 * conn has an idle timeout: after keepalive_ms (a third of it, at most 0.5 s) without
 * sending, a side that is not waiting for the peer sends PING. The handshake gets
 * that timeout in all (cli_peer_set_deadline): clear it before any device operation. */
int cli_peer_init(struct cli_peer *peer, enum proto_role role, struct xport_conn *conn,
		  struct verr *err);
/* Stops the keepalive; best effort ABORT (unless the conversation is over), then
 * closes everything. */
void cli_peer_finish(struct cli_peer *peer, bool abort_first, uint16_t code, const char *why);
int cli_peer_send(struct cli_peer *peer, const struct proto_msg *msg, struct verr *err);
/* The ABORT reason code for a local failure. */
uint16_t cli_peer_reason(const struct verr *err);
struct json;
/* The keep-alive counts of a finished peer (its thread joined) as "pings_sent" and
 * "pings_received", for the JSON summaries of migrate and receive. */
void cli_peer_json_pings(const struct cli_peer *peer, struct json *j);
/* START, DATA, DEVICE_END: the header, then the payload from where it lies. */
int cli_peer_send_payload(struct cli_peer *peer, uint16_t type, uint16_t device,
			  const uint8_t *payload, size_t len, struct verr *err);
/* The next message, PINGs skipped; a closed connection or ABORT is an error
 * (VERR_PEER) that says why. */
int cli_peer_recv(struct cli_peer *peer, struct proto_msg *msg, struct verr *err);
/* From now, reads give up after ms in all, however the peer keeps the line alive
 * (its PINGs restart the idle timer, not this); 0 removes the deadline. */
void cli_peer_set_deadline(struct cli_peer *peer, int ms);
/* The peer's ABORT ended the conversation (not ours). */
bool cli_peer_aborted(const struct cli_peer *peer);
/* HELLO both ways and the negotiated features. */
int cli_peer_hello(struct cli_peer *peer, enum proto_role role, unsigned devices,
		   uint64_t features, uint64_t *agreed, struct verr *err);

/* Refuses (VERR_PEER) a device whose driver publishes a compatibility string that
 * cannot be compared: unreadable, too long or not printable. */
int cli_compat_usable(const struct vdev_ident *id, struct verr *err);

/* Reads the TLS options shared by migrate and receive; prints and returns an exit
 * code on failure. psk: loaded key bytes (also used for record keys). */
struct cli_tls_args {
	const char *psk_file, *cert, *key, *ca;
	bool insecure;
	bool carried;                   /* --exec/--stdio: ssh carries it; a PSK keys records */
	int timeout_s;
};
/* --psk-file, --cert, --key, --ca, --insecure, --timeout for migrate and receive. */
extern struct cli_tls_args cli_tls;
extern const struct argp cli_tls_argp;
int cli_tls_setup(const struct cli_tls_args *args, bool listener, struct cli_key *psk,
		  struct xport_tls *tls, struct xport_timeouts *timeouts);

#endif
