/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The JSON writer: nesting, escaping, nulls, and that the output parses. */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "unit.h"

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
	return unit_done();
}
