/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vfiomig receive: the destination of a live migration (the engine's destination.c
 * does it); this file reads the options, listens or takes stdio, and prints. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_listen.h"
#include "cli_events.h"
#include "cli_progress.h"
#include "cli_tls.h"
#include "base/json.h"
#include "engine/engine.h"
#include "protocol/protocol.h"

#define RECEIVE_MAX_DEVICES PROTO_MAX_DEVICES

struct receive_args {
	const char *devices[RECEIVE_MAX_DEVICES];
	unsigned ndevices;
	const char *listen;
	bool stdio, stop, force;
	enum eng_compat compat;
	unsigned threads;               /* 0: vpipe_threads() */
};

enum { OPT_LISTEN = 0x600, OPT_STDIO, OPT_STOP, OPT_JSON, OPT_FORCE };

static const struct argp_option options[] = {
	{ "listen", OPT_LISTEN, "[ADDR:]PORT", 0, "Accept one migration over TCP (port 0: any)", 0 },
	{ "stdio", OPT_STDIO, NULL, 0, "Speak the protocol on stdin/stdout (for ssh)", 0 },
	{ "stop", OPT_STOP, NULL, 0, "Leave the devices in STOP after resuming", 0 },
	{ "force", OPT_FORCE, NULL, 0, "Load a stream whose device identity does not match "
	  "(dangerous)", 0 },
	CLI_COMPAT_OPTION,
	{ "json", OPT_JSON, NULL, 0, "Print the summary as JSON on stdout", 0 },
	CLI_DECODE_THREADS_OPTION,
	{ 0 }
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct receive_args *a = state->input;

	switch (key) {
	case OPT_LISTEN: a->listen = arg; return 0;
	case OPT_STDIO: a->stdio = true; return 0;
	case OPT_STOP: a->stop = true; return 0;
	case OPT_FORCE: a->force = true; return 0;
	case CLI_OPT_COMPAT: a->compat = cli_parse_compat(arg, state); return 0;
	case OPT_JSON: cli.json = true; return 0;
	case 'T': a->threads = cli_parse_threads(arg, state); return 0;
	case ARGP_KEY_ARG:
		if (a->ndevices == RECEIVE_MAX_DEVICES)
			argp_error(state, "at most %d devices", RECEIVE_MAX_DEVICES);
		a->devices[a->ndevices++] = arg;
		return 0;
	case ARGP_KEY_END:
		if (!a->ndevices)
			argp_error(state, "which DEVICE? (see 'vfiomig list')");
		if (!!a->listen == a->stdio)
			argp_error(state, "give exactly one of --listen and --stdio");
		if (a->stdio && cli_listen.accept_timeout_s >= 0)
			argp_error(state, "--accept-timeout is for --listen");
		if (a->stdio && cli.json)
			argp_error(state, "--json prints on standard output, which --stdio uses for "
				   "the protocol");
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static const struct argp_child children[] = {
	{ &cli_tls_argp, 0, "Security and timeouts:", 0 },
	{ &cli_listen_argp, 0, NULL, 0 },
	{ &cli_progress_argp, 0, NULL, 0 },
	{ &cli_events_argp, 0, NULL, 0 },
	{ &cli_common_argp, 0, NULL, 0 },
	{ 0 }
};
static const struct argp receive_argp = {
	options, parse_opt, "DEVICE...",
	"Receive a live migration from 'vfiomig migrate' into DEVICE... (paired in order).\v"
	"The devices are only touched after the source accepted their identities; every "
	"record is verified before its bytes reach a device; the devices run once the source "
	"hands the state over (RUN), and COMMIT says so. On any failure before RUN the "
	"devices are reset. A listener accepts one migration and exits; it takes as many "
	"connections as the source asks for (migrate --connections, at most 16), each "
	"authenticated and joined with the session's token, and no more.",
	children, NULL, NULL
};

/* After COMMIT: what came in, how fast, and how long the devices took to run. */
static void summary(const struct eng_migration_stats *st, unsigned turned_away)
{
	double rate = st->total_ms > 0 ? st->raw_bytes / (st->total_ms / 1000) : 0;
	double ratio = st->wire_bytes ? (double)st->raw_bytes / (double)st->wire_bytes : 0;

	if (cli.json) {
		struct json j;

		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_uint(&j, "devices", st->devices);
		json_uint(&j, "raw_bytes", st->raw_bytes);
		json_uint(&j, "wire_bytes", st->wire_bytes);
		json_uint(&j, "precopy_rounds", st->precopy_rounds);
		json_uint(&j, "throughput_bytes_per_s", (uint64_t)rate);
		json_uint(&j, "resume_ms", (uint64_t)st->resume_ms);
		json_uint(&j, "total_ms", (uint64_t)st->total_ms);
		json_uint(&j, "pings_sent", st->pings_sent);
		json_uint(&j, "pings_received", st->pings_received);
		json_uint(&j, "turned_away", turned_away);
		if (st->connections > 1)        /* absent: one, as before the option */
			json_uint(&j, "connections", st->connections);
		json_object_end(&j);
		json_finish(&j);
		return;
	}
	cli_note("received %u device%s: %llu bytes of state, %llu on the wire (ratio %.2f), "
		 "%.1f MiB/s, %u pre-copy round%s, devices running %.1f ms after the switchover; "
		 "committed", st->devices, st->devices == 1 ? "" : "s",
		 (unsigned long long)st->raw_bytes, (unsigned long long)st->wire_bytes, ratio,
		 rate / (1 << 20), st->precopy_rounds, st->precopy_rounds == 1 ? "" : "s",
		 st->resume_ms);
}

/* The source ended a rehearsal as planned (exit 0). */
static void rehearsal_summary(const struct eng_migration_stats *st)
{
	if (cli.json) {
		struct json j;

		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_string(&j, "rehearsal", st->rehearsal == ENG_REHEARSAL_INITIAL_DATA
					      ? "initial-data" : "identity");
		json_uint(&j, "devices", st->devices);
		json_uint(&j, "raw_bytes", st->raw_bytes);
		json_uint(&j, "wire_bytes", st->wire_bytes);
		json_uint(&j, "total_ms", (uint64_t)st->total_ms);
		json_string(&j, "note", st->rehearsal_note);
		json_object_end(&j);
		json_finish(&j);
		return;
	}
	cli_note("rehearsal accepted: %s", st->rehearsal_note);
}

/* Names are checked now, not when a source has connected. */
static int check_names(const struct receive_args *a, struct verr *err)
{
	for (unsigned i = 0; i < a->ndevices; i++) {
		struct vdev_ident id;

		if (vdev_identify(a->devices[i], &id, err) < 0 || eng_compat_usable(&id, err) < 0)
			return -ENODEV;
	}
	return 0;
}

static int connect_peer(const struct receive_args *a, const struct xport_tls *tls,
			const struct xport_timeouts *t, struct xport_conn **conn,
			unsigned *turned_away, struct cli_listen_more *more, struct verr *err)
{
	int ret = a->stdio ? xport_stdio(t, conn, err)
			   : cli_listen_accept(a->listen, tls, t, conn, turned_away, more, err);

	if (ret < 0 && err->class == VERR_INTERRUPTED)
		verr_hint(err, "no device was touched");
	return ret;
}

int cmd_receive(int argc, char **argv)
{
	struct receive_args a = { .compat = ENG_COMPAT_DEFAULT };
	struct cli_phase_progress progress = { .command = "receive" };
	struct eng_destination *dst = NULL;
	struct xport_conn *conn;
	struct xport_timeouts t;
	struct xport_tls tls;
	struct cli_key psk;
	struct verr err = { 0 };
	unsigned turned_away = 0;
	struct cli_listen_more more = { 0 };
	int ret;

	argp_parse(&receive_argp, argc, argv, 0, NULL, &a);
	cli_tls.carried = a.stdio;        /* the carrying channel (ssh) authenticates */
	ret = cli_tls_setup(&cli_tls, true, &psk, &tls, &t);
	if (ret)
		return ret;
	ret = cli_events_open("receive");
	if (ret) {
		cli_key_wipe(&psk);
		return ret;
	}
	cli_progress_init(&progress.line, "receive", 0);
	struct eng_destination_options opt = {
		.devices = a.devices, .n = a.ndevices, .open_via = cli.open_via, .force = a.force,
		.compat = a.compat,
		.leave_stopped = a.stop, .threads = a.threads, .record_key = cli_key_get(&psk),
		.stop = &cli_signal, .progress = cli_phase_progress_show, .progress_ctx = &progress,
	};
	/* A source may ask for more connections (migrate --connections): the listener
	 * stays open until they joined, or until the engine knows none will come. */
	if (a.listen)
		opt.acceptor = (struct eng_acceptor){ cli_listen_join, cli_listen_done, &more };
	if (check_names(&a, &err) < 0 || eng_destination_new(&opt, &dst, &err) < 0 ||
	    connect_peer(&a, &tls, &t, &conn, &turned_away, a.listen ? &more : NULL, &err) < 0 ||
	    eng_destination_run(dst, conn, &err) < 0) {
		cli_progress_done(&progress.line);
		ret = cli_fail(&err);
	} else {
		cli_progress_done(&progress.line);
		if (eng_destination_stats(dst)->rehearsal)
			rehearsal_summary(eng_destination_stats(dst));
		else
			summary(eng_destination_stats(dst), turned_away + more.turned_away +
				eng_destination_stats(dst)->turned_away);
	}
	eng_destination_close(dst);        /* resets the devices of a failed run, then ABORT */
	cli_listen_done(&more);
	cli_key_wipe(&psk);
	return ret;
}
