/* A one-line progress display on stderr: bytes, rate, ratio, and an ETA when the
 * total is known. On by default when stderr is a terminal (not with -q). */
#ifndef VFIOMIG_CLI_PROGRESS_H
#define VFIOMIG_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct cli_progress {
	bool on, drawn;
	const char *label;
	uint64_t total;                 /* 0 when unknown */
	struct timespec start, last;
};

/* force: 1 = --progress, 0 = auto, -1 = --no-progress */
void cli_progress_init(struct cli_progress *p, int force, const char *label, uint64_t total);
/* raw: state bytes so far; wire: stream bytes so far (0 if unknown). Rate-limited. */
void cli_progress_update(struct cli_progress *p, uint64_t raw, uint64_t wire);
void cli_progress_done(struct cli_progress *p);

#endif
