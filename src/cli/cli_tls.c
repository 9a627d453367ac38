/* SPDX-License-Identifier: GPL-2.0-or-later */
/* --psk-file, --cert, --key, --ca, --insecure and --timeout for migrate and receive. */
#include <errno.h>
#include <string.h>

#include "cli_tls.h"
#include "transport/transport.h"

struct cli_tls_args cli_tls = { .timeout_s = 60 };

enum { OPT_PSK = 0x800, OPT_CERT, OPT_KEY, OPT_CA, OPT_INSECURE, OPT_TIMEOUT };

static const struct argp_option tls_options[] = {
	{ "psk-file", OPT_PSK, "FILE", 0, "TLS 1.3 with this pre-shared key (over --exec or "
	  "--stdio: authenticates the records)", 0 },
	{ "cert", OPT_CERT, "FILE", 0, "TLS 1.3 with this certificate (PEM)", 0 },
	{ "key", OPT_KEY, "FILE", 0, "The certificate's private key (PEM)", 0 },
	{ "ca", OPT_CA, "FILE", 0, "Accept a peer whose certificate this CA signed", 0 },
	{ "insecure", OPT_INSECURE, NULL, 0, "Plain TCP without authentication (a listener "
	  "then binds 127.0.0.1 unless given an address)", 0 },
	{ "timeout", OPT_TIMEOUT, "SECONDS", 0, "Bound connect or accept and handshake, then "
	  "the peer's silence (default 60)", 0 },
	{ 0 }
};

static error_t parse_tls(int key, char *arg, struct argp_state *state)
{
	long v;

	switch (key) {
	case OPT_PSK: cli_tls.psk_file = arg; return 0;
	case OPT_CERT: cli_tls.cert = arg; return 0;
	case OPT_KEY: cli_tls.key = arg; return 0;
	case OPT_CA: cli_tls.ca = arg; return 0;
	case OPT_INSECURE: cli_tls.insecure = true; return 0;
	case OPT_TIMEOUT:
		if (cli_parse_int(arg, 1, 86400, &v) < 0)
			argp_error(state, "--timeout takes 1 to 86400 seconds, not '%s'", arg);
		cli_tls.timeout_s = (int)v;
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cli_tls_argp = { tls_options, parse_tls, NULL, NULL, NULL, NULL, NULL };

int cli_tls_setup(const struct cli_tls_args *args, bool listener, struct cli_key *psk,
		  struct xport_tls *tls, struct xport_timeouts *timeouts)
{
	int ret;

	memset(tls, 0, sizeof(*tls));
	memset(psk, 0, sizeof(*psk));
	timeouts->connect_ms = args->timeout_s * 1000;
	timeouts->idle_ms = args->timeout_s * 1000;
	timeouts->stop = &cli_signal;
	if (args->psk_file && (args->cert || args->key || args->ca))
		return cli_usage_error("--psk-file and --cert/--key/--ca exclude each other");
	if (args->carried && (args->cert || args->key || args->ca || args->insecure))
		return cli_usage_error("--exec and --stdio use the command's channel: no TLS "
				       "options (a --psk-file still authenticates the records)");
	if (args->insecure && (args->psk_file || args->cert))
		return cli_usage_error("--insecure with a key or certificate makes no sense");
	if (args->psk_file) {
		ret = cli_key_load(args->psk_file, psk);
		if (ret)
			return ret;
		tls->mode = args->carried ? XPORT_INSECURE : XPORT_TLS_PSK;
		tls->psk = psk->key.data;
		tls->psk_len = psk->key.len;
	} else if (args->cert || args->key || args->ca) {
		struct verr err = { 0 };

		if (!args->cert || !args->key || !args->ca)
			return cli_usage_error("X.509 needs all of --cert, --key and --ca");
		if (xport_key_file_check(args->key, &err) < 0)
			return cli_fail(&err);
		tls->mode = XPORT_TLS_X509;
		tls->cert = args->cert;
		tls->key = args->key;
		tls->ca = args->ca;
	} else if (!args->insecure && !args->carried) {
		return cli_usage_error("%s needs --psk-file, or --cert, --key and --ca; "
				       "--insecure allows an unauthenticated peer",
				       listener ? "a listener" : "a TCP connection");
	}
	return EXIT_OK;
}
