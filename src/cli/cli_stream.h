/* Helpers shared by the stream commands (save, restore, inspect, verify). */
#ifndef VFIOMIG_CLI_STREAM_H
#define VFIOMIG_CLI_STREAM_H

#include "cli.h"
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

void cli_identity_from_device(const struct vdev_ident *id, uint64_t flags, uint64_t estimate,
			      struct vstream_identity *out);
/* 1 with a reason in why when the saved state cannot belong on this device. */
int cli_identity_mismatch(const struct vstream_identity *saved, const struct vdev_ident *id,
			  char *why, size_t size);

/* -T/--threads for the commands that encode records (save, migrate) and those that
 * verify and decompress them (restore, receive): the option entries and their
 * parser (1 to VPIPE_THREADS_MAX; argp_error otherwise). */
#define CLI_THREADS_OPTION \
	{ "threads", 'T', "N", 0, "Encoding threads (default: online CPUs, at most 8)", 0 }
#define CLI_DECODE_THREADS_OPTION \
	{ "threads", 'T', "N", 0, \
	  "Threads verifying and decompressing records (default: online CPUs, at most 8)", 0 }
unsigned cli_parse_threads(const char *arg, struct argp_state *state);

/* 1 with a reason when dst cannot take src's state (migrate's pairing rule). */
/* The check restore and receive make of a stream header against their device:
 * VERR_PEER on a mismatch, a warning instead with force. command names the
 * action in the warning ("restore" gives "restoring anyway"). */
int cli_check_stream_identity(const struct vstream_header *hdr, const struct vdev_ident *id,
			      bool force, const char *command, struct verr *err);
int cli_identity_compare(const struct vstream_identity *src, const struct vstream_identity *dst,
			 char *why, size_t size);

#endif
