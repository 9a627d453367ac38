/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The source of a live migration (docs/protocol.md): its devices change state only
 * after the destination's identities were accepted and it checked every stream
 * header; they stay stopped once RUN went out, and run again on any failure before
 * that, or on the destination's ABORT after it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lanes.h"
#include "peer.h"
#include "base/clock.h"

struct eng_source_dev {
	struct vdev *dev;
	uint64_t flags;
	bool left_running;
	bool size_unknown;              /* MIG_DATA_SIZE failed: counted as UNKNOWN_SIZE */
	bool initial_done;              /* PRECOPY_INFO said initial_bytes 0 */
};

/* What a device that gives no stop-copy size counts as in the switchover rule: large,
 * so that pre-copy runs until --max-rounds rather than switching over at once (QEMU
 * assumes the same 100 GiB). */
#define UNKNOWN_SIZE (100ull << 30)

/* Device reads happen here; encoding and sending in the pipeline's threads. */
struct eng_source {
	struct eng_source_options opt;
	struct eng_source_dev dev[PROTO_MAX_DEVICES];
	struct vstream_header hdrs[PROTO_MAX_DEVICES];
	unsigned n;
	struct eng_peer peer;
	bool peer_ready, committed, precopy, sync, failed;
	bool handed_over;               /* RUN went out: past the point of no return */
	struct vpipe_save *pipe;
	struct eng_lanes_out *lanes;    /* DATA over several connections; NULL: one */
	unsigned lanes_used;            /* how many, once opened */
	uint64_t estimate;              /* the drivers' stop-copy sizes, added up */
	unsigned rounds;
	struct timespec t0, stop, commit;
	struct verr failure;            /* what ended a failed run, for the ABORT */
	struct eng_migration_stats stats;
};

/* Each device must be RUNNING and its compatibility string usable; its stream header
 * is made now, before any device changes state. */
static int check_device(struct eng_source *run, unsigned i, struct verr *err)
{
	struct eng_source_dev *d = &run->dev[i];
	enum vmig_state state;
	uint64_t estimate = 0;
	struct verr quiet = { 0 };

	if (eng_compat_usable(vdev_ident(d->dev), err) < 0 ||
	    vdev_migration_flags(d->dev, &d->flags, err) < 0 ||
	    vdev_get_state(d->dev, &state, err) < 0)
		return -EIO;
	if (state != VMIG_RUNNING)
		return verr_set(err, VERR_FAILED, 0, vdev_ident(d->dev)->name,
				"run 'vfiomig state DEVICE running' first",
				"migrate needs the device RUNNING, not %s", vmig_state_name(state));
	if (vdev_stop_copy_size(d->dev, &estimate, &quiet) < 0) {
		d->size_unknown = true;
		run->stats.unknown_sizes++;
		eng_debug("%s: the driver gives no stop-copy size (%s); counting it as 100 GiB, "
			  "so pre-copy runs until --max-rounds", vdev_ident(d->dev)->name,
			  quiet.errnum ? strerror(quiet.errnum) : quiet.what);
	}
	run->estimate += estimate;
	if (vstream_header_init(&run->hdrs[i], err) < 0)
		return -EIO;
	eng_identity_from_device(vdev_ident(d->dev), d->flags, estimate, &run->hdrs[i].id);
	if (!(d->flags & VMIG_FLAG_PRE_COPY))
		run->precopy = false;
	return 0;
}

/* Several devices stop one after another: without P2P a device still running could
 * DMA into one already stopped, so every device must have it (QEMU refuses the mix
 * too). --force makes it a note. Checked before any device changes state. */
static int check_p2p(struct eng_source *run, struct verr *err)
{
	char names[512] = "";
	size_t len = 0;

	if (run->n < 2)
		return 0;
	for (unsigned i = 0; i < run->n; i++)
		if (!(run->dev[i].flags & VMIG_FLAG_P2P) && len < sizeof(names))
			len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
						len ? ", " : "", vdev_ident(run->dev[i].dev)->name);
	if (!len)
		return 0;
	if (run->opt.force) {
		eng_note("warning: %s %s no P2P state: another device may DMA into it once it has "
			 "stopped; migrating anyway (--force)", names,
			 strchr(names, ',') ? "have" : "has");
		return 0;
	}
	return verr_set(err, VERR_UNSUPPORTED, 0, names, "migrate the devices one at a time, "
			"or use --force if they do no peer-to-peer DMA",
			"%u devices stop one after another, so each needs P2P (RUNNING_P2P), "
			"which %s: a device still running could DMA into one already stopped; "
			"nothing was changed", run->n,
			strchr(names, ',') ? "these lack" : "this one lacks");
}

int eng_source_open(const struct eng_source_options *opt, struct eng_source **out,
		    struct verr *err)
{
	struct eng_source *run = calloc(1, sizeof(*run));

	*out = run;
	if (!run)
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "migrate");
	run->opt = *opt;
	run->precopy = opt->precopy && opt->max_rounds > 0;
	clock_gettime(CLOCK_MONOTONIC, &run->t0);
	for (unsigned i = 0; i < opt->n && i < PROTO_MAX_DEVICES; i++) {
		if (eng_open_device(opt->devices[i], opt->open_via, &run->dev[i].dev, err) < 0)
			return -ENODEV;
		run->n = i + 1;
		if (check_device(run, i, err) < 0)
			return -EIO;
	}
	return check_p2p(run, err);
}

/* Compares the destination's identities with ours and says yes or no; with --force
 * every mismatch is a warning. */
static int verdict(struct eng_source *run, struct verr *err)
{
	struct proto_msg msg, v = { .type = PROTO_VERDICT, .device = PROTO_NO_DEVICE };
	char why[800] = "";
	const char *hint = NULL;
	unsigned bad = run->n;

	if (eng_peer_recv(&run->peer, &msg, err) < 0)
		return -EIO;
	for (unsigned i = 0; i < run->n; i++) {
		char this_why[sizeof(why)];
		const char *this_hint;

		if (!eng_pair_mismatch(run->dev[i].dev, run->dev[i].flags, &run->peer.ids.dev[i],
				       run->opt.compat, this_why, sizeof(this_why), &this_hint))
			continue;
		if (run->opt.force)
			eng_note("%s: warning: %s; migrating anyway (--force)",
				 vdev_ident(run->dev[i].dev)->name, this_why);
		if (bad == run->n) {
			bad = i;
			hint = this_hint;
			memcpy(why, this_why, sizeof(why));
		}
	}
	v.u.verdict.kind = bad == run->n ? PROTO_VERDICT_ACCEPT :
			   run->opt.force ? PROTO_VERDICT_FORCED : PROTO_VERDICT_REFUSE;
	if (bad < run->n) {
		v.device = (uint16_t)bad;
		proto_reason_set(&v.u.verdict.reason, PROTO_REASON_INCOMPATIBLE, "device %u (%s): %s",
				 bad, vdev_ident(run->dev[bad].dev)->name, why);
	}
	if (eng_peer_send(&run->peer, &v, err) < 0)
		return -EIO;
	if (v.u.verdict.kind == PROTO_VERDICT_REFUSE)
		return verr_set(err, VERR_PEER, 0, vdev_ident(run->dev[bad].dev)->name, hint,
				"refusing the destination: %s; nothing was changed", why);
	eng_emit_phase(ENG_PHASE_HANDSHAKE, NULL,
		       v.u.verdict.kind == PROTO_VERDICT_FORCED ? "forced" : "accepted");
	return 0;
}

/* The destination checked every stream header and put its devices in RESUMING. */
static int await_ready(struct eng_source *run, struct verr *err)
{
	struct proto_msg msg;

	/* The handshake is over; the destination may take its time with its devices. */
	eng_peer_set_deadline(&run->peer, 0);

	if (eng_peer_recv(&run->peer, &msg, err) < 0)
		return -EIO;
	if (msg.type != PROTO_READY)
		return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(run->peer.conn), NULL,
				"expected READY, got %s", proto_type_name(msg.type));
	eng_emit_phase(ENG_PHASE_READY, NULL, NULL);
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
	struct eng_source *run = ctx;
	struct proto_msg msg = { .type = PROTO_SWITCHOVER, .device = PROTO_NO_DEVICE };

	if (part == VPIPE_RECORD && run->lanes)
		return eng_lanes_out_data(run->lanes, (uint16_t)device, buf, len, err);
	if (part != VPIPE_MARK)
		return eng_peer_send_payload(&run->peer, types[part], (uint16_t)device, buf, len, err);
	msg.u.precopy_rounds = run->precopy ? run->rounds : 0;
	return eng_peer_send(&run->peer, &msg, err);
}

/* Sends every device's stream header and starts the encoders and the sender. */
static int start_pipeline(struct eng_source *run, struct verr *err)
{
	struct vpipe_save_options opt = {
		.level = 1, .compress = true, .chunk = VPIPE_CHUNK_DEFAULT, .key = run->opt.record_key,
		.stop = run->opt.stop,
		.threads = run->opt.threads ? run->opt.threads
					: vpipe_threads(run->estimate, VPIPE_CHUNK_DEFAULT),
	};

	eng_debug("%u encoding thread%s", opt.threads, opt.threads == 1 ? "" : "s");
	return vpipe_save_start(run->hdrs, run->n, &opt,
				&(struct vpipe_sink){ send_part, run }, &run->pipe, err);
}

/* What the pipeline sent so far, to the caller's progress display; phase NULL: the
 * same phase as before. */
static void show_progress(struct eng_source *run, const char *phase)
{
	struct vpipe_stats st;

	if (!run->opt.progress)
		return;
	vpipe_save_progress(run->pipe, &st);
	run->opt.progress(run->opt.progress_ctx, phase, st.raw_bytes, st.wire_bytes);
}

static void count_chunk(void *ctx, unsigned stream, size_t got)
{
	struct eng_source *run = ctx;

	run->stats.raw_bytes += got;
	show_progress(run, NULL);
}

/* Every device drained into the pipeline at once (engine/read.c); *bytes grows by
 * what they gave. */
static int read_devices(struct eng_source *run, uint16_t type, bool end, uint64_t *bytes,
			struct verr *err)
{
	const struct eng_reader reader = { run->pipe, run->opt.stop, count_chunk, run, NULL };
	struct eng_read_dev devs[PROTO_MAX_DEVICES];

	for (unsigned i = 0; i < run->n; i++)
		devs[i] = (struct eng_read_dev){ i, run->dev[i].dev, 0 };
	if (eng_read_devices(&reader, devs, run->n, type, end, err) < 0)
		return -EIO;
	for (unsigned i = 0; i < run->n; i++)
		*bytes += devs[i].bytes;
	return 0;
}

/* PRECOPY_INFO of device i. REINIT (PRECOPY_INFOv2) means new initial data: its wait
 * starts again, so pre-copy goes on until it is read too. */
static int precopy_info(struct eng_source *run, unsigned i, uint64_t *initial,
			uint64_t *dirty, struct verr *err)
{
	struct vdev_precopy_info info;

	if (vdev_precopy_info2(run->dev[i].dev, &info, err) < 0)
		return -EIO;
	if (info.reinit) {
		run->dev[i].initial_done = false;
		eng_debug("%s: new initial data (REINIT): waiting for it again",
			  vdev_ident(run->dev[i].dev)->name);
	}
	*initial = info.initial;
	*dirty = info.dirty;
	return 0;
}

/* Opts in to PRECOPY_INFOv2 where the driver offers it, so REINIT can be seen. A
 * driver that offers it and refuses the SET still migrates, without REINIT. */
static void precopy_v2_opt_in(struct eng_source *run)
{
	for (unsigned i = 0; i < run->n; i++) {
		struct verr why = { 0 };
		bool enabled = false;
		char msg[1200];

		if (vdev_precopy_v2_enable(run->dev[i].dev, &enabled, &why) < 0) {
			verr_format(&why, msg, sizeof(msg));
			eng_note("warning: %s; pre-copy goes on without REINIT", msg);
		} else if (enabled) {
			eng_debug("%s: opted in to PRECOPY_INFOv2 (REINIT)",
				  vdev_ident(run->dev[i].dev)->name);
		}
	}
}

/* Bytes the devices still hold in pre-copy, plus what stop-copy will add; *initial:
 * the part of it that is initial data (which must reach the destination first). */
static uint64_t remaining_bytes(struct eng_source *run, uint64_t *initial_left)
{
	uint64_t sum = 0;

	*initial_left = 0;
	for (unsigned i = 0; i < run->n; i++) {
		uint64_t initial = 0, dirty = 0, estimate = 0;
		struct verr quiet = { 0 };

		if (precopy_info(run, i, &initial, &dirty, &quiet) == 0) {
			sum += initial + dirty;
			*initial_left += initial;
			if (!initial && !run->dev[i].initial_done) {
				run->dev[i].initial_done = true;
				eng_debug("%s: initial data all read in pre-copy round %u",
					  vdev_ident(run->dev[i].dev)->name, run->rounds);
			}
		}
		verr_clear(&quiet);
		if (run->dev[i].size_unknown ||
		    vdev_stop_copy_size(run->dev[i].dev, &estimate, &quiet) < 0)
			estimate = UNKNOWN_SIZE;
		sum += estimate;
	}
	return sum;
}

/* Whether pre-copy may end now. Initial data comes first whatever the downtime rule
 * or --max-rounds says: drivers put in it what the destination must load before the
 * source stops (mlx5), or what makes an incompatible destination refuse while the
 * source still runs (hisi_acc). A device that never finishes it fails the migration
 * after --timeout, the devices still running. */
static int may_switch(struct eng_source *run, bool rule_met, uint64_t initial_left,
		      uint64_t round_bytes, const struct timespec *start, struct verr *err)
{
	int limit = run->opt.initial_wait_ms > 0 ? run->opt.initial_wait_ms : 60000;

	if (!rule_met)
		return 0;
	if (!initial_left)
		return 1;
	if (vclock_seconds(start, NULL) * 1000 > limit)
		return verr_set(err, VERR_FAILED, ETIMEDOUT, NULL, "the driver's initial data "
				"never ends; migrate with --no-precopy, or fix the driver",
				"%llu bytes of initial pre-copy data still to come after %d ms",
				(unsigned long long)initial_left, limit);
	eng_debug("%llu bytes of initial data still to come: pre-copy goes on",
		  (unsigned long long)initial_left);
	if (!round_bytes) {
		struct timespec pause = { 0, 10 * 1000 * 1000 };

		nanosleep(&pause, NULL);        /* the driver has nothing for now */
	}
	return 0;
}

/* Rounds of pre-copy while the devices run, until the rest fits the downtime
 * target at the throughput measured so far (what the peer has been sent; what is
 * still in the pipeline counts as rest), or the round limit. */
static int precopy(struct eng_source *run, struct verr *err)
{
	struct timespec start, now;

	precopy_v2_opt_in(run);
	for (unsigned i = 0; i < run->n; i++) {
		run->dev[i].left_running = true;
		if (vdev_set_state(run->dev[i].dev, VMIG_PRE_COPY, VMIG_RUNNING, err) < 0)
			return -EIO;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (run->rounds = 1;; run->rounds++) {
		uint64_t round_bytes = 0, rest, initial_left;
		int ret;
		double rate, projected_ms;
		struct vpipe_stats sent;
		char phase[32];

		snprintf(phase, sizeof(phase), "pre-copy round %u", run->rounds);
		show_progress(run, phase);
		if (read_devices(run, VSTREAM_REC_PRECOPY, false, &round_bytes, err) < 0)
			return -EIO;
		run->stats.precopy_bytes += round_bytes;
		vpipe_save_progress(run->pipe, &sent);
		clock_gettime(CLOCK_MONOTONIC, &now);
		rate = sent.raw_bytes / (vclock_seconds(&start, &now) + 1e-6);
		rest = remaining_bytes(run, &initial_left) +
		       (run->stats.precopy_bytes - sent.raw_bytes);
		projected_ms = rest / (rate + 1) * 1000;
		eng_debug("pre-copy round %u: %llu bytes, %llu left, %.0f ms projected", run->rounds,
			  (unsigned long long)round_bytes, (unsigned long long)rest, projected_ms);
		eng_emit(&(struct eng_event){
			.kind = ENG_EVENT_PHASE, .phase = ENG_PHASE_PRECOPY_ROUND,
			.fields = ENG_EVENT_ROUND | ENG_EVENT_BYTES | ENG_EVENT_REMAINING |
				  ENG_EVENT_RATE | ENG_EVENT_PROJECTED,
			.round = run->rounds, .bytes = round_bytes, .remaining = rest, .rate = rate,
			.projected_ms = projected_ms });
		/* An empty round ends pre-copy, unless a size is unknown: then only the
		 * round limit does, as more rounds are all that can shrink the unknown. */
		ret = may_switch(run, run->opt.rehearse || projected_ms <= run->opt.max_downtime_ms ||
				 run->rounds >= run->opt.max_rounds ||
				 (round_bytes == 0 && !run->stats.unknown_sizes),
				 initial_left, round_bytes, &start, err);
		if (ret != 0)
			return ret < 0 ? -EIO : 0;
	}
}

/* The devices still running, waits until the destination has taken every pre-copy
 * record: what socket buffers and the peer still hold would otherwise be moved
 * during the downtime, which the pre-copy rounds did not count. */
static int drain(struct eng_source *run, struct verr *err)
{
	struct proto_msg msg = { .type = PROTO_SYNC, .device = PROTO_NO_DEVICE, .u.sync = 1 };
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (run->lanes && eng_lanes_out_records(run->lanes, run->n, err) < 0)
		return -EIO;
	if (eng_peer_send(&run->peer, &msg, err) < 0 || eng_peer_recv(&run->peer, &msg, err) < 0)
		return -EIO;
	if (msg.type != PROTO_SYNC || msg.u.sync != 1)
		return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(run->peer.conn), NULL,
				"expected the echo of SYNC 1, got %s", proto_type_name(msg.type));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	run->stats.drain_ms = vclock_seconds(&t0, &t1) * 1000;
	run->stats.initial_ack_ms = vclock_seconds(&run->t0, &t1) * 1000;
	eng_debug("the destination took the pre-copy data %.1f ms after it was sent",
		  run->stats.drain_ms);
	eng_emit(&(struct eng_event){ .kind = ENG_EVENT_PHASE, .phase = ENG_PHASE_SYNC,
				      .fields = ENG_EVENT_DURATION,
				      .duration_ms = run->stats.drain_ms });
	/* The echo comes once every record before it is verified and written into the
	 * destination's devices without error: every device's initial data included. */
	for (unsigned i = 0; i < run->n; i++)
		eng_debug("%s: initial data in the destination's device, acknowledged %.1f ms "
			  "after the start", vdev_ident(run->dev[i].dev)->name,
			  run->stats.initial_ack_ms);
	return 0;
}

/* Pre-copy data all sent and taken first; then quiesce every device (P2P first, for
 * peer-to-peer DMA), stop-copy all, and SWITCHOVER after the pre-copy data. */
static int switchover(struct eng_source *run, struct verr *err)
{
	if (vpipe_save_flush(run->pipe, err) < 0)
		return -EIO;
	if (run->precopy && run->sync && drain(run, err) < 0)
		return -EIO;
	clock_gettime(CLOCK_MONOTONIC, &run->stop);
	eng_emit_phase(ENG_PHASE_SWITCHOVER, NULL, NULL);
	for (unsigned i = 0; i < run->n; i++) {
		struct eng_source_dev *d = &run->dev[i];

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

/* Stop-copy data of all devices at once, one reader each, each device's trailer
 * after its last chunk. */
static int stopcopy(struct eng_source *run, struct verr *err)
{
	uint64_t bytes = 0;

	show_progress(run, "stop-copy");
	if (run->n > 1)
		eng_debug("stop-copy: reading %u devices at once, a thread each", run->n);
	else
		eng_debug("stop-copy: reading the device");
	return read_devices(run, VSTREAM_REC_STOPCOPY, true, &bytes, err);
}

/* Every trailer sent: the destination verifies them and loads its devices, which
 * stay stopped there until RUN. A failure up to here rolls back. */
static int await_loaded(struct eng_source *run, struct verr *err)
{
	struct proto_msg msg;

	if (eng_peer_recv(&run->peer, &msg, err) < 0)
		return -EIO;
	if (msg.type != PROTO_LOADED)
		return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(run->peer.conn), NULL,
				"expected LOADED, got %s", proto_type_name(msg.type));
	run->stats.loaded_us = msg.u.loaded_us;
	eng_emit(&(struct eng_event){ .kind = ENG_EVENT_PHASE, .phase = ENG_PHASE_LOADED,
				      .fields = ENG_EVENT_DURATION,
				      .duration_ms = msg.u.loaded_us / 1000.0 });
	if (eng_stopped(run->opt.stop, NULL, err) < 0)
		return -EINTR;
	return 0;
}

/*
 * The point of no return (docs/protocol.md §5): from the first byte of RUN on, the
 * destination may run the devices, so they run here again only when it says it
 * will not (ABORT). Signals are noted, not acted on, until COMMIT, ABORT or the
 * timeout; anything else leaves the outcome unknown.
 */
static int hand_over(struct eng_source *run, struct verr *err)
{
	struct proto_msg msg = { .type = PROTO_RUN, .device = PROTO_NO_DEVICE };
	int timeout_ms = xport_conn_idle(run->peer.conn);
	struct verr why = { 0 };

	xport_conn_set_stop(run->peer.conn, NULL);
	eng_peer_set_deadline(&run->peer, timeout_ms > 0 ? timeout_ms : 60000);
	run->handed_over = true;
	eng_emit_phase(ENG_PHASE_RUN, NULL, NULL);
	eng_debug("sending RUN: past the point of no return; signals wait for the answer");
	if (eng_peer_send(&run->peer, &msg, &why) == 0 &&
	    eng_peer_recv(&run->peer, &msg, &why) == 0) {
		if (msg.type == PROTO_COMMIT) {
			clock_gettime(CLOCK_MONOTONIC, &run->commit);
			run->stats.resume_us = msg.u.resume_us;
			run->committed = true;
			eng_emit(&(struct eng_event){
				.kind = ENG_EVENT_PHASE, .phase = ENG_PHASE_COMMIT,
				.fields = ENG_EVENT_DURATION | ENG_EVENT_DOWNTIME,
				.duration_ms = msg.u.resume_us / 1000.0,
				.downtime_ms = vclock_seconds(&run->stop, &run->commit) * 1000 });
			return 0;
		}
		verr_set(&why, VERR_PEER, EPROTO, xport_conn_name(run->peer.conn), NULL,
			 "expected COMMIT, got %s", proto_type_name(msg.type));
	}
	if (eng_peer_aborted(&run->peer)) {
		*err = why;
		verr_hint(err, "the destination reset its devices without running them");
		return -EIO;
	}
	return verr_set(err, VERR_UNKNOWN, why.errnum, xport_conn_name(run->peer.conn),
			"the destination may be running the devices; see below",
			"outcome unknown: RUN was sent, then %s", why.what);
}

/* Extra connections, before the first START (docs/protocol.md §8). */
static int open_lanes(struct eng_source *run, uint64_t agreed, struct verr *err)
{
	unsigned n = run->opt.connections;

	if (n < 2)
		return 0;
	if (!(agreed & PROTO_FEAT_CONNECTIONS)) {
		eng_note("warning: the destination takes one connection only (receive --stdio, "
			 "or an older vfiomig); migrating over one");
		return 0;
	}
	if (eng_lanes_out_open(&run->peer, n, &run->opt.connector, run->opt.stop, &run->lanes,
			       err) < 0)
		return -EIO;
	run->lanes_used = n;
	return 0;
}

/* The data phase is over once the destination loaded the state: the extra
 * connections close before RUN, so only the primary matters for the handover. */
static int close_lanes(struct eng_source *run, struct verr *err)
{
	int ret;

	if (!run->lanes)
		return 0;
	run->stats.wire_bytes += eng_lanes_out_bytes(run->lanes);
	ret = eng_lanes_out_close(run->lanes, true, err);
	run->lanes = NULL;
	return ret;
}

/* The first device without PRE_COPY, for a rehearsal that cannot try initial data. */
static const char *lacks_precopy(const struct eng_source *run)
{
	for (unsigned i = 0; i < run->n; i++)
		if (!(run->dev[i].flags & VMIG_FLAG_PRE_COPY))
			return vdev_ident(run->dev[i].dev)->name;
	return NULL;
}

static void roll_back(struct eng_source *run);

/* A rehearsal ends here with its devices never stopped: after the verdict when a
 * device has no PRE_COPY (no initial data to try), else once the destination said
 * (the echo of SYNC) that every device's initial data is in its devices. ABORT
 * (REHEARSAL) has it reset its devices and call that a success; ours run on. */
static int end_rehearsal(struct eng_source *run, struct verr *err)
{
	struct eng_migration_stats *st = &run->stats;
	const char *name = lacks_precopy(run);

	if (run->pipe) {
		if (vpipe_save_flush(run->pipe, err) < 0 || drain(run, err) < 0)
			return -EIO;
		vpipe_save_abort(run->pipe);    /* no trailer: nothing is loaded there */
		run->pipe = NULL;
		st->rehearsal = ENG_REHEARSAL_INITIAL_DATA;
		snprintf(st->rehearsal_note, sizeof(st->rehearsal_note), "the destination took "
			 "%llu bytes of initial pre-copy data into its device%s",
			 (unsigned long long)st->precopy_bytes, run->n == 1 ? "" : "s");
	} else {
		st->rehearsal = ENG_REHEARSAL_IDENTITY;
		snprintf(st->rehearsal_note, sizeof(st->rehearsal_note), "stopped at the identity "
			 "check: %s has no PRE_COPY, so there is no initial data to try",
			 name ? name : "a device");
	}
	eng_emit_phase(ENG_PHASE_REHEARSAL, NULL, st->rehearsal_note);
	eng_peer_finish(&run->peer, true, PROTO_REASON_REHEARSAL, st->rehearsal_note);
	run->peer_ready = false;
	eng_lanes_out_close(run->lanes, false, NULL);   /* after the ABORT that says why */
	run->lanes = NULL;
	roll_back(run);
	st->devices = run->n;
	st->wire_bytes = run->peer.sent;
	st->precopy_rounds = run->precopy ? run->rounds : 0;
	st->total_ms = vclock_seconds(&run->t0, NULL) * 1000;
	return 0;
}

static int converse(struct eng_source *run, struct verr *err)
{
	uint64_t want = (run->precopy ? PROTO_FEAT_PRECOPY | PROTO_FEAT_SYNC : 0) |
			(run->opt.record_key ? PROTO_FEAT_KEYED_RECORDS : 0) |
			(run->opt.rehearse ? PROTO_FEAT_REHEARSAL : 0) |
			(run->opt.connections > 1 ? PROTO_FEAT_CONNECTIONS : 0);
	struct vpipe_stats sent;
	uint64_t agreed;
	int ret;

	if (eng_peer_hello(&run->peer, PROTO_ROLE_SOURCE, run->n, want, &agreed, err) < 0)
		return -EIO;
	/* Pre-copy needs SYNC: its echo is the destination's word that the initial data
	 * is in its devices. Without it, everything moves in stop-copy. */
	run->precopy = run->precopy && (agreed & PROTO_FEAT_PRECOPY) && (agreed & PROTO_FEAT_SYNC);
	run->sync = agreed & PROTO_FEAT_SYNC;
	if (run->opt.record_key && !(agreed & PROTO_FEAT_KEYED_RECORDS))
		return verr_set(err, VERR_PEER, 0, xport_conn_name(run->peer.conn),
				"give the receiver the same --psk-file",
				"the destination does not key its records");
	if (run->opt.rehearse && !(agreed & PROTO_FEAT_REHEARSAL))
		return verr_set(err, VERR_PEER, 0, xport_conn_name(run->peer.conn),
				"update the destination's vfiomig; nothing was changed",
				"the destination does not know rehearsals");
	if (verdict(run, err) < 0)
		return -EIO;
	if (run->opt.rehearse && !run->precopy)
		return end_rehearsal(run, err);
	/* START goes before READY: the destination checks the headers before any of
	 * its devices changes state. */
	if (open_lanes(run, agreed, err) < 0 ||
	    start_pipeline(run, err) < 0 || await_ready(run, err) < 0)
		return -EIO;
	if (run->precopy && precopy(run, err) < 0)
		return -EIO;
	if (run->opt.rehearse)
		return end_rehearsal(run, err);
	if (switchover(run, err) < 0 || stopcopy(run, err) < 0)
		return -EIO;
	ret = vpipe_save_finish(run->pipe, &sent, err);    /* the peer has had everything */
	run->pipe = NULL;
	if (ret == 0 && run->opt.progress)
		run->opt.progress(run->opt.progress_ctx, NULL, sent.raw_bytes, sent.wire_bytes);
	if (ret < 0 || await_loaded(run, err) < 0 || close_lanes(run, err) < 0)
		return -EIO;
	return hand_over(run, err);
}


/* Before RUN, or after the destination's ABORT, the source owns the only good copy:
 * every device runs again. */
static void roll_back(struct eng_source *run)
{
	for (unsigned i = 0; i < run->n; i++)
		if (run->dev[i].left_running) {
			eng_emit_phase(ENG_PHASE_ROLLBACK, NULL, run->failure.what);
			break;
		}
	for (unsigned i = 0; i < run->n; i++) {
		struct verr back = { 0 };
		char msg[1200];

		if (!run->dev[i].left_running)
			continue;
		if (vdev_set_state(run->dev[i].dev, VMIG_RUNNING, VMIG_ERROR, &back) < 0) {
			verr_format(&back, msg, sizeof(msg));
			eng_note("%s", msg);
		} else {
			eng_note("%s: back in RUNNING", vdev_ident(run->dev[i].dev)->name);
		}
	}
}

/* After RUN without an answer: the destination may run the state, so it must not
 * run here too. The operator decides, and is told how. Several devices go together:
 * a destination that died while it ran them one by one may run some and not others,
 * and a source resumed beside its sibling's running destination splits the VM. */
static void leave_stopped(struct eng_source *run)
{
	char which[48] = "its device is not running";

	if (run->n > 1)
		snprintf(which, sizeof(which), "none of its %u devices is running", run->n);
	for (unsigned i = 0; i < run->n; i++) {
		const char *name = vdev_ident(run->dev[i].dev)->name;
		struct verr quiet = { 0 };
		char resume[96];
		struct eng_event ev = { .kind = ENG_EVENT_PHASE, .phase = ENG_PHASE_LEFT_STOPPED,
					.device = name, .text = run->failure.what,
					.recovery = resume };

		snprintf(resume, sizeof(resume), "vfiomig state %s running", name);
		eng_emit(&ev);
		vdev_set_state(run->dev[i].dev, VMIG_STOP, VMIG_ERROR, &quiet);
		eng_note("%s: left stopped. If the destination's 'vfiomig receive' did not exit 0 "
			 "and %s, resume this one with: %s", name, which, resume);
	}
}

/* Committed: the state lives on there; the devices here go to STOP. */
static int finish(struct eng_source *run, struct verr *err)
{
	eng_peer_finish(&run->peer, false, 0, NULL);
	run->peer_ready = false;
	if (run->opt.stop && *run->opt.stop)
		eng_note("signal %d came after the handover; the migration completed",
			 (int)*run->opt.stop);
	for (unsigned i = 0; i < run->n; i++)
		if (vdev_set_state(run->dev[i].dev, VMIG_STOP, VMIG_ERROR, err) < 0)
			return -EIO;
	run->stats.devices = run->n;
	run->stats.connections = run->lanes_used ? run->lanes_used : 1;
	run->stats.wire_bytes += run->peer.sent;
	run->stats.precopy_rounds = run->precopy ? run->rounds : 0;
	run->stats.total_ms = vclock_seconds(&run->t0, &run->commit) * 1000;
	run->stats.downtime_ms = vclock_seconds(&run->stop, &run->commit) * 1000;
	run->stats.pings_sent = run->peer.pings;
	run->stats.pings_received = run->peer.pings_received;
	return 0;
}

int eng_source_run(struct eng_source *run, struct xport_conn *conn, struct verr *err)
{
	int ret = eng_peer_init(&run->peer, PROTO_ROLE_SOURCE, conn, run->opt.stop, err);

	if (ret == 0) {
		run->peer_ready = true;
		ret = converse(run, err);
	}
	if (ret == 0)
		return run->stats.rehearsal ? 0 : finish(run, err);
	run->failed = true;
	run->failure = *err;
	return ret;
}

const struct eng_migration_stats *eng_source_stats(const struct eng_source *run)
{
	return &run->stats;
}

void eng_source_close(struct eng_source *run)
{
	if (!run)
		return;
	if (run->failed) {
		/* No thread of the pipeline may outlive the failure, nor write after ABORT. */
		vpipe_save_abort(run->pipe);
		run->pipe = NULL;
		eng_lanes_out_close(run->lanes, false, NULL);
		run->lanes = NULL;
		if (run->peer_ready)
			eng_peer_finish(&run->peer, true, eng_peer_reason(&run->peer, &run->failure),
					run->failure.what[0] ? run->failure.what
							     : "the source failed (see its messages)");
		if (!run->handed_over || eng_peer_aborted(&run->peer))
			roll_back(run);
		else if (!run->committed)
			leave_stopped(run);
	}
	for (unsigned i = 0; i < run->n; i++)
		vdev_close(run->dev[i].dev);
	free(run);
}
