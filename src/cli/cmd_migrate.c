/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vfiomig migrate: the source of a live migration (the engine's source.c does it);
 * this file reads the options, connects, and prints the outcome. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_events.h"
#include "cli_progress.h"
#include "cli_tls.h"
#include "base/json.h"
#include "engine/engine.h"
#include "protocol/protocol.h"
#include "transport/transport_net.h"

#define MIGRATE_MAX_DEVICES PROTO_MAX_DEVICES

struct migrate_args {
	const char *devices[MIGRATE_MAX_DEVICES];
	unsigned ndevices;
	const char *to, *exec;
	bool force, no_precopy, rehearse;
	enum eng_compat compat;
	long max_downtime_ms, max_rounds;
	unsigned threads;               /* 0: vpipe_threads() */
	unsigned connections;           /* --connections: 1..PROTO_CONNECTIONS_MAX */
	bool connections_given;
};

enum { OPT_TO = 0x700, OPT_EXEC, OPT_CONNECTIONS,
       OPT_FORCE, OPT_NO_PRECOPY, OPT_DOWNTIME, OPT_ROUNDS, OPT_JSON, OPT_REHEARSE };

static const struct argp_option options[] = {
	{ "to", OPT_TO, "HOST:PORT", 0, "Migrate to 'vfiomig receive --listen' over TCP", 0 },
	{ "exec", OPT_EXEC, "COMMAND", 0, "Migrate over COMMAND's stdio (e.g. 'ssh dst vfiomig "
	  "receive DEV --stdio')", 0 },
	{ "connections", OPT_CONNECTIONS, "N", 0, "Spread the data over N TLS connections "
	  "to the --to address, for links where one is the limit (1 to 16, default 1)", 0 },
	{ "force", OPT_FORCE, NULL, 0, "Migrate even when identities do not pair (dangerous)", 0 },
	CLI_COMPAT_OPTION,
	{ "no-precopy", OPT_NO_PRECOPY, NULL, 0, "Stop the devices at once; no pre-copy", 0 },
	{ "max-downtime", OPT_DOWNTIME, "MS", 0, "Switch over once the rest fits in MS at the "
	  "measured throughput (default 300)", 0 },
	{ "max-rounds", OPT_ROUNDS, "N", 0, "At most N pre-copy rounds (default 8)", 0 },
	CLI_THREADS_OPTION,
	{ "json", OPT_JSON, NULL, 0, "Print the summary as JSON on stdout", 0 },
	{ "rehearse", OPT_REHEARSE, NULL, 0, "Rehearse: handshake, checks and the initial "
	  "pre-copy data into the destination, then abort on both sides; the devices here "
	  "never stop", 0 },
	{ 0 }
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct migrate_args *a = state->input;

	switch (key) {
	case OPT_TO: a->to = arg; return 0;
	case OPT_EXEC: a->exec = arg; return 0;
	case OPT_FORCE: a->force = true; return 0;
	case CLI_OPT_COMPAT: a->compat = cli_parse_compat(arg, state); return 0;
	case OPT_NO_PRECOPY: a->no_precopy = true; return 0;
	case OPT_JSON: cli.json = true; return 0;
	case OPT_REHEARSE: a->rehearse = true; return 0;
	case 'T': a->threads = cli_parse_threads(arg, state); return 0;
	case OPT_CONNECTIONS: {
		long v;

		if (cli_parse_int(arg, 1, PROTO_CONNECTIONS_MAX, &v) < 0)
			argp_error(state, "--connections takes 1 to %d, not '%s'",
				   PROTO_CONNECTIONS_MAX, arg);
		a->connections = (unsigned)v;
		a->connections_given = true;
		return 0;
	}
	case OPT_DOWNTIME:
		if (cli_parse_int(arg, 1, 3600000, &a->max_downtime_ms) < 0)
			argp_error(state, "--max-downtime takes 1 to 3600000 ms, not '%s'", arg);
		return 0;
	case OPT_ROUNDS:
		if (cli_parse_int(arg, 0, 1000, &a->max_rounds) < 0)
			argp_error(state, "--max-rounds takes 0 to 1000, not '%s'", arg);
		return 0;
	case ARGP_KEY_ARG:
		if (a->ndevices == MIGRATE_MAX_DEVICES)
			argp_error(state, "at most %d devices", MIGRATE_MAX_DEVICES);
		a->devices[a->ndevices++] = arg;
		return 0;
	case ARGP_KEY_END:
		if (!a->ndevices)
			argp_error(state, "which DEVICE? (see 'vfiomig list')");
		if (!!a->to == !!a->exec)
			argp_error(state, "give exactly one of --to and --exec");
		if (a->exec && a->connections_given)
			argp_error(state, "--connections is for --to (TCP); --exec has one channel");
		if (a->rehearse && (a->no_precopy || a->max_rounds == 0))
			argp_error(state, "--rehearse tries the initial pre-copy data: it excludes "
				   "--no-precopy and --max-rounds 0");
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static const struct argp_child children[] = {
	{ &cli_tls_argp, 0, "Security and timeouts:", 0 },
	{ &cli_progress_argp, 0, NULL, 0 },
	{ &cli_events_argp, 0, NULL, 0 },
	{ &cli_common_argp, 0, NULL, 0 },
	{ 0 }
};
static const struct argp migrate_argp = {
	options, parse_opt, "DEVICE...",
	"Live-migrate DEVICE... to a 'vfiomig receive' peer; devices pair up in order.\v"
	"The devices keep running through the handshake, the compatibility check and "
	"pre-copy; they stop for the switchover, and stay stopped once the destination has "
	"loaded the state and been told to run it (RUN). Any failure, a lost peer or a "
	"signal before that returns them to RUNNING; after it, only the destination's ABORT "
	"does, and without an answer migrate exits 8 with the devices stopped.",
	children, NULL, NULL
};

static void summary(const struct eng_migration_stats *st)
{
	double ratio = st->wire_bytes ? (double)st->raw_bytes / (double)st->wire_bytes : 0;
	double rate = st->total_ms > 0 ? st->raw_bytes / (st->total_ms / 1000) : 0;

	if (cli.json) {
		struct json j;

		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_uint(&j, "devices", st->devices);
		json_uint(&j, "raw_bytes", st->raw_bytes);
		json_uint(&j, "wire_bytes", st->wire_bytes);
		json_uint(&j, "precopy_bytes", st->precopy_bytes);
		json_uint(&j, "precopy_rounds", st->precopy_rounds);
		json_uint(&j, "throughput_bytes_per_s", (uint64_t)rate);
		json_uint(&j, "downtime_ms", (uint64_t)st->downtime_ms);
		json_uint(&j, "destination_resume_ms", st->resume_us / 1000);
		json_uint(&j, "total_ms", (uint64_t)st->total_ms);
		json_uint(&j, "pings_sent", st->pings_sent);
		json_uint(&j, "pings_received", st->pings_received);
		json_uint(&j, "stop_copy_size_unknown", st->unknown_sizes);
		json_uint(&j, "initial_data_acknowledged_ms", (uint64_t)st->initial_ack_ms);
		if (st->connections > 1)        /* absent: one, as before the option */
			json_uint(&j, "connections", st->connections);
		json_object_end(&j);
		json_finish(&j);
		return;
	}
	cli_note("migrated %u device%s: %llu bytes of state, %llu on the wire (ratio %.2f), "
		 "%.1f MiB/s, %u pre-copy round%s, downtime %.1f ms (destination resumed in "
		 "%.1f ms)", st->devices, st->devices == 1 ? "" : "s",
		 (unsigned long long)st->raw_bytes, (unsigned long long)st->wire_bytes, ratio,
		 rate / (1 << 20), st->precopy_rounds, st->precopy_rounds == 1 ? "" : "s",
		 st->downtime_ms, st->resume_us / 1000.0);
}

/* The engine's connector for the extra connections: the same address and
 * credentials as the first. */
struct more_connections {
	const char *to;
	const struct xport_tls *tls;
	const struct xport_timeouts *t;
};

static int connect_more(void *ctx, struct xport_conn **conn, struct verr *err)
{
	const struct more_connections *m = ctx;

	return xport_connect(m->to, m->tls, m->t, conn, err);
}

/* A rehearsal that went as planned: what it proved (exit 0). */
static void rehearsal_summary(const struct eng_migration_stats *st)
{
	if (cli.json) {
		struct json j;

		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_string(&j, "rehearsal", st->rehearsal == ENG_REHEARSAL_INITIAL_DATA
					      ? "initial-data" : "identity");
		json_uint(&j, "devices", st->devices);
		json_uint(&j, "precopy_bytes", st->precopy_bytes);
		json_uint(&j, "precopy_rounds", st->precopy_rounds);
		json_uint(&j, "wire_bytes", st->wire_bytes);
		json_uint(&j, "initial_data_acknowledged_ms", (uint64_t)st->initial_ack_ms);
		json_uint(&j, "total_ms", (uint64_t)st->total_ms);
		json_string(&j, "note", st->rehearsal_note);
		json_object_end(&j);
		json_finish(&j);
		return;
	}
	cli_note("rehearsal accepted: %s; the devices here never stopped, and the destination "
		 "ran nothing", st->rehearsal_note);
}

static int connect_peer(const struct migrate_args *a, const struct xport_tls *tls,
			const struct xport_timeouts *t, struct xport_conn **conn, struct verr *err)
{
	int ret = a->exec ? xport_exec(a->exec, t, conn, err) : xport_connect(a->to, tls, t, conn, err);

	if (ret < 0 && err->class == VERR_INTERRUPTED)
		verr_hint(err, "no device changed state; they run on");
	return ret;
}

int cmd_migrate(int argc, char **argv)
{
	struct migrate_args a = { .max_downtime_ms = 300, .max_rounds = 8, .connections = 1,
				  .compat = ENG_COMPAT_DEFAULT };
	struct cli_phase_progress progress = { .command = "migrate" };
	struct eng_source *src = NULL;
	struct xport_conn *conn;
	struct xport_timeouts t;
	struct xport_tls tls;
	struct cli_key psk;
	struct verr err = { 0 };
	int ret;

	argp_parse(&migrate_argp, argc, argv, 0, NULL, &a);
	cli_tls.carried = !!a.exec;       /* the carrying command (ssh) authenticates */
	ret = cli_tls_setup(&cli_tls, false, &psk, &tls, &t);
	if (ret)
		return ret;
	ret = cli_events_open("migrate");
	if (ret) {
		cli_key_wipe(&psk);
		return ret;
	}
	cli_progress_init(&progress.line, "migrate", 0);
	struct more_connections more = { a.to, &tls, &t };
	struct eng_source_options opt = {
		.devices = a.devices, .n = a.ndevices, .open_via = cli.open_via, .force = a.force,
		.compat = a.compat,
		.precopy = !a.no_precopy, .max_downtime_ms = a.max_downtime_ms,
		.rehearse = a.rehearse,
		.max_rounds = a.max_rounds, .initial_wait_ms = t.idle_ms, .threads = a.threads, .record_key = cli_key_get(&psk),
		.connections = a.connections, .connector = { connect_more, &more },
		.stop = &cli_signal, .progress = cli_phase_progress_show, .progress_ctx = &progress,
	};
	if (eng_source_open(&opt, &src, &err) < 0 || connect_peer(&a, &tls, &t, &conn, &err) < 0 ||
	    eng_source_run(src, conn, &err) < 0) {
		cli_progress_done(&progress.line);
		ret = cli_fail(&err);
	} else {
		cli_progress_done(&progress.line);
		if (eng_source_stats(src)->rehearsal)
			rehearsal_summary(eng_source_stats(src));
		else
			summary(eng_source_stats(src));
	}
	eng_source_close(src);             /* rolls back, or leaves the devices stopped */
	cli_key_wipe(&psk);
	return ret;
}
