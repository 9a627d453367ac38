/* SPDX-License-Identifier: GPL-2.0-or-later */
/* text_escape: what a terminal could act on comes out as C escapes, the rest unchanged. */
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

int main(void)
{
	char small[8];

	check("plain text, 0x1f: ok", "plain text, 0x1f: ok", "printable ASCII passes");
	check("\x1b[2J\x07", "\\x1b[2J\\x07", "ESC and BEL are escaped");
	check("a\tb\nc\rd\x7f", "a\\tb\\nc\\rd\\x7f", "tab, newline, return and DEL");
	check("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	      "UTF-8 characters of 2, 3 and 4 bytes pass");
	check("\xc2\x9b" "31m", "\\xc2\\x9b31m", "the C1 control CSI in UTF-8 is escaped");
	check("\x9b" "31m", "\\x9b31m", "a lone C1 byte is escaped");
	check("\xc3", "\\xc3", "a character cut at the end is escaped");
	check("\xe2\x82", "\\xe2\\x82", "a 3-byte character cut short is escaped");
	check("\xc0\xaf", "\\xc0\\xaf", "an overlong form is escaped");
	check("\xed\xa0\x80", "\\xed\\xa0\\x80", "a surrogate is escaped");
	check("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80", "above U+10FFFF is escaped");
	check("\\x1b", "\\x1b", "a backslash passes");
	text_escape(small, sizeof(small), "ab\x1b\x1b");
	CHECK(strcmp(small, "ab\\x1b") == 0, "output is cut before an escape that does not fit");
	text_escape(small, sizeof(small), "abcdef\xc3\xa9");
	CHECK(strcmp(small, "abcdef") == 0, "output is cut before a character that does not fit");
	return unit_done();
}
