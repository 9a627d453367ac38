/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vfiomig inspect and verify: read a saved stream without any device — its
 * header, records and totals, or just whether it is intact. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_stream.h"
#include "base/json.h"
#include "transport/transport.h"

struct inspect_args {
	const char *input, *key_file;
	bool verify_only, records;
};

enum { OPT_JSON = 0x500, OPT_KEY_FILE, OPT_NO_RECORDS };

static const struct argp_option inspect_options[] = {
	{ "key-file", OPT_KEY_FILE, "FILE", 0, "The key a keyed stream was saved with", 0 },
	{ "json", OPT_JSON, NULL, 0, "Print a JSON object (see vfiomig-inspect(1))", 0 },
	{ "no-records", OPT_NO_RECORDS, NULL, 0, "Leave the per-record list out", 0 },
	{ 0 }
};

static const struct argp_option verify_options[] = {
	{ "key-file", OPT_KEY_FILE, "FILE", 0, "The key a keyed stream was saved with", 0 },
	{ 0 }
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct inspect_args *args = state->input;

	switch (key) {
	case OPT_JSON: cli.json = true; return 0;
	case OPT_KEY_FILE: args->key_file = arg; return 0;
	case OPT_NO_RECORDS: args->records = false; return 0;
	case ARGP_KEY_ARG:
		if (args->input)
			argp_error(state, "give one FILE (or - for stdin)");
		args->input = arg;
		return 0;
	case ARGP_KEY_END:
		if (!args->input)
			argp_error(state, "which FILE? ('-' reads stdin)");
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static const struct argp_child children[] = { { &cli_common_argp, 0, NULL, 0 }, { 0 } };
static const struct argp inspect_argp = {
	inspect_options, parse_opt, "FILE|-",
	"Show a saved stream's header, device identity, records, sizes, ratio and digests, "
	"verifying all of it.\vExits 5 when the stream is corrupt or incomplete.",
	children, NULL, NULL
};
static const struct argp verify_argp = {
	verify_options, parse_opt, "FILE|-",
	"Check that a saved stream is intact and complete; print nothing unless it is not "
	"(or with -v).\vExits 0 when it verifies, 5 when it is corrupt or incomplete.",
	children, NULL, NULL
};

static void hex(char *out, const uint8_t *bytes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", bytes[i]);
}

static void json_text(struct json *j, const char *key, const char *value)
{
	json_string(j, key, value[0] ? value : NULL);
}

/* The build identity (format 1.1); recorded false and nulls for an older stream. */
static void build_json(struct json *j, const struct vstream_identity *id)
{
	json_object_begin(j, "build");
	json_bool(j, "recorded", id->build_recorded);
	json_text(j, "module", id->module);
	json_text(j, "module_version", id->module_version);
	json_text(j, "srcversion", id->srcversion);
	json_text(j, "kernel_release", id->kernel_release);
	if (!id->pf_driver[0] && !id->pf_firmware[0] && !id->pf_module_version[0] &&
	    !id->pf_srcversion[0]) {
		json_null(j, "pf");
	} else {
		json_object_begin(j, "pf");
		json_text(j, "driver", id->pf_driver);
		json_text(j, "module_version", id->pf_module_version);
		json_text(j, "srcversion", id->pf_srcversion);
		json_text(j, "firmware", id->pf_firmware);
		json_object_end(j);
	}
	json_object_end(j);
}

static const char *none(const char *value)
{
	return value[0] ? value : "none";
}

static void build_human(const struct vstream_identity *id)
{
	if (!id->build_recorded) {
		cli_line("%-14s%s", "build:", "not recorded (format 1.0: no module, kernel or PF)");
		return;
	}
	if (id->module[0])
		cli_line("%-14s%s  version %s  srcversion %s", "module:", id->module,
			 none(id->module_version), none(id->srcversion));
	else
		cli_line("%-14s%s", "module:", "none (built in, no /sys/module entry)");
	cli_line("%-14s%s", "kernel:", none(id->kernel_release));
	if (id->pf_driver[0] || id->pf_firmware[0]) {
		cli_line("%-14s%s  version %s  srcversion %s", "pf driver:", none(id->pf_driver),
			 none(id->pf_module_version), none(id->pf_srcversion));
		cli_line("%-14s%s", "pf firmware:", id->pf_firmware[0] ? id->pf_firmware :
			 "not exposed");
	}
}

static void header_json(struct json *j, const struct vstream_header *h)
{
	const struct vstream_identity *id = &h->id;
	char buf[2 * VSTREAM_DIGEST_LEN + 1];

	json_object_begin(j, "header");
	snprintf(buf, sizeof(buf), "%u.%u", h->major, h->minor);
	json_string(j, "version", buf);
	json_uint(j, "flags", h->flags);
	json_string(j, "digest", vstream_digest_name(h->digest));
	json_bool(j, "keyed", h->digest == VSTREAM_DIGEST_HMAC_SHA256);
	hex(buf, h->stream_id, VSTREAM_ID_LEN);
	json_string(j, "stream_id", buf);
	hex(buf, h->digest_value, VSTREAM_DIGEST_LEN);
	json_string(j, "header_digest", buf);
	json_object_begin(j, "device");
	json_string(j, "kind", vstream_kind_name(id->kind));
	json_string(j, "name", id->device_name);
	if (id->kind == VSTREAM_KIND_PCI) {
		snprintf(buf, sizeof(buf), "0x%04x", id->vendor);
		json_string(j, "vendor_id", buf);
		snprintf(buf, sizeof(buf), "0x%04x", id->device);
		json_string(j, "device_id", buf);
		snprintf(buf, sizeof(buf), "0x%04x", id->subsystem_vendor);
		json_string(j, "subsystem_vendor_id", buf);
		snprintf(buf, sizeof(buf), "0x%04x", id->subsystem_device);
		json_string(j, "subsystem_device_id", buf);
		snprintf(buf, sizeof(buf), "0x%06x", id->class_code);
		json_string(j, "class", buf);
		snprintf(buf, sizeof(buf), "0x%02x", id->revision);
		json_string(j, "revision", buf);
	} else {
		json_string(j, "mdev_type", id->mdev_type);
	}
	json_string(j, "driver", id->driver);
	json_uint(j, "migration_flags", id->migration_flags);
	json_uint(j, "stop_copy_estimate", id->stop_copy_estimate);
	json_string(j, "vfiomig_version", id->vfiomig_version);
	json_string(j, "host", id->host_name);
	json_uint(j, "created", id->created);
	build_json(j, id);
	json_object_end(j);
	json_object_end(j);
}

static void header_human(const struct vstream_header *h)
{
	const struct vstream_identity *id = &h->id;
	char created[64] = "?", sid[2 * VSTREAM_ID_LEN + 1], flags[64];
	time_t t = (time_t)id->created;
	struct tm tm;

	if (gmtime_r(&t, &tm))
		strftime(created, sizeof(created), "%Y-%m-%d %H:%M:%S UTC", &tm);
	hex(sid, h->stream_id, VSTREAM_ID_LEN);
	vmig_flags_format(id->migration_flags, flags, sizeof(flags), false, " ");
	cli_line("%-14s%u.%u, %s%s", "format:", h->major, h->minor, vstream_digest_name(h->digest),
		 h->digest == VSTREAM_DIGEST_HMAC_SHA256 ? " (keyed)" : "");
	cli_line("%-14s%s", "stream id:", sid);
	if (id->kind == VSTREAM_KIND_MDEV)
		cli_line("%-14s%s (mdev %s)", "device:", id->device_name, id->mdev_type);
	else
		cli_line("%-14s%s (pci %04x:%04x subsystem %04x:%04x class %06x rev %02x)",
			 "device:", id->device_name, id->vendor, id->device, id->subsystem_vendor,
			 id->subsystem_device, id->class_code, id->revision);
	cli_line("%-14s%s", "driver:", id->driver);
	build_human(id);
	cli_line("%-14s%s (0x%llx)", "migration:", flags, (unsigned long long)id->migration_flags);
	cli_line("%-14s%llu bytes", "estimate:", (unsigned long long)id->stop_copy_estimate);
	cli_line("%-14s%s on %s by vfiomig %s", "saved:", created, id->host_name,
		 id->vfiomig_version);
}

struct inspect_run {
	struct xport_in *in;
	struct vstream_reader *reader;
	struct json json;
	bool header_seen, records_open;
	uint64_t wire;
};

static void on_record(struct inspect_run *run, const struct inspect_args *args,
		      const struct vstream_event *ev)
{
	const struct vstream_record_head *r = &ev->record;
	const char *type = vstream_type_name(r->type);

	if (!args->records || args->verify_only)
		return;
	if (cli.json) {
		if (!run->records_open) {
			json_array_begin(&run->json, "records");
			run->records_open = true;
		}
		json_object_begin(&run->json, NULL);
		json_uint(&run->json, "seq", r->seq);
		json_string(&run->json, "type", type ? type : "unknown");
		json_string(&run->json, "codec", vstream_codec_name(r->codec));
		json_uint(&run->json, "raw_bytes", r->raw_len);
		json_uint(&run->json, "stored_bytes", r->stored_len);
		json_uint(&run->json, "offset", ev->offset);
		json_object_end(&run->json);
		return;
	}
	if (!run->records_open) {
		cli_line("records:");
		cli_line("  %-8s %-9s %-7s %12s %12s %14s", "SEQ", "TYPE", "CODEC", "RAW", "STORED",
			 "OFFSET");
		run->records_open = true;
	}
	cli_line("  %-8llu %-9s %-7s %12u %12u %14llu", (unsigned long long)r->seq,
		 type ? type : "unknown", vstream_codec_name(r->codec), r->raw_len, r->stored_len,
		 (unsigned long long)ev->offset);
}

static void on_totals(struct inspect_run *run, const struct inspect_args *args,
		      const struct vstream_totals *t)
{
	double ratio = run->wire ? (double)t->raw_bytes / (double)run->wire : 0;

	if (args->verify_only)
		return;
	if (cli.json) {
		if (run->records_open)
			json_array_end(&run->json);
		run->records_open = false;
		json_object_begin(&run->json, "totals");
		json_uint(&run->json, "records", t->records);
		json_uint(&run->json, "raw_bytes", t->raw_bytes);
		json_uint(&run->json, "stored_bytes", t->stored_bytes);
		json_uint(&run->json, "stream_bytes", run->wire);
		json_object_begin(&run->json, "by_type");
		for (unsigned i = 0; i < t->ntypes; i++) {
			const char *name = vstream_type_name(t->type[i].type);
			char unknown[16];

			/* unknown types apart: one member each, never the same name twice */
			snprintf(unknown, sizeof(unknown), "type-0x%04x", t->type[i].type);
			json_object_begin(&run->json, name ? name : unknown);
			json_uint(&run->json, "records", t->type[i].records);
			json_uint(&run->json, "raw_bytes", t->type[i].raw_bytes);
			json_uint(&run->json, "stored_bytes", t->type[i].stored_bytes);
			json_object_end(&run->json);
		}
		json_object_end(&run->json);
		json_object_end(&run->json);
		return;
	}
	cli_line("%-14s%llu records, %llu bytes raw, %llu stored, %llu in the stream (ratio %.2f)",
		 "totals:", (unsigned long long)t->records, (unsigned long long)t->raw_bytes,
		 (unsigned long long)t->stored_bytes, (unsigned long long)run->wire, ratio);
}

static int read_stream(struct inspect_run *run, const struct inspect_args *args,
		       struct verr *err)
{
	uint8_t *buf = malloc(1 << 16);
	int ret = 0;

	if (!buf)
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "inspect");
	for (;;) {
		ssize_t n = xport_in_read(run->in, buf, 1 << 16, err);
		size_t pos = 0;

		if (n <= 0) {
			ret = n < 0 ? (int)n : vstream_reader_end(run->reader, err);
			break;
		}
		run->wire += (uint64_t)n;
		while (pos < (size_t)n && ret == 0) {
			struct vstream_event ev;
			size_t used = 0;

			ret = vstream_reader_feed(run->reader, buf + pos, (size_t)n - pos, &used, &ev, err);
			pos += used;
			if (ret < 0)
				break;
			if (ev.kind == VSTREAM_EV_HEADER && !args->verify_only) {
				run->header_seen = true;
				if (cli.json) {
					header_json(&run->json, ev.header);
					if (args->records) {
						json_array_begin(&run->json, "records");
						run->records_open = true;
					}
				} else {
					header_human(ev.header);
				}
			} else if (ev.kind == VSTREAM_EV_RECORD) {
				on_record(run, args, &ev);
			} else if (ev.kind == VSTREAM_EV_TRAILER) {
				on_totals(run, args, ev.totals);
			}
		}
		if (ret < 0)
			break;
	}
	free(buf);
	return ret;
}

static int run_inspect(int argc, char **argv, bool verify_only)
{
	struct inspect_args args = { .verify_only = verify_only, .records = true };
	struct inspect_run run = { 0 };
	struct cli_key key;
	struct verr err = { 0 };
	int ret;

	argp_parse(verify_only ? &verify_argp : &inspect_argp, argc, argv, 0, NULL, &args);
	ret = cli_key_load(args.key_file, &key);
	if (ret)
		return ret;
	if (xport_in_open(args.input, &run.in, &err) < 0 ||
	    vstream_reader_new(cli_key_get(&key), xport_in_name(run.in), &run.reader, &err) < 0) {
		ret = cli_fail(&err);
		goto out;
	}
	if (cli.json && !verify_only) {
		json_init(&run.json, stdout);
		json_object_begin(&run.json, NULL);
		json_string(&run.json, "stream", xport_in_name(run.in));
	}
	ret = read_stream(&run, &args, &err);
	if (cli.json && !verify_only) {
		if (run.records_open)
			json_array_end(&run.json);
		json_bool(&run.json, "verified", ret == 0);
		if (ret < 0) {
			char msg[1024];

			verr_format(&err, msg, sizeof(msg));
			json_string(&run.json, "error", msg);
		}
		json_object_end(&run.json);
		json_finish(&run.json);
	} else if (!verify_only) {
		cli_line("%-14s%s", "status:", ret == 0 ? "verified: every record, the trailer and "
			 "the whole-stream digest" : "NOT VERIFIED (see the error)");
	}
	if (ret < 0)
		ret = cli_fail(&err);
	else if (verify_only)
		cli_debug("%s: verified", xport_in_name(run.in));
out:
	vstream_reader_free(run.reader);
	xport_in_close(run.in);
	cli_key_wipe(&key);
	return ret;
}

int cmd_inspect(int argc, char **argv)
{
	return run_inspect(argc, argv, false);
}

int cmd_verify(int argc, char **argv)
{
	return run_inspect(argc, argv, true);
}
