/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A small streaming JSON writer for --json output: keys in the order written,
 * strings valid JSON whatever their bytes, two-space indentation (or one line, for
 * --events). */
#ifndef VFIOMIG_JSON_H
#define VFIOMIG_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json {
	FILE *out;
	int depth;
	bool first[JSON_MAX_DEPTH];
	bool in_array[JSON_MAX_DEPTH];
	bool line;                      /* one line: no indentation, no spaces */
};

/* key is NULL inside arrays and for the top-level value. */
void json_init(struct json *j, FILE *out);
/* The same writer for one-line documents (JSON Lines). */
void json_init_line(struct json *j, FILE *out);
void json_object_begin(struct json *j, const char *key);
void json_object_end(struct json *j);
void json_array_begin(struct json *j, const char *key);
void json_array_end(struct json *j);
void json_string(struct json *j, const char *key, const char *value);  /* NULL -> null */
void json_uint(struct json *j, const char *key, uint64_t value);
void json_int(struct json *j, const char *key, int64_t value);
void json_double(struct json *j, const char *key, double value);  /* 3 decimals */
void json_bool(struct json *j, const char *key, bool value);
void json_null(struct json *j, const char *key);
/* Ends the document with a newline. */
void json_finish(struct json *j);

#endif
