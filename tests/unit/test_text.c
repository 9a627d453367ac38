/* SPDX-License-Identifier: GPL-2.0-or-later */
/* text_escape and text_put: what a terminal could act on comes out as C escapes, the
 * rest unchanged; text_utf8_decode and text_code_point_hidden under them. */
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "unit.h"

static void check(const char *in, const char *expected, const char *what)
{
	char out[256];

	text_escape(out, sizeof(out), in);
	CHECK(strcmp(out, expected) == 0, "%s", what);
	if (strcmp(out, expected) != 0)
		printf("# got '%s', expected '%s'\n", out, expected);
}

static void check_decode(void)
{
	uint32_t cp = 0;

	CHECK(text_utf8_decode("\xc3\xa9", &cp) == 2 && cp == 0xe9, "U+00E9 decodes from 2 bytes");
	CHECK(text_utf8_decode("\xe2\x80\xae", &cp) == 3 && cp == 0x202e,
	      "U+202E decodes from 3 bytes");
	CHECK(text_utf8_decode("\xf4\x8f\xbf\xbf", &cp) == 4 && cp == 0x10ffff,
	      "U+10FFFF decodes from 4 bytes");
	CHECK(text_utf8_decode("\xe2\x80", &cp) == 0, "a character cut by the NUL does not decode");
	CHECK(text_utf8_decode("\x80", &cp) == 0, "a lone continuation byte does not decode");
	CHECK(text_code_point_hidden(0x85) && !text_code_point_hidden(0xa0) &&
	      !text_code_point_hidden(0x202f) && text_code_point_hidden(0x2068),
	      "text_code_point_hidden names C1 and bidi controls, not their neighbours");
}

/* text_put escapes as text_escape does, with no size limit. */
static void check_put(void)
{
	char *out = NULL, *expected = malloc(3000 * 6 + 1);
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);
	char in[3000 * 3 + 1];

	for (int i = 0; i < 3000; i++) {
		memcpy(in + 3 * i, "\xe2\x80\xae", 3);
		memcpy(expected + 6 * i, "\\u202e", 6);
	}
	in[sizeof(in) - 1] = '\0';
	expected[3000 * 6] = '\0';
	text_put(f, in);
	text_put(f, "\x1b[0m\xff\n");
	fclose(f);
	CHECK(size == 3000 * 6 + 13 && !strncmp(out, expected, 3000 * 6) &&
	      !strcmp(out + 3000 * 6, "\\x1b[0m\\xff\\n"),
	      "text_put writes 9000 bytes of overrides whole, escaped, then ESC, 0xff and LF");
	free(out);
	free(expected);
}

int main(void)
{
	char small[8];

	check("plain text, 0x1f: ok", "plain text, 0x1f: ok", "printable ASCII passes");
	check("\x1b[2J\x07", "\\x1b[2J\\x07", "ESC and BEL are escaped");
	check("a\tb\nc\rd\x7f", "a\\tb\\nc\\rd\\x7f", "tab, newline, return and DEL");
	check("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	      "UTF-8 characters of 2, 3 and 4 bytes pass");
	check("\xc2\x9b" "31m \xc2\x80\xc2\x9f", "\\u009b31m \\u0080\\u009f",
	      "C1 controls in UTF-8 (CSI, U+0080, U+009F) are escaped as \\uXXXX");
	check("\xc2\xa0\xc2\xbf", "\xc2\xa0\xc2\xbf", "U+00A0 and U+00BF, next to C1, pass");
	check("a\xe2\x80\xae" "b\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad",
	      "a\\u202eb\\u202a\\u202b\\u202c\\u202d",
	      "the bidirectional embeddings and overrides U+202A to U+202E are escaped");
	check("\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9", "\\u2066\\u2067\\u2068\\u2069",
	      "the bidirectional isolates U+2066 to U+2069 are escaped");
	check("\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c", "\\u200e\\u200f\\u061c",
	      "the bidirectional marks LRM, RLM and ALM are escaped");
	check("\xe2\x80\xa8\xe2\x80\xa9", "\\u2028\\u2029",
	      "the line and paragraph separators are escaped");
	check("\xe2\x80\xa9\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa",
	      "\\u2029\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa",
	      "U+202F, U+2065 and U+206A, next to the escaped ranges, pass");
	check("\x9b" "31m", "\\x9b31m", "a lone C1 byte is escaped");
	check("\xc3", "\\xc3", "a character cut at the end is escaped");
	check("\xe2\x82", "\\xe2\\x82", "a 3-byte character cut short is escaped");
	check("\xc0\xaf", "\\xc0\\xaf", "an overlong form is escaped");
	check("\xed\xa0\x80", "\\xed\\xa0\\x80", "a surrogate is escaped");
	check("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80", "above U+10FFFF is escaped");
	check("\\x1b", "\\x1b", "a backslash passes");
	check_decode();
	check_put();
	text_escape(small, sizeof(small), "ab\x1b\x1b");
	CHECK(strcmp(small, "ab\\x1b") == 0, "output is cut before an escape that does not fit");
	text_escape(small, sizeof(small), "abcdef\xc3\xa9");
	CHECK(strcmp(small, "abcdef") == 0, "output is cut before a character that does not fit");
	return unit_done();
}
