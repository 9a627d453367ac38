/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Escaping text for a terminal: control bytes and broken UTF-8 become C escapes. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

/* Length of the well-formed UTF-8 character (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF) at p other than a C1 control; 0 if none. */
static size_t utf8_printable_length(const unsigned char *p)
{
	unsigned char low = 0x80, high = 0xbf;
	size_t len;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (p[0] == 0xc2)
		low = 0xa0;             /* C2 80 to C2 9F are the C1 controls */
	else if (p[0] == 0xe0)
		low = 0xa0;
	else if (p[0] == 0xed)
		high = 0x9f;
	else if (p[0] == 0xf0)
		low = 0x90;
	else if (p[0] == 0xf4)
		high = 0x8f;
	if (p[1] < low || p[1] > high)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/* The escape for one byte, or "" when it passes as it is. */
static const char *byte_escape(unsigned char c, char hex[5])
{
	switch (c) {
	case '\t': return "\\t";
	case '\n': return "\\n";
	case '\r': return "\\r";
	}
	if (c >= 0x20 && c < 0x7f)
		return "";
	snprintf(hex, 5, "\\x%02x", c);
	return hex;
}

char *text_escape(char *out, size_t size, const char *in)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t n = 0;

	if (!size)
		return out;
	while (*p) {
		size_t take = *p >= 0x80 ? utf8_printable_length(p) : 0;
		const char *put = (const char *)p;
		size_t put_len = take;
		char hex[5];

		if (!take) {
			put = byte_escape(*p, hex);
			put_len = strlen(put);
			take = 1;
			if (!put_len) {
				put = (const char *)p;
				put_len = 1;
			}
		}
		if (n + put_len >= size)
			break;
		memcpy(out + n, put, put_len);
		n += put_len;
		p += take;
	}
	out[n] = '\0';
	return out;
}
