/* vfiomig restore: load a saved stream into a device; every record is verified
 * before its bytes reach the device, and the device is finalized only after the
 * trailer verified. Any failure resets the device. */

#include "cli_events.h"
#include "cli_progress.h"
#include "cli_stream.h"
#include "engine/engine.h"
#include "transport/transport.h"

struct restore_args {
	const char *device, *input, *key_file;
	bool stop, force;
	enum eng_compat compat;
	unsigned threads;               /* 0: vpipe_threads() */
};

enum { OPT_STOP = 0x400, OPT_FORCE, OPT_KEY_FILE };

static const struct argp_option options[] = {
	{ "input", 'i', "FILE", 0, "Read the stream from FILE instead of stdin", 0 },
	{ "stop", OPT_STOP, NULL, 0, "Leave the device in STOP instead of RUNNING", 0 },
	{ "key-file", OPT_KEY_FILE, "FILE", 0, "Require a stream authenticated with this key", 0 },
	{ "force", OPT_FORCE, NULL, 0,
	  "Restore even when the stream's device identity does not match (dangerous)", 0 },
	CLI_COMPAT_OPTION,
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
	case CLI_OPT_COMPAT: args->compat = cli_parse_compat(arg, state); return 0;
	case OPT_KEY_FILE: args->key_file = arg; return 0;
	case 'T': args->threads = cli_parse_threads(arg, state); return 0;
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
static const struct argp restore_argp = {
	options, parse_opt, "DEVICE",
	"Restore a stream saved by 'vfiomig save' (stdin by default) into DEVICE.\v"
	"The stream's header is checked against the device before the device is touched; "
	"each record is verified before its bytes are written; the device goes RESUMING -> "
	"STOP -> RUNNING only after the trailer verified. On any failure the device is "
	"reset, so it is never left in RESUMING.",
	children, NULL, NULL
};

static ssize_t in_read(void *ctx, void *buf, size_t len, struct verr *err)
{
	return xport_in_read(ctx, buf, len, err);
}

/* Prints the failure, then what became of the device; the exit code. */
static int report_failure(const char *name, const struct eng_restore_result *res,
			  const struct verr *err)
{
	int ret = cli_fail(err);

	if (res->recovery.set)
		cli_fail(&res->recovery);
	else if (res->reset)
		cli_note("%s: the device was reset and is RUNNING", name);
	return ret;
}

int cmd_restore(int argc, char **argv)
{
	struct restore_args args = { .compat = ENG_COMPAT_DEFAULT };
	struct cli_progress progress = { 0 };
	struct eng_restore_options opt;
	struct xport_in *in = NULL;
	struct eng_input src;
	struct eng_restore *restore = NULL;
	struct eng_restore_result res = { 0 };
	struct vdev *dev = NULL;
	struct vdev_ident id;
	struct cli_key key;
	struct verr err = { 0 };
	int ret;

	argp_parse(&restore_argp, argc, argv, 0, NULL, &args);
	ret = cli_events_open("restore");
	if (ret)
		return ret;
	ret = cli_key_load(args.key_file, &key);
	if (ret)
		return ret;
	opt = (struct eng_restore_options){
		.key = cli_key_get(&key), .threads = args.threads, .force = args.force,
		.compat = args.compat, .leave_stopped = args.stop, .stop = &cli_signal, .ctx = &progress,
	};
	/* Everything about the stream's header is settled before the device is opened. */
	if (vdev_identify(args.device, &id, &err) < 0 ||
	    xport_in_open(args.input, &in, &err) < 0)
		goto fail;
	src = (struct eng_input){ in_read, in, xport_in_name(in) };
	cli_progress_init(&progress, "restore", 0);
	opt.progress = progress.on ? cli_progress_show : NULL;
	if (eng_restore_begin(&src, &opt, &id, &restore, &err) < 0 ||
	    vdev_open(&id, cli.open_via, &dev, &err) < 0 ||
	    eng_restore_into(restore, dev, &res, &err) < 0)
		goto fail;
	cli_progress_done(&progress);
	cli_note("%s: restored %llu bytes of state from %llu records%s", id.name,
		 (unsigned long long)res.bytes, (unsigned long long)res.records,
		 args.stop ? "; the device is in STOP" : "");
	ret = EXIT_OK;
	goto out;
fail:
	cli_progress_done(&progress);
	ret = report_failure(id.name, &res, &err);
out:
	vdev_close(dev);
	eng_restore_free(restore);
	xport_in_close(in);
	cli_key_wipe(&key);
	return ret;
}
