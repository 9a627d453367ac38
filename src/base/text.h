/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Text from elsewhere (a peer, a stream, a driver) made safe to show on a terminal. */
#ifndef VFIOMIG_TEXT_H
#define VFIOMIG_TEXT_H

#include <stddef.h>

/* Bytes text_escape may write for one byte of its input. */
#define TEXT_ESCAPE_GROWTH 4

/*
 * Copies in to out (size bytes, NUL-terminated, cut before an escape that does not
 * fit) with every byte a terminal could act on written as a C escape: \t, \n, \r, and
 * \xNN for the other control bytes (C0 and DEL), for the C1 controls (U+0080 to
 * U+009F, which some terminals obey like ESC [) and for bytes that are not UTF-8.
 * Printable ASCII and the other UTF-8 characters pass unchanged. Returns out.
 */
char *text_escape(char *out, size_t size, const char *in);

#endif
