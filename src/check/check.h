/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vfiomig check: the conformance checks of a VFIO migration driver against the
 * uAPI. Surveys drive the device and collect facts; each check judges some of them.
 * Above the device layer, below the CLI: nothing here prints or exits. */
#ifndef VFIOMIG_CHECK_H
#define VFIOMIG_CHECK_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device/device.h"
#include "base/stop.h"

enum check_verdict { CHECK_PASS, CHECK_WARN, CHECK_FAIL, CHECK_SKIP, CHECK_NR_VERDICTS };

/* The checks, in the order they run and print. */
enum check_id {
	CK_FLAGS, CK_ARCS, CK_PATHS, CK_REFUSED, CK_GET_AFTER_FAIL, CK_FD_ARCS,
	CK_PRECOPY_SAME_FD, CK_PRECOPY_INFO, CK_PRECOPY_END, CK_STOPCOPY_END,
	CK_FD_INVALIDATED, CK_SIZE_ESTIMATE, CK_ROUNDTRIP, CK_RECOVERY, CK_DATA_SIZE,
	CK_PRECOPY_INFO_V2, CK_DMA_LOG_START, CK_DMA_LOG_RANGES, CK_DMA_LOG_ONCE,
	CK_DMA_LOG_REPORT, CK_DMA_LOG_INACTIVE, CK_DMA_LOG_STOP, CK_NR_CHECKS,
};

struct check_result {
	enum check_verdict verdict;
	bool set;
	char reason[320];
};

struct check_ctx;

struct check_def {
	const char *name;
	const char *description;
	const char *rule;               /* the uAPI rule it enforces */
	bool destructive;               /* loses or replaces device state */
	void (*run)(struct check_ctx *ctx, struct check_result *res);
};

#define CHECK_MAX_REPEAT 100
#define CHECK_MAX_PAIRS 64
#define CHECK_MAX_TIMINGS 24

/* One SET from a state to another, as the FSM survey saw it. */
struct check_pair {
	enum vmig_state from, to, last_from;    /* last_from: the walk's final hop starts here */
	int path_len;                           /* states in the kernel's walk, both ends included */
	int ret;                                /* the SET's 0 or -errno (first failure kept) */
	enum vmig_state got;                    /* what GET said after it */
	int get_ret;
	bool new_fd;
	bool reached;                           /* the survey could put the device in from */
};

struct check_timing {
	enum vmig_state from, to;
	int runs;
	uint64_t ns[CHECK_MAX_REPEAT];
};

/* A ruled-out target and what the device said to it. */
struct check_refusal {
	enum vmig_state from;
	int target;                             /* may be past the last state */
	int ret;
	int get_ret;
	enum vmig_state got;
};

struct check_ctx {
	struct vdev *dev;
	struct vdev *peer;                      /* --peer, or NULL */
	uint64_t flags;                         /* known migration flag bits */
	uint64_t raw_flags;
	int repeat;
	bool destructive_dev, destructive_peer; /* allowed on each */
	char not_destructive_why[160];
	vstop_t *stop;            /* set by a signal: unwind */
	bool broken;                            /* the device could not be made usable */
	char broken_why[256];

	bool fsm_done;
	int npairs;
	struct check_pair pairs[CHECK_MAX_PAIRS];
	int ntimings;
	struct check_timing timings[CHECK_MAX_TIMINGS];

	bool refused_done;
	int nrefusals;
	struct check_refusal refusals[24];

	bool save_done;                         /* the saving survey set these */
	struct check_result save_results[CK_NR_CHECKS];

	bool resuming_size_asked;
	int resuming_size_ret;

	bool dma_log_stuck;                     /* a STOP failed: logging may still run */
};

extern const struct check_def check_table[CK_NR_CHECKS];

int check_find(const char *name);               /* enum check_id, or -1 */
const char *check_verdict_name(enum check_verdict verdict);
void check_set(struct check_result *res, enum check_verdict verdict, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Sets the result unless it already holds a verdict as bad or worse (FAIL > WARN > PASS). */
void check_worsen(struct check_result *res, enum check_verdict verdict, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool check_stopped(const struct check_ctx *ctx);

/* check.c: bringing a device somewhere, and back to RUNNING whatever happened. */
int check_goto(struct check_ctx *ctx, struct vdev *dev, enum vmig_state state, struct verr *err);
int check_make_running(struct vdev *dev, struct verr *err);
void check_add_timing(struct check_ctx *ctx, enum vmig_state from, enum vmig_state to,
		      uint64_t ns);
uint64_t check_now_ns(void);
const char *check_errno_name(int errnum);        /* "EINVAL", or a number */
/* The median of a timing's runs (sorted in a copy). */
uint64_t check_timing_median(const struct check_timing *timing);
uint64_t check_timing_min(const struct check_timing *timing);
uint64_t check_timing_max(const struct check_timing *timing);

/* check_fsm.c */
void check_flags(struct check_ctx *ctx, struct check_result *res);
void check_arcs(struct check_ctx *ctx, struct check_result *res);
void check_paths(struct check_ctx *ctx, struct check_result *res);
void check_refused(struct check_ctx *ctx, struct check_result *res);
void check_get_after_fail(struct check_ctx *ctx, struct check_result *res);
void check_fd_arcs(struct check_ctx *ctx, struct check_result *res);
void check_data_size(struct check_ctx *ctx, struct check_result *res);

/* check_data.c: the saving survey and its checks. */
void check_precopy_same_fd(struct check_ctx *ctx, struct check_result *res);
void check_precopy_info(struct check_ctx *ctx, struct check_result *res);
void check_precopy_end(struct check_ctx *ctx, struct check_result *res);
void check_stopcopy_end(struct check_ctx *ctx, struct check_result *res);
void check_fd_invalidated(struct check_ctx *ctx, struct check_result *res);
void check_size_estimate(struct check_ctx *ctx, struct check_result *res);

/* check_precopy_v2.c */
void check_precopy_info_v2(struct check_ctx *ctx, struct check_result *res);

/* check_dma_logging.c: each STOPs whatever it STARTed. */
void check_dma_log_start(struct check_ctx *ctx, struct check_result *res);
void check_dma_log_ranges(struct check_ctx *ctx, struct check_result *res);
void check_dma_log_once(struct check_ctx *ctx, struct check_result *res);
void check_dma_log_report(struct check_ctx *ctx, struct check_result *res);
void check_dma_log_inactive(struct check_ctx *ctx, struct check_result *res);
void check_dma_log_stop(struct check_ctx *ctx, struct check_result *res);

/* check_destructive.c */
void check_roundtrip(struct check_ctx *ctx, struct check_result *res);
void check_recovery(struct check_ctx *ctx, struct check_result *res);

/* check_run.c: one run over a device. */
struct check_run {
	struct check_ctx ctx;
	struct check_result results[CK_NR_CHECKS];
	enum vmig_state final_state, peer_final_state;
	bool final_ok, peer_final_ok, idle;
	int counts[CHECK_NR_VERDICTS];
};
/* The device must start RUNNING: *found is the state it was in (a device found
 * elsewhere was walked back, or reset from RESUMING or ERROR). */
int check_begin(struct vdev *dev, enum vmig_state *found, struct verr *err);
/* Whether non-destructive checks may still touch dev's state; why otherwise. */
bool check_idle(struct vdev *dev, bool was_running, char *why, size_t size);
/* Every chosen check gives its verdict; the others are skipped with a reason. */
void check_run_all(struct check_run *run, const bool chosen[CK_NR_CHECKS]);
/* RUNNING at the end, whatever happened: true when it is; err says why not. */
bool check_finish(struct vdev *dev, enum vmig_state *final, struct verr *err);

#endif
