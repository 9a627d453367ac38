/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Text from elsewhere (a peer, a stream, a driver) made safe to show on a terminal. */
#ifndef VFIOMIG_TEXT_H
#define VFIOMIG_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Bytes text_escape may write for one byte of its input. */
#define TEXT_ESCAPE_GROWTH 4

/*
 * The length of the well-formed UTF-8 character at p (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF), with its code point in *code_point; 0 when
 * p starts no such character (an ASCII byte included: callers handle those first).
 */
size_t text_utf8_decode(const char *p, uint32_t *code_point);

/*
 * Whether a character above ASCII could make a terminal or a reader see something
 * other than the bytes: the C1 controls U+0080 to U+009F (some terminals obey U+009B
 * like ESC [), the bidirectional marks, embeddings, overrides and isolates (U+061C,
 * U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069), which reorder what follows
 * them, and the line and paragraph separators U+2028 and U+2029.
 */
bool text_code_point_hidden(uint32_t code_point);

/*
 * Copies in to out (size bytes, NUL-terminated, cut before an escape that does not
 * fit) with every byte a terminal could act on written as a C escape: \t, \n, \r;
 * \xNN for the other control bytes (C0 and DEL) and for each byte that is not part of
 * well-formed UTF-8; \uXXXX for the characters text_code_point_hidden names.
 * Printable ASCII (the backslash included) and the other UTF-8 characters pass
 * unchanged. Returns out.
 */
char *text_escape(char *out, size_t size, const char *in);

/* Writes in to out escaped as text_escape does, whatever its length. */
void text_put(FILE *out, const char *in);

#endif
