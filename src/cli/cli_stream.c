/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What save, restore, inspect and verify share: key files and the options every
 * stream command takes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_stream.h"
#include "base/io.h"
#include "transport/transport.h"
#include "pipeline/pipeline.h"

unsigned cli_parse_threads(const char *arg, struct argp_state *state)
{
	long v = 1;

	if (cli_parse_int(arg, 1, VPIPE_THREADS_MAX, &v) < 0)
		argp_error(state, "--threads takes 1 to %d, not '%s'", VPIPE_THREADS_MAX, arg);
	return (unsigned)v;
}

enum eng_compat cli_parse_compat(const char *arg, struct argp_state *state)
{
	enum eng_compat policy = ENG_COMPAT_DEFAULT;

	if (eng_compat_parse(arg, &policy) < 0)
		argp_error(state, "--compat takes strict, driver or ids, not '%s'", arg);
	return policy;
}

int cli_key_load(const char *path, struct cli_key *key)
{
	struct verr err = { 0 };
	size_t n;

	memset(key, 0, sizeof(*key));
	if (!path)
		return EXIT_OK;
	if (xport_key_file_read(path, key->bytes, sizeof(key->bytes), &n, &err) < 0)
		return cli_fail(&err);
	if (n == sizeof(key->bytes)) {
		fprintf(stderr, "vfiomig: %s: key file is longer than %d bytes\n", path,
			VSTREAM_KEY_MAX);
		return EXIT_USAGE;
	}
	if (n < VSTREAM_KEY_MIN) {
		fprintf(stderr, "vfiomig: %s: key file holds %zu bytes; a key needs at least %d "
			"(make one with '(umask 077; head -c 32 /dev/urandom > %s)')\n", path, n,
			VSTREAM_KEY_MIN, path);
		return EXIT_USAGE;
	}
	key->key.data = key->bytes;
	key->key.len = n;
	key->present = true;
	return EXIT_OK;
}

void cli_key_wipe(struct cli_key *key)
{
	explicit_bzero(key->bytes, sizeof(key->bytes));
	key->present = false;
}
