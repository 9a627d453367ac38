/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Checks of the migration state machine: flags, arcs, combination paths, refused
 * targets, GET after a failed SET, which SETs return a data fd, MIG_DATA_SIZE. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "device/device_probe.h"

/* The states the survey walks between; RESUMING is the destructive checks' business. */
static const enum vmig_state walk_states[] = {
	VMIG_RUNNING, VMIG_RUNNING_P2P, VMIG_STOP, VMIG_STOP_COPY, VMIG_PRE_COPY,
	VMIG_PRE_COPY_P2P,
};
#define NR_WALK_STATES (sizeof(walk_states) / sizeof(walk_states[0]))

static const char *target_name(int target)
{
	static char text[16];

	if (vmig_state_name(target))
		return vmig_state_name(target);
	snprintf(text, sizeof(text), "state %d", target);
	return text;
}

void check_flags(struct check_ctx *ctx, struct check_result *res)
{
	char names[96];

	vmig_flags_format(ctx->raw_flags, names, sizeof(names), false, " ");
	if (!(ctx->raw_flags & VMIG_FLAG_STOP_COPY))
		check_set(res, CHECK_FAIL, "flags 0x%llx (%s) lack the mandatory STOP_COPY",
			  (unsigned long long)ctx->raw_flags, names[0] ? names : "none");
	else if (ctx->raw_flags & ~(uint64_t)VMIG_FLAGS_KNOWN)
		check_set(res, CHECK_WARN, "flags 0x%llx (%s) have bits no uAPI up to 6.12 "
			  "defines; checked as 0x%llx", (unsigned long long)ctx->raw_flags, names,
			  (unsigned long long)ctx->flags);
	else
		check_set(res, CHECK_PASS, "%s (0x%llx) is a legal combination", names,
			  (unsigned long long)ctx->raw_flags);
}

static struct check_pair *pair_slot(struct check_ctx *ctx, enum vmig_state from,
				    enum vmig_state to)
{
	for (int i = 0; i < ctx->npairs; i++)
		if (ctx->pairs[i].from == from && ctx->pairs[i].to == to)
			return &ctx->pairs[i];
	if (ctx->npairs == CHECK_MAX_PAIRS)
		return NULL;
	ctx->pairs[ctx->npairs] = (struct check_pair){ .from = from, .to = to, .reached = true };
	return &ctx->pairs[ctx->npairs++];
}

/* One SET from 'from' to 'to'; the first failure of a pair is the one kept. */
static void survey_pair(struct check_ctx *ctx, const struct vmig_path *path, bool first_run)
{
	enum vmig_state from = path->state[0], to = path->state[path->len - 1];
	struct check_pair *pair = pair_slot(ctx, from, to);
	struct vdev_probe_set set;
	struct verr err = { 0 };
	enum vmig_state got = VMIG_ERROR;
	uint64_t t0;
	int get_ret;

	if (!pair)
		return;
	if (check_goto(ctx, ctx->dev, from, &err) < 0) {
		pair->reached = false;
		check_make_running(ctx->dev, &err);
		return;
	}
	t0 = check_now_ns();
	vdev_probe_set_state(ctx->dev, to, &set);
	if (set.ret == 0 && path->len == 2)
		check_add_timing(ctx, from, to, check_now_ns() - t0);
	get_ret = vdev_get_state(ctx->dev, &got, &err);
	if (first_run || (pair->ret == 0 && pair->got == to)) {
		pair->path_len = path->len;
		pair->last_from = path->state[path->len - 2];
		pair->ret = set.ret;
		pair->new_fd = set.new_fd;
		pair->get_ret = get_ret;
		pair->got = got;
	}
	if (set.ret < 0 || get_ret < 0 || got != to) {
		verr_clear(&err);
		if (check_make_running(ctx->dev, &err) < 0) {
			ctx->broken = true;
			verr_format(&err, ctx->broken_why, sizeof(ctx->broken_why));
		}
	}
}

/* Every SET between the walk states, once; the direct arcs again for timings. */
static void fsm_survey(struct check_ctx *ctx)
{
	struct verr err = { 0 };

	if (ctx->fsm_done)
		return;
	ctx->fsm_done = true;
	for (int run = 0; run < ctx->repeat && !ctx->broken && !check_stopped(ctx); run++) {
		for (size_t i = 0; i < NR_WALK_STATES; i++) {
			for (size_t j = 0; j < NR_WALK_STATES; j++) {
				struct vmig_path path;

				if (i == j || check_stopped(ctx) || ctx->broken ||
				    vmig_plan_path(ctx->flags, walk_states[i], walk_states[j],
						   &path) < 0)
					continue;
				if (run > 0 && path.len != 2)
					continue;
				survey_pair(ctx, &path, run == 0);
			}
		}
	}
	if (!ctx->broken && check_make_running(ctx->dev, &err) < 0) {
		ctx->broken = true;
		verr_format(&err, ctx->broken_why, sizeof(ctx->broken_why));
	}
}

/* Judges the pairs whose walk is direct (an arc) or not (a combination). */
static void judge_pairs(struct check_ctx *ctx, struct check_result *res, bool direct)
{
	int count = 0;

	fsm_survey(ctx);
	for (int i = 0; i < ctx->npairs; i++) {
		const struct check_pair *p = &ctx->pairs[i];
		const char *from = vmig_state_name(p->from), *to = vmig_state_name(p->to);

		if ((p->path_len == 2) != direct)
			continue;
		count++;
		if (!p->reached) {
			check_set(res, CHECK_FAIL, "could not bring the device to %s to try %s -> %s",
				  from, from, to);
			return;
		}
		if (p->ret < 0) {
			check_set(res, CHECK_FAIL, "%s -> %s: SET failed with %s", from, to,
				  check_errno_name(p->ret));
			return;
		}
		if (p->get_ret < 0 || p->got != p->to) {
			check_set(res, CHECK_FAIL, "%s -> %s: SET succeeded but GET %s%s", from, to,
				  p->get_ret < 0 ? "failed: " : "says ",
				  p->get_ret < 0 ? check_errno_name(p->get_ret)
						 : vmig_state_name(p->got));
			return;
		}
	}
	if (check_stopped(ctx))
		check_set(res, CHECK_SKIP, "interrupted");
	else if (direct)
		check_set(res, CHECK_PASS, "%d arcs, each ended in its target (GET), %d run%s; "
			  "STOP<->RESUMING: see roundtrip", count, ctx->repeat,
			  ctx->repeat == 1 ? "" : "s");
	else
		check_set(res, CHECK_PASS, "%d combination walks, each ended in its target (GET)",
			  count);
}

void check_arcs(struct check_ctx *ctx, struct check_result *res)
{
	judge_pairs(ctx, res, true);
}

void check_paths(struct check_ctx *ctx, struct check_result *res)
{
	judge_pairs(ctx, res, false);
}

void check_fd_arcs(struct check_ctx *ctx, struct check_result *res)
{
	int count = 0;

	fsm_survey(ctx);
	for (int i = 0; i < ctx->npairs; i++) {
		const struct check_pair *p = &ctx->pairs[i];
		bool want = vmig_arc_gives_data_fd(p->last_from, p->to);

		if (!p->reached || p->ret < 0)
			continue;
		count++;
		if (p->new_fd && !want) {
			check_set(res, CHECK_FAIL, "%s -> %s returned a data fd; only RUNNING->PRE_COPY, "
				  "RUNNING_P2P->PRE_COPY_P2P, STOP->STOP_COPY, STOP->RESUMING may",
				  vmig_state_name(p->from), vmig_state_name(p->to));
			return;
		}
		if (!p->new_fd && want) {
			check_set(res, CHECK_FAIL, "%s -> %s (ending %s -> %s) returned no data fd",
				  vmig_state_name(p->from), vmig_state_name(p->to),
				  vmig_state_name(p->last_from), vmig_state_name(p->to));
			return;
		}
	}
	if (count == 0)
		check_set(res, CHECK_SKIP, "no SET succeeded to look at");
	else
		check_set(res, CHECK_PASS, "%d SETs: a new fd exactly where the last hop starts a "
			  "session; STOP->RESUMING: see roundtrip", count);
}

static void refuse_from(struct check_ctx *ctx, enum vmig_state from, int target)
{
	struct check_refusal *r = &ctx->refusals[ctx->nrefusals];
	struct vdev_probe_set set;
	struct verr err = { 0 };

	if (ctx->nrefusals == (int)(sizeof(ctx->refusals) / sizeof(ctx->refusals[0])) ||
	    check_goto(ctx, ctx->dev, from, &err) < 0)
		return;
	ctx->nrefusals++;
	r->from = from;
	r->target = target;
	vdev_probe_set_state(ctx->dev, target, &set);
	r->ret = set.ret;
	r->got = VMIG_ERROR;
	r->get_ret = vdev_get_state(ctx->dev, &r->got, &err);
	if (set.ret == 0 || r->get_ret < 0 || r->got != from) {
		verr_clear(&err);
		if (check_make_running(ctx->dev, &err) < 0) {
			ctx->broken = true;
			verr_format(&err, ctx->broken_why, sizeof(ctx->broken_why));
		}
	}
}

/* Targets the flags rule out (ERROR and a number past the last state always),
 * from RUNNING and from STOP: the kernel refuses these before any walk. */
static void refused_survey(struct check_ctx *ctx)
{
	static const enum vmig_state starts[] = { VMIG_RUNNING, VMIG_STOP };
	struct verr err = { 0 };

	if (ctx->refused_done)
		return;
	ctx->refused_done = true;
	for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++)
		for (int target = 0; target <= VMIG_NR_STATES; target++) {
			if (check_stopped(ctx) || ctx->broken)
				return;
			if (target < VMIG_NR_STATES && target != VMIG_ERROR &&
			    vmig_state_supported(ctx->flags, (enum vmig_state)target))
				continue;
			refuse_from(ctx, starts[s], target);
		}
	if (check_make_running(ctx->dev, &err) < 0) {
		ctx->broken = true;
		verr_format(&err, ctx->broken_why, sizeof(ctx->broken_why));
	}
}

void check_refused(struct check_ctx *ctx, struct check_result *res)
{
	char list[160] = "";
	size_t used = 0;

	refused_survey(ctx);
	for (int i = 0; i < ctx->nrefusals; i++) {
		const struct check_refusal *r = &ctx->refusals[i];

		if (r->ret == 0) {
			check_set(res, CHECK_FAIL, "%s -> %s was accepted; the flags rule it out",
				  vmig_state_name(r->from), target_name(r->target));
			return;
		}
		if (r->ret != -EINVAL) {
			check_set(res, CHECK_FAIL, "%s -> %s was refused with %s, not EINVAL",
				  vmig_state_name(r->from), target_name(r->target),
				  check_errno_name(r->ret));
			return;
		}
		if (r->from == VMIG_RUNNING && used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
						 used ? ", " : "", target_name(r->target));
	}
	if (!ctx->nrefusals)
		check_set(res, CHECK_SKIP, "%s", check_stopped(ctx) ? "interrupted"
			  : "the device could not be brought to RUNNING or STOP");
	else
		check_set(res, CHECK_PASS, "EINVAL for %s, from RUNNING and from STOP", list);
}

void check_get_after_fail(struct check_ctx *ctx, struct check_result *res)
{
	int tried = 0;

	refused_survey(ctx);
	for (int i = 0; i < ctx->nrefusals; i++) {
		const struct check_refusal *r = &ctx->refusals[i];

		if (r->ret == 0)
			continue;
		tried++;
		if (r->get_ret < 0) {
			check_set(res, CHECK_FAIL, "GET after the refused %s -> %s failed with %s",
				  vmig_state_name(r->from), target_name(r->target),
				  check_errno_name(r->get_ret));
			return;
		}
		if (r->got != r->from) {
			check_set(res, CHECK_FAIL, "after the refused %s -> %s, GET says %s; the "
				  "device cannot have left %s", vmig_state_name(r->from),
				  target_name(r->target), vmig_state_name(r->got),
				  vmig_state_name(r->from));
			return;
		}
	}
	if (!tried)
		check_set(res, CHECK_SKIP, "no SET failed to look at");
	else
		check_set(res, CHECK_PASS, "after %d refused SETs, GET gave the state the device "
			  "stayed in", tried);
}

void check_data_size(struct check_ctx *ctx, struct check_result *res)
{
	char states[160] = "";
	size_t used = 0;
	uint64_t bytes = 0;
	struct verr err = { 0 };
	int answered = 0;

	for (size_t i = 0; i < NR_WALK_STATES && !check_stopped(ctx); i++) {
		enum vmig_state s = walk_states[i];
		int ret;

		if (!vmig_state_supported(ctx->flags, s))
			continue;
		verr_clear(&err);
		if (check_goto(ctx, ctx->dev, s, &err) < 0)
			continue;
		ret = vdev_stop_copy_size(ctx->dev, &bytes, &err);
		if (ret == -ENOTTY && answered == 0) {
			check_set(res, CHECK_WARN, "MIG_DATA_SIZE is not implemented (a kernel before "
				  "6.2?)");
			check_make_running(ctx->dev, &err);
			return;
		}
		if (ret < 0) {
			check_set(res, CHECK_FAIL, "no answer in %s: %s", vmig_state_name(s),
				  check_errno_name(ret));
			check_make_running(ctx->dev, &err);
			return;
		}
		answered++;
		used += (size_t)snprintf(states + used, used < sizeof(states) ? sizeof(states) - used
						   : 0, "%s%s", used ? " " : "", vmig_state_name(s));
	}
	verr_clear(&err);
	check_make_running(ctx->dev, &err);
	if (check_stopped(ctx)) {
		check_set(res, CHECK_SKIP, "interrupted");
	} else if (ctx->resuming_size_asked && ctx->resuming_size_ret < 0) {
		check_set(res, CHECK_FAIL, "no answer in RESUMING: %s",
			  check_errno_name(ctx->resuming_size_ret));
	} else {
		check_set(res, CHECK_PASS, "answers in %s%s (%llu bytes)", states,
			  ctx->resuming_size_asked ? " RESUMING" : "; RESUMING only with the "
			  "roundtrip check", (unsigned long long)bytes);
	}
}
