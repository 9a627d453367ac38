/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Bidirectional transports for the live-migration protocol: TCP (TLS 1.3 with a
 * pre-shared key or X.509, or explicitly insecure), a spawned command's stdio
 * (--exec 'ssh host vfiomig receive --stdio'), and our own stdin/stdout. Only this
 * layer does socket and TLS I/O. Every wait has a timeout and wakes on signals. */
#ifndef VFIOMIG_TRANSPORT_NET_H
#define VFIOMIG_TRANSPORT_NET_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/verr.h"
#include "base/stop.h"

struct xport_conn;
struct xport_listener;

enum xport_security {
	XPORT_INSECURE = 0,     /* plain TCP: peers unauthenticated, data in clear */
	XPORT_TLS_PSK,          /* TLS 1.3 with an external pre-shared key */
	XPORT_TLS_X509,         /* TLS 1.3, both sides present certificates */
};

struct xport_tls {
	enum xport_security mode;
	/* PSK: the key file's bytes (16..4096, caller-owned); TLS uses a key derived
	 * from them, so the same file may also key the stream records. */
	const uint8_t *psk;
	size_t psk_len;
	const char *psk_identity;       /* NULL: "vfiomig" */
	/* X.509: PEM files. The peer must present a certificate that chains to ca;
	 * its names are not checked (the CA should issue migration certs only). */
	const char *cert, *key, *ca;
};

struct xport_timeouts {
	int connect_ms;                 /* TCP connect plus TLS handshake; <= 0: 30 s */
	int idle_ms;                    /* longest silence of the peer in read/write; <= 0: none */
	/* Set by a signal handler: once non-zero (the signal's number), every wait —
	 * connect, accept, TLS handshake, read, write — ends with -EINTR
	 * (VERR_INTERRUPTED). NULL: waits run to their timeouts. */
	vstop_t *stop;
};

/*
 * TCP listener on [ADDR:]PORT ("4444", "10.0.0.1:4444", "[::1]:0", "*:4444"); port 0
 * picks a free port (see xport_listener_port). Without ADDR it listens on every
 * address (IPv6 and IPv4) when tls->mode authenticates peers, and on 127.0.0.1
 * only when it is XPORT_INSECURE: an unauthenticated listener reaches the network
 * only when the user names an address. TLS modes check their files here, so a
 * misconfigured listener fails before it listens.
 */
int xport_listen(const char *spec, const struct xport_tls *tls, struct xport_listener **out,
		 struct verr *err);
uint16_t xport_listener_port(const struct xport_listener *l);
const char *xport_listener_name(const struct xport_listener *l);   /* "127.0.0.1:4444" */
/*
 * How a listener tells a peer worth handing over from junk (a port scan, a client of
 * another protocol, a wrong key). A TLS listener admits a peer once the handshake
 * authenticated it. A plain TCP (XPORT_INSECURE) one shows check the first bytes the
 * peer sent, peeked (they stay to be read): check returns 0 to admit the peer, the
 * number of bytes it needs to decide (more than len, at most XPORT_ADMIT_MAX), or -1
 * with a reason in why to turn it away. Without check any peer is admitted.
 */
#define XPORT_ADMIT_MAX 1024
struct xport_admit {
	int (*check)(void *ctx, const uint8_t *head, size_t len, char *why, size_t why_size);
	void *ctx;
	/* Each connection turned away is counted here and, if set, reported as it happens. */
	void (*rejected)(void *ctx, const struct verr *why);
	unsigned turned_away;
	/* The listener stays open after it admitted a peer, for more (the extra
	 * connections of one migration); xport_listener_close ends it. */
	bool keep_listening;
};
/*
 * Accepts peers one at a time until one is admitted, then stops listening (unless
 * admit->keep_listening). Each
 * peer gets t->connect_ms for its TLS handshake (or its check) and is turned away
 * (closed, counted in admit) if it fails; the whole wait ends after timeout_ms
 * (<= 0: no limit) with -ETIMEDOUT, which says how many were turned away and why the
 * last one was. A signal that sets *t->stop ends it with -EINTR. admit may be NULL.
 */
int xport_accept(struct xport_listener *l, const struct xport_timeouts *t, int timeout_ms,
		 struct xport_admit *admit, struct xport_conn **out, struct verr *err);
void xport_listener_close(struct xport_listener *l);

/* TCP client to HOST:PORT ("dst:4444", "[fe80::1%eth0]:4444"), every address tried
 * in order within t->connect_ms, then the TLS handshake. Name resolution
 * (getaddrinfo) is the one step a signal does not cut short. */
int xport_connect(const char *spec, const struct xport_tls *tls, const struct xport_timeouts *t,
		  struct xport_conn **out, struct verr *err);

/* Spawns `sh -c command` with its stdin and stdout as the connection (a socket
 * pair); its stderr is ours. The child is reaped by close and killed by abort. */
int xport_exec(const char *command, const struct xport_timeouts *t, struct xport_conn **out,
	       struct verr *err);

/* stdin/stdout as the connection (receive --stdio); refuses terminals. The fds are
 * made non-blocking and restored by close/abort; they are not closed. */
int xport_stdio(const struct xport_timeouts *t, struct xport_conn **out, struct verr *err);

/* A connected stream socket the caller made (a socketpair, in tests) as a
 * connection named name; takes ownership of fd, also on failure. */
int xport_socket(int fd, const char *name, const struct xport_timeouts *t,
		 struct xport_conn **out, struct verr *err);

/*
 * A connection is not thread-safe: callers serialize every call on it (cli_peer
 * lets a keepalive thread write only while nobody else uses the connection).
 */
/* Returns bytes read (> 0), 0 when the peer closed its side, or -errno: -ETIMEDOUT
 * after idle_ms without data, -EINTR (VERR_INTERRUPTED) when a signal set *stop,
 * -ECONNRESET/-EPIPE/-EPROTO when the peer or TLS failed. */
ssize_t xport_conn_read(struct xport_conn *c, void *buf, size_t len, struct verr *err);
/* Writes all len bytes; same errors. Never raises SIGPIPE on sockets. A write the
 * peer does not take waits while the peer shows it is alive — bytes from it arrive
 * (such as its keepalives while it is busy) — and times out after idle_ms of its
 * silence. */
int xport_conn_write(struct xport_conn *c, const void *buf, size_t len, struct verr *err);
/* The same, but -EAGAIN (no error recorded, nothing written) when the channel cannot
 * take a byte at once: for messages that need not go out now, such as keepalives. */
int xport_conn_write_now(struct xport_conn *c, const void *buf, size_t len, struct verr *err);
/* Signals that interrupt a wait end it with -EINTR once *stop is non-zero. */
void xport_conn_set_stop(struct xport_conn *c, vstop_t *stop);
void xport_conn_set_idle(struct xport_conn *c, int idle_ms);
int xport_conn_idle(const struct xport_conn *c);          /* idle_ms; 0: none */
/*
 * Orderly end: sends our end of data (TLS close_notify, shutdown or EOF to the
 * child), and for exec waits up to idle_ms (or 10 s) for the child, killing it after
 * that; an exit status other than 0 is reported as an error. Frees c.
 */
int xport_conn_close(struct xport_conn *c, struct verr *err);
/* Immediate end: no close_notify; an exec child gets SIGTERM, then SIGKILL after
 * a second. Frees c; safe on NULL. */
void xport_conn_abort(struct xport_conn *c);
const char *xport_conn_name(const struct xport_conn *c);  /* "tls 10.0.0.2:4444", "exec ssh ..." */
const char *xport_conn_peer(const struct xport_conn *c);  /* "10.0.0.2:4444", "" if none */
bool xport_conn_secure(const struct xport_conn *c);       /* TLS authenticated the peer */

#endif
