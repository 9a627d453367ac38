/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Escaping text for a terminal: control bytes, characters that reorder or break a
 * line, and broken UTF-8 become C escapes. */
#include <string.h>

#include "text.h"

size_t text_utf8_decode(const char *text, uint32_t *code_point)
{
	const unsigned char *p = (const unsigned char *)text;
	unsigned char low = 0x80, high = 0xbf;
	uint32_t cp;
	size_t len;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	/* RFC 3629's table of well-formed sequences: the second byte's range */
	if (p[0] == 0xe0)
		low = 0xa0;
	else if (p[0] == 0xed)
		high = 0x9f;
	else if (p[0] == 0xf0)
		low = 0x90;
	else if (p[0] == 0xf4)
		high = 0x8f;
	if (p[1] < low || p[1] > high)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	*code_point = cp;
	return len;
}

bool text_code_point_hidden(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
	       cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

/* How the character or byte at p is shown: its bytes as they are, or an escape in
 * buf. Returns the input bytes it covers. */
static size_t escape_next(const char *p, char buf[8], const char **put, size_t *put_len)
{
	unsigned char c = (unsigned char)*p;
	uint32_t cp;
	size_t len;

	*put = p;
	*put_len = 1;
	if (c >= 0x20 && c < 0x7f)
		return 1;
	*put = buf;
	if (c == '\t' || c == '\n' || c == '\r') {
		buf[0] = '\\';
		buf[1] = c == '\t' ? 't' : c == '\n' ? 'n' : 'r';
		*put_len = 2;
		return 1;
	}
	len = c >= 0x80 ? text_utf8_decode(p, &cp) : 0;
	if (!len) {
		*put_len = (size_t)snprintf(buf, 8, "\\x%02x", c);
		return 1;
	}
	if (text_code_point_hidden(cp)) {
		*put_len = (size_t)snprintf(buf, 8, "\\u%04x", (unsigned)cp);
		return len;
	}
	*put = p;
	*put_len = len;
	return len;
}

char *text_escape(char *out, size_t size, const char *in)
{
	size_t n = 0;

	if (!size)
		return out;
	while (*in) {
		const char *put;
		size_t put_len;
		char buf[8];
		size_t take = escape_next(in, buf, &put, &put_len);

		if (n + put_len >= size)
			break;
		memcpy(out + n, put, put_len);
		n += put_len;
		in += take;
	}
	out[n] = '\0';
	return out;
}

void text_put(FILE *out, const char *in)
{
	while (*in) {
		const char *put;
		size_t put_len;
		char buf[8];

		in += escape_next(in, buf, &put, &put_len);
		fwrite(put, 1, put_len, out);
	}
}
