/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Migration state tables: names, the flags each state needs, the arcs a driver
 * implements, and the kernel's next-hop choice for combination transitions. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "migstate.h"

#define S(x) VMIG_##x

static const char *const state_names[VMIG_NR_STATES] = {
	[S(ERROR)] = "ERROR",
	[S(STOP)] = "STOP",
	[S(RUNNING)] = "RUNNING",
	[S(STOP_COPY)] = "STOP_COPY",
	[S(RESUMING)] = "RESUMING",
	[S(RUNNING_P2P)] = "RUNNING_P2P",
	[S(PRE_COPY)] = "PRE_COPY",
	[S(PRE_COPY_P2P)] = "PRE_COPY_P2P",
};

static const char *const flag_names[] = { "STOP_COPY", "P2P", "PRE_COPY" };

/* Flags a state needs before the kernel will enter it; ERROR needs them all and
 * more, which is how the kernel refuses ERROR as a target. */
static const uint32_t state_needs[VMIG_NR_STATES] = {
	[S(ERROR)] = ~0u,
	[S(STOP)] = VMIG_FLAG_STOP_COPY,
	[S(RUNNING)] = VMIG_FLAG_STOP_COPY,
	[S(STOP_COPY)] = VMIG_FLAG_STOP_COPY,
	[S(RESUMING)] = VMIG_FLAG_STOP_COPY,
	[S(RUNNING_P2P)] = VMIG_FLAG_STOP_COPY | VMIG_FLAG_P2P,
	[S(PRE_COPY)] = VMIG_FLAG_STOP_COPY | VMIG_FLAG_PRE_COPY,
	[S(PRE_COPY_P2P)] = VMIG_FLAG_STOP_COPY | VMIG_FLAG_P2P | VMIG_FLAG_PRE_COPY,
};

/*
 * next_hop[cur][target]: the neighbour of cur the kernel steps to when asked for
 * target, assuming every optional state exists; unsupported neighbours are then
 * skipped by asking again from them. One row per current state.
 */
static const uint8_t next_hop[VMIG_NR_STATES][VMIG_NR_STATES] = {
	/* from STOP: everything runs through RUNNING_P2P except the two data arcs */
	[S(STOP)] = {
		[S(ERROR)] = S(ERROR), [S(STOP)] = S(STOP),
		[S(RUNNING)] = S(RUNNING_P2P), [S(STOP_COPY)] = S(STOP_COPY),
		[S(RESUMING)] = S(RESUMING), [S(RUNNING_P2P)] = S(RUNNING_P2P),
		[S(PRE_COPY)] = S(RUNNING_P2P), [S(PRE_COPY_P2P)] = S(RUNNING_P2P),
	},
	/* from RUNNING: PRE_COPY directly, everything else by quiescing P2P first */
	[S(RUNNING)] = {
		[S(ERROR)] = S(ERROR), [S(STOP)] = S(RUNNING_P2P),
		[S(RUNNING)] = S(RUNNING), [S(STOP_COPY)] = S(RUNNING_P2P),
		[S(RESUMING)] = S(RUNNING_P2P), [S(RUNNING_P2P)] = S(RUNNING_P2P),
		[S(PRE_COPY)] = S(PRE_COPY), [S(PRE_COPY_P2P)] = S(RUNNING_P2P),
	},
	/* from STOP_COPY: only back to STOP; PRE_COPY* can never be re-entered */
	[S(STOP_COPY)] = {
		[S(ERROR)] = S(ERROR), [S(STOP)] = S(STOP),
		[S(RUNNING)] = S(STOP), [S(STOP_COPY)] = S(STOP_COPY),
		[S(RESUMING)] = S(STOP), [S(RUNNING_P2P)] = S(STOP),
		[S(PRE_COPY)] = S(ERROR), [S(PRE_COPY_P2P)] = S(ERROR),
	},
	/* from RESUMING: everything goes through STOP (which loads the state) */
	[S(RESUMING)] = {
		[S(ERROR)] = S(ERROR), [S(STOP)] = S(STOP),
		[S(RUNNING)] = S(STOP), [S(STOP_COPY)] = S(STOP),
		[S(RESUMING)] = S(RESUMING), [S(RUNNING_P2P)] = S(STOP),
		[S(PRE_COPY)] = S(STOP), [S(PRE_COPY_P2P)] = S(STOP),
	},
	/* from RUNNING_P2P: the hub between running and stopped states */
	[S(RUNNING_P2P)] = {
		[S(ERROR)] = S(ERROR), [S(STOP)] = S(STOP),
		[S(RUNNING)] = S(RUNNING), [S(STOP_COPY)] = S(STOP),
		[S(RESUMING)] = S(STOP), [S(RUNNING_P2P)] = S(RUNNING_P2P),
		[S(PRE_COPY)] = S(RUNNING), [S(PRE_COPY_P2P)] = S(PRE_COPY_P2P),
	},
	/* from PRE_COPY: ending pre-copy goes back through RUNNING */
	[S(PRE_COPY)] = {
		[S(ERROR)] = S(ERROR), [S(STOP)] = S(RUNNING),
		[S(RUNNING)] = S(RUNNING), [S(STOP_COPY)] = S(PRE_COPY_P2P),
		[S(RESUMING)] = S(RUNNING), [S(RUNNING_P2P)] = S(RUNNING),
		[S(PRE_COPY)] = S(PRE_COPY), [S(PRE_COPY_P2P)] = S(PRE_COPY_P2P),
	},
	/* from PRE_COPY_P2P: straight into STOP_COPY, or out through RUNNING_P2P */
	[S(PRE_COPY_P2P)] = {
		[S(ERROR)] = S(ERROR), [S(STOP)] = S(RUNNING_P2P),
		[S(RUNNING)] = S(RUNNING_P2P), [S(STOP_COPY)] = S(STOP_COPY),
		[S(RESUMING)] = S(RUNNING_P2P), [S(RUNNING_P2P)] = S(RUNNING_P2P),
		[S(PRE_COPY)] = S(PRE_COPY), [S(PRE_COPY_P2P)] = S(PRE_COPY_P2P),
	},
	/* from ERROR: nowhere; only VFIO_DEVICE_RESET leaves it */
	[S(ERROR)] = { 0 },
};

/* The arcs a driver implements for each flag set; the rest are combinations. Three
 * arcs exist only without P2P: with it, RUNNING_P2P or PRE_COPY_P2P sits between. */
static const struct { uint8_t from, to; uint32_t needs; bool without_p2p; } arcs[] = {
	{ S(RUNNING), S(STOP), VMIG_FLAG_STOP_COPY, true },
	{ S(STOP), S(RUNNING), VMIG_FLAG_STOP_COPY, true },
	{ S(STOP), S(STOP_COPY), VMIG_FLAG_STOP_COPY, false },
	{ S(STOP_COPY), S(STOP), VMIG_FLAG_STOP_COPY, false },
	{ S(STOP), S(RESUMING), VMIG_FLAG_STOP_COPY, false },
	{ S(RESUMING), S(STOP), VMIG_FLAG_STOP_COPY, false },
	{ S(RUNNING), S(RUNNING_P2P), VMIG_FLAG_P2P, false },
	{ S(RUNNING_P2P), S(RUNNING), VMIG_FLAG_P2P, false },
	{ S(RUNNING_P2P), S(STOP), VMIG_FLAG_P2P, false },
	{ S(STOP), S(RUNNING_P2P), VMIG_FLAG_P2P, false },
	{ S(RUNNING), S(PRE_COPY), VMIG_FLAG_PRE_COPY, false },
	{ S(PRE_COPY), S(RUNNING), VMIG_FLAG_PRE_COPY, false },
	{ S(PRE_COPY), S(STOP_COPY), VMIG_FLAG_PRE_COPY, true },
	{ S(PRE_COPY), S(PRE_COPY_P2P), VMIG_FLAG_PRE_COPY | VMIG_FLAG_P2P, false },
	{ S(PRE_COPY_P2P), S(PRE_COPY), VMIG_FLAG_PRE_COPY | VMIG_FLAG_P2P, false },
	{ S(PRE_COPY_P2P), S(RUNNING_P2P), VMIG_FLAG_PRE_COPY | VMIG_FLAG_P2P, false },
	{ S(PRE_COPY_P2P), S(STOP_COPY), VMIG_FLAG_PRE_COPY | VMIG_FLAG_P2P, false },
	{ S(RUNNING_P2P), S(PRE_COPY_P2P), VMIG_FLAG_PRE_COPY | VMIG_FLAG_P2P, false },
};

const char *vmig_state_name(int state)
{
	if (state < 0 || state >= VMIG_NR_STATES)
		return NULL;
	return state_names[state];
}

int vmig_state_parse(const char *text)
{
	char norm[32];
	size_t i, len = strlen(text);

	if (len == 0 || len >= sizeof(norm))
		return -1;
	for (i = 0; i <= len; i++)
		norm[i] = text[i] == '-' ? '_' : text[i];
	for (i = 0; i < VMIG_NR_STATES; i++)
		if (strcasecmp(norm, state_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *vmig_flag_name(unsigned bit_index)
{
	if (bit_index >= sizeof(flag_names) / sizeof(flag_names[0]))
		return NULL;
	return flag_names[bit_index];
}

int vmig_flags_format(uint64_t flags, char *buf, unsigned size, bool lower, const char *sep)
{
	unsigned bit, used = 0;
	int n;

	if (size)
		buf[0] = '\0';
	for (bit = 0; bit < 64; bit++) {
		const char *name;
		char unknown[24];

		if (!(flags & (1ull << bit)))
			continue;
		name = vmig_flag_name(bit);
		if (!name) {
			snprintf(unknown, sizeof(unknown), "0x%llx", 1ull << bit);
			name = unknown;
		}
		n = snprintf(buf + used, size > used ? size - used : 0, "%s%s",
			     used ? sep : "", name);
		if (n < 0 || used + (unsigned)n >= size)
			return -ENOSPC;
		if (lower)
			for (char *p = buf + used; *p; p++)
				*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
		used += (unsigned)n;
	}
	return (int)used;
}

bool vmig_flags_valid(uint64_t flags)
{
	return (flags & VMIG_FLAG_STOP_COPY) && !(flags & ~(uint64_t)VMIG_FLAGS_KNOWN);
}

bool vmig_state_supported(uint64_t flags, enum vmig_state state)
{
	if ((unsigned)state >= VMIG_NR_STATES)
		return false;
	return (state_needs[state] & flags) == state_needs[state];
}

bool vmig_arc_supported(uint64_t flags, enum vmig_state from, enum vmig_state to)
{
	size_t i;

	if (!vmig_state_supported(flags, from) || !vmig_state_supported(flags, to))
		return false;
	for (i = 0; i < sizeof(arcs) / sizeof(arcs[0]); i++)
		if (arcs[i].from == from && arcs[i].to == to)
			return (arcs[i].needs & flags) == arcs[i].needs &&
			       !(arcs[i].without_p2p && (flags & VMIG_FLAG_P2P));
	return false;
}

bool vmig_arc_gives_data_fd(enum vmig_state from, enum vmig_state to)
{
	return (from == S(RUNNING) && to == S(PRE_COPY)) ||
	       (from == S(RUNNING_P2P) && to == S(PRE_COPY_P2P)) ||
	       (from == S(STOP) && to == S(STOP_COPY)) ||
	       (from == S(STOP) && to == S(RESUMING));
}

bool vmig_is_saving(enum vmig_state state)
{
	return state == S(PRE_COPY) || state == S(PRE_COPY_P2P) || state == S(STOP_COPY);
}

int vmig_next_state(uint64_t flags, enum vmig_state cur, enum vmig_state target,
		    enum vmig_state *next)
{
	enum vmig_state hop;
	int skips = 0;

	if (!vmig_state_supported(flags, cur) || !vmig_state_supported(flags, target))
		return -EINVAL;
	hop = next_hop[cur][target];
	while (!vmig_state_supported(flags, hop) && skips++ < VMIG_NR_STATES)
		hop = next_hop[hop][target];
	if (hop == S(ERROR) || !vmig_state_supported(flags, hop))
		return -EINVAL;
	*next = hop;
	return 0;
}

int vmig_plan_path(uint64_t flags, enum vmig_state cur, enum vmig_state target,
		   struct vmig_path *path)
{
	path->len = 0;
	if (!vmig_state_supported(flags, cur) || !vmig_state_supported(flags, target))
		return -EINVAL;
	path->state[path->len++] = cur;
	while (cur != target) {
		enum vmig_state next;
		int ret = vmig_next_state(flags, cur, target, &next);

		if (ret < 0)
			return ret;
		if (path->len == VMIG_MAX_PATH)
			return -ELOOP;
		path->state[path->len++] = next;
		cur = next;
	}
	return 0;
}

int vmig_path_format(const struct vmig_path *path, char *buf, unsigned size)
{
	unsigned used = 0;
	int i, n;

	if (size)
		buf[0] = '\0';
	for (i = 0; i < path->len; i++) {
		n = snprintf(buf + used, size > used ? size - used : 0, "%s%s",
			     i ? " -> " : "", vmig_state_name(path->state[i]));
		if (n < 0 || used + (unsigned)n >= size)
			return -ENOSPC;
		used += (unsigned)n;
	}
	return (int)used;
}
