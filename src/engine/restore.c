/* SPDX-License-Identifier: GPL-2.0-or-later */
/* restore: a saved stream into a device. The header is checked before the device is
 * opened, every record is verified before its bytes reach the device, the device is
 * finalized only after the trailer verified, and any failure resets it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

struct eng_restore {
	const struct eng_input *src;
	const struct eng_restore_options *opt;
	struct vstream_reader *reader;
	struct vstream_header header;
	unsigned threads;
	struct vdev *dev;
	bool resuming;                  /* the device may hold part of the state */
	uint64_t bytes, records, wire;
	uint8_t buf[1 << 16];
	size_t len, pos;
	bool eof;
};

/* Next event from the stream; VSTREAM_EV_NONE only at end of input. */
static int next_event(struct eng_restore *r, struct vstream_event *ev, struct verr *err)
{
	for (;;) {
		size_t used = 0;

		if (eng_stopped(r->opt->stop, r->src->name, err) < 0)
			return -EINTR;
		if (r->pos == r->len && !r->eof) {
			ssize_t n = r->src->read(r->src->ctx, r->buf, sizeof(r->buf), err);

			if (n < 0)
				return (int)n;
			r->len = (size_t)n;
			r->wire += (uint64_t)n;
			r->pos = 0;
			r->eof = n == 0;
		}
		if (r->pos == r->len) {
			ev->kind = VSTREAM_EV_NONE;
			return vstream_reader_end(r->reader, err);
		}
		if (vstream_reader_feed(r->reader, r->buf + r->pos, r->len - r->pos, &used, ev,
					err) < 0)
			return -EBADMSG;
		r->pos += used;
		if (ev->kind != VSTREAM_EV_NONE)
			return 0;
	}
}

int eng_restore_begin(const struct eng_input *src, const struct eng_restore_options *opt,
		      const struct vdev_ident *id, struct eng_restore **out, struct verr *err)
{
	struct eng_restore *r = calloc(1, sizeof(*r));
	struct vstream_event ev;

	*out = NULL;
	if (!r)
		return verr_set(err, VERR_FAILED, ENOMEM, src->name, NULL, "start a restore");
	r->src = src;
	r->opt = opt;
	if (vstream_reader_new(opt->key, src->name, &r->reader, err) < 0 ||
	    next_event(r, &ev, err) < 0)
		goto out_free;
	if (ev.kind != VSTREAM_EV_HEADER) {
		verr_set(err, VERR_DATA, EBADMSG, src->name, NULL, "the stream is empty");
		goto out_free;
	}
	r->header = *ev.header;
	if (eng_check_stream_identity(&r->header, id, opt->compat, opt->force, "restore",
				      err) < 0)
		goto out_free;
	eng_emit_phase(ENG_PHASE_HEADER, id->name, NULL);
	r->threads = opt->threads ? opt->threads
				  : vpipe_threads(r->header.id.stop_copy_estimate,
						  VPIPE_CHUNK_DEFAULT);
	*out = r;
	return 0;
out_free:
	eng_restore_free(r);
	return -EIO;
}

const struct vstream_header *eng_restore_header(const struct eng_restore *r)
{
	return &r->header;
}

void eng_restore_free(struct eng_restore *r)
{
	if (!r)
		return;
	vstream_reader_free(r->reader);
	free(r);
}

/* The decode pipeline's sink: a verified payload, in stream order. */
static int write_record(void *ctx, unsigned stream, const uint8_t *data, size_t len,
			struct verr *err)
{
	struct eng_restore *r = ctx;

	if (len && vdev_write_data(r->dev, data, len, err) < 0)
		return -EIO;
	r->bytes += len;
	r->records++;
	if (r->opt->progress)
		r->opt->progress(r->opt->ctx, &(struct eng_progress){
			r->bytes, r->wire, r->header.id.stop_copy_estimate });
	return 0;
}

/* Feeds what is left of the input to pipe until its end or a failure. */
static int feed_input(struct eng_restore *r, struct vpipe_decode *pipe, struct verr *err)
{
	int ret = vpipe_decode_feed(pipe, 0, r->buf + r->pos, r->len - r->pos, err);

	/* Through r->buf, not into the stream reader's buffer (vpipe_decode_space): on
	 * the machine measured, the kernel's copy into a record buffer a decoder just
	 * had on another CPU cost more than this copy into a small hot buffer and the
	 * reader's memcpy from it (restore from a pipe: 9% more CPU; docs/performance.md). */
	r->pos = r->len;
	while (ret == 0 && !r->eof) {
		ssize_t n;

		if (eng_stopped(r->opt->stop, r->src->name, err) < 0)
			return -EINTR;
		n = r->src->read(r->src->ctx, r->buf, sizeof(r->buf), err);
		if (n < 0)
			return (int)n;
		r->wire += (uint64_t)n;
		r->eof = n == 0;
		if (n)
			ret = vpipe_decode_feed(pipe, 0, r->buf, (size_t)n, err);
	}
	return ret;
}

/* Reads the rest of the stream into the decode pipeline, whose workers verify
 * records while this thread writes verified ones to the device; returns once the
 * stream ended complete and verified. */
static int load_records(struct eng_restore *r, struct verr *err)
{
	const struct vpipe_decode_sink sink = { write_record, r, r->opt->stop, false };
	struct vpipe_decode *pipe;
	int ret;

	if (vpipe_decode_start(&r->reader, 1, r->opt->key, r->threads, &sink, &pipe, err) < 0)
		return -EIO;
	eng_debug("%u decoding thread%s", r->threads, r->threads == 1 ? "" : "s");
	ret = feed_input(r, pipe, err);
	if (ret == 0)
		ret = vpipe_decode_end(pipe, 0, err);
	vpipe_decode_stop(pipe);
	return ret < 0 ? -EIO : 0;
}

static int resume_and_load(struct eng_restore *r, struct verr *err)
{
	vstop_t *stop = r->opt->stop;
	const char *name = vdev_ident(r->dev)->name;
	enum vmig_state start;
	uint64_t flags;

	if (vdev_migration_flags(r->dev, &flags, err) < 0 ||
	    eng_recover_abandoned(r->dev, &start, err) < 0)
		return -EIO;
	if (start != VMIG_RUNNING && start != VMIG_STOP)
		return verr_set(err, VERR_FAILED, 0, name,
				start == VMIG_ERROR ? "run 'vfiomig state DEVICE --reset'"
						    : "run 'vfiomig state DEVICE running' first",
				"restore needs the device RUNNING or STOP, not %s",
				vmig_state_name(start));
	r->resuming = true;
	if (vdev_set_state(r->dev, VMIG_RESUMING, start, err) < 0 || load_records(r, err) < 0)
		return -EIO;
	/* The driver loads the state on RESUMING -> STOP and may refuse it there. */
	if (vdev_set_state(r->dev, VMIG_STOP, VMIG_ERROR, err) < 0)
		return -EIO;
	eng_emit_phase(ENG_PHASE_LOADED, name, NULL);
	/* A load can take seconds; a signal during it aborts like one before: reset. */
	if (stop && *stop)
		return verr_set(err, VERR_INTERRUPTED, 0, name, NULL,
				"interrupted by signal %d while the driver loaded the state",
				(int)*stop);
	r->resuming = false;
	if (!r->opt->leave_stopped && vdev_set_state(r->dev, VMIG_RUNNING, VMIG_ERROR, err) < 0)
		return -EIO;
	return 0;
}

int eng_restore_into(struct eng_restore *r, struct vdev *dev, struct eng_restore_result *res,
		     struct verr *err)
{
	int ret;

	memset(res, 0, sizeof(*res));
	r->dev = dev;
	ret = resume_and_load(r, err);
	/* Abort means reset: a device is never left in RESUMING. */
	if (ret < 0 && r->resuming) {
		eng_emit_phase(ENG_PHASE_ROLLBACK, vdev_ident(dev)->name, err->what);
		res->reset = vdev_reset(dev, &res->recovery) == 0;
	}
	res->bytes = r->bytes;
	res->records = r->records;
	res->wire = r->wire;
	return ret < 0 ? -EIO : 0;
}
