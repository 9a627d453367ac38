/* SPDX-License-Identifier: GPL-2.0-or-later */
/* --events FD|FILE: one JSON object a line for every device state change, every
 * phase and the outcome of migrate, receive, save and restore (vfiomig(1), EVENTS). */
#ifndef VFIOMIG_CLI_EVENTS_H
#define VFIOMIG_CLI_EVENTS_H

#include <argp.h>

/* --events, an argp child for the commands that move state. */
extern const struct argp cli_events_argp;

/* After the options are parsed: opens the fd or file (nothing without --events),
 * writes the start event and routes the engine's events there; 0, or the exit
 * code of a failure it printed. */
int cli_events_open(const char *command);
/* The outcome event, the last line; closes the file. */
void cli_events_close(int exit_code);

#endif
