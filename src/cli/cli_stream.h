/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the stream commands (save, restore, inspect, verify): key files
 * and the -T option. */
#ifndef VFIOMIG_CLI_STREAM_H
#define VFIOMIG_CLI_STREAM_H

#include "cli.h"
#include "engine/engine.h"
#include "stream/stream.h"

struct cli_key {
	bool present;
	struct vstream_key key;
	uint8_t bytes[VSTREAM_KEY_MAX + 1];
};

/* Reads a key file (NULL: no key); prints and returns an exit code on failure. */
int cli_key_load(const char *path, struct cli_key *key);
void cli_key_wipe(struct cli_key *key);
static inline const struct vstream_key *cli_key_get(const struct cli_key *key)
{
	return key->present ? &key->key : NULL;
}


/* -T/--threads for the commands that encode records (save, migrate) and those that
 * verify and decompress them (restore, receive): the option entries and their
 * parser (1 to VPIPE_THREADS_MAX; argp_error otherwise). */
#define CLI_THREADS_OPTION \
	{ "threads", 'T', "N", 0, "Encoding threads (default: usable CPUs, at most 8)", 0 }
#define CLI_DECODE_THREADS_OPTION \
	{ "threads", 'T', "N", 0, \
	  "Threads verifying and decompressing records (default: usable CPUs, at most 8)", 0 }
unsigned cli_parse_threads(const char *arg, struct argp_state *state);

/* --compat for the commands that check a device identity (restore, receive, migrate):
 * which differences in the driver build, PF firmware and kernel refuse the state. */
#define CLI_OPT_COMPAT 0x3c0
#define CLI_COMPAT_OPTION \
	{ "compat", CLI_OPT_COMPAT, "POLICY", 0, "Which driver build, PF firmware and kernel " \
	  "differences refuse the state: strict, driver (default) or ids", 0 }
enum eng_compat cli_parse_compat(const char *arg, struct argp_state *state);

#endif
