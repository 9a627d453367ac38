/* vfiomig receive: the destination of a live migration. It offers its devices'
 * identities, resumes what the source sends once every record verified, and
 * commits; on any failure before COMMIT it resets its devices. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_listen.h"
#include "cli_peer.h"
#include "cli_progress.h"
#include "base/json.h"
#include "pipeline/pipeline.h"

#define RECEIVE_MAX_DEVICES PROTO_MAX_DEVICES

struct receive_args {
	const char *devices[RECEIVE_MAX_DEVICES];
	unsigned ndevices;
	const char *listen;
	bool stdio, stop, force;
	unsigned threads;               /* 0: vpipe_threads() */
};

enum { OPT_LISTEN = 0x600, OPT_STDIO, OPT_STOP, OPT_JSON, OPT_FORCE };

static const struct argp_option options[] = {
	{ "listen", OPT_LISTEN, "[ADDR:]PORT", 0, "Accept one migration over TCP (port 0: any)", 0 },
	{ "stdio", OPT_STDIO, NULL, 0, "Speak the protocol on stdin/stdout (for ssh)", 0 },
	{ "stop", OPT_STOP, NULL, 0, "Leave the devices in STOP after resuming", 0 },
	{ "force", OPT_FORCE, NULL, 0, "Load a stream whose device identity does not match "
	  "(dangerous)", 0 },
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
	{ &cli_common_argp, 0, NULL, 0 },
	{ 0 }
};
static const struct argp receive_argp = {
	options, parse_opt, "DEVICE...",
	"Receive a live migration from 'vfiomig migrate' into DEVICE... (paired in order).\v"
	"The devices are only touched after the source accepted their identities; every "
	"record is verified before its bytes reach a device; COMMIT is sent once every device "
	"runs. On any failure before that the devices are reset. A listener accepts one "
	"migration and exits.",
	children, NULL, NULL
};

struct receive_dev {
	struct vdev *dev;
	struct vstream_reader *reader;
	enum vmig_state start;
	bool touched, ended;            /* touched: left its start state for RESUMING */
	uint8_t *start_msg;             /* the checked stream header, until it is fed */
	size_t start_len;
};

struct receive_run {
	struct receive_dev dev[RECEIVE_MAX_DEVICES];
	unsigned n;
	struct cli_peer peer;
	bool peer_ready;
	bool handed_over;               /* RUN received: the state is ours */
	const struct vstream_key *record_key;
	struct vpipe_decode *pipe;      /* verifies every device's records */
	uint64_t estimate;              /* the devices' stop-copy sizes, summed */
	uint64_t raw;
	uint32_t precopy_rounds;        /* as SWITCHOVER said */
	unsigned turned_away;           /* connections the listener dropped before this one */
	struct timespec t0, switchover, running;
	struct cli_progress progress;
};

static int open_devices(struct receive_run *run, const struct receive_args *a,
			struct proto_identity *ids, struct verr *err)
{
	ids->count = a->ndevices;
	for (unsigned i = 0; i < a->ndevices; i++) {
		struct receive_dev *d = &run->dev[i];
		uint64_t flags, estimate = 0;
		struct verr quiet = { 0 };
		int ret = cli_open_device(a->devices[i], &d->dev);

		if (ret)
			return -ret;
		run->n = i + 1;
		if (cli_compat_usable(vdev_ident(d->dev), err) < 0)
			return -EXIT_PEER;
		if (vdev_migration_flags(d->dev, &flags, err) < 0 ||
		    cli_recover_abandoned(d->dev, &d->start, err) < 0)
			return -EXIT_FAILED;
		if (d->start != VMIG_RUNNING && d->start != VMIG_STOP)
			return verr_set(err, VERR_FAILED, 0, vdev_ident(d->dev)->name,
					"run 'vfiomig state DEVICE running' first",
					"receive needs the device RUNNING or STOP, not %s",
					vmig_state_name(d->start)), -EXIT_FAILED;
		vdev_stop_copy_size(d->dev, &estimate, &quiet);
		run->estimate += estimate;
		memset(&ids->dev[i], 0, sizeof(ids->dev[i]));
		eng_identity_from_device(vdev_ident(d->dev), flags, estimate, &ids->dev[i].id);
		snprintf(ids->dev[i].compat, sizeof(ids->dev[i].compat), "%s",
			 vdev_ident(d->dev)->compat.value);
	}
	return 0;
}

/* The decode pipeline's sink: a verified payload for a device, in stream order. */
static int write_record(void *ctx, unsigned device, const uint8_t *data, size_t len,
			struct verr *err)
{
	struct receive_run *run = ctx;

	if (len && vdev_write_data(run->dev[device].dev, data, len, err) < 0)
		return -EIO;
	run->raw += len;
	return 0;
}

/* START carries one stream header and nothing else, keyed as agreed, for a device of
 * this one's kind: checked as restore checks a saved stream, before any device
 * changes state. */
static int check_start(struct receive_run *run, const struct proto_msg *msg,
		       const struct receive_args *a, struct verr *err)
{
	struct receive_dev *d = &run->dev[msg->device];
	const char *name = vdev_ident(d->dev)->name;
	struct vstream_header hdr;
	struct verr why = { 0 };
	size_t len = 0;
	int rc = vstream_header_decode(msg->payload, msg->len, run->record_key, &hdr, &len, &why);

	if (rc == -EAGAIN)
		return verr_set(err, VERR_DATA, EBADMSG, name, NULL, "START for device %u holds "
				"%zu bytes, less than its stream header", msg->device, msg->len);
	if (rc < 0)     /* a key the source lacks or misuses is the peer's fault here */
		return verr_set(err, why.class == VERR_USAGE ? VERR_PEER : why.class, why.errnum,
				name, why.class == VERR_USAGE ? "give both sides the same "
				"--psk-file" : NULL, "the source's stream header: %s", why.what);
	if (len != msg->len)
		return verr_set(err, VERR_PEER, EPROTO, name, NULL, "START for device %u carries "
				"%zu bytes after its stream header; records come in DATA",
				msg->device, msg->len - len);
	if (eng_check_stream_identity(&hdr, vdev_ident(d->dev), a->force, "receive", err) < 0)
		return -EPERM;
	d->start_msg = malloc(msg->len);
	if (!d->start_msg)
		return verr_set(err, VERR_FAILED, ENOMEM, name, NULL, "keep the stream header");
	memcpy(d->start_msg, msg->payload, msg->len);
	d->start_len = msg->len;
	return 0;
}

/* After an accepting VERDICT: every device's stream header, checked; then every
 * device into RESUMING, and READY. */
static int prepare_devices(struct receive_run *run, const struct receive_args *a,
			   struct verr *err)
{
	struct proto_msg ready = { .type = PROTO_READY, .device = PROTO_NO_DEVICE };
	const struct vpipe_decode_sink sink = { write_record, run, &cli_signal };
	struct vstream_reader *readers[RECEIVE_MAX_DEVICES];
	unsigned threads = a->threads;

	for (unsigned i = 0; i < run->n; i++) {
		struct proto_msg msg;

		if (cli_peer_recv(&run->peer, &msg, err) < 0)
			return -EIO;
		if (msg.type != PROTO_START || msg.device >= run->n)
			return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(run->peer.conn),
					NULL, "expected START, got %s",
					proto_type_name(msg.type));
		if (check_start(run, &msg, a, err) < 0)
			return -EIO;
	}
	/* The handshake is over; the devices may take their time. */
	cli_peer_set_deadline(&run->peer, 0);
	for (unsigned i = 0; i < run->n; i++) {
		struct receive_dev *d = &run->dev[i];

		d->touched = true;
		if (vdev_set_state(d->dev, VMIG_RESUMING, d->start, err) < 0 ||
		    vstream_reader_new(run->record_key, vdev_ident(d->dev)->name, &d->reader,
				       err) < 0)
			return -EIO;
		readers[i] = d->reader;
	}
	if (!threads)
		threads = vpipe_threads(run->estimate, VPIPE_CHUNK_DEFAULT);
	if (vpipe_decode_start(readers, run->n, run->record_key, threads, &sink, &run->pipe,
			       err) < 0)
		return -EIO;
	cli_debug("%u decoding thread%s", threads, threads == 1 ? "" : "s");
	for (unsigned i = 0; i < run->n; i++)
		if (vpipe_decode_feed(run->pipe, i, run->dev[i].start_msg, run->dev[i].start_len,
				      err) < 0)
			return -EBADMSG;
	return cli_peer_send(&run->peer, &ready, err);
}

/* Feeds one message's payload to the device's stream; the pipeline verifies the
 * records and writes them to the device in order. */
static int take_payload(struct receive_run *run, const struct proto_msg *msg, struct verr *err)
{
	struct receive_dev *d;

	if (msg->device >= run->n)
		return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(run->peer.conn), NULL,
				"message for device %u of %u", msg->device, run->n);
	d = &run->dev[msg->device];
	if (vpipe_decode_feed(run->pipe, msg->device, msg->payload, msg->len, err) < 0)
		return -EBADMSG;
	if (msg->type == PROTO_DEVICE_END) {
		if (vpipe_decode_end(run->pipe, msg->device, err) < 0)
			return -EBADMSG;
		d->ended = true;
	}
	return 0;
}

static int transfer(struct receive_run *run, const struct receive_args *a, struct verr *err)
{
	struct proto_msg msg;
	unsigned ended = 0;

	while (ended < run->n) {
		if (cli_peer_recv(&run->peer, &msg, err) < 0)
			return -EIO;
		if (msg.type == PROTO_SYNC) {
			/* echoed once every record before it is in the devices */
			struct proto_msg echo = { .type = PROTO_SYNC, .device = PROTO_NO_DEVICE,
						  .u.sync = msg.u.sync };

			if (vpipe_decode_drain(run->pipe, err) < 0 ||
			    cli_peer_send(&run->peer, &echo, err) < 0)
				return -EIO;
			continue;
		}
		if (msg.type == PROTO_SWITCHOVER) {
			clock_gettime(CLOCK_MONOTONIC, &run->switchover);
			run->precopy_rounds = msg.u.precopy_rounds;
			cli_progress_phase(&run->progress, "receive stop-copy", run->raw,
					   run->peer.received);
			continue;
		}
		if (take_payload(run, &msg, err) < 0)
			return -EIO;
		if (msg.type == PROTO_DEVICE_END)
			ended++;
		cli_progress_update(&run->progress, run->raw, run->peer.received);
	}
	cli_progress_done(&run->progress);
	return 0;
}

/* Every trailer verified: the drivers load the state, and the devices wait in STOP
 * for the source's RUN. Until RUN nothing runs here: any failure resets them. */
static int load(struct receive_run *run, struct verr *err)
{
	struct proto_msg msg = { .type = PROTO_LOADED, .device = PROTO_NO_DEVICE };

	cli_debug("every trailer verified: loading the devices");
	for (unsigned i = 0; i < run->n; i++)
		if (vdev_set_state(run->dev[i].dev, VMIG_STOP, VMIG_ERROR, err) < 0)
			return -EIO;
	msg.u.loaded_us = (uint64_t)(cli_seconds(&run->switchover, NULL) * 1e6);
	if (cli_peer_send(&run->peer, &msg, err) < 0 || cli_peer_recv(&run->peer, &msg, err) < 0)
		return -EIO;
	if (msg.type != PROTO_RUN)
		return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(run->peer.conn), NULL,
				"expected RUN, got %s", proto_type_name(msg.type));
	return 0;
}

/*
 * RUN received: the state is ours, and the source keeps its devices stopped until it
 * hears from us. Signals no longer stop anything: the devices run (unless --stop)
 * and COMMIT says so; a device that fails to run has every device reset before the
 * ABORT that lets the source resume.
 */
static int run_devices(struct receive_run *run, const struct receive_args *a, struct verr *err)
{
	struct proto_msg commit = { .type = PROTO_COMMIT, .device = PROTO_NO_DEVICE };
	struct verr lost = { 0 };

	xport_conn_set_stop(run->peer.conn, NULL);
	run->handed_over = true;
	cli_debug("RUN received: the state is ours; running the devices");
	for (unsigned i = 0; i < run->n && !a->stop; i++)
		if (vdev_set_state(run->dev[i].dev, VMIG_RUNNING, VMIG_ERROR, err) < 0)
			return -EIO;
	clock_gettime(CLOCK_MONOTONIC, &run->running);
	commit.u.resume_us = (uint64_t)(cli_seconds(&run->switchover, NULL) * 1e6);
	if (cli_peer_send(&run->peer, &commit, &lost) < 0) {
		cli_fail(&lost);
		cli_note("warning: COMMIT not acknowledged: the devices run here, and the source "
			 "keeps its own stopped (its migrate exits 8); do not resume them there");
	}
	return 0;
}

/* After COMMIT: what came in, how fast, and how long the devices took to run. */
static void summary(const struct receive_run *run)
{
	double total = cli_seconds(&run->t0, &run->running);
	double resume_ms = cli_seconds(&run->switchover, &run->running) * 1000;
	double rate = total > 0 ? run->raw / total : 0;
	double ratio = run->peer.received ? (double)run->raw / (double)run->peer.received : 0;

	if (cli.json) {
		struct json j;

		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_uint(&j, "devices", run->n);
		json_uint(&j, "raw_bytes", run->raw);
		json_uint(&j, "wire_bytes", run->peer.received);
		json_uint(&j, "precopy_rounds", run->precopy_rounds);
		json_uint(&j, "throughput_bytes_per_s", (uint64_t)rate);
		json_uint(&j, "resume_ms", (uint64_t)resume_ms);
		json_uint(&j, "total_ms", (uint64_t)(total * 1000));
		cli_peer_json_pings(&run->peer, &j);
		json_uint(&j, "turned_away", run->turned_away);
		json_object_end(&j);
		json_finish(&j);
		return;
	}
	cli_note("received %u device%s: %llu bytes of state, %llu on the wire (ratio %.2f), "
		 "%.1f MiB/s, %u pre-copy round%s, devices running %.1f ms after the switchover; "
		 "committed", run->n, run->n == 1 ? "" : "s", (unsigned long long)run->raw,
		 (unsigned long long)run->peer.received, ratio, rate / (1 << 20),
		 run->precopy_rounds, run->precopy_rounds == 1 ? "" : "s", resume_ms);
}

static int converse(struct receive_run *run, const struct receive_args *a, struct verr *err)
{
	static struct proto_identity ids;
	struct proto_msg msg = { .type = PROTO_IDENTITY, .device = PROTO_NO_DEVICE };
	uint64_t features = PROTO_FEAT_PRECOPY | PROTO_FEAT_SYNC |
			    (run->record_key ? PROTO_FEAT_KEYED_RECORDS : 0);
	uint64_t agreed;
	int ret;

	if (cli_peer_hello(&run->peer, PROTO_ROLE_DESTINATION, a->ndevices, features, &agreed,
			   err) < 0)
		return -EXIT_PEER;
	if (run->record_key && !(agreed & PROTO_FEAT_KEYED_RECORDS))
		return verr_set(err, VERR_PEER, 0, xport_conn_name(run->peer.conn),
				"give the source the same --psk-file; no device was touched",
				"this side has a key, and the source does not key its records"),
		       -EXIT_PEER;
	ret = open_devices(run, a, &ids, err);
	if (ret < 0)
		return ret;
	msg.u.identity = &ids;
	if (cli_peer_send(&run->peer, &msg, err) < 0 || cli_peer_recv(&run->peer, &msg, err) < 0)
		return -EXIT_PEER;
	if (msg.type != PROTO_VERDICT)
		return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(run->peer.conn), NULL,
				"expected VERDICT, got %s", proto_type_name(msg.type)), -EXIT_PEER;
	if (msg.u.verdict.kind == PROTO_VERDICT_REFUSE)
		return verr_set(err, VERR_PEER, 0, xport_conn_name(run->peer.conn),
				"the devices were not touched", "the source refused: %s",
				msg.u.verdict.reason.text), -EXIT_PEER;
	if (prepare_devices(run, a, err) < 0)
		return -EXIT_FAILED;
	cli_progress_init(&run->progress, "receive", 0);
	if (agreed & PROTO_FEAT_PRECOPY)
		cli_progress_phase(&run->progress, "receive pre-copy", 0, run->peer.received);
	if (transfer(run, a, err) < 0 || load(run, err) < 0)
		return -EXIT_FAILED;
	return run_devices(run, a, err) < 0 ? -EXIT_FAILED : 0;
}

static int connect_peer(struct receive_run *run, const struct receive_args *a,
			const struct xport_tls *tls, const struct xport_timeouts *t, struct verr *err)
{
	struct xport_conn *conn = NULL;
	int ret;

	if (a->stdio)
		ret = xport_stdio(t, &conn, err);
	else
		ret = cli_listen_accept(a->listen, tls, t, &conn, &run->turned_away, err);
	if (ret < 0) {
		if (err->class == VERR_INTERRUPTED)
			verr_hint(err, "no device was touched");
		return ret;
	}
	if (cli_peer_init(&run->peer, PROTO_ROLE_DESTINATION, conn, err) < 0)
		return -EIO;
	run->peer_ready = true;
	cli_debug("connected: %s", xport_conn_name(conn));
	return 0;
}

int cmd_receive(int argc, char **argv)
{
	struct receive_args a = { 0 };
	struct receive_run *run = calloc(1, sizeof(*run));
	struct xport_timeouts t;
	struct xport_tls tls;
	struct cli_key psk;
	struct verr err = { 0 };
	int ret;

	if (!run)
		return cli_usage_error("out of memory");
	argp_parse(&receive_argp, argc, argv, 0, NULL, &a);
	cli_tls.carried = a.stdio;        /* the carrying channel (ssh) authenticates */
	ret = cli_tls_setup(&cli_tls, true, &psk, &tls, &t);
	if (ret)
		goto out_free;
	run->record_key = cli_key_get(&psk);
	/* Names are checked now, not when a source has connected. */
	for (unsigned i = 0; i < a.ndevices; i++) {
		struct vdev_ident id;

		if (vdev_identify(a.devices[i], &id, &err) < 0 || cli_compat_usable(&id, &err) < 0) {
			ret = cli_fail(&err);
			goto out;
		}
	}
	if (connect_peer(run, &a, &tls, &t, &err) < 0) {
		ret = cli_fail(&err);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &run->t0);          /* a source is connected */
	ret = converse(run, &a, &err);
	if (ret == 0) {
		cli_peer_finish(&run->peer, false, 0, NULL);    /* joins the keepalive thread */
		if (cli_signal)
			cli_note("signal %d came after the source handed the state over; the "
				 "devices run here", (int)cli_signal);
		summary(run);
		goto out;
	}
	cli_progress_done(&run->progress);
	ret = err.set ? cli_fail(&err) : -ret;
	/* Reset first: the ABORT tells the source that nothing here runs its state. */
	for (unsigned i = 0; i < run->n; i++) {
		struct verr reset = { 0 };

		if (run->dev[i].touched && vdev_reset(run->dev[i].dev, &reset) < 0)
			cli_fail(&reset);
		else if (run->dev[i].touched)
			cli_note("%s: reset; it is RUNNING", vdev_ident(run->dev[i].dev)->name);
	}
	cli_peer_finish(&run->peer, true, cli_peer_reason(&err),
			err.what[0] ? err.what : "the destination failed (see its messages)");
out:
	vpipe_decode_stop(run->pipe);
	for (unsigned i = 0; i < run->n; i++) {
		vstream_reader_free(run->dev[i].reader);
		free(run->dev[i].start_msg);
		vdev_close(run->dev[i].dev);
	}
	cli_key_wipe(&psk);
out_free:
	free(run);
	return ret;
}
