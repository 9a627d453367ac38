/* vfiomig restore: load a saved stream into a device; every record is verified
 * before its bytes reach the device, and the device is finalized only after the
 * trailer verified. Any failure resets the device. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_progress.h"
#include "cli_stream.h"
#include "pipeline/pipeline.h"
#include "transport/transport.h"

struct restore_args {
	const char *device, *input, *key_file;
	bool stop, force;
	unsigned threads;               /* 0: vpipe_threads() */
};

enum { OPT_STOP = 0x400, OPT_FORCE, OPT_KEY_FILE };

static const struct argp_option options[] = {
	{ "input", 'i', "FILE", 0, "Read the stream from FILE instead of stdin", 0 },
	{ "stop", OPT_STOP, NULL, 0, "Leave the device in STOP instead of RUNNING", 0 },
	{ "key-file", OPT_KEY_FILE, "FILE", 0, "Require a stream authenticated with this key", 0 },
	{ "force", OPT_FORCE, NULL, 0,
	  "Restore even when the stream's device identity does not match (dangerous)", 0 },
	CLI_DECODE_THREADS_OPTION,
	{ 0 }
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct restore_args *args = state->input;

	switch (key) {
	case 'i': args->input = arg; return 0;
	case OPT_STOP: args->stop = true; return 0;
	case OPT_FORCE: args->force = true; return 0;
	case OPT_KEY_FILE: args->key_file = arg; return 0;
	case 'T': args->threads = cli_parse_threads(arg, state); return 0;
	default:
		return cli_parse_device_operand(key, arg, state, &args->device);
	}
}

static const struct argp_child children[] = {
	{ &cli_progress_argp, 0, NULL, 0 },
	{ &cli_common_argp, 0, NULL, 0 },
	{ 0 }
};
static const struct argp restore_argp = {
	options, parse_opt, "DEVICE",
	"Restore a stream saved by 'vfiomig save' (stdin by default) into DEVICE.\v"
	"The stream's header is checked against the device before the device is touched; "
	"each record is verified before its bytes are written; the device goes RESUMING -> "
	"STOP -> RUNNING only after the trailer verified. On any failure the device is "
	"reset, so it is never left in RESUMING.",
	children, NULL, NULL
};

struct restore_run {
	struct xport_in *in;
	struct vstream_reader *reader;
	const struct vstream_key *key;
	unsigned threads;
	uint8_t buf[1 << 16];
	size_t len, pos;
	bool eof;
	struct vdev *dev;
	bool resuming;
	uint64_t bytes, records, wire;
	struct cli_progress progress;
};

/* Next event from the stream; VSTREAM_EV_NONE only at end of input. */
static int next_event(struct restore_run *run, struct vstream_event *ev, struct verr *err)
{
	for (;;) {
		size_t used = 0;

		if (cli_signal)
			return verr_set(err, VERR_INTERRUPTED, 0, xport_in_name(run->in), NULL,
					"interrupted by signal %d", (int)cli_signal);
		if (run->pos == run->len && !run->eof) {
			ssize_t n = xport_in_read(run->in, run->buf, sizeof(run->buf), err);

			if (n < 0)
				return (int)n;
			run->len = (size_t)n;
			run->wire += (uint64_t)n;
			run->pos = 0;
			run->eof = n == 0;
		}
		if (run->pos == run->len) {
			ev->kind = VSTREAM_EV_NONE;
			return vstream_reader_end(run->reader, err);
		}
		if (vstream_reader_feed(run->reader, run->buf + run->pos, run->len - run->pos, &used,
					ev, err) < 0)
			return -EBADMSG;
		run->pos += used;
		if (ev->kind != VSTREAM_EV_NONE)
			return 0;
	}
}

/* The decode pipeline's sink: a verified payload, in stream order. */
static int write_record(void *ctx, unsigned stream, const uint8_t *data, size_t len,
			struct verr *err)
{
	struct restore_run *run = ctx;

	(void)stream;
	if (len && vdev_write_data(run->dev, data, len, err) < 0)
		return -EIO;
	run->bytes += len;
	run->records++;
	cli_progress_update(&run->progress, run->bytes, run->wire);
	return 0;
}

/* Reads the rest of the stream into the decode pipeline, whose workers verify
 * records while this thread writes verified ones to the device; returns once the
 * stream ended complete and verified. */
static int load_records(struct restore_run *run, struct verr *err)
{
	const struct vpipe_decode_sink sink = { write_record, run, &cli_signal };
	struct vpipe_decode *pipe;
	int ret;

	if (vpipe_decode_start(&run->reader, 1, run->key, run->threads, &sink, &pipe, err) < 0)
		return -EIO;
	cli_debug("%u decoding thread%s", run->threads, run->threads == 1 ? "" : "s");
	ret = vpipe_decode_feed(pipe, 0, run->buf + run->pos, run->len - run->pos, err);
	run->pos = run->len;
	while (ret == 0 && !run->eof) {
		ssize_t n;

		if (cli_signal) {
			ret = verr_set(err, VERR_INTERRUPTED, 0, xport_in_name(run->in), NULL,
				       "interrupted by signal %d", (int)cli_signal);
			break;
		}
		n = xport_in_read(run->in, run->buf, sizeof(run->buf), err);
		if (n < 0) {
			ret = (int)n;
			break;
		}
		run->wire += (uint64_t)n;
		run->eof = n == 0;
		if (n)
			ret = vpipe_decode_feed(pipe, 0, run->buf, (size_t)n, err);
	}
	if (ret == 0)
		ret = vpipe_decode_end(pipe, 0, err);
	vpipe_decode_stop(pipe);
	return ret < 0 ? -EIO : 0;
}

static int restore_into(struct restore_run *run, const struct restore_args *args,
			struct verr *err)
{
	enum vmig_state start;
	uint64_t flags;

	if (vdev_migration_flags(run->dev, &flags, err) < 0 ||
	    cli_recover_abandoned(run->dev, &start, err) < 0)
		return -EIO;
	if (start != VMIG_RUNNING && start != VMIG_STOP)
		return verr_set(err, VERR_FAILED, 0, vdev_ident(run->dev)->name,
				start == VMIG_ERROR ? "run 'vfiomig state DEVICE --reset'"
						    : "run 'vfiomig state DEVICE running' first",
				"restore needs the device RUNNING or STOP, not %s",
				vmig_state_name(start));
	run->resuming = true;
	if (vdev_set_state(run->dev, VMIG_RESUMING, start, err) < 0 || load_records(run, err) < 0)
		return -EIO;
	/* The driver loads the state on RESUMING -> STOP and may refuse it there. */
	if (vdev_set_state(run->dev, VMIG_STOP, VMIG_ERROR, err) < 0)
		return -EIO;
	/* A load can take seconds; a signal during it aborts like one before: reset. */
	if (cli_signal)
		return verr_set(err, VERR_INTERRUPTED, 0, vdev_ident(run->dev)->name, NULL,
				"interrupted by signal %d while the driver loaded the state",
				(int)cli_signal);
	run->resuming = false;
	if (!args->stop && vdev_set_state(run->dev, VMIG_RUNNING, VMIG_ERROR, err) < 0)
		return -EIO;
	return 0;
}

int cmd_restore(int argc, char **argv)
{
	struct restore_args args = { 0 };
	struct restore_run *run = calloc(1, sizeof(*run));
	struct vdev_ident id;
	struct vstream_event ev;
	struct cli_key key;
	struct verr err = { 0 };
	int ret;

	if (!run)
		return cli_usage_error("out of memory");
	argp_parse(&restore_argp, argc, argv, 0, NULL, &args);
	ret = cli_key_load(args.key_file, &key);
	if (ret)
		goto out_free;
	/* Everything about the stream's header is settled before the device is opened. */
	if (vdev_identify(args.device, &id, &err) < 0 ||
	    xport_in_open(args.input, &run->in, &err) < 0 ||
	    vstream_reader_new(cli_key_get(&key), xport_in_name(run->in), &run->reader, &err) < 0 ||
	    next_event(run, &ev, &err) < 0)
		goto fail;
	if (ev.kind != VSTREAM_EV_HEADER) {
		verr_set(&err, VERR_DATA, EBADMSG, xport_in_name(run->in), NULL,
			 "the stream is empty");
		goto fail;
	}
	cli_progress_init(&run->progress, "restore",
			  ev.header->id.stop_copy_estimate);
	run->key = cli_key_get(&key);
	run->threads = args.threads ? args.threads
				    : vpipe_threads(ev.header->id.stop_copy_estimate,
						    VPIPE_CHUNK_DEFAULT);
	if (eng_check_stream_identity(ev.header, &id, args.force, "restore", &err) < 0 ||
	    vdev_open(&id, cli.open_via, &run->dev, &err) < 0)
		goto fail;
	if (restore_into(run, &args, &err) < 0)
		goto fail;
	cli_progress_done(&run->progress);
	cli_note("%s: restored %llu bytes of state from %llu records%s", id.name,
		 (unsigned long long)run->bytes, (unsigned long long)run->records,
		 args.stop ? "; the device is in STOP" : "");
	ret = EXIT_OK;
	goto out;
fail:
	cli_progress_done(&run->progress);
	ret = cli_fail(&err);
	if (run->dev && run->resuming) {
		struct verr reset = { 0 };

		/* Abort means reset: a device is never left in RESUMING. */
		if (vdev_reset(run->dev, &reset) < 0)
			cli_fail(&reset);
		else
			cli_note("%s: the device was reset and is RUNNING", id.name);
	}
out:
	vdev_close(run->dev);
	vstream_reader_free(run->reader);
	xport_in_close(run->in);
	cli_key_wipe(&key);
out_free:
	free(run);
	return ret;
}
