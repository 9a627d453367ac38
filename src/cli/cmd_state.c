/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vfiomig state: print a device's migration state, or set it and show the path
 * the kernel walks; --hold keeps the device open in the new state. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "base/json.h"

#define STATE_MAX_RESET 32

struct state_args {
	const char *device, *state_name;
	const char *operands[STATE_MAX_RESET];
	unsigned noperands;
	bool dry_run, hold, reset;
};

enum { OPT_JSON = 0x200, OPT_DRY_RUN, OPT_HOLD, OPT_RESET };

static const struct argp_option options[] = {
	{ "dry-run", OPT_DRY_RUN, NULL, 0, "Print the path the kernel would walk; change nothing", 0 },
	{ "hold", OPT_HOLD, NULL, 0,
	  "Keep the device open in the new state until SIGINT, SIGTERM or SIGHUP, "
	  "then return it to RUNNING", 0 },
	{ "reset", OPT_RESET, NULL, 0, "Reset the device, or every DEVICE given (the only way out "
	  "of ERROR)", 0 },
	{ "json", OPT_JSON, NULL, 0, "Print a JSON object (see vfiomig-state(1))", 0 },
	{ 0 }
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct state_args *args = state->input;

	switch (key) {
	case OPT_JSON: cli.json = true; return 0;
	case OPT_DRY_RUN: args->dry_run = true; return 0;
	case OPT_HOLD: args->hold = true; return 0;
	case OPT_RESET: args->reset = true; return 0;
	case ARGP_KEY_ARG:
		if (args->noperands == STATE_MAX_RESET)
			argp_error(state, "at most %d devices at once", STATE_MAX_RESET);
		args->operands[args->noperands++] = arg;
		return 0;
	case ARGP_KEY_END:
		if (!args->noperands)
			argp_error(state, "which DEVICE? (see 'vfiomig list')");
		args->device = args->operands[0];
		if (args->reset && (args->dry_run || args->hold))
			argp_error(state, "--reset goes alone: no --dry-run or --hold");
		if (args->reset)
			return 0;
		if (args->noperands > 2)
			argp_error(state, "state takes DEVICE and at most one STATE (only --reset "
				   "takes several devices)");
		args->state_name = args->noperands == 2 ? args->operands[1] : NULL;
		if (args->dry_run && args->hold)
			argp_error(state, "--dry-run and --hold exclude each other");
		if ((args->dry_run || args->hold) && !args->state_name)
			argp_error(state, "--dry-run and --hold need a STATE");
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static const struct argp_child children[] = { { &cli_common_argp, 0, NULL, 0 }, { 0 } };
static const struct argp state_argp = {
	options, parse_opt, "DEVICE [STATE]\n--reset DEVICE...",
	"Print DEVICE's migration state, or move it to STATE and print the path the kernel "
	"walks.\vSTATE is one of running, stop, stop_copy, resuming, running_p2p, pre_copy, "
	"pre_copy_p2p (any case, '-' for '_'). A PCI device resets when its fd closes, so a "
	"state set without --hold lasts only while vfiomig runs; resuming needs --hold.",
	children, NULL, NULL
};

static void print_result(const char *device, enum vmig_state from, const struct vmig_path *path,
			 enum vmig_state now, bool changed)
{
	char text[256];

	if (!cli.json) {
		if (path)
			vmig_path_format(path, text, sizeof(text));
		cli_line("%s", path ? text : vmig_state_name(now));
		return;
	}
	struct json j;

	json_init(&j, stdout);
	json_object_begin(&j, NULL);
	json_string(&j, "device", device);
	json_string(&j, "from", vmig_state_name(from));
	json_string(&j, "to", path ? vmig_state_name(path->state[path->len - 1]) : NULL);
	if (path) {
		json_array_begin(&j, "path");
		for (int i = 0; i < path->len; i++)
			json_string(&j, NULL, vmig_state_name(path->state[i]));
		json_array_end(&j);
	} else {
		json_null(&j, "path");
	}
	json_string(&j, "state", vmig_state_name(now));
	json_bool(&j, "changed", changed);
	json_object_end(&j);
	json_finish(&j);
}

/* Waits for INT/TERM/HUP without a race between the check and the wait. */
static void wait_for_release(void)
{
	sigset_t block, old;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	while (!cli_signal)
		sigsuspend(&old);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static int hold_and_release(struct vdev *dev, enum vmig_state held)
{
	const char *name = vdev_ident(dev)->name;
	struct verr err = { 0 };
	int ret;

	cli_note("%s: holding in %s; send SIGINT, SIGTERM or SIGHUP to release", name,
		 vmig_state_name(held));
	fflush(stdout);
	wait_for_release();
	cli_debug("%s: released by signal %d", name, (int)cli_signal);
	/* Leaving RESUMING by STOP would load a partial state: abort means reset. */
	if (held == VMIG_RESUMING)
		ret = vdev_reset(dev, &err);
	else
		ret = vdev_set_state(dev, VMIG_RUNNING, VMIG_ERROR, &err);
	if (ret < 0)
		return cli_fail(&err);
	cli_note("%s: released, back in RUNNING", name);
	return EXIT_OK;
}

/* Resets dev; 0 with the states before and after, or the exit status after the message. */
static int reset_one(struct vdev *dev, enum vmig_state *before, enum vmig_state *now)
{
	struct verr err = { 0 };
	uint64_t flags;

	*before = VMIG_ERROR;
	if (vdev_migration_flags(dev, &flags, &err) < 0)
		return cli_fail(&err);
	vdev_get_state(dev, before, &err);
	verr_clear(&err);
	if (vdev_reset(dev, &err) < 0 || vdev_get_state(dev, now, &err) < 0)
		return cli_fail(&err);
	return EXIT_OK;
}

/* --reset: every device is tried. One device prints as a state change does; several print
 * "DEVICE STATE" lines, or a JSON array of the one-device objects. The exit status is the
 * first failure's. */
static int reset_all(const struct state_args *args)
{
	bool many = args->noperands > 1;
	int first = EXIT_OK;

	/* A misspelt name is a usage error before any device is touched. */
	for (unsigned i = 0; many && i < args->noperands; i++) {
		struct vdev_ident id;
		struct verr err = { 0 };

		if (vdev_identify(args->operands[i], &id, &err) < 0)
			return cli_fail(&err);
	}
	if (cli.json && many)
		printf("[");
	for (unsigned i = 0, printed = 0; i < args->noperands; i++) {
		enum vmig_state before, now;
		struct vdev *dev;
		int ret = cli_open_device(args->operands[i], &dev);

		if (!ret) {
			ret = reset_one(dev, &before, &now);
			if (!ret && cli.json && many && printed++)
				printf(",");
			if (!ret && !cli.json && many)
				cli_line("%s %s", vdev_ident(dev)->name, vmig_state_name(now));
			else if (!ret)
				print_result(vdev_ident(dev)->name, before, NULL, now, true);
			vdev_close(dev);
		}
		if (ret && !first)
			first = ret;
		fflush(stdout);
	}
	if (cli.json && many)
		printf("]\n");
	return first;
}

static int set_state(struct vdev *dev, const struct state_args *args, uint64_t flags,
		     enum vmig_state current, enum vmig_state target)
{
	const char *name = vdev_ident(dev)->name;
	struct vmig_path path;
	struct verr err = { 0 };
	char fl[64];

	if (!vmig_state_supported(flags, target)) {
		vmig_flags_format(flags, fl, sizeof(fl), false, " ");
		fprintf(stderr, "vfiomig: %s: set state %s: not supported by the device "
			"(its migration flags are %s)\n", name, vmig_state_name(target), fl);
		return EXIT_UNSUPPORTED;
	}
	if (current == VMIG_ERROR) {
		fprintf(stderr, "vfiomig: %s: set state %s: the device is in ERROR "
			"(run 'vfiomig state %s --reset')\n", name, vmig_state_name(target),
			args->device);
		return EXIT_FAILED;
	}
	if (vmig_plan_path(flags, current, target, &path) < 0) {
		fprintf(stderr, "vfiomig: %s: set state %s: the uAPI has no path from %s "
			"(reach it through %s first)\n", name, vmig_state_name(target),
			vmig_state_name(current), vmig_is_saving(current) ? "STOP" : "RUNNING");
		return EXIT_UNSUPPORTED;
	}
	if (args->dry_run || current == target) {
		print_result(name, current, &path, current, false);
		return EXIT_OK;
	}
	cli_debug("%s: setting %s -> %s", name, vmig_state_name(current), vmig_state_name(target));
	if (vdev_set_state(dev, target, current, &err) < 0)
		return cli_fail(&err);
	print_result(name, current, &path, target, true);
	if (args->hold)
		return hold_and_release(dev, target);
	if (vdev_ident(dev)->kind == VDEV_KIND_PCI)
		cli_note("%s: note: a PCI device resets when vfiomig closes it, so %s lasts only "
			 "while vfiomig runs (use --hold)", name, vmig_state_name(target));
	return EXIT_OK;
}

int cmd_state(int argc, char **argv)
{
	struct state_args args = { 0 };
	struct verr err = { 0 };
	enum vmig_state current;
	int target = -1, ret;
	uint64_t flags;
	struct vdev *dev;

	argp_parse(&state_argp, argc, argv, 0, NULL, &args);
	if (args.reset)
		return reset_all(&args);
	if (args.state_name) {
		target = vmig_state_parse(args.state_name);
		if (target < 0)
			return cli_usage_error("unknown state '%s': use running, stop, stop_copy, "
					       "resuming, running_p2p, pre_copy or pre_copy_p2p",
					       args.state_name);
		if (target == VMIG_ERROR)
			return cli_usage_error("ERROR cannot be set; --reset leaves it");
		if (target == VMIG_RESUMING && !args.hold && !args.dry_run)
			return cli_usage_error("resuming needs --hold: a device must not be left "
					       "in RESUMING");
	}
	ret = cli_open_device(args.device, &dev);
	if (ret)
		return ret;
	if (vdev_migration_flags(dev, &flags, &err) < 0) {
		ret = cli_fail(&err);
		goto out;
	}
	if (vdev_get_state(dev, &current, &err) < 0) {
		ret = cli_fail(&err);
		goto out;
	}
	if (target < 0) {
		print_result(vdev_ident(dev)->name, current, NULL, current, false);
		ret = EXIT_OK;
		goto out;
	}
	ret = set_state(dev, &args, flags, current, (enum vmig_state)target);
out:
	vdev_close(dev);
	return ret;
}
