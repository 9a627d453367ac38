/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The destination of a live migration (docs/protocol.md): it offers its devices'
 * identities, checks every stream header before a device changes state, verifies
 * every record before its bytes reach a device, loads, and runs the devices only
 * once the source handed the state over (RUN). Before that, any failure resets them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lanes.h"
#include "peer.h"
#include "base/clock.h"

struct eng_destination_dev {
	struct vdev *dev;
	struct vstream_reader *reader;
	enum vmig_state start;
	bool touched, ended;            /* touched: left its start state for RESUMING */
	uint8_t *start_msg;             /* the checked stream header, until it is fed */
	size_t start_len;
};

struct eng_destination {
	struct eng_destination_options opt;
	struct eng_destination_dev dev[PROTO_MAX_DEVICES];
	unsigned n;
	struct eng_peer peer;
	bool peer_ready, failed;
	bool rehearsal;                 /* agreed: ends with ABORT (REHEARSAL), never runs */
	bool handed_over;               /* RUN received: the state is ours */
	const struct vstream_key *key;  /* records keyed: opt.record_key */
	struct vpipe_decode *pipe;      /* verifies every device's records */
	struct eng_lanes_in *lanes;     /* DATA over several connections; NULL: one */
	unsigned lanes_used;
	uint64_t lane_bytes;            /* read on the extra connections */
	bool listening;                 /* the acceptor may still take connections */
	uint64_t estimate;              /* the devices' stop-copy sizes, summed */
	uint64_t raw;
	uint32_t precopy_rounds;        /* as SWITCHOVER said */
	struct timespec t0, switchover, running;
	struct verr failure;            /* what ended a failed run, for the ABORT */
	struct eng_migration_stats stats;
};

static void show_progress(struct eng_destination *run, const char *phase)
{
	if (run->opt.progress)
		run->opt.progress(run->opt.progress_ctx, phase,
				  __atomic_load_n(&run->raw, __ATOMIC_RELAXED),
				  __atomic_load_n(&run->peer.received, __ATOMIC_RELAXED));
}

static int open_devices(struct eng_destination *run, struct proto_identity *ids,
			struct verr *err)
{
	ids->count = run->opt.n;
	for (unsigned i = 0; i < run->opt.n; i++) {
		struct eng_destination_dev *d = &run->dev[i];
		uint64_t flags, estimate = 0;
		struct verr quiet = { 0 };

		if (eng_open_device(run->opt.devices[i], run->opt.open_via, &d->dev, err) < 0)
			return -ENODEV;
		run->n = i + 1;
		if (eng_compat_usable(vdev_ident(d->dev), err) < 0 ||
		    vdev_migration_flags(d->dev, &flags, err) < 0 ||
		    eng_recover_abandoned(d->dev, &d->start, err) < 0)
			return -EIO;
		if (d->start != VMIG_RUNNING && d->start != VMIG_STOP)
			return verr_set(err, VERR_FAILED, 0, vdev_ident(d->dev)->name,
					"run 'vfiomig state DEVICE running' first",
					"receive needs the device RUNNING or STOP, not %s",
					vmig_state_name(d->start));
		vdev_stop_copy_size(d->dev, &estimate, &quiet);
		run->estimate += estimate;
		memset(&ids->dev[i], 0, sizeof(ids->dev[i]));
		eng_identity_from_device(vdev_ident(d->dev), flags, estimate, &ids->dev[i].id);
		snprintf(ids->dev[i].compat, sizeof(ids->dev[i].compat), "%s",
			 vdev_ident(d->dev)->compat.value);
	}
	return 0;
}

/* The decode pipeline's sink: a verified payload for a device, in stream order, on
 * that device's writer thread. */
static int write_record(void *ctx, unsigned device, const uint8_t *data, size_t len,
			struct verr *err)
{
	struct eng_destination *run = ctx;

	if (len && vdev_write_data(run->dev[device].dev, data, len, err) < 0)
		return -EIO;
	__atomic_fetch_add(&run->raw, len, __ATOMIC_RELAXED);
	return 0;
}

/* START carries one stream header and nothing else, keyed as agreed, for a device of
 * this one's kind: checked as restore checks a saved stream, before any device
 * changes state. */
static int check_start(struct eng_destination *run, const struct proto_msg *msg,
		       struct verr *err)
{
	struct eng_destination_dev *d = &run->dev[msg->device];
	const char *name = vdev_ident(d->dev)->name;
	struct vstream_header hdr;
	struct verr why = { 0 };
	size_t len = 0;
	int rc = vstream_header_decode(msg->payload, msg->len, run->key, &hdr, &len, &why);

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
	if (eng_check_stream_identity(&hdr, vdev_ident(d->dev), run->opt.compat,
				      run->opt.force, "receive", err) < 0)
		return -EPERM;
	d->start_msg = malloc(msg->len);
	if (!d->start_msg)
		return verr_set(err, VERR_FAILED, ENOMEM, name, NULL, "keep the stream header");
	memcpy(d->start_msg, msg->payload, msg->len);
	d->start_len = msg->len;
	return 0;
}

static void stop_listening(struct eng_destination *run)
{
	if (!run->listening)
		return;
	run->listening = false;
	if (run->opt.acceptor.done)
		run->opt.acceptor.done(run->opt.acceptor.ctx);
}

/* The source asked for n connections in all (docs/protocol.md §8). */
static int join_lanes(struct eng_destination *run, unsigned n, struct verr *err)
{
	int timeout_ms = xport_conn_idle(run->peer.conn);

	eng_debug("waiting for %u more connections to join", n - 1);
	if (eng_lanes_in_open(&run->peer, n, &run->opt.acceptor,
			      timeout_ms > 0 ? timeout_ms : 60000, &run->lanes,
			      &run->stats.turned_away, err) < 0)
		return -EIO;
	stop_listening(run);
	run->lanes_used = n;
	/* the handshake's deadline again, for the STARTs */
	eng_peer_set_deadline(&run->peer, timeout_ms);
	return 0;
}

/* After an accepting VERDICT: every device's stream header, checked; then every
 * device into RESUMING, and READY. */
static int prepare_devices(struct eng_destination *run,
			   struct verr *err)
{
	struct proto_msg ready = { .type = PROTO_READY, .device = PROTO_NO_DEVICE };
	const struct vpipe_decode_sink sink = { write_record, run, run->opt.stop, true };
	struct vstream_reader *readers[PROTO_MAX_DEVICES];
	unsigned threads = run->opt.threads;

	for (unsigned i = 0; i < run->n; i++) {
		struct proto_msg msg;

		if (eng_peer_recv(&run->peer, &msg, err) < 0)
			return -EIO;
		if (msg.type == PROTO_CONNECTIONS) {     /* the session allows it first only */
			if (join_lanes(run, msg.u.join.count, err) < 0)
				return -EIO;
			i--;
			continue;
		}
		stop_listening(run);
		if (msg.type != PROTO_START || msg.device >= run->n)
			return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(run->peer.conn),
					NULL, "expected START, got %s",
					proto_type_name(msg.type));
		if (check_start(run, &msg, err) < 0)
			return -EIO;
	}
	/* The handshake is over; the devices may take their time. */
	eng_peer_set_deadline(&run->peer, 0);
	for (unsigned i = 0; i < run->n; i++) {
		struct eng_destination_dev *d = &run->dev[i];

		d->touched = true;
		if (vdev_set_state(d->dev, VMIG_RESUMING, d->start, err) < 0 ||
		    vstream_reader_new(run->key, vdev_ident(d->dev)->name, &d->reader,
				       err) < 0)
			return -EIO;
		readers[i] = d->reader;
	}
	if (!threads)
		threads = vpipe_threads(run->estimate, VPIPE_CHUNK_DEFAULT);
	if (vpipe_decode_start(readers, run->n, run->key, threads, &sink, &run->pipe,
			       err) < 0)
		return -EIO;
	eng_debug("%u decoding thread%s", threads, threads == 1 ? "" : "s");
	for (unsigned i = 0; i < run->n; i++)
		if (vpipe_decode_feed(run->pipe, i, run->dev[i].start_msg, run->dev[i].start_len,
				      err) < 0)
			return -EBADMSG;
	eng_emit_phase(ENG_PHASE_READY, NULL, NULL);
	return eng_peer_send(&run->peer, &ready, err);
}

/* A passed DATA payload's way into the device's stream (struct eng_peer_sink). */
struct payload_sink {
	struct vpipe_decode *pipe;
	unsigned device;
};

static size_t payload_space(void *ctx, uint8_t **at)
{
	struct payload_sink *s = ctx;

	return vpipe_decode_space(s->pipe, s->device, at);
}

static int payload_take(void *ctx, const uint8_t *buf, size_t len, struct verr *err)
{
	struct payload_sink *s = ctx;

	return vpipe_decode_feed(s->pipe, s->device, buf, len, err) < 0 ? -EBADMSG : 0;
}

/* Feeds one message's payload to the device's stream; the pipeline verifies the
 * records and writes them to the device in order. */
static int take_payload(struct eng_destination *run, const struct proto_msg *msg, struct verr *err)
{
	struct payload_sink ps = { run->pipe, msg->device };
	const struct eng_peer_sink sink = { payload_space, payload_take, &ps };
	struct eng_destination_dev *d;

	if (msg->device >= run->n)
		return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(run->peer.conn), NULL,
				"message for device %u of %u", msg->device, run->n);
	d = &run->dev[msg->device];
	if (vpipe_decode_feed(run->pipe, msg->device, msg->payload, msg->len, err) < 0)
		return -EBADMSG;
	if (msg->pending && eng_peer_recv_rest(&run->peer, &sink, err) < 0)
		return -EIO;
	if (msg->type == PROTO_DEVICE_END) {
		if (vpipe_decode_end(run->pipe, msg->device, err) < 0)
			return -EBADMSG;
		d->ended = true;
	}
	return 0;
}

/* One message of the data phase; *ended counts the DEVICE_ENDs. */
static int take_message(struct eng_destination *run, const struct proto_msg *msg,
			unsigned *ended, struct verr *err)
{
	if (msg->type == PROTO_SYNC) {
		/* echoed once every record before it is in the devices */
		struct proto_msg echo = { .type = PROTO_SYNC, .device = PROTO_NO_DEVICE,
					  .u.sync = msg->u.sync };

		if (vpipe_decode_drain(run->pipe, err) < 0 ||
		    eng_peer_send(&run->peer, &echo, err) < 0)
			return -EIO;
		eng_emit_phase(ENG_PHASE_SYNC, NULL, NULL);
		return 0;
	}
	if (msg->type == PROTO_SWITCHOVER && run->rehearsal)
		return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(run->peer.conn),
				"the source's vfiomig is broken; the devices were reset",
				"SWITCHOVER in a rehearsal, which never loads or runs a device");
	if (msg->type == PROTO_SWITCHOVER) {
		clock_gettime(CLOCK_MONOTONIC, &run->switchover);
		run->precopy_rounds = msg->u.precopy_rounds;
		show_progress(run, "stop-copy");
		eng_emit_phase(ENG_PHASE_SWITCHOVER, NULL, NULL);
		return 0;
	}
	if (msg->type == PROTO_RECORDS)  /* the lanes waited for what it counts */
		return 0;
	if (take_payload(run, msg, err) < 0)
		return -EIO;
	if (msg->type == PROTO_DEVICE_END)
		(*ended)++;
	show_progress(run, NULL);
	return 0;
}

/* Over several connections: each device's DATA in sequence, whichever connection
 * brought it; the extra connections close once every stream ended. */
static int transfer_lanes(struct eng_destination *run, struct verr *err)
{
	unsigned ended = 0;

	if (eng_lanes_in_start(run->lanes, run->n, run->opt.stop, err) < 0)
		return -EIO;
	while (ended < run->n) {
		struct eng_lane_msg *m;
		int rc;

		if (eng_lanes_in_next(run->lanes, &m, err) < 0)
			return -EIO;
		rc = take_message(run, &m->msg, &ended, err);
		if (rc == 0 && m->msg.type == PROTO_SYNC)
			eng_lanes_in_resume(run->lanes);
		free(m);
		if (rc < 0)
			return -EIO;
	}
	run->lane_bytes = eng_lanes_in_bytes(run->lanes);
	eng_lanes_in_close(run->lanes);
	run->lanes = NULL;
	return 0;
}

static int transfer(struct eng_destination *run, struct verr *err)
{
	struct proto_msg msg;
	unsigned ended = 0;

	int rc = 0;

	if (run->lanes)
		return transfer_lanes(run, err);
	/* DATA's payloads go from the connection straight into the streams */
	eng_peer_pass_data(&run->peer, true);
	while (rc == 0 && ended < run->n)
		if (eng_peer_recv(&run->peer, &msg, err) < 0 ||
		    take_message(run, &msg, &ended, err) < 0)
			rc = -EIO;
	eng_peer_pass_data(&run->peer, false);
	return rc;
}

/* Every trailer verified: the drivers load the state, and the devices wait in STOP
 * for the source's RUN. Until RUN nothing runs here: any failure resets them. */
static int load(struct eng_destination *run, struct verr *err)
{
	struct proto_msg msg = { .type = PROTO_LOADED, .device = PROTO_NO_DEVICE };

	eng_debug("every trailer verified: loading the devices");
	for (unsigned i = 0; i < run->n; i++)
		if (vdev_set_state(run->dev[i].dev, VMIG_STOP, VMIG_ERROR, err) < 0)
			return -EIO;
	msg.u.loaded_us = (uint64_t)(vclock_seconds(&run->switchover, NULL) * 1e6);
	eng_emit(&(struct eng_event){ .kind = ENG_EVENT_PHASE, .phase = ENG_PHASE_LOADED,
				      .fields = ENG_EVENT_DURATION,
				      .duration_ms = msg.u.loaded_us / 1000.0 });
	if (eng_peer_send(&run->peer, &msg, err) < 0 || eng_peer_recv(&run->peer, &msg, err) < 0)
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
static int run_devices(struct eng_destination *run, struct verr *err)
{
	struct proto_msg commit = { .type = PROTO_COMMIT, .device = PROTO_NO_DEVICE };
	struct verr lost = { 0 };

	xport_conn_set_stop(run->peer.conn, NULL);
	run->handed_over = true;
	eng_emit_phase(ENG_PHASE_RUN, NULL, NULL);
	eng_debug("RUN received: the state is ours; running the devices");
	for (unsigned i = 0; i < run->n && !run->opt.leave_stopped; i++)
		if (vdev_set_state(run->dev[i].dev, VMIG_RUNNING, VMIG_ERROR, err) < 0)
			return -EIO;
	clock_gettime(CLOCK_MONOTONIC, &run->running);
	commit.u.resume_us = (uint64_t)(vclock_seconds(&run->switchover, NULL) * 1e6);
	eng_emit(&(struct eng_event){ .kind = ENG_EVENT_PHASE, .phase = ENG_PHASE_COMMIT,
				      .fields = ENG_EVENT_DURATION,
				      .duration_ms = commit.u.resume_us / 1000.0 });
	if (eng_peer_send(&run->peer, &commit, &lost) < 0) {
		char msg[1200];

		verr_format(&lost, msg, sizeof(msg));
		eng_note("%s", msg);
		eng_note("warning: COMMIT not acknowledged: the devices run here, and the source "
			 "keeps its own stopped (its migrate exits 8); do not resume them there");
	}
	return 0;
}

static int converse(struct eng_destination *run, struct verr *err)
{
	static struct proto_identity ids;
	struct proto_msg msg = { .type = PROTO_IDENTITY, .device = PROTO_NO_DEVICE };
	uint64_t features = PROTO_FEAT_PRECOPY | PROTO_FEAT_SYNC | PROTO_FEAT_REHEARSAL |
			    (run->key ? PROTO_FEAT_KEYED_RECORDS : 0) |
			    (run->opt.acceptor.accept ? PROTO_FEAT_CONNECTIONS : 0);
	uint64_t agreed;
	int ret;

	run->listening = run->opt.acceptor.accept != NULL;
	if (eng_peer_hello(&run->peer, PROTO_ROLE_DESTINATION, run->opt.n, features, &agreed,
			   err) < 0)
		return -EIO;
	if (!(agreed & PROTO_FEAT_CONNECTIONS))
		stop_listening(run);
	if (run->key && !(agreed & PROTO_FEAT_KEYED_RECORDS))
		return verr_set(err, VERR_PEER, 0, xport_conn_name(run->peer.conn),
				"give the source the same --psk-file; no device was touched",
				"this side has a key, and the source does not key its records");
	run->rehearsal = agreed & PROTO_FEAT_REHEARSAL;
	if (run->rehearsal)
		eng_debug("a rehearsal: no device will be loaded or run here");
	ret = open_devices(run, &ids, err);
	if (ret < 0)
		return ret;
	msg.u.identity = &ids;
	if (eng_peer_send(&run->peer, &msg, err) < 0 || eng_peer_recv(&run->peer, &msg, err) < 0)
		return -EIO;
	if (msg.type != PROTO_VERDICT)
		return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(run->peer.conn), NULL,
				"expected VERDICT, got %s", proto_type_name(msg.type));
	if (msg.u.verdict.kind == PROTO_VERDICT_REFUSE)
		return verr_set(err, VERR_PEER, 0, xport_conn_name(run->peer.conn),
				"the devices were not touched", "the source refused: %s",
				msg.u.verdict.reason.text);
	eng_emit_phase(ENG_PHASE_HANDSHAKE, NULL, msg.u.verdict.kind == PROTO_VERDICT_FORCED
						  ? "forced" : "accepted");
	if (prepare_devices(run, err) < 0)
		return -EIO;
	if (agreed & PROTO_FEAT_PRECOPY)
		show_progress(run, "pre-copy");
	if (transfer(run, err) < 0 || load(run, err) < 0)
		return -EIO;
	return run_devices(run, err);
}


int eng_destination_new(const struct eng_destination_options *opt,
			struct eng_destination **out, struct verr *err)
{
	struct eng_destination *run = calloc(1, sizeof(*run));

	*out = run;
	if (!run)
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "receive");
	run->opt = *opt;
	run->key = opt->record_key;
	return 0;
}

static void finish(struct eng_destination *run)
{
	eng_peer_finish(&run->peer, false, 0, NULL);    /* joins the keepalive thread */
	run->peer_ready = false;
	if (run->opt.stop && *run->opt.stop)
		eng_note("signal %d came after the source handed the state over; the "
			 "devices run here", (int)*run->opt.stop);
	run->stats.devices = run->n;
	run->stats.raw_bytes = __atomic_load_n(&run->raw, __ATOMIC_RELAXED);
	run->stats.wire_bytes = run->peer.received + run->lane_bytes;
	run->stats.connections = run->lanes_used ? run->lanes_used : 1;
	run->stats.precopy_rounds = run->precopy_rounds;
	run->stats.total_ms = vclock_seconds(&run->t0, &run->running) * 1000;
	run->stats.resume_ms = vclock_seconds(&run->switchover, &run->running) * 1000;
	run->stats.pings_sent = run->peer.pings;
	run->stats.pings_received = run->peer.pings_received;
}

static void reset_devices(struct eng_destination *run);

/* The source ended a rehearsal as planned (ABORT, REHEARSAL): the devices it
 * touched are reset, and that is a success. */
static int end_rehearsal(struct eng_destination *run, struct verr *err)
{
	struct eng_migration_stats *st = &run->stats;
	bool touched = false;

	for (unsigned i = 0; i < run->n; i++)
		touched = touched || run->dev[i].touched;
	verr_clear(err);
	eng_lanes_in_close(run->lanes);         /* no reader may outlive the peer */
	run->lanes = NULL;
	vpipe_decode_stop(run->pipe);   /* no writer thread may outlive the reset */
	run->pipe = NULL;
	st->rehearsal = touched ? ENG_REHEARSAL_INITIAL_DATA : ENG_REHEARSAL_IDENTITY;
	if (touched)
		snprintf(st->rehearsal_note, sizeof(st->rehearsal_note), "%llu bytes of initial "
			 "pre-copy data verified and written into the device%s, which %s reset",
			 (unsigned long long)run->raw, run->n == 1 ? "" : "s",
			 run->n == 1 ? "was" : "were");
	else
		snprintf(st->rehearsal_note, sizeof(st->rehearsal_note), "the identities paired; "
			 "the source stopped there (a device without PRE_COPY); no device was "
			 "touched");
	eng_emit_phase(ENG_PHASE_REHEARSAL, NULL, st->rehearsal_note);
	reset_devices(run);
	eng_peer_finish(&run->peer, false, 0, NULL);
	run->peer_ready = false;
	st->devices = run->n;
	st->raw_bytes = run->raw;
	st->wire_bytes = run->peer.received;
	st->total_ms = vclock_seconds(&run->t0, NULL) * 1000;
	return 0;
}

int eng_destination_run(struct eng_destination *run, struct xport_conn *conn,
			struct verr *err)
{
	int ret = eng_peer_init(&run->peer, PROTO_ROLE_DESTINATION, conn, run->opt.stop, err);

	if (ret == 0) {
		run->peer_ready = true;
		eng_debug("connected: %s", xport_conn_name(conn));
		clock_gettime(CLOCK_MONOTONIC, &run->t0);       /* a source is connected */
		ret = converse(run, err);
	}
	if (ret == 0) {
		finish(run);
		return 0;
	}
	if (run->rehearsal && eng_peer_aborted(&run->peer) &&
	    run->peer.abort_code == PROTO_REASON_REHEARSAL)
		return end_rehearsal(run, err);
	run->failed = true;
	run->failure = *err;
	return ret;
}

const struct eng_migration_stats *eng_destination_stats(const struct eng_destination *run)
{
	return &run->stats;
}

/* Reset first: the ABORT tells the source that nothing here runs its state. */
static void reset_devices(struct eng_destination *run)
{
	for (unsigned i = 0; i < run->n; i++)
		if (run->dev[i].touched) {
			eng_emit_phase(ENG_PHASE_ROLLBACK, NULL, run->failure.what);
			break;
		}
	for (unsigned i = 0; i < run->n; i++) {
		struct verr reset = { 0 };
		char msg[1200];

		if (!run->dev[i].touched)
			continue;
		if (vdev_reset(run->dev[i].dev, &reset) < 0) {
			verr_format(&reset, msg, sizeof(msg));
			eng_note("%s", msg);
		} else {
			eng_note("%s: reset; it is RUNNING", vdev_ident(run->dev[i].dev)->name);
		}
	}
}

void eng_destination_close(struct eng_destination *run)
{
	if (!run)
		return;
	eng_lanes_in_close(run->lanes);         /* no reader may outlive the peer */
	run->lanes = NULL;
	stop_listening(run);
	if (run->failed) {
		vpipe_decode_stop(run->pipe);
		run->pipe = NULL;
		reset_devices(run);
		if (run->peer_ready)
			eng_peer_finish(&run->peer, true, eng_peer_reason(&run->peer, &run->failure),
					run->failure.what[0] ? run->failure.what
						: "the destination failed (see its messages)");
	}
	vpipe_decode_stop(run->pipe);
	for (unsigned i = 0; i < run->n; i++) {
		vstream_reader_free(run->dev[i].reader);
		free(run->dev[i].start_msg);
		vdev_close(run->dev[i].dev);
	}
	free(run);
}
