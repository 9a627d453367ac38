/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The command-line front end: shared options, exit codes, error printing and
 * signal handling used by every cmd_*.c. */
#ifndef VFIOMIG_CLI_H
#define VFIOMIG_CLI_H

#include <argp.h>
#include <signal.h>
#include <stdbool.h>

#include "device/device.h"
#include "base/verr.h"
#include "base/stop.h"

/* Exit codes: stable, documented in vfiomig(1). */
enum cli_exit {
	EXIT_OK = 0,
	EXIT_FAILED = 1,
	EXIT_USAGE = 2,
	EXIT_UNAVAILABLE = 3,
	EXIT_UNSUPPORTED = 4,
	EXIT_DATA = 5,
	EXIT_PEER = 6,
	EXIT_INTERRUPTED = 7,
	EXIT_UNKNOWN = 8,               /* migrate: the destination may run the devices */
};

struct cli_options {
	int verbose;                    /* -v count; -1 with --quiet */
	enum vdev_open_via open_via;
	bool json;
};

extern struct cli_options cli;
extern const struct argp cli_common_argp;     /* -q -v --open-via, as an argp child */
extern vstop_t cli_signal;      /* the last INT/TERM/HUP received, or 0 */

void cli_install_signals(void);
/* The engine's notes and debug lines go where cli_note and cli_debug write. */
void cli_route_engine_log(void);
/* Prints "vfiomig: <error>" and returns the exit code for its class. */
int cli_fail(const struct verr *err);
/* The first error cli_fail printed (for --events' outcome), or NULL. */
const char *cli_first_error(void);
/* Prints "vfiomig: <fmt>" and returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));     /* unless -q */
void cli_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));    /* with -v */
/* Prints one line of a report on stdout (the newline added) with the bytes a terminal
 * could act on escaped, as text from sysfs, a driver or a stream may hold them. */
void cli_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
struct timespec;
/* Seconds from a to b (CLOCK_MONOTONIC readings); b NULL means now. */
double cli_seconds(const struct timespec *a, const struct timespec *b);

/* Keeps this process out of core dumps (also from ptrace by other processes of the
 * user; its /proc/PID files become root's): main() calls it before any command runs,
 * since keys and device state, which may hold a guest's data, live in its memory. */
void cli_protect_memory(void);
/* Identifies and opens a device by the user's name; prints and returns the exit code on failure. */
int cli_open_device(const char *name, struct vdev **dev);

/* eng_recover_abandoned, for cmd_receive.c until receive moves into the engine. */
int cli_recover_abandoned(struct vdev *dev, enum vmig_state *state, struct verr *err);
/* The single DEVICE operand of a command, for the end of its argp parser. */
error_t cli_parse_device_operand(int key, char *arg, struct argp_state *state,
				 const char **device);
/* Parses a decimal integer within [min, max]; -EINVAL otherwise. */
int cli_parse_int(const char *text, long min, long max, long *value);

int cmd_list(int argc, char **argv);
int cmd_save(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_receive(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_state(int argc, char **argv);
int cmd_check(int argc, char **argv);

#endif
