/* SPDX-License-Identifier: GPL-2.0-or-later */
/* save: a device's migration state into one stream, pre-copy first when the device
 * has it; a device whose stream could not be completed goes back to where it was. */
#include <errno.h>
#include <string.h>

#include "engine.h"

struct save_run {
	struct vdev *dev;
	const struct eng_save_options *opt;
	const struct eng_sink *sink;
	uint64_t flags, estimate;
	enum vmig_state start;          /* ERROR until known */
	struct vpipe_save *pipe;
	uint64_t bytes;                 /* read from the device so far, both phases */
};

static int prepare(struct save_run *run, struct vstream_header *hdr, struct verr *err)
{
	const struct vdev_ident *id = vdev_ident(run->dev);
	struct verr quiet = { 0 };

	if (vdev_migration_flags(run->dev, &run->flags, err) < 0 ||
	    vdev_get_state(run->dev, &run->start, err) < 0)
		return -EIO;
	if (run->start != VMIG_RUNNING && run->start != VMIG_STOP)
		return verr_set(err, VERR_FAILED, 0, id->name,
				run->start == VMIG_ERROR ? "run 'vfiomig state DEVICE --reset'"
							 : "run 'vfiomig state DEVICE running' first",
				"save needs the device RUNNING or STOP, not %s",
				vmig_state_name(run->start));
	vdev_stop_copy_size(run->dev, &run->estimate, &quiet);
	if (vstream_header_init(hdr, err) < 0)
		return -EIO;
	eng_identity_from_device(id, run->flags, run->estimate, &hdr->id);
	return 0;
}

/* Called by eng_read_chunk before eng_read_phase counts the chunk in run->bytes. */
static void show_progress(void *ctx, unsigned stream, size_t got)
{
	struct save_run *run = ctx;
	struct eng_progress p = { .raw = run->bytes + got, .total = run->estimate };
	struct vpipe_stats st;

	vpipe_save_progress(run->pipe, &st);
	if (st.raw_bytes)
		p.wire = st.wire_bytes * p.raw / st.raw_bytes;
	run->opt->progress(run->opt->ctx, &p);
}

static int run_phases(struct save_run *run, struct verr *err)
{
	const struct eng_reader reader = {
		run->pipe, run->opt->stop, run->opt->progress ? show_progress : NULL, run, NULL,
	};
	const char *name = vdev_ident(run->dev)->name;

	if (run->start == VMIG_RUNNING && (run->flags & VMIG_FLAG_PRE_COPY) && run->opt->precopy) {
		eng_debug("%s: pre-copy", name);
		eng_emit_phase(ENG_PHASE_PRECOPY, name, NULL);
		if (vdev_set_state(run->dev, VMIG_PRE_COPY, run->start, err) < 0 ||
		    eng_read_phase(&reader, 0, run->dev, VSTREAM_REC_PRECOPY, &run->bytes, err) < 0)
			return -EIO;
	}
	eng_debug("%s: stop-copy", name);
	eng_emit_phase(ENG_PHASE_STOPCOPY, name, NULL);
	if (vdev_set_state(run->dev, VMIG_STOP_COPY, run->start, err) < 0 ||
	    eng_read_phase(&reader, 0, run->dev, VSTREAM_REC_STOPCOPY, &run->bytes, err) < 0)
		return -EIO;
	return vdev_set_state(run->dev, VMIG_STOP, run->start, err);
}

static int write_sink(void *ctx, unsigned stream, enum vpipe_part part, const uint8_t *buf,
		      size_t len, struct verr *err)
{
	const struct eng_sink *sink = ((struct save_run *)ctx)->sink;

	return sink->write(sink->ctx, buf, len, err);
}

/* The whole stream, from the header to the sink's commit. */
static int save_stream(struct save_run *run, struct vpipe_stats *stats, struct verr *err)
{
	const struct eng_save_options *opt = run->opt;
	struct vpipe_save_options popt = {
		.level = opt->level, .compress = opt->compress, .threads = opt->threads,
		.chunk = VPIPE_CHUNK_DEFAULT, .key = opt->key, .stop = opt->stop,
	};
	struct vstream_header hdr;
	int ret;

	if (prepare(run, &hdr, err) < 0)
		return -EIO;
	if (!popt.threads)
		popt.threads = vpipe_threads(run->estimate, popt.chunk);
	if (vpipe_save_start(&hdr, 1, &popt, &(struct vpipe_sink){ write_sink, run }, &run->pipe,
			     err) < 0)
		return -EIO;
	if (run_phases(run, err) < 0)
		goto out_abort;
	ret = vpipe_save_finish(run->pipe, stats, err);
	run->pipe = NULL;               /* freed, whatever finish returned */
	if (ret < 0)
		return -EIO;
	if (run->sink->commit && run->sink->commit(run->sink->ctx, err) < 0)
		return -EIO;
	return 0;
out_abort:
	vpipe_save_abort(run->pipe);
	return -EIO;
}

/* The state is not saved anywhere: the device goes back to where it was. Failing to
 * read the state is not worth a word; failing to set it is, in err. */
static void go_back(const struct save_run *run, struct verr *err)
{
	struct verr quiet = { 0 };
	enum vmig_state now;

	if (run->start != VMIG_RUNNING && run->start != VMIG_STOP)
		return;
	if (vdev_get_state(run->dev, &now, &quiet) == 0 && now != run->start) {
		eng_emit_phase(ENG_PHASE_ROLLBACK, vdev_ident(run->dev)->name, NULL);
		vdev_set_state(run->dev, run->start, VMIG_ERROR, err);
	}
}

int eng_save(struct vdev *dev, const struct eng_save_options *opt, const struct eng_sink *sink,
	     struct eng_save_result *res, struct verr *err)
{
	struct save_run run = { .dev = dev, .opt = opt, .sink = sink, .start = VMIG_ERROR };

	memset(res, 0, sizeof(*res));
	if (save_stream(&run, &res->stats, err) < 0) {
		go_back(&run, &res->recovery);
		return -EIO;
	}
	res->committed = true;
	eng_emit_phase(ENG_PHASE_COMMIT, vdev_ident(dev)->name, NULL);
	if (opt->resume && vdev_set_state(dev, VMIG_RUNNING, VMIG_ERROR, err) < 0)
		return -EIO;
	return 0;
}
