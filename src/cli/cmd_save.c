/* vfiomig save: capture a device's migration state into a stream on stdout or in
 * a file, pre-copy first when the device supports it. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_progress.h"
#include "cli_stream.h"
#include "pipeline/pipeline.h"

struct save_args {
	const char *device, *output, *key_file;
	bool no_precopy, resume, no_compress;
	int level;
	bool level_given;
	unsigned threads;
};

enum { OPT_NO_PRECOPY = 0x300, OPT_RESUME, OPT_NO_COMPRESS, OPT_KEY_FILE };

static const struct argp_option options[] = {
	{ "output", 'o', "FILE", 0, "Write the stream to FILE (atomically) instead of stdout", 0 },
	{ "no-precopy", OPT_NO_PRECOPY, NULL, 0, "Skip PRE_COPY even when the device has it", 0 },
	{ "resume", OPT_RESUME, NULL, 0, "Return the device to RUNNING after saving", 0 },
	{ "level", 'l', "N", 0, "zstd level (negative for fast levels; default 1)", 0 },
	{ "no-compress", OPT_NO_COMPRESS, NULL, 0, "Store records uncompressed", 0 },
	CLI_THREADS_OPTION,
	{ "key-file", OPT_KEY_FILE, "FILE", 0, "Authenticate the stream with HMAC-SHA256 "
	  "keyed by FILE's bytes (16 to 4096)", 0 },
	{ 0 }
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct save_args *args = state->input;
	long v;

	switch (key) {
	case 'o': args->output = arg; return 0;
	case OPT_NO_PRECOPY: args->no_precopy = true; return 0;
	case OPT_RESUME: args->resume = true; return 0;
	case OPT_NO_COMPRESS: args->no_compress = true; return 0;
	case OPT_KEY_FILE: args->key_file = arg; return 0;
	case 'l':
		if (cli_parse_int(arg, -131072, 22, &v) < 0)
			argp_error(state, "--level takes a zstd level from -131072 to 22, not '%s'", arg);
		args->level = (int)v;
		args->level_given = true;
		return 0;
	case 'T':
		args->threads = cli_parse_threads(arg, state);
		return 0;
	default:
		return cli_parse_device_operand(key, arg, state, &args->device);
	}
}

static const struct argp_child children[] = {
	{ &cli_progress_argp, 0, NULL, 0 },
	{ &cli_common_argp, 0, NULL, 0 },
	{ 0 }
};
static const struct argp save_argp = {
	options, parse_opt, "DEVICE",
	"Save DEVICE's migration state as a stream (stdout by default).\v"
	"The device goes RUNNING -> PRE_COPY (when supported) -> STOP_COPY -> STOP and stays "
	"stopped, since its state now lives in the stream; --resume returns it to RUNNING. "
	"On any failure the device goes back to the state it was in and no output file is "
	"left behind. Binary data is never written to a terminal.",
	children, NULL, NULL
};

struct save_run {
	struct vdev *dev;
	uint64_t flags;
	enum vmig_state start;
	struct vpipe_save *pipe;
	uint64_t precopy_bytes, stopcopy_bytes;
	struct cli_progress progress;
};

static void show_progress(struct save_run *run)
{
	struct vpipe_stats st;

	if (!run->progress.on)
		return;
	vpipe_save_progress(run->pipe, &st);
	cli_progress_update(&run->progress, run->precopy_bytes + run->stopcopy_bytes,
			    st.raw_bytes ? st.wire_bytes * (run->precopy_bytes + run->stopcopy_bytes) /
					   st.raw_bytes : 0);
}

/* Moves one phase's data from the device into the pipeline until the device says
 * it has nothing more (for now, in PRE_COPY; for good, in STOP_COPY). */
static int read_phase(struct save_run *run, uint16_t type, uint64_t *bytes, struct verr *err)
{
	bool drained = false;

	while (!drained) {
		size_t got;

		if (cli_signal)
			return verr_set(err, VERR_INTERRUPTED, 0, vdev_ident(run->dev)->name, NULL,
					"interrupted by signal %d", (int)cli_signal);
		if (vpipe_save_read(run->pipe, 0, run->dev, type, &got, &drained, err) < 0)
			return -EIO;
		*bytes += got;
		show_progress(run);
	}
	return 0;
}

static int run_phases(struct save_run *run, const struct save_args *args, struct verr *err)
{
	bool precopy = run->start == VMIG_RUNNING && (run->flags & VMIG_FLAG_PRE_COPY) &&
		       !args->no_precopy;

	if (precopy) {
		cli_debug("%s: pre-copy", vdev_ident(run->dev)->name);
		if (vdev_set_state(run->dev, VMIG_PRE_COPY, run->start, err) < 0 ||
		    read_phase(run, VSTREAM_REC_PRECOPY, &run->precopy_bytes, err) < 0)
			return -EIO;
	}
	cli_debug("%s: stop-copy", vdev_ident(run->dev)->name);
	if (vdev_set_state(run->dev, VMIG_STOP_COPY, run->start, err) < 0 ||
	    read_phase(run, VSTREAM_REC_STOPCOPY, &run->stopcopy_bytes, err) < 0)
		return -EIO;
	return vdev_set_state(run->dev, VMIG_STOP, run->start, err);
}

static int prepare(struct save_run *run, struct vstream_header *hdr, struct verr *err)
{
	const struct vdev_ident *id = vdev_ident(run->dev);
	uint64_t estimate = 0;
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
	vdev_stop_copy_size(run->dev, &estimate, &quiet);
	run->progress.total = estimate;
	if (vstream_header_init(hdr, err) < 0)
		return -EIO;
	eng_identity_from_device(id, run->flags, estimate, &hdr->id);
	return 0;
}

static int write_out(void *out, unsigned stream, enum vpipe_part part, const uint8_t *buf,
		     size_t len, struct verr *err)
{
	return xport_out_write(out, buf, len, err);
}

static void report(const char *name, const struct vpipe_stats *st, double seconds)
{
	double ratio = st->wire_bytes ? (double)st->raw_bytes / (double)st->wire_bytes : 0;

	cli_note("%s: saved %llu bytes of state in %llu records, %llu bytes written "
		 "(ratio %.2f) in %.3f s", name, (unsigned long long)st->raw_bytes,
		 (unsigned long long)st->records, (unsigned long long)st->wire_bytes, ratio, seconds);
}

int cmd_save(int argc, char **argv)
{
	struct save_args args = { .level = 1 };
	struct save_run run = { 0 };
	struct vstream_header hdr;
	struct cli_key key;
	struct xport_out *out = NULL;
	struct vpipe_stats stats = { 0 };
	struct verr err = { 0 };
	struct timespec t0;
	int ret;

	argp_parse(&save_argp, argc, argv, 0, NULL, &args);
	if (args.no_compress && args.level_given)
		return cli_usage_error("--no-compress and --level exclude each other");
	ret = cli_key_load(args.key_file, &key);
	if (ret)
		return ret;
	if (xport_out_open(args.output, false, &out, &err) < 0) {
		cli_key_wipe(&key);
		return cli_fail(&err);
	}
	ret = cli_open_device(args.device, &run.dev);
	if (ret) {
		xport_out_abort(out);
		cli_key_wipe(&key);
		return ret;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct vpipe_save_options opt = {
		.level = args.level, .compress = !args.no_compress, .threads = args.threads,
		.chunk = VPIPE_CHUNK_DEFAULT, .key = cli_key_get(&key), .stop = &cli_signal,
	};
	cli_progress_init(&run.progress, "save", 0);
	if (prepare(&run, &hdr, &err) < 0)
		goto fail;
	if (!opt.threads)
		opt.threads = vpipe_threads(run.progress.total, opt.chunk);
	if (vpipe_save_start(&hdr, 1, &opt, &(struct vpipe_sink){ write_out, out }, &run.pipe,
			     &err) < 0)
		goto fail;
	if (run_phases(&run, &args, &err) < 0)
		goto fail;
	cli_progress_done(&run.progress);
	ret = vpipe_save_finish(run.pipe, &stats, &err);
	run.pipe = NULL;
	if (ret < 0 || xport_out_commit(out, &err) < 0) {
		out = NULL;
		goto fail;
	}
	out = NULL;
	report(vdev_ident(run.dev)->name, &stats, cli_seconds(&t0, NULL));
	ret = EXIT_OK;
	if (args.resume && vdev_set_state(run.dev, VMIG_RUNNING, VMIG_ERROR, &err) < 0)
		ret = cli_fail(&err);
	goto out;
fail:
	cli_progress_done(&run.progress);
	vpipe_save_abort(run.pipe);
	xport_out_abort(out);
	ret = cli_fail(&err);
	/* The state is not saved anywhere: the device goes back to where it was. */
	if (run.start == VMIG_RUNNING || run.start == VMIG_STOP) {
		struct verr back = { 0 };
		enum vmig_state now;

		if (vdev_get_state(run.dev, &now, &back) == 0 && now != run.start &&
		    vdev_set_state(run.dev, run.start, VMIG_ERROR, &back) < 0)
			cli_fail(&back);
	}
out:
	vdev_close(run.dev);
	cli_key_wipe(&key);
	return ret;
}
