/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Streaming JSON writer. */
#include <inttypes.h>

#include "json.h"
#include "text.h"

void json_init(struct json *j, FILE *out)
{
	j->out = out;
	j->depth = 0;
	j->first[0] = true;
	j->in_array[0] = false;
	j->line = false;
}

void json_init_line(struct json *j, FILE *out)
{
	json_init(j, out);
	j->line = true;
}

static void put_ascii(FILE *out, unsigned char c)
{
	switch (c) {
	case '"': fputs("\\\"", out); return;
	case '\\': fputs("\\\\", out); return;
	case '\n': fputs("\\n", out); return;
	case '\r': fputs("\\r", out); return;
	case '\t': fputs("\\t", out); return;
	}
	if (c < 0x20 || c == 0x7f)
		fprintf(out, "\\u%04x", c);
	else
		fputc(c, out);
}

/*
 * A JSON string for any bytes: the output is valid JSON (RFC 8259) in UTF-8 whatever
 * the input. Control characters (C0, DEL, C1) and the characters that reorder or
 * break lines (text_code_point_hidden) are written as \uXXXX, so that a consumer that
 * prints a value cannot be made to act on them; each byte that is not part of
 * well-formed UTF-8 becomes U+FFFD, written \ufffd (vfiomig(1), JSON OUTPUT).
 */
static void put_escaped(FILE *out, const char *s)
{
	fputc('"', out);
	while (*s) {
		uint32_t cp;
		size_t len = (unsigned char)*s >= 0x80 ? text_utf8_decode(s, &cp) : 0;

		if ((unsigned char)*s < 0x80)
			put_ascii(out, (unsigned char)*s);
		else if (!len)
			fputs("\\ufffd", out);
		else if (text_code_point_hidden(cp))
			fprintf(out, "\\u%04x", (unsigned)cp);
		else
			fwrite(s, 1, len, out);
		s += len ? len : 1;
	}
	fputc('"', out);
}

static void indent(struct json *j)
{
	if (j->line)
		return;
	fputc('\n', j->out);
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->out);
}

static void prefix(struct json *j, const char *key)
{
	if (j->depth > 0) {
		if (!j->first[j->depth])
			fputc(',', j->out);
		indent(j);
	}
	j->first[j->depth] = false;
	if (key && j->depth > 0 && !j->in_array[j->depth]) {
		put_escaped(j->out, key);
		fputs(j->line ? ":" : ": ", j->out);
	}
}

static void open_scope(struct json *j, const char *key, char c, bool array)
{
	prefix(j, key);
	fputc(c, j->out);
	if (j->depth + 1 < JSON_MAX_DEPTH) {
		j->depth++;
		j->first[j->depth] = true;
		j->in_array[j->depth] = array;
	}
}

static void close_scope(struct json *j, char c)
{
	bool empty = j->first[j->depth];

	if (j->depth > 0)
		j->depth--;
	if (!empty)
		indent(j);
	fputc(c, j->out);
}

void json_object_begin(struct json *j, const char *key) { open_scope(j, key, '{', false); }
void json_object_end(struct json *j) { close_scope(j, '}'); }
void json_array_begin(struct json *j, const char *key) { open_scope(j, key, '[', true); }
void json_array_end(struct json *j) { close_scope(j, ']'); }

void json_string(struct json *j, const char *key, const char *value)
{
	prefix(j, key);
	if (value)
		put_escaped(j->out, value);
	else
		fputs("null", j->out);
}

void json_uint(struct json *j, const char *key, uint64_t value)
{
	prefix(j, key);
	fprintf(j->out, "%" PRIu64, value);
}

void json_int(struct json *j, const char *key, int64_t value)
{
	prefix(j, key);
	fprintf(j->out, "%" PRId64, value);
}

void json_double(struct json *j, const char *key, double value)
{
	prefix(j, key);
	if (value != value || value > 1e300 || value < -1e300)
		fputs("null", j->out);          /* JSON has no NaN or infinity */
	else
		fprintf(j->out, "%.3f", value);
}

void json_bool(struct json *j, const char *key, bool value)
{
	prefix(j, key);
	fputs(value ? "true" : "false", j->out);
}

void json_null(struct json *j, const char *key)
{
	prefix(j, key);
	fputs("null", j->out);
}

void json_finish(struct json *j)
{
	fputc('\n', j->out);
	fflush(j->out);
}
