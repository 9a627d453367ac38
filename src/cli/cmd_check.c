/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vfiomig check: a conformance suite for a VFIO migration driver: runs the checks
 * of check.h on a device and prints a verdict per check, as a table or JSON. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check/check.h"
#include "cli.h"
#include "base/json.h"

struct check_args {
	const char *device, *peer;
	bool destructive, list;
	bool selected[CK_NR_CHECKS];
	bool only_given;
	bool skipped[CK_NR_CHECKS];
	long repeat;
};

enum { OPT_JSON = 0x600, OPT_PEER, OPT_DESTRUCTIVE, OPT_LIST, OPT_ONLY, OPT_SKIP, OPT_REPEAT };

static const struct argp_option options[] = {
	{ "list", OPT_LIST, NULL, 0, "Name and describe the checks; touch no device", 0 },
	{ "only", OPT_ONLY, "NAMES", 0, "Run only these checks (comma-separated)", 0 },
	{ "skip", OPT_SKIP, "NAMES", 0, "Do not run these checks (comma-separated)", 0 },
	{ "destructive", OPT_DESTRUCTIVE, NULL, 0,
	  "Allow the checks that replace device state (roundtrip, recovery) on a device that "
	  "is not idle", 0 },
	{ "peer", OPT_PEER, "DEVICE", 0, "Restore the round trip into DEVICE (a compatible "
	  "device) instead of the device itself", 0 },
	{ "repeat", OPT_REPEAT, "N", 0, "Time each arc over N runs (1 to 100, default 3)", 0 },
	{ "json", OPT_JSON, NULL, 0, "Print a JSON object (see vfiomig-check(1))", 0 },
	{ 0 }
};

/* Marks each name of a comma-separated list in which[]; false on an unknown name. */
static bool parse_names(char *list, bool *which, const char **bad)
{
	char *save = NULL;

	for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		int id = check_find(name);

		if (id < 0) {
			*bad = name;
			return false;
		}
		which[id] = true;
	}
	return true;
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct check_args *args = state->input;
	const char *bad = NULL;

	switch (key) {
	case OPT_JSON: cli.json = true; return 0;
	case OPT_PEER: args->peer = arg; return 0;
	case OPT_DESTRUCTIVE: args->destructive = true; return 0;
	case OPT_LIST: args->list = true; return 0;
	case OPT_ONLY:
		args->only_given = true;
		if (!parse_names(arg, args->selected, &bad))
			argp_error(state, "unknown check '%s' (see 'vfiomig check --list')", bad);
		return 0;
	case OPT_SKIP:
		if (!parse_names(arg, args->skipped, &bad))
			argp_error(state, "unknown check '%s' (see 'vfiomig check --list')", bad);
		return 0;
	case OPT_REPEAT:
		if (cli_parse_int(arg, 1, CHECK_MAX_REPEAT, &args->repeat) < 0)
			argp_error(state, "--repeat takes 1 to %d, not '%s'", CHECK_MAX_REPEAT, arg);
		return 0;
	case ARGP_KEY_ARG:
		if (args->device)
			argp_error(state, "check takes one DEVICE (a second one goes after --peer)");
		args->device = arg;
		return 0;
	case ARGP_KEY_END:
		if (!args->device && !args->list)
			argp_error(state, "which DEVICE? (see 'vfiomig list')");
		if (args->list && (args->device || args->peer))
			argp_error(state, "--list takes no DEVICE");
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static const struct argp_child children[] = { { &cli_common_argp, 0, NULL, 0 }, { 0 } };
static const struct argp check_argp = {
	options, parse_opt, "DEVICE",
	"Check that DEVICE's migration driver does what the VFIO uAPI promises: each check "
	"says PASS, WARN, FAIL or SKIP with a reason.\v"
	"The device is RUNNING when check ends, whatever happened. roundtrip and recovery "
	"replace the device's state: they run on an idle device (a PCI device found in "
	"RUNNING: its state began with vfiomig's open) or with --destructive, and are skipped "
	"otherwise. Exit status: 0 nothing failed, 1 a check failed, 2 usage, 3 device "
	"unavailable, 4 not migratable, 7 interrupted (see vfiomig-check(1)).",
	children, NULL, NULL
};

static int print_list(void)
{
	struct json j;

	if (!cli.json) {
		for (int i = 0; i < CK_NR_CHECKS; i++)
			cli_line("%-16s %-12s %s", check_table[i].name,
				 check_table[i].destructive ? "destructive" : "",
				 check_table[i].description);
		return EXIT_OK;
	}
	json_init(&j, stdout);
	json_object_begin(&j, NULL);
	json_array_begin(&j, "checks");
	for (int i = 0; i < CK_NR_CHECKS; i++) {
		json_object_begin(&j, NULL);
		json_string(&j, "name", check_table[i].name);
		json_string(&j, "description", check_table[i].description);
		json_string(&j, "rule", check_table[i].rule);
		json_bool(&j, "destructive", check_table[i].destructive);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	json_finish(&j);
	return EXIT_OK;
}

/* What check found and did, for the report. */
static int report_not_migratable(const char *name, const struct verr *err)
{
	struct json j;

	if (!cli.json) {
		cli_line("%s: not migratable (%s)", name, err->hint[0] ? err->hint : err->what);
		return EXIT_UNSUPPORTED;
	}
	json_init(&j, stdout);
	json_object_begin(&j, NULL);
	json_string(&j, "device", name);
	json_bool(&j, "migratable", false);
	json_string(&j, "reason", err->hint[0] ? err->hint : err->what);
	json_array_begin(&j, "checks");
	json_array_end(&j);
	json_object_end(&j);
	json_finish(&j);
	return EXIT_UNSUPPORTED;
}

/* Opens DEVICE and reads its flags; the exit code when that ends the run. */
static int open_migratable(const char *name, struct vdev **dev, uint64_t *flags)
{
	struct verr err = { 0 };
	int ret = cli_open_device(name, dev);

	if (ret)
		return ret;
	if (vdev_migration_flags(*dev, flags, &err) == -ENOTTY) {
		ret = report_not_migratable(vdev_ident(*dev)->name, &err);
	} else if (err.set) {
		ret = cli_fail(&err);
	} else {
		return EXIT_OK;
	}
	vdev_close(*dev);
	*dev = NULL;
	return ret;
}

/* The device must start RUNNING; a note says when it did not. */
static int begin(struct vdev *dev, bool *was_running)
{
	struct verr err = { 0 };
	enum vmig_state found;

	if (check_begin(dev, &found, &err) < 0)
		return cli_fail(&err);
	*was_running = found == VMIG_RUNNING;
	if (!*was_running)
		cli_note("%s: found in %s; %s it to RUNNING first", vdev_ident(dev)->name,
			 vmig_state_name(found), found == VMIG_ERROR || found == VMIG_RESUMING ?
			 "resetting" : "returning");
	return EXIT_OK;
}

static void run_checks(struct check_run *run, const struct check_args *args)
{
	bool chosen[CK_NR_CHECKS];

	for (int i = 0; i < CK_NR_CHECKS; i++)
		chosen[i] = (!args->only_given || args->selected[i]) && !args->skipped[i];
	check_run_all(run, chosen);
	for (int i = 0; i < CK_NR_CHECKS; i++)
		cli_debug("check %s: %s: %s", check_table[i].name,
			  check_verdict_name(run->results[i].verdict), run->results[i].reason);
}

/* RUNNING at the end, whatever happened; says so when it cannot be. */
static bool finish(struct vdev *dev, enum vmig_state *final)
{
	struct verr err = { 0 };
	bool ok = check_finish(dev, final, &err);

	if (err.set)
		cli_fail(&err);
	return ok;
}

static void print_table(const struct check_run *run, const char *name)
{
	char flags[64], peer[160] = "";

	vmig_flags_format(run->ctx.raw_flags, flags, sizeof(flags), false, " ");
	cli_line("device %s: flags %s; %d run%s", name, flags, run->ctx.repeat,
		 run->ctx.repeat == 1 ? "" : "s");
	cli_line("%s", "");
	cli_line("%-16s %-6s %s", "CHECK", "RESULT", "REASON");
	for (int i = 0; i < CK_NR_CHECKS; i++)
		cli_line("%-16s %-6s %s", check_table[i].name,
			 check_verdict_name(run->results[i].verdict), run->results[i].reason);
	if (run->ctx.ntimings) {
		cli_line("%s", "");
		cli_line("%-28s %4s %12s %12s %12s", "ARC", "RUNS", "MIN", "MEDIAN", "MAX");
		for (int i = 0; i < run->ctx.ntimings; i++) {
			const struct check_timing *t = &run->ctx.timings[i];
			char arc[40];

			snprintf(arc, sizeof(arc), "%s -> %s", vmig_state_name(t->from),
				 vmig_state_name(t->to));
			cli_line("%-28s %4d %9.3f ms %9.3f ms %9.3f ms", arc, t->runs,
				 check_timing_min(t) / 1e6, check_timing_median(t) / 1e6,
				 check_timing_max(t) / 1e6);
		}
	}
	if (run->ctx.peer)
		snprintf(peer, sizeof(peer), ", %s is %s", vdev_ident(run->ctx.peer)->name,
			 vmig_state_name(run->peer_final_state));
	cli_line("%s", "");
	cli_line("%d checks: %d pass, %d warn, %d fail, %d skip; %s is %s%s", CK_NR_CHECKS,
		 run->counts[CHECK_PASS], run->counts[CHECK_WARN], run->counts[CHECK_FAIL],
		 run->counts[CHECK_SKIP], name, vmig_state_name(run->final_state), peer);
}

static void json_checks(struct json *j, const struct check_run *run)
{
	json_array_begin(j, "checks");
	for (int i = 0; i < CK_NR_CHECKS; i++) {
		json_object_begin(j, NULL);
		json_string(j, "name", check_table[i].name);
		json_string(j, "result", check_verdict_name(run->results[i].verdict));
		json_string(j, "reason", run->results[i].reason);
		json_string(j, "rule", check_table[i].rule);
		json_bool(j, "destructive", check_table[i].destructive);
		json_object_end(j);
	}
	json_array_end(j);
	json_array_begin(j, "timings");
	for (int i = 0; i < run->ctx.ntimings; i++) {
		const struct check_timing *t = &run->ctx.timings[i];

		json_object_begin(j, NULL);
		json_string(j, "from", vmig_state_name(t->from));
		json_string(j, "to", vmig_state_name(t->to));
		json_int(j, "runs", t->runs);
		json_uint(j, "min_ns", check_timing_min(t));
		json_uint(j, "median_ns", check_timing_median(t));
		json_uint(j, "max_ns", check_timing_max(t));
		json_object_end(j);
	}
	json_array_end(j);
}

static void print_json(const struct check_run *run, const char *name)
{
	static const char *const keys[CHECK_NR_VERDICTS] = { "pass", "warn", "fail", "skip" };
	struct json j;

	json_init(&j, stdout);
	json_object_begin(&j, NULL);
	json_string(&j, "device", name);
	json_string(&j, "peer", run->ctx.peer ? vdev_ident(run->ctx.peer)->name : NULL);
	json_bool(&j, "migratable", true);
	json_uint(&j, "flags", run->ctx.raw_flags);
	json_int(&j, "repeat", run->ctx.repeat);
	json_bool(&j, "idle", run->idle);
	json_bool(&j, "destructive", run->ctx.destructive_dev);
	json_checks(&j, run);
	json_object_begin(&j, "summary");
	for (int v = 0; v < CHECK_NR_VERDICTS; v++)
		json_int(&j, keys[v], run->counts[v]);
	json_object_end(&j);
	json_string(&j, "final_state", vmig_state_name(run->final_state));
	json_string(&j, "peer_final_state",
		    run->ctx.peer ? vmig_state_name(run->peer_final_state) : NULL);
	json_bool(&j, "interrupted", cli_signal != 0);
	json_object_end(&j);
	json_finish(&j);
}

/* Opens the devices, brings them to RUNNING, says what may be destroyed. */
static int prepare(struct check_run *run, const struct check_args *args)
{
	struct check_ctx *ctx = &run->ctx;
	bool was_running, peer_running = true;
	uint64_t peer_flags;
	int ret;

	ret = open_migratable(args->device, &ctx->dev, &ctx->raw_flags);
	if (ret)
		return ret;
	if (args->peer) {
		struct vdev_ident peer_id;
		struct verr err = { 0 };

		/* The same device twice would only fail as "already open". */
		if (vdev_identify(args->peer, &peer_id, &err) == 0 &&
		    strcmp(peer_id.name, vdev_ident(ctx->dev)->name) == 0)
			return cli_usage_error("--peer must name another device than %s",
					       peer_id.name);
		ret = open_migratable(args->peer, &ctx->peer, &peer_flags);
		if (ret)
			return ret;
	}
	ctx->flags = ctx->raw_flags & VMIG_FLAGS_KNOWN;
	ctx->repeat = (int)args->repeat;
	ctx->stop = &cli_signal;
	ret = begin(ctx->dev, &was_running);
	if (!ret && ctx->peer)
		ret = begin(ctx->peer, &peer_running);
	if (ret)
		return ret;
	run->idle = check_idle(ctx->dev, was_running, ctx->not_destructive_why,
			    sizeof(ctx->not_destructive_why));
	ctx->destructive_dev = args->destructive || run->idle;
	ctx->destructive_peer = args->destructive ||
		(ctx->peer && check_idle(ctx->peer, peer_running, ctx->not_destructive_why,
				      sizeof(ctx->not_destructive_why)));
	return EXIT_OK;
}

int cmd_check(int argc, char **argv)
{
	static struct check_run run;    /* large: the survey's records */
	struct check_args args = { .repeat = 3 };
	const char *name;
	int ret;

	argp_parse(&check_argp, argc, argv, 0, NULL, &args);
	if (args.list)
		return print_list();
	memset(&run, 0, sizeof(run));
	ret = prepare(&run, &args);
	if (ret)
		goto out;
	name = vdev_ident(run.ctx.dev)->name;
	run_checks(&run, &args);
	run.final_ok = finish(run.ctx.dev, &run.final_state);
	run.peer_final_ok = !run.ctx.peer || finish(run.ctx.peer, &run.peer_final_state);
	if (cli.json)
		print_json(&run, name);
	else
		print_table(&run, name);
	if (cli_signal)
		ret = EXIT_INTERRUPTED;
	else if (run.counts[CHECK_FAIL] || !run.final_ok || !run.peer_final_ok)
		ret = EXIT_FAILED;
out:
	vdev_close(run.ctx.peer);
	vdev_close(run.ctx.dev);
	return ret;
}
