/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Migration states, flags and arcs of the VFIO v2 migration uAPI, and the path the
 * kernel walks between two states: pure tables, no device access. */
#ifndef VFIOMIG_MIGSTATE_H
#define VFIOMIG_MIGSTATE_H

#include <stdbool.h>
#include <stdint.h>

enum vmig_state {
	VMIG_ERROR = 0,
	VMIG_STOP = 1,
	VMIG_RUNNING = 2,
	VMIG_STOP_COPY = 3,
	VMIG_RESUMING = 4,
	VMIG_RUNNING_P2P = 5,
	VMIG_PRE_COPY = 6,
	VMIG_PRE_COPY_P2P = 7,
	VMIG_NR_STATES = 8,
};

enum {
	VMIG_FLAG_STOP_COPY = 1u << 0,
	VMIG_FLAG_P2P = 1u << 1,
	VMIG_FLAG_PRE_COPY = 1u << 2,
	VMIG_FLAGS_KNOWN = 0x7,
};

/* Longest path the kernel can walk: RUNNING -> RUNNING_P2P -> STOP -> STOP_COPY etc. */
#define VMIG_MAX_PATH 8

struct vmig_path {
	int len;                            /* states in path[], the start included */
	enum vmig_state state[VMIG_MAX_PATH];
};

const char *vmig_state_name(int state);       /* "RUNNING"; "UNKNOWN(9)" never: NULL if out of range */
int vmig_state_parse(const char *text);        /* -1 if unknown; accepts any case and '-' for '_' */
const char *vmig_flag_name(unsigned bit_index);
int vmig_flags_format(uint64_t flags, char *buf, unsigned size, bool lower, const char *sep);

bool vmig_flags_valid(uint64_t flags);          /* STOP_COPY set, nothing unknown */
bool vmig_state_supported(uint64_t flags, enum vmig_state state);
bool vmig_arc_supported(uint64_t flags, enum vmig_state from, enum vmig_state to);
bool vmig_arc_gives_data_fd(enum vmig_state from, enum vmig_state to);
bool vmig_is_saving(enum vmig_state state);

/* The next state the kernel steps to on the way from cur to target, as
 * vfio_mig_get_next_state() decides; -EINVAL where the kernel refuses. */
int vmig_next_state(uint64_t flags, enum vmig_state cur, enum vmig_state target,
		    enum vmig_state *next);
/* The whole walk, start included. -EINVAL as above. */
int vmig_plan_path(uint64_t flags, enum vmig_state cur, enum vmig_state target,
		   struct vmig_path *path);
int vmig_path_format(const struct vmig_path *path, char *buf, unsigned size);

#endif
