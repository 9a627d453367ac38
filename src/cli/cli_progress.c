/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Progress line for save, restore, migrate and receive. */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "cli_progress.h"
#include "engine/engine.h"

static int progress_wanted;             /* 1: --progress, -1: --no-progress, 0: auto */

enum { OPT_PROGRESS = 0x900, OPT_NO_PROGRESS };

static const struct argp_option progress_options[] = {
	{ "progress", OPT_PROGRESS, NULL, 0, "Show progress on stderr even when it is not a "
	  "terminal", 0 },
	{ "no-progress", OPT_NO_PROGRESS, NULL, 0, "Never show progress", 0 },
	{ 0 }
};

static error_t parse_progress(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case OPT_PROGRESS: progress_wanted = 1; return 0;
	case OPT_NO_PROGRESS: progress_wanted = -1; return 0;
	default: return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cli_progress_argp = {
	progress_options, parse_progress, NULL, NULL, NULL, NULL, NULL
};

void cli_progress_init(struct cli_progress *p, const char *label, uint64_t total)
{
	/* Automatic only where a person watches: not with -q, not for a program (--json). */
	p->on = progress_wanted > 0 ||
		(progress_wanted == 0 && cli.verbose >= 0 && !cli.json && isatty(STDERR_FILENO));
	p->drawn = false;
	p->label = label;
	p->total = total;
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	p->last = p->start;
}

static void human(double bytes, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

static void draw(struct cli_progress *p, uint64_t raw, uint64_t wire, const struct timespec *now)
{
	double elapsed = cli_seconds(&p->start, now);
	double rate = elapsed > 0 ? (double)raw / elapsed : 0;
	char done[32], speed[32], eta[32] = "";

	human((double)raw, done, sizeof(done));
	human(rate, speed, sizeof(speed));
	if (p->total && rate > 0 && raw < p->total) {
		unsigned s = (unsigned)((double)(p->total - raw) / rate);

		snprintf(eta, sizeof(eta), "  ETA %u:%02u", s / 60, s % 60);
	}
	fprintf(stderr, "\r%s: %s  %s/s", p->label, done, speed);
	if (wire)
		fprintf(stderr, "  ratio %.2f", (double)raw / (double)wire);
	fprintf(stderr, "%s\033[K", eta);
	p->drawn = true;
}

void cli_progress_update(struct cli_progress *p, uint64_t raw, uint64_t wire)
{
	struct timespec now;

	if (!p->on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (cli_seconds(&p->last, &now) < 0.2)
		return;
	p->last = now;
	draw(p, raw, wire, &now);
}

void cli_progress_phase(struct cli_progress *p, const char *label, uint64_t raw, uint64_t wire)
{
	struct timespec now;

	p->label = label;
	if (!p->on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	p->last = now;
	draw(p, raw, wire, &now);
}

void cli_progress_done(struct cli_progress *p)
{
	if (p->on && p->drawn)
		fputc('\n', stderr);
	p->drawn = false;
}

void cli_progress_show(void *ctx, const struct eng_progress *p)
{
	struct cli_progress *progress = ctx;

	progress->total = p->total;
	cli_progress_update(progress, p->raw, p->wire);
}

void cli_phase_progress_show(void *ctx, const char *phase, uint64_t raw, uint64_t wire)
{
	struct cli_phase_progress *p = ctx;

	if (!p->line.on)
		return;
	if (!phase) {
		cli_progress_update(&p->line, raw, wire);
		return;
	}
	snprintf(p->phase, sizeof(p->phase), "%s %s", p->command, phase);
	cli_progress_phase(&p->line, p->phase, raw, wire);
}
