/* vfiomig save: capture a device's migration state into a stream on stdout or in
 * a file, pre-copy first when the device supports it. */
#include <time.h>

#include "cli_events.h"
#include "cli_progress.h"
#include "cli_stream.h"
#include "engine/engine.h"
#include "transport/transport.h"

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
	{ &cli_events_argp, 0, NULL, 0 },
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

/* The output as an engine sink. The commit frees it whatever it returns, so nothing
 * is left to abort after it. */
static int out_write(void *ctx, const uint8_t *buf, size_t len, struct verr *err)
{
	return xport_out_write(*(struct xport_out **)ctx, buf, len, err);
}

static int out_commit(void *ctx, struct verr *err)
{
	struct xport_out **out = ctx, *committing = *out;

	*out = NULL;
	return xport_out_commit(committing, err);
}

static void report(const char *name, const struct vpipe_stats *st, double seconds)
{
	double ratio = st->wire_bytes ? (double)st->raw_bytes / (double)st->wire_bytes : 0;

	cli_note("%s: saved %llu bytes of state in %llu records, %llu bytes written "
		 "(ratio %.2f) in %.3f s", name, (unsigned long long)st->raw_bytes,
		 (unsigned long long)st->records, (unsigned long long)st->wire_bytes, ratio, seconds);
}

/* Saves the open device into *out and prints the outcome; the exit code. */
static int save(struct vdev *dev, const struct save_args *args, const struct cli_key *key,
		struct xport_out **out)
{
	struct cli_progress progress;
	struct eng_save_result res;
	struct verr err = { 0 };
	struct timespec t0;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	cli_progress_init(&progress, "save", 0);
	const struct eng_save_options opt = {
		.precopy = !args->no_precopy, .resume = args->resume,
		.compress = !args->no_compress, .level = args->level, .threads = args->threads,
		.key = cli_key_get(key),
		.stop = &cli_signal, .progress = progress.on ? cli_progress_show : NULL,
		.ctx = &progress,
	};
	ret = eng_save(dev, &opt, &(struct eng_sink){ out_write, out_commit, out }, &res, &err);
	cli_progress_done(&progress);
	xport_out_abort(*out);          /* a partial file (NULL once committed) */
	*out = NULL;
	if (res.committed)
		report(vdev_ident(dev)->name, &res.stats, cli_seconds(&t0, NULL));
	ret = ret < 0 ? cli_fail(&err) : EXIT_OK;
	if (res.recovery.set)
		cli_fail(&res.recovery);
	return ret;
}

int cmd_save(int argc, char **argv)
{
	struct save_args args = { .level = 1 };
	struct cli_key key;
	struct xport_out *out = NULL;
	struct vdev *dev;
	struct verr err = { 0 };
	int ret;

	argp_parse(&save_argp, argc, argv, 0, NULL, &args);
	if (args.no_compress && args.level_given)
		return cli_usage_error("--no-compress and --level exclude each other");
	ret = cli_events_open("save");
	if (ret)
		return ret;
	ret = cli_key_load(args.key_file, &key);
	if (ret)
		return ret;
	if (xport_out_open(args.output, false, &out, &err) < 0) {
		ret = cli_fail(&err);
		goto out_key;
	}
	ret = cli_open_device(args.device, &dev);
	if (ret == EXIT_OK) {
		ret = save(dev, &args, &key, &out);
		vdev_close(dev);
	}
	xport_out_abort(out);
out_key:
	cli_key_wipe(&key);
	return ret;
}
