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

/*
 * Listens on spec, prints "listening on ADDRESS" (scripts read the port from it),
 * and accepts until a peer is admitted; the listener is closed either way. Each
 * connection turned away is printed with -v and counted in *turned_away; without
 * -v one line gives the count once a peer is admitted.
 */
int cli_listen_accept(const char *spec, const struct xport_tls *tls,
		      const struct xport_timeouts *t, struct xport_conn **conn,
		      unsigned *turned_away, struct verr *err);

#endif
