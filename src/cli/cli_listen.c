/* SPDX-License-Identifier: GPL-2.0-or-later */
/* receive's listener: a port scan, a TLS 1.2 client, plain text or a wrong key must
 * not end it, so it accepts one connection after another until a peer authenticates
 * (TLS) or opens with a well-formed HELLO (--insecure), within one deadline. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli_listen.h"
#include "protocol/protocol.h"

struct cli_listen_args cli_listen = { .accept_timeout_s = -1 };

enum { OPT_ACCEPT_TIMEOUT = 0x900 };

static const struct argp_option listen_options[] = {
	{ "accept-timeout", OPT_ACCEPT_TIMEOUT, "SECONDS", 0, "With --listen: wait this long "
	  "in all for a peer that authenticates, turning others away (default: --timeout; "
	  "0: no limit)", 0 },
	{ 0 }
};

static error_t parse_listen(int key, char *arg, struct argp_state *state)
{
	long v;

	if (key != OPT_ACCEPT_TIMEOUT)
		return ARGP_ERR_UNKNOWN;
	if (cli_parse_int(arg, 0, 86400, &v) < 0)
		argp_error(state, "--accept-timeout takes 0 to 86400 seconds, not '%s'", arg);
	cli_listen.accept_timeout_s = (int)v;
	return 0;
}

const struct argp cli_listen_argp = { listen_options, parse_listen, NULL, NULL, NULL, NULL,
				      NULL };

/* An insecure peer is admitted once its first bytes parse as a whole HELLO (the
 * migration's first connection) or JOIN (one more, which the engine checks): a
 * trickling or foreign peer then costs at most one handshake deadline. */
static int check_first(uint16_t want, const uint8_t *head, size_t len, char *why, size_t size)
{
	struct proto_parser *parser;
	struct proto_msg msg;
	struct verr err = { 0 };
	size_t used = 0;
	int ret;

	if (proto_parser_new(PROTO_ROLE_DESTINATION, "peer", &parser, &err) < 0) {
		snprintf(why, size, "%s", err.what);
		return -1;
	}
	ret = proto_parser_feed(parser, head, len, &used, &msg, &err);
	proto_parser_free(parser);
	if (ret < 0) {
		snprintf(why, size, "not a vfiomig peer: %s", err.what);
		return -1;
	}
	if (msg.type == PROTO_NONE)
		return (int)len + 1;    /* wait for the next byte */
	if (msg.type != want) {
		snprintf(why, size, "not a vfiomig peer: it began with %s, not %s",
			 proto_type_name(msg.type) ? proto_type_name(msg.type) : "?",
			 proto_type_name(want));
		return -1;
	}
	return 0;
}

static int check_hello(void *ctx, const uint8_t *head, size_t len, char *why, size_t size)
{
	(void)ctx;
	return check_first(PROTO_HELLO, head, len, why, size);
}

static int check_join(void *ctx, const uint8_t *head, size_t len, char *why, size_t size)
{
	(void)ctx;
	return check_first(PROTO_JOIN, head, len, why, size);
}

static void report_rejected(void *ctx, const struct verr *why)
{
	char text[2048];

	(void)ctx;
	verr_format(why, text, sizeof(text));
	cli_debug("turned away: %s", text);
}

int cli_listen_accept(const char *spec, const struct xport_tls *tls,
		      const struct xport_timeouts *t, struct xport_conn **conn,
		      unsigned *turned_away, struct cli_listen_more *more, struct verr *err)
{
	struct xport_admit admit = { .check = check_hello, .rejected = report_rejected,
				     .keep_listening = more != NULL };
	int timeout_ms = cli_listen.accept_timeout_s < 0 ? t->connect_ms :
			 cli_listen.accept_timeout_s * 1000;
	struct xport_listener *l;
	int ret;

	*conn = NULL;
	*turned_away = 0;
	ret = xport_listen(spec, tls, &l, err);
	if (ret < 0)
		return ret;
	fprintf(stderr, "vfiomig: listening on %s\n", xport_listener_name(l));
	fflush(stderr);
	ret = xport_accept(l, t, timeout_ms, &admit, conn, err);
	if (ret == 0 && more) {
		more->listener = l;
		more->t = t;
	} else {
		xport_listener_close(l);
	}
	*turned_away = admit.turned_away;
	if (ret == 0 && admit.turned_away && cli.verbose <= 0)
		cli_note("turned away %u connection%s that did not authenticate before %s "
			 "(-v says why)", admit.turned_away, admit.turned_away == 1 ? "" : "s",
			 xport_conn_peer(*conn));
	return ret;
}

int cli_listen_join(void *ctx, int timeout_ms, int handshake_ms, struct xport_conn **conn,
		    struct verr *err)
{
	struct cli_listen_more *more = ctx;
	struct xport_admit admit = { .check = check_join, .rejected = report_rejected,
				     .keep_listening = true };
	struct xport_timeouts t;
	int ret;

	*conn = NULL;
	if (!more->listener)
		return verr_set(err, VERR_FAILED, EBADF, NULL, NULL, "no listener for more "
				"connections");
	t = *more->t;
	if (handshake_ms > 0 && (t.connect_ms <= 0 || t.connect_ms > handshake_ms))
		t.connect_ms = handshake_ms;
	ret = xport_accept(more->listener, &t, timeout_ms, &admit, conn, err);
	more->turned_away += admit.turned_away;
	return ret;
}

void cli_listen_done(void *ctx)
{
	struct cli_listen_more *more = ctx;

	xport_listener_close(more->listener);
	more->listener = NULL;
}
