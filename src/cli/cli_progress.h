/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A one-line progress display on stderr: bytes, rate, ratio, and an ETA when the
 * total is known. On by default when stderr is a terminal (not with -q or --json);
 * --progress and --no-progress, an argp child, decide otherwise. */
#ifndef VFIOMIG_CLI_PROGRESS_H
#define VFIOMIG_CLI_PROGRESS_H

#include <argp.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct cli_progress {
	bool on, drawn;
	const char *label;              /* the caller's; may change between updates */
	uint64_t total;                 /* 0 when unknown */
	struct timespec start, last;
};

/* --progress and --no-progress, for the commands that move state. */
extern const struct argp cli_progress_argp;

void cli_progress_init(struct cli_progress *p, const char *label, uint64_t total);
/* Names the phase now under way (label: the caller's, kept until the next) and
 * shows it at once, whatever the rate limit. */
void cli_progress_phase(struct cli_progress *p, const char *label, uint64_t raw, uint64_t wire);
/* raw: state bytes so far; wire: stream bytes so far (0 if unknown). Rate-limited. */
void cli_progress_update(struct cli_progress *p, uint64_t raw, uint64_t wire);
void cli_progress_done(struct cli_progress *p);
/* An engine's progress callback (eng_progress_fn) for ctx, a struct cli_progress:
 * takes the engine's total, then updates. */
struct eng_progress;
void cli_progress_show(void *ctx, const struct eng_progress *p);

/* A progress line for a live migration's phases: "COMMAND PHASE". */
struct cli_phase_progress {
	struct cli_progress line;
	const char *command;            /* "migrate", "receive" */
	char phase[48];
};
/* The engine's phase callback (eng_phase_fn) for ctx, a struct cli_phase_progress:
 * phase names a new phase, NULL keeps the one shown. */
void cli_phase_progress_show(void *ctx, const char *phase, uint64_t raw, uint64_t wire);

#endif
