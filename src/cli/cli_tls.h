/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The security and timeout options of migrate and receive, and what they turn into:
 * the transport's TLS settings and timeouts, and the key that also keys records. */
#ifndef VFIOMIG_CLI_TLS_H
#define VFIOMIG_CLI_TLS_H

#include "cli.h"
#include "cli_stream.h"
#include "transport/transport_net.h"

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
