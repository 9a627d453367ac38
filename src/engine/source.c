/* vfiomig migrate: the source of a live migration. Its devices change state only
 * after the destination's identities were accepted and it is ready; they stay
 * stopped only once the destination committed, and run on otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_peer.h"
#include "cli_progress.h"
#include "base/json.h"
#include "pipeline/pipeline.h"

#define MIGRATE_MAX_DEVICES PROTO_MAX_DEVICES

struct migrate_args {
	const char *devices[MIGRATE_MAX_DEVICES];
	unsigned ndevices;
	const char *to, *exec;
	bool force, no_precopy;
	long max_downtime_ms, max_rounds;
	unsigned threads;               /* 0: vpipe_threads() */
};

enum { OPT_TO = 0x700, OPT_EXEC,
       OPT_FORCE, OPT_NO_PRECOPY, OPT_DOWNTIME, OPT_ROUNDS, OPT_JSON };

static const struct argp_option options[] = {
	{ "to", OPT_TO, "HOST:PORT", 0, "Migrate to 'vfiomig receive --listen' over TCP", 0 },
	{ "exec", OPT_EXEC, "COMMAND", 0, "Migrate over COMMAND's stdio (e.g. 'ssh dst vfiomig "
	  "receive DEV --stdio')", 0 },
	{ "force", OPT_FORCE, NULL, 0, "Migrate even when identities do not pair (dangerous)", 0 },
	{ "no-precopy", OPT_NO_PRECOPY, NULL, 0, "Stop the devices at once; no pre-copy", 0 },
	{ "max-downtime", OPT_DOWNTIME, "MS", 0, "Switch over once the rest fits in MS at the "
	  "measured throughput (default 300)", 0 },
	{ "max-rounds", OPT_ROUNDS, "N", 0, "At most N pre-copy rounds (default 8)", 0 },
	CLI_THREADS_OPTION,
	{ "json", OPT_JSON, NULL, 0, "Print the summary as JSON on stdout", 0 },
	{ 0 }
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct migrate_args *a = state->input;

	switch (key) {
	case OPT_TO: a->to = arg; return 0;
	case OPT_EXEC: a->exec = arg; return 0;
	case OPT_FORCE: a->force = true; return 0;
	case OPT_NO_PRECOPY: a->no_precopy = true; return 0;
	case OPT_JSON: cli.json = true; return 0;
	case 'T': a->threads = cli_parse_threads(arg, state); return 0;
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
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static const struct argp_child children[] = {
	{ &cli_tls_argp, 0, "Security and timeouts:", 0 },
	{ &cli_progress_argp, 0, NULL, 0 },
	{ &cli_common_argp, 0, NULL, 0 },
	{ 0 }
};
static const struct argp migrate_argp = {
	options, parse_opt, "DEVICE...",
	"Live-migrate DEVICE... to a 'vfiomig receive' peer; devices pair up in order.\v"
	"The devices keep running through the handshake, the compatibility check and "
	"pre-copy; they stop for the switchover and stay stopped only when the destination "
	"committed. Any failure, a lost peer or a signal before that returns them to RUNNING.",
	children, NULL, NULL
};

struct migrate_dev {
	struct vdev *dev;
	uint64_t flags;
	bool left_running, ended;
};

/* Device reads happen here; encoding and sending in the pipeline's threads. */
struct migrate_run {
	struct migrate_dev dev[MIGRATE_MAX_DEVICES];
	struct vstream_header hdrs[MIGRATE_MAX_DEVICES];
	unsigned n;
	struct cli_peer peer;
	bool peer_ready, committed, precopy, sync;
	bool handed_over;               /* RUN went out: past the point of no return */
	const struct vstream_key *record_key;
	struct vpipe_save *pipe;
	unsigned threads;
	uint64_t estimate;              /* the drivers' stop-copy sizes, added up */
	uint64_t raw_bytes, precopy_bytes;     /* read from the devices */
	unsigned rounds;
	struct timespec t0, stop, commit;
	uint64_t resume_us, loaded_us;
	double drain_ms;                /* from the last pre-copy byte sent to the peer's SYNC */
	struct cli_progress progress;
	char phase[48];
};

static int open_devices(struct migrate_run *run, const struct migrate_args *a, struct verr *err)
{
	for (unsigned i = 0; i < a->ndevices; i++) {
		struct migrate_dev *d = &run->dev[i];
		enum vmig_state state;
		uint64_t estimate = 0;
		struct verr quiet = { 0 };
		int ret = cli_open_device(a->devices[i], &d->dev);

		if (ret)
			return -ret;
		run->n = i + 1;
		if (cli_compat_usable(vdev_ident(d->dev), err) < 0)
			return -EXIT_PEER;
		if (vdev_migration_flags(d->dev, &d->flags, err) < 0 ||
		    vdev_get_state(d->dev, &state, err) < 0)
			return -EXIT_FAILED;
		if (state != VMIG_RUNNING)
			return verr_set(err, VERR_FAILED, 0, vdev_ident(d->dev)->name,
					"run 'vfiomig state DEVICE running' first",
					"migrate needs the device RUNNING, not %s",
					vmig_state_name(state)), -EXIT_FAILED;
		vdev_stop_copy_size(d->dev, &estimate, &quiet);
		run->estimate += estimate;
		if (vstream_header_init(&run->hdrs[i], err) < 0)
			return -EXIT_FAILED;
		eng_identity_from_device(vdev_ident(d->dev), d->flags, estimate, &run->hdrs[i].id);
		if (!(d->flags & VMIG_FLAG_PRE_COPY))
			run->precopy = false;
	}
	return 0;
}

/* The vendor part of the pairing rule: 1 with why and a hint when the drivers'
 * compatibility strings forbid the pair (vfiomig-migrate(1), Pairing rule). */
static int compat_mismatch(const struct vdev_ident *mine, const struct proto_device_identity *dst,
			   char *why, size_t size, const char **hint)
{
	const char *dst_name = dst->id.device_name[0] ? dst->id.device_name : "?";

	switch (proto_compat_compare(mine->compat.value, dst->compat)) {
	case PROTO_COMPAT_DIFFERENT:
		snprintf(why, size, "the drivers' " VDEV_COMPAT_ATTR " strings differ: source %s has "
			 "\"%s\", destination %s has \"%s\"", mine->name, mine->compat.value,
			 dst_name, dst->compat);
		*hint = "the drivers say the states do not interchange; pair devices whose "
			"drivers agree, or use --force";
		return 1;
	case PROTO_COMPAT_SOURCE_ONLY:
		snprintf(why, size, "source %s has " VDEV_COMPAT_ATTR " \"%s\", destination %s "
			 "has none", mine->name, mine->compat.value, dst_name);
		*hint = "the destination's driver cannot confirm that it reads this state; use "
			"the same driver on both hosts, or --force";
		return 1;
	case PROTO_COMPAT_DESTINATION_ONLY:
		snprintf(why, size, "destination %s has " VDEV_COMPAT_ATTR " \"%s\", source %s "
			 "has none", dst_name, dst->compat, mine->name);
		*hint = "the source's driver cannot confirm what its state is; use the same "
			"driver on both hosts, or --force";
		return 1;
	default:
		return 0;
	}
}

/* 1 with why and a hint when pair i does not pair up. */
static int pair_mismatch(struct migrate_run *run, unsigned i, char *why, size_t size,
			 const char **hint)
{
	const struct proto_device_identity *dst = &run->peer.ids.dev[i];
	struct vstream_identity mine;
	uint64_t estimate = 0;
	struct verr quiet = { 0 };

	vdev_stop_copy_size(run->dev[i].dev, &estimate, &quiet);
	eng_identity_from_device(vdev_ident(run->dev[i].dev), run->dev[i].flags, estimate, &mine);
	*hint = "pair devices of the same kind, or use --force";
	if (eng_identity_compare(&mine, &dst->id, why, size))
		return 1;
	return compat_mismatch(vdev_ident(run->dev[i].dev), dst, why, size, hint);
}

/* Compares the destination's identities with ours and says yes or no; with --force
 * every mismatch is a warning. */
static int verdict(struct migrate_run *run, const struct migrate_args *a, struct verr *err)
{
	struct proto_msg msg, v = { .type = PROTO_VERDICT, .device = PROTO_NO_DEVICE };
	char why[800] = "";
	const char *hint = NULL;
	unsigned bad = run->n;

	if (cli_peer_recv(&run->peer, &msg, err) < 0)
		return -EXIT_PEER;
	for (unsigned i = 0; i < run->n; i++) {
		char this_why[sizeof(why)];
		const char *this_hint;

		if (!pair_mismatch(run, i, this_why, sizeof(this_why), &this_hint))
			continue;
		if (a->force)
			cli_note("%s: warning: %s; migrating anyway (--force)",
				 vdev_ident(run->dev[i].dev)->name, this_why);
		if (bad == run->n) {
			bad = i;
			hint = this_hint;
			memcpy(why, this_why, sizeof(why));
		}
	}
	v.u.verdict.kind = bad == run->n ? PROTO_VERDICT_ACCEPT :
			   a->force ? PROTO_VERDICT_FORCED : PROTO_VERDICT_REFUSE;
	if (bad < run->n) {
		v.device = (uint16_t)bad;
		proto_reason_set(&v.u.verdict.reason, PROTO_REASON_INCOMPATIBLE, "device %u (%s): %s",
				 bad, vdev_ident(run->dev[bad].dev)->name, why);
	}
	if (cli_peer_send(&run->peer, &v, err) < 0)
		return -EXIT_PEER;
	if (v.u.verdict.kind == PROTO_VERDICT_REFUSE)
		return verr_set(err, VERR_PEER, 0, vdev_ident(run->dev[bad].dev)->name, hint,
				"refusing the destination: %s; nothing was changed", why), -EXIT_PEER;
	return 0;
}

/* The destination checked every stream header and put its devices in RESUMING. */
static int await_ready(struct migrate_run *run, struct verr *err)
{
	struct proto_msg msg;

	/* The handshake is over; the destination may take its time with its devices. */
	cli_peer_set_deadline(&run->peer, 0);

	if (cli_peer_recv(&run->peer, &msg, err) < 0)
		return -EIO;
	if (msg.type != PROTO_READY)
		return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(run->peer.conn), NULL,
				"expected READY, got %s", proto_type_name(msg.type));
	return 0;
}

/* The pipeline's output: START, DATA and DEVICE_END of each device, and the mark
 * that says the devices stopped: SWITCHOVER. All from the pipeline's writer. */
static int send_part(void *ctx, unsigned device, enum vpipe_part part, const uint8_t *buf,
		     size_t len, struct verr *err)
{
	static const uint16_t types[] = {
		[VPIPE_HEADER] = PROTO_START, [VPIPE_RECORD] = PROTO_DATA,
		[VPIPE_TRAILER] = PROTO_DEVICE_END,
	};
	struct migrate_run *run = ctx;
	struct proto_msg msg = { .type = PROTO_SWITCHOVER, .device = PROTO_NO_DEVICE };

	if (part != VPIPE_MARK)
		return cli_peer_send_payload(&run->peer, types[part], (uint16_t)device, buf, len, err);
	msg.u.precopy_rounds = run->precopy ? run->rounds : 0;
	return cli_peer_send(&run->peer, &msg, err);
}

/* Sends every device's stream header and starts the encoders and the sender. */
static int start_pipeline(struct migrate_run *run, struct verr *err)
{
	struct vpipe_save_options opt = {
		.level = 1, .compress = true, .chunk = VPIPE_CHUNK_DEFAULT, .key = run->record_key,
		.stop = &cli_signal,
		.threads = run->threads ? run->threads
					: vpipe_threads(run->estimate, VPIPE_CHUNK_DEFAULT),
	};

	cli_debug("%u encoding thread%s", opt.threads, opt.threads == 1 ? "" : "s");
	cli_progress_init(&run->progress, "migrate", 0);
	return vpipe_save_start(run->hdrs, run->n, &opt,
				&(struct vpipe_sink){ send_part, run }, &run->pipe, err);
}

static void show_progress(struct migrate_run *run, const char *phase)
{
	struct vpipe_stats st;

	if (!run->progress.on)
		return;
	vpipe_save_progress(run->pipe, &st);
	if (!phase) {
		cli_progress_update(&run->progress, st.raw_bytes, st.wire_bytes);
		return;
	}
	snprintf(run->phase, sizeof(run->phase), "migrate %s", phase);
	cli_progress_phase(&run->progress, run->phase, st.raw_bytes, st.wire_bytes);
}

/* Reads up to one chunk of device i into the pipeline; *drained when the device
 * has nothing more (for now in PRE_COPY, for good in STOP_COPY). */
static int read_chunk(struct migrate_run *run, unsigned i, uint16_t type, size_t *got,
		      bool *drained, struct verr *err)
{
	if (cli_signal)
		return verr_set(err, VERR_INTERRUPTED, 0, NULL, NULL, "interrupted by signal %d",
				(int)cli_signal);
	if (vpipe_save_read(run->pipe, i, run->dev[i].dev, type, got, drained, err) < 0)
		return -EIO;
	run->raw_bytes += *got;
	show_progress(run, NULL);
	return 0;
}

/* Bytes the devices still hold in pre-copy, plus what stop-copy will add. */
static uint64_t remaining_bytes(struct migrate_run *run)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < run->n; i++) {
		uint64_t initial = 0, dirty = 0, estimate = 0;
		struct verr quiet = { 0 };

		if (vdev_precopy_info(run->dev[i].dev, &initial, &dirty, &quiet) == 0)
			sum += initial + dirty;
		verr_clear(&quiet);
		if (vdev_stop_copy_size(run->dev[i].dev, &estimate, &quiet) == 0)
			sum += estimate;
	}
	return sum;
}

/* Rounds of pre-copy while the devices run, until the rest fits the downtime
 * target at the throughput measured so far (what the peer has been sent; what is
 * still in the pipeline counts as rest), or the round limit. */
static int precopy(struct migrate_run *run, const struct migrate_args *a, struct verr *err)
{
	struct timespec start, now;

	for (unsigned i = 0; i < run->n; i++) {
		run->dev[i].left_running = true;
		if (vdev_set_state(run->dev[i].dev, VMIG_PRE_COPY, VMIG_RUNNING, err) < 0)
			return -EIO;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (run->rounds = 1;; run->rounds++) {
		uint64_t round_bytes = 0, rest;
		double rate, projected_ms;
		struct vpipe_stats sent;
		char phase[32];

		snprintf(phase, sizeof(phase), "pre-copy round %u", run->rounds);
		show_progress(run, phase);
		for (unsigned i = 0; i < run->n; i++) {
			bool drained = false;

			while (!drained) {
				size_t got;

				if (read_chunk(run, i, VSTREAM_REC_PRECOPY, &got, &drained, err) < 0)
					return -EIO;
				round_bytes += got;
			}
		}
		run->precopy_bytes += round_bytes;
		vpipe_save_progress(run->pipe, &sent);
		clock_gettime(CLOCK_MONOTONIC, &now);
		rate = sent.raw_bytes / (cli_seconds(&start, &now) + 1e-6);
		rest = remaining_bytes(run) + (run->precopy_bytes - sent.raw_bytes);
		projected_ms = rest / (rate + 1) * 1000;
		cli_debug("pre-copy round %u: %llu bytes, %llu left, %.0f ms projected", run->rounds,
			  (unsigned long long)round_bytes, (unsigned long long)rest, projected_ms);
		if (projected_ms <= a->max_downtime_ms || run->rounds >= a->max_rounds ||
		    round_bytes == 0)
			return 0;
	}
}

/* The devices still running, waits until the destination has taken every pre-copy
 * record: what socket buffers and the peer still hold would otherwise be moved
 * during the downtime, which the pre-copy rounds did not count. */
static int drain(struct migrate_run *run, struct verr *err)
{
	struct proto_msg msg = { .type = PROTO_SYNC, .device = PROTO_NO_DEVICE, .u.sync = 1 };
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (cli_peer_send(&run->peer, &msg, err) < 0 || cli_peer_recv(&run->peer, &msg, err) < 0)
		return -EIO;
	if (msg.type != PROTO_SYNC || msg.u.sync != 1)
		return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(run->peer.conn), NULL,
				"expected the echo of SYNC 1, got %s", proto_type_name(msg.type));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	run->drain_ms = cli_seconds(&t0, &t1) * 1000;
	cli_debug("the destination took the pre-copy data %.1f ms after it was sent",
		  run->drain_ms);
	return 0;
}

/* Pre-copy data all sent and taken first; then quiesce every device (P2P first, for
 * peer-to-peer DMA), stop-copy all, and SWITCHOVER after the pre-copy data. */
static int switchover(struct migrate_run *run, struct verr *err)
{
	if (vpipe_save_flush(run->pipe, err) < 0)
		return -EIO;
	if (run->precopy && run->sync && drain(run, err) < 0)
		return -EIO;
	clock_gettime(CLOCK_MONOTONIC, &run->stop);
	for (unsigned i = 0; i < run->n; i++) {
		struct migrate_dev *d = &run->dev[i];

		d->left_running = true;
		if (d->flags & VMIG_FLAG_P2P &&
		    vdev_set_state(d->dev, run->precopy ? VMIG_PRE_COPY_P2P : VMIG_RUNNING_P2P,
				   VMIG_RUNNING, err) < 0)
			return -EIO;
	}
	for (unsigned i = 0; i < run->n; i++)
		if (vdev_set_state(run->dev[i].dev, VMIG_STOP_COPY, VMIG_RUNNING, err) < 0)
			return -EIO;
	return vpipe_save_mark(run->pipe, err);
}

/* Stop-copy data of all devices at once: one chunk of each in turn, each
 * device's trailer after its last chunk. */
static int stopcopy(struct migrate_run *run, struct verr *err)
{
	unsigned ended = 0;

	show_progress(run, "stop-copy");
	while (ended < run->n) {
		for (unsigned i = 0; i < run->n; i++) {
			struct migrate_dev *d = &run->dev[i];
			size_t got;
			bool drained;

			if (d->ended)
				continue;
			if (read_chunk(run, i, VSTREAM_REC_STOPCOPY, &got, &drained, err) < 0)
				return -EIO;
			if (!drained)
				continue;
			if (vpipe_save_end(run->pipe, i, err) < 0)
				return -EIO;
			d->ended = true;
			ended++;
		}
	}
	return 0;
}

/* Every trailer sent: the destination verifies them and loads its devices, which
 * stay stopped there until RUN. A failure up to here rolls back. */
static int await_loaded(struct migrate_run *run, struct verr *err)
{
	struct proto_msg msg;

	if (cli_peer_recv(&run->peer, &msg, err) < 0)
		return -EIO;
	if (msg.type != PROTO_LOADED)
		return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(run->peer.conn), NULL,
				"expected LOADED, got %s", proto_type_name(msg.type));
	run->loaded_us = msg.u.loaded_us;
	if (cli_signal)
		return verr_set(err, VERR_INTERRUPTED, 0, NULL, NULL,
				"interrupted by signal %d before the handover", (int)cli_signal);
	return 0;
}

/*
 * The point of no return (docs/protocol.md §5): from the first byte of RUN on, the
 * destination may run the devices, so they run here again only when it says it
 * will not (ABORT). Signals are noted, not acted on, until COMMIT, ABORT or the
 * timeout; anything else leaves the outcome unknown.
 */
static int hand_over(struct migrate_run *run, struct verr *err)
{
	struct proto_msg msg = { .type = PROTO_RUN, .device = PROTO_NO_DEVICE };
	int timeout_ms = xport_conn_idle(run->peer.conn);
	struct verr why = { 0 };

	xport_conn_set_stop(run->peer.conn, NULL);
	cli_peer_set_deadline(&run->peer, timeout_ms > 0 ? timeout_ms : 60000);
	run->handed_over = true;
	cli_debug("sending RUN: past the point of no return; signals wait for the answer");
	if (cli_peer_send(&run->peer, &msg, &why) == 0 &&
	    cli_peer_recv(&run->peer, &msg, &why) == 0) {
		if (msg.type == PROTO_COMMIT) {
			clock_gettime(CLOCK_MONOTONIC, &run->commit);
			run->resume_us = msg.u.resume_us;
			run->committed = true;
			return 0;
		}
		verr_set(&why, VERR_PEER, EPROTO, xport_conn_name(run->peer.conn), NULL,
			 "expected COMMIT, got %s", proto_type_name(msg.type));
	}
	if (cli_peer_aborted(&run->peer)) {
		*err = why;
		verr_hint(err, "the destination reset its devices without running them");
		return -EIO;
	}
	return verr_set(err, VERR_UNKNOWN, why.errnum, xport_conn_name(run->peer.conn),
			"the destination may be running the devices; see below",
			"outcome unknown: RUN was sent, then %s", why.what);
}

static void summary(const struct migrate_run *run)
{
	double total = cli_seconds(&run->t0, &run->commit);
	double downtime = cli_seconds(&run->stop, &run->commit) * 1000;
	double ratio = run->peer.sent ? (double)run->raw_bytes / (double)run->peer.sent : 0;
	double rate = total > 0 ? run->raw_bytes / total : 0;

	if (cli.json) {
		struct json j;

		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_uint(&j, "devices", run->n);
		json_uint(&j, "raw_bytes", run->raw_bytes);
		json_uint(&j, "wire_bytes", run->peer.sent);
		json_uint(&j, "precopy_bytes", run->precopy_bytes);
		json_uint(&j, "precopy_rounds", run->precopy ? run->rounds : 0);
		json_uint(&j, "throughput_bytes_per_s", (uint64_t)rate);
		json_uint(&j, "downtime_ms", (uint64_t)downtime);
		json_uint(&j, "destination_resume_ms", run->resume_us / 1000);
		json_uint(&j, "total_ms", (uint64_t)(total * 1000));
		cli_peer_json_pings(&run->peer, &j);
		json_object_end(&j);
		json_finish(&j);
		return;
	}
	cli_note("migrated %u device%s: %llu bytes of state, %llu on the wire (ratio %.2f), "
		 "%.1f MiB/s, %u pre-copy round%s, downtime %.1f ms (destination resumed in "
		 "%.1f ms)", run->n, run->n == 1 ? "" : "s", (unsigned long long)run->raw_bytes,
		 (unsigned long long)run->peer.sent, ratio, rate / (1 << 20),
		 run->precopy ? run->rounds : 0, run->precopy && run->rounds != 1 ? "s" : "",
		 downtime, run->resume_us / 1000.0);
}

static int converse(struct migrate_run *run, const struct migrate_args *a, struct verr *err)
{
	uint64_t want = (run->precopy ? PROTO_FEAT_PRECOPY | PROTO_FEAT_SYNC : 0) |
			(run->record_key ? PROTO_FEAT_KEYED_RECORDS : 0);
	struct vpipe_stats sent;
	uint64_t agreed;
	int ret;

	if (cli_peer_hello(&run->peer, PROTO_ROLE_SOURCE, run->n, want, &agreed, err) < 0)
		return -EIO;
	run->precopy = run->precopy && (agreed & PROTO_FEAT_PRECOPY);
	run->sync = agreed & PROTO_FEAT_SYNC;
	if (run->record_key && !(agreed & PROTO_FEAT_KEYED_RECORDS))
		return verr_set(err, VERR_PEER, 0, xport_conn_name(run->peer.conn),
				"give the receiver the same --psk-file",
				"the destination does not key its records");
	/* START goes before READY: the destination checks the headers before any of
	 * its devices changes state. */
	if (verdict(run, a, err) < 0 || start_pipeline(run, err) < 0 || await_ready(run, err) < 0)
		return -EIO;
	if (run->precopy && precopy(run, a, err) < 0)
		return -EIO;
	if (switchover(run, err) < 0 || stopcopy(run, err) < 0)
		return -EIO;
	ret = vpipe_save_finish(run->pipe, &sent, err);    /* the peer has had everything */
	run->pipe = NULL;
	if (ret == 0 && run->progress.on)
		cli_progress_phase(&run->progress, run->phase, sent.raw_bytes, sent.wire_bytes);
	cli_progress_done(&run->progress);
	if (ret < 0 || await_loaded(run, err) < 0)
		return -EIO;
	return hand_over(run, err);
}

static int connect_peer(struct migrate_run *run, const struct migrate_args *a,
			const struct xport_tls *tls, const struct xport_timeouts *t, struct verr *err)
{
	struct xport_conn *conn;
	int ret = a->exec ? xport_exec(a->exec, t, &conn, err) : xport_connect(a->to, tls, t, &conn, err);

	if (ret < 0) {
		if (err->class == VERR_INTERRUPTED)
			verr_hint(err, "no device changed state; they run on");
		return ret;
	}
	if (cli_peer_init(&run->peer, PROTO_ROLE_SOURCE, conn, err) < 0)
		return -EIO;
	run->peer_ready = true;
	return 0;
}

/* Before RUN, or after the destination's ABORT, the source owns the only good copy:
 * every device runs again. */
static void roll_back(struct migrate_run *run)
{
	for (unsigned i = 0; i < run->n; i++) {
		struct verr back = { 0 };

		if (!run->dev[i].left_running)
			continue;
		if (vdev_set_state(run->dev[i].dev, VMIG_RUNNING, VMIG_ERROR, &back) < 0)
			cli_fail(&back);
		else
			cli_note("%s: back in RUNNING", vdev_ident(run->dev[i].dev)->name);
	}
}

/* After RUN without an answer: the destination may run the state, so it must not
 * run here too. The operator decides, and is told how. */
static void leave_stopped(struct migrate_run *run)
{
	for (unsigned i = 0; i < run->n; i++) {
		const char *name = vdev_ident(run->dev[i].dev)->name;
		struct verr quiet = { 0 };

		vdev_set_state(run->dev[i].dev, VMIG_STOP, VMIG_ERROR, &quiet);
		cli_note("%s: left stopped. If the destination's 'vfiomig receive' did not exit 0 "
			 "and its device is not running, resume this one with: vfiomig state %s "
			 "running", name, name);
	}
}

int cmd_migrate(int argc, char **argv)
{
	struct migrate_args a = { .max_downtime_ms = 300, .max_rounds = 8 };
	struct migrate_run *run = calloc(1, sizeof(*run));
	struct xport_timeouts t;
	struct xport_tls tls;
	struct cli_key psk;
	struct verr err = { 0 };
	int ret;

	if (!run)
		return cli_usage_error("out of memory");
	argp_parse(&migrate_argp, argc, argv, 0, NULL, &a);
	cli_tls.carried = !!a.exec;       /* the carrying command (ssh) authenticates */
	ret = cli_tls_setup(&cli_tls, false, &psk, &tls, &t);
	if (ret)
		goto out_free;
	run->record_key = cli_key_get(&psk);
	run->precopy = !a.no_precopy && a.max_rounds > 0;
	run->threads = a.threads;
	clock_gettime(CLOCK_MONOTONIC, &run->t0);
	ret = open_devices(run, &a, &err);
	if (ret == 0 && (ret = connect_peer(run, &a, &tls, &t, &err)) == 0)
		ret = converse(run, &a, &err);
	if (ret == 0) {
		cli_peer_finish(&run->peer, false, 0, NULL);
		if (cli_signal)
			cli_note("signal %d came after the handover; the migration completed",
				 (int)cli_signal);
		for (unsigned i = 0; i < run->n; i++)
			if (vdev_set_state(run->dev[i].dev, VMIG_STOP, VMIG_ERROR, &err) < 0)
				cli_fail(&err);         /* committed: the state lives on there */
		summary(run);
		ret = EXIT_OK;
		goto out;
	}
	/* No thread of the pipeline may outlive the failure, nor write after ABORT. */
	vpipe_save_abort(run->pipe);
	run->pipe = NULL;
	cli_progress_done(&run->progress);
	ret = err.set ? cli_fail(&err) : -ret;
	if (run->peer_ready)
		cli_peer_finish(&run->peer, true, cli_peer_reason(&err),
				err.what[0] ? err.what : "the source failed (see its messages)");
	if (!run->handed_over || cli_peer_aborted(&run->peer))
		roll_back(run);
	else if (!run->committed)
		leave_stopped(run);
out:
	for (unsigned i = 0; i < run->n; i++)
		vdev_close(run->dev[i].dev);
	cli_key_wipe(&psk);
out_free:
	free(run);
	return ret;
}
