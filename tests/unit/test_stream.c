/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The stream format: round trips through writer and reader, keys, versioning
 * rules, and that slicing the input never changes what the reader yields. */
#define TEST_STREAM_LIB_INCLUDED
#include "test_stream_lib.c"

static void test_round_trips(void)
{
	static struct spec many[100];
	static const struct spec one[] = { { VSTREAM_REC_STOPCOPY, 96, false } };
	static const struct spec mixed[] = {
		{ VSTREAM_REC_PRECOPY, 0, false }, { VSTREAM_REC_PRECOPY, 4096, true },
		{ VSTREAM_REC_STOPCOPY, 65536, false }, { VSTREAM_REC_STOPCOPY, 1, true },
	};
	struct event_log log;
	struct built b;

	EXPECT(build(&b, NULL, NULL, NULL, 0, 3) == 0 && read_all(NULL, b.buf, b.len, 0, &log) == 0 &&
	      matches(&b, &log) && log.totals.ntypes == 0, "an empty stream round-trips");
	built_free(&b);
	EXPECT(build(&b, NULL, NULL, one, 1, 3) == 0 && read_all(NULL, b.buf, b.len, 0, &log) == 0 &&
	      matches(&b, &log), "a one-record stream round-trips");
	built_free(&b);
	for (unsigned i = 0; i < 100; i++)
		many[i] = (struct spec){ i < 60 ? VSTREAM_REC_PRECOPY : VSTREAM_REC_STOPCOPY,
					 (i * 977) % 5000, i % 3 == 0 };
	EXPECT(build(&b, NULL, NULL, many, 100, -5) == 0 && read_all(NULL, b.buf, b.len, 0, &log) == 0 &&
	      matches(&b, &log), "100 records at zstd level -5 round-trip");
	EXPECT(log.totals.ntypes == 2 && log.totals.type[0].records == 60 &&
	      log.totals.type[1].records == 40, "the trailer counts records per type");
	built_free(&b);
	EXPECT(build(&b, NULL, NULL, mixed, 4, 19) == 0 && read_all(NULL, b.buf, b.len, 0, &log) == 0 &&
	      matches(&b, &log), "empty, random and compressible records round-trip at level 19");
	EXPECT(b.buf[b.rec_at[1] + 2] == VSTREAM_CODEC_STORED &&
	      b.buf[b.rec_at[2] + 2] == VSTREAM_CODEC_ZSTD &&
	      b.buf[b.rec_at[0] + 2] == VSTREAM_CODEC_STORED,
	      "random data is stored, patterned data is zstd, an empty record is stored");
	built_free(&b);
	EXPECT(build(&b, &key_a, NULL, mixed, 4, 1) == 0 && read_all(&key_a, b.buf, b.len, 0, &log) == 0 &&
	      matches(&b, &log), "a keyed stream round-trips with its key");
	built_free(&b);
}

static void test_big_records(void)
{
	static const struct spec big[] = {
		{ VSTREAM_REC_STOPCOPY, VSTREAM_RECORD_RAW_MAX, true },
		{ VSTREAM_REC_STOPCOPY, VSTREAM_RECORD_RAW_MAX, false },
	};
	struct vstream_encoder *enc;
	uint8_t id[VSTREAM_ID_LEN] = { 0 }, *raw, *out;
	struct event_log log;
	struct verr err = { 0 };
	struct built b;
	size_t len, bound = vstream_record_bound(VSTREAM_RECORD_RAW_MAX + 1);

	EXPECT(build(&b, &key_a, NULL, big, 2, 1) == 0 &&
	      read_all(&key_a, b.buf, b.len, 1 << 20, &log) == 0 && matches(&b, &log),
	      "two 16 MiB records (stored and zstd) round-trip in 1 MiB slices");
	built_free(&b);
	vstream_encoder_new(NULL, id, &enc, NULL);
	raw = calloc(1, VSTREAM_RECORD_RAW_MAX + 1);
	out = malloc(bound);
	EXPECT(vstream_encode_record(enc, VSTREAM_REC_STOPCOPY, 0, 1, raw, VSTREAM_RECORD_RAW_MAX + 1,
				    out, bound, &len, &err) == -EINVAL,
	      "the encoder refuses a record over 16 MiB");
	verr_clear(&err);
	EXPECT(vstream_encode_record(enc, VSTREAM_REC_END, 0, 1, raw, 1, out, bound, &len, &err) == -EINVAL,
	      "the encoder refuses to write an END record");
	verr_clear(&err);
	EXPECT(vstream_encode_record(enc, VSTREAM_REC_PRECOPY, 0, 99, raw, 1, out, bound, &len, &err) == -EINVAL &&
	      err.class == VERR_USAGE, "the encoder refuses zstd level 99");
	verr_clear(&err);
	EXPECT(vstream_encode_record(enc, VSTREAM_REC_PRECOPY, 0, 1, raw, 100, out, 100, &len, &err) == -ENOSPC,
	      "the encoder refuses an output buffer under vstream_record_bound()");
	free(raw);
	free(out);
	vstream_encoder_free(enc);
}

static void test_identity(void)
{
	static const struct spec one[] = { { VSTREAM_REC_PRECOPY, 10, false } };
	struct vstream_header hdr;
	struct event_log log;
	struct built b;

	header_sample(&hdr);
	hdr.id.kind = VSTREAM_KIND_MDEV;
	strcpy(hdr.id.mdev_type, "mtty-2");
	strcpy(hdr.id.device_name, "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001");
	build(&b, NULL, &hdr, one, 1, 3);
	read_all(NULL, b.buf, b.len, 0, &log);
	EXPECT(log.rc == 0 && log.header.id.kind == VSTREAM_KIND_MDEV &&
	      !strcmp(log.header.id.mdev_type, "mtty-2") && log.header.id.vendor == 0 &&
	      !strcmp(log.header.id.host_name, "source.example") &&
	      log.header.id.created == hdr.id.created && log.header.id.stop_copy_estimate == 123456,
	      "an mdev identity round-trips and carries no PCI ids");
	built_free(&b);
	header_sample(&hdr);
	build(&b, NULL, &hdr, one, 1, 3);
	read_all(NULL, b.buf, b.len, 0, &log);
	EXPECT(log.rc == 0 && log.header.id.vendor == 0x15b3 && log.header.id.device == 0x101e &&
	      log.header.id.subsystem_device == 0x0063 && log.header.id.class_code == 0x020000 &&
	      log.header.id.revision == 1 && !strcmp(log.header.id.driver, "mlx5_vfio_pci") &&
	      log.header.id.migration_flags == 7 && !memcmp(log.header.stream_id, hdr.stream_id, 16) &&
	      log.header.digest == VSTREAM_DIGEST_SHA256 && log.header.size == b.rec_at[0],
	      "a PCI identity round-trips field by field");
	built_free(&b);
}

static void test_keys(void)
{
	static const struct spec one[] = { { VSTREAM_REC_PRECOPY, 10, false } };
	static const uint8_t short_bytes[8] = "short";
	const struct vstream_key short_key = { short_bytes, sizeof(short_bytes) };
	struct vstream_reader *r;
	struct event_log log;
	struct verr err = { 0 };
	struct built b;

	build(&b, &key_a, NULL, one, 1, 3);
	read_all(&key_b, b.buf, b.len, 0, &log);
	EXPECT(log.rc == -EKEYREJECTED && log.class == VERR_USAGE && has_msg(&log, "wrong key") &&
	      log.n == 0, "a different key is refused as a wrong key, before any event");
	read_all(NULL, b.buf, b.len, 0, &log);
	EXPECT(log.rc == -EKEYREJECTED && has_msg(&log, "stream is keyed; give --key-file"),
	      "a keyed stream read without a key asks for --key-file");
	built_free(&b);
	build(&b, NULL, NULL, one, 1, 3);
	read_all(&key_a, b.buf, b.len, 0, &log);
	EXPECT(log.rc == -EKEYREJECTED && has_msg(&log, "stream is not keyed, but a key was given"),
	      "a key given for an unkeyed stream is refused");
	built_free(&b);
	EXPECT(vstream_reader_new(&short_key, "test", &r, &err) == -EINVAL && err.class == VERR_USAGE,
	      "an 8-byte key is refused");
}

/* A header built by hand: version, flags and extra identity fields as given. */
static int read_with_header(uint16_t major, uint16_t minor, uint32_t flags, const uint8_t *extra,
			    size_t extra_len, struct event_log *log)
{
	static const struct spec one[] = { { VSTREAM_REC_PRECOPY, 10, false } };
	struct vstream_header hdr;
	struct built b;

	header_sample(&hdr);
	hdr.major = major;
	hdr.minor = minor;
	hdr.flags = flags;
	hdr.extra_fields = extra;
	hdr.extra_len = extra_len;
	build(&b, NULL, &hdr, one, 1, 3);
	read_all(NULL, b.buf, b.len, 0, log);
	built_free(&b);
	return log->rc;
}

static void test_versions(void)
{
	static const uint8_t future_field[] = { 0x34, 0x12, 3, 0, 'a', 'b', 'c' };
	static const uint8_t twice[] = { 6, 0, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8 };
	struct event_log log;

	EXPECT(read_with_header(1, 7, 0, future_field, sizeof(future_field), &log) == 0 &&
	      log.header.minor == 7 && log.header.unknown_fields == 1 && last_is_trailer(&log),
	      "a newer minor version with an unknown identity field is read, the field skipped");
	EXPECT(read_with_header(2, 0, 0, NULL, 0, &log) == -EPROTONOSUPPORT &&
	      log.class == VERR_UNSUPPORTED && has_msg(&log, "stream format 2.0 is not supported"),
	      "a newer major version is refused");
	EXPECT(read_with_header(1, 0, 1u << 3, NULL, 0, &log) == -EPROTONOSUPPORT &&
	      has_msg(&log, "unknown required flags 0x0008"), "an unknown required flag is refused");
	EXPECT(read_with_header(1, 0, 1u << 20, NULL, 0, &log) == 0 && last_is_trailer(&log),
	      "an unknown optional flag is ignored");
	EXPECT(read_with_header(1, 0, 0, twice, sizeof(twice), &log) == -EBADMSG &&
	      has_msg(&log, "identity field 6 (migration flags) appears twice"),
	      "a known identity field given twice is refused");
}

static void test_record_types(void)
{
	static const struct spec skippable[] = {
		{ VSTREAM_REC_PRECOPY, 10, false }, { 0x8042, 300, false },
		{ VSTREAM_REC_STOPCOPY, 20, true },
	};
	static const struct spec unknown[] = {
		{ VSTREAM_REC_PRECOPY, 10, false }, { 0x0042, 300, false },
	};
	struct event_log log;
	struct built b;

	build(&b, NULL, NULL, skippable, 3, 3);
	read_all(NULL, b.buf, b.len, 0, &log);
	EXPECT(log.rc == 0 && log.n == 4 && log.ev[1].seq == 0 && log.ev[2].seq == 2 &&
	      last_is_trailer(&log) && log.totals.ntypes == 3 && log.totals.type[2].type == 0x8042,
	      "an unknown record type with the may-skip bit is skipped and still counted");
	built_free(&b);
	build(&b, NULL, NULL, unknown, 2, 3);
	read_all(NULL, b.buf, b.len, 0, &log);
	EXPECT(log.rc == -EPROTONOSUPPORT && log.n == 2 &&
	      has_msg(&log, "record 1 at byte ") && has_msg(&log, "unknown record type 0x0042"),
	      "an unknown record type without the may-skip bit is refused");
	built_free(&b);
}

static void test_slicing(void)
{
	static const struct spec specs[] = {
		{ VSTREAM_REC_PRECOPY, 700, false }, { VSTREAM_REC_PRECOPY, 0, false },
		{ VSTREAM_REC_STOPCOPY, 3000, true }, { VSTREAM_REC_STOPCOPY, 5000, false },
	};
	static const size_t slices[] = { 1, 2, 7, 20, 21, 4096 };
	struct event_log whole, sliced;
	struct built b;
	bool same = true;

	build(&b, &key_a, NULL, specs, 4, 3);
	read_all(&key_a, b.buf, b.len, 0, &whole);
	for (size_t i = 0; i < sizeof(slices) / sizeof(slices[0]); i++) {
		read_all(&key_a, b.buf, b.len, slices[i], &sliced);
		same = same && same_events(&whole, &sliced);
	}
	EXPECT(matches(&b, &whole) && same,
	      "slices of 1, 2, 7, 20, 21 and 4096 bytes give the events of one feed");
	b.buf[b.rec_at[2] + 40] ^= 1;
	read_all(&key_a, b.buf, b.len, 0, &whole);
	read_all(&key_a, b.buf, b.len, 1, &sliced);
	EXPECT(whole.rc < 0 && same_events(&whole, &sliced),
	      "byte-by-byte feeding gives the same events and error on a corrupt stream");
	built_free(&b);
}

/* The END payload's parser on its own: an empty payload may arrive as NULL (the fuzzer found
 * pointer arithmetic on it), and every length short of a digest is refused by name. */
static void test_trailer_parse(void)
{
	struct vstream_totals totals, some = { 0 };
	uint8_t digest[VSTREAM_DIGEST_LEN], in[VSTREAM_DIGEST_LEN] = { 1, 2, 3 };
	uint8_t payload[8 + VSTREAM_DIGEST_LEN];
	struct verr err = { 0 };
	size_t len;

	EXPECT(vstream_trailer_parse(NULL, 0, &totals, digest, "t", &err) == -EBADMSG &&
	      strstr(err.what, "trailer is too short"), "an empty END payload is too short");
	for (size_t n = 1; n < 8 + VSTREAM_DIGEST_LEN; n++) {
		memset(&err, 0, sizeof(err));
		EXPECT(vstream_trailer_parse(payload, n, &totals, digest, "t", &err) == -EBADMSG,
		      "an END payload of %zu bytes is refused", n);
	}
	len = vstream_trailer_payload(&some, in, payload);
	memset(&err, 0, sizeof(err));
	EXPECT(len == sizeof(payload) &&
	      vstream_trailer_parse(payload, len, &totals, digest, "t", &err) == 0 &&
	      totals.ntypes == 0 && memcmp(digest, in, sizeof(in)) == 0,
	      "an END payload without data records parses back");
}

int main(void)
{
	test_round_trips();
	test_big_records();
	test_identity();
	test_keys();
	test_versions();
	test_record_types();
	test_slicing();
	test_trailer_parse();
	return unit_done();
}
