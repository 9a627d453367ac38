/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The JSON writer: nesting, escaping, nulls, and valid JSON for any bytes in a string. */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/text.h"
#include "unit.h"

/* value written as a JSON Lines document {"key": value}; compares the string part. */
static void check_string(const char *value, const char *expected, const char *what)
{
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);
	char want[512];
	struct json j;

	json_init_line(&j, f);
	json_object_begin(&j, NULL);
	json_string(&j, "k", value);
	json_object_end(&j);
	json_finish(&j);
	fclose(f);
	snprintf(want, sizeof(want), "{\"k\":\"%s\"}\n", expected);
	CHECK(strcmp(out, want) == 0, "%s", what);
	if (strcmp(out, want) != 0)
		printf("# got %s# expected %s", out, want);
	free(out);
}

static void check_strings(void)
{
	check_string("\x01\x1b[2J\x1f", "\\u0001\\u001b[2J\\u001f", "C0 controls are \\u00XX");
	check_string("a\x7f" "b", "a\\u007fb", "DEL is \\u007f");
	check_string("\xc2\x9b" "31m\xc2\x80\xc2\x9f", "\\u009b31m\\u0080\\u009f",
		     "C1 controls in UTF-8 are \\u0080 to \\u009f");
	check_string("\xe2\x80\xaa\xe2\x80\xae\xe2\x81\xa6\xe2\x81\xa9\xe2\x80\x8f",
		     "\\u202a\\u202e\\u2066\\u2069\\u200f",
		     "bidirectional embeddings, overrides, isolates and marks are \\uXXXX");
	check_string("\xe2\x80\xa8\xe2\x80\xa9", "\\u2028\\u2029",
		     "the line and paragraph separators are \\u2028 and \\u2029");
	check_string("\x9b\xff\xfe", "\\ufffd\\ufffd\\ufffd",
		     "each byte that is not UTF-8 becomes \\ufffd");
	check_string("a\xc3", "a\\ufffd", "a character cut at the end becomes \\ufffd");
	check_string("\xe2\x82z", "\\ufffd\\ufffdz", "a character cut short: one \\ufffd a byte");
	check_string("\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80",
		     "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd",
		     "overlong forms, surrogates and code points above U+10FFFF become \\ufffd");
	check_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0",
		     "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0",
		     "other UTF-8 characters of 2, 3 and 4 bytes pass as they are");
}

/* Whether out is well-formed UTF-8 with no control byte and no hidden character. */
static bool plain_utf8(const char *out)
{
	while (*out) {
		uint32_t cp;
		size_t len = (unsigned char)*out >= 0x80 ? text_utf8_decode(out, &cp) : 1;

		if (!len || (len == 1 && ((unsigned char)*out < 0x20 || *out == 0x7f)) ||
		    (len > 1 && text_code_point_hidden(cp)))
			return false;
		out += len;
	}
	return true;
}

/* Random bytes (but NUL) in 2000 strings: what comes out is always plain UTF-8. */
static void check_random_bytes(void)
{
	uint32_t x = 12345;
	bool ok = true;

	for (int n = 0; n < 2000 && ok; n++) {
		char in[64], *out = NULL;
		size_t size = 0;
		FILE *f = open_memstream(&out, &size);
		struct json j;

		for (size_t i = 0; i < sizeof(in) - 1; i++) {
			x = x * 1664525u + 1013904223u;
			in[i] = (char)((x >> 24) % 255 + 1);
		}
		in[sizeof(in) - 1] = '\0';
		json_init_line(&j, f);
		json_string(&j, NULL, in);
		fclose(f);
		ok = plain_utf8(out);
		free(out);
	}
	CHECK(ok, "2000 strings of random bytes come out as UTF-8 without controls");
}

int main(void)
{
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);
	struct json j;

	json_init(&j, f);
	json_object_begin(&j, NULL);
	json_string(&j, "name", "a\"b\\c\n\x01");
	json_null(&j, "none");
	json_array_begin(&j, "list");
	json_uint(&j, NULL, 18446744073709551615ull);
	json_int(&j, NULL, -5);
	json_array_begin(&j, NULL);
	json_array_end(&j);
	json_array_end(&j);
	json_object_begin(&j, "empty");
	json_object_end(&j);
	json_bool(&j, "yes", true);
	json_object_end(&j);
	json_finish(&j);
	fclose(f);

	const char *expected =
		"{\n"
		"  \"name\": \"a\\\"b\\\\c\\n\\u0001\",\n"
		"  \"none\": null,\n"
		"  \"list\": [\n"
		"    18446744073709551615,\n"
		"    -5,\n"
		"    []\n"
		"  ],\n"
		"  \"empty\": {},\n"
		"  \"yes\": true\n"
		"}\n";
	CHECK(strcmp(out, expected) == 0, "nested document with escapes is written as expected");
	if (strcmp(out, expected) != 0)
		printf("# got:\n%s", out);
	free(out);
	check_strings();
	check_random_bytes();
	return unit_done();
}
