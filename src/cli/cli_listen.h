/* SPDX-License-Identifier: GPL-2.0-or-later */
/* receive's listener: accepts connections until a peer authenticates (TLS) or opens
 * with a HELLO (--insecure), within --accept-timeout, and says what it turned away. */
#ifndef VFIOMIG_CLI_LISTEN_H
#define VFIOMIG_CLI_LISTEN_H

#include "cli.h"
#include "transport/transport_net.h"

/* --accept-timeout SECONDS; -1 when not given (then --timeout's value applies). */
struct cli_listen_args {
	int accept_timeout_s;
};
extern struct cli_listen_args cli_listen;
extern const struct argp cli_listen_argp;

/* The listener kept open after the first connection, for the extra connections a
 * source may ask for (migrate --connections): the engine's acceptor. */
struct cli_listen_more {
	struct xport_listener *listener;        /* NULL once closed */
	const struct xport_timeouts *t;
	unsigned turned_away;                   /* by the TLS handshake or the first bytes */
};

/*
 * Listens on spec, prints "listening on ADDRESS" (scripts read the port from it),
 * and accepts until a peer is admitted; the listener is closed either way. Each
 * connection turned away is printed with -v and counted in *turned_away; without
 * -v one line gives the count once a peer is admitted. With more, the listener
 * stays open for cli_listen_join until cli_listen_done.
 */
int cli_listen_accept(const char *spec, const struct xport_tls *tls,
		      const struct xport_timeouts *t, struct xport_conn **conn,
		      unsigned *turned_away, struct cli_listen_more *more, struct verr *err);
/* The engine's acceptor (ctx: a struct cli_listen_more): the next connection that
 * authenticates (TLS) or opens with a JOIN (--insecure), within timeout_ms, each
 * peer cut after handshake_ms. */
int cli_listen_join(void *ctx, int timeout_ms, int handshake_ms, struct xport_conn **conn,
		    struct verr *err);
/* Closes the listener (ctx: a struct cli_listen_more); safe twice. */
void cli_listen_done(void *ctx);

#endif
