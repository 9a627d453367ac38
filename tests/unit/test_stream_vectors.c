/* The test vectors of docs/stream-format.md: each decodes, and re-encoding what
 * was decoded gives the same bytes. "test_stream_vectors --print" writes them. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "stream/stream.h"
#include "unit.h"

/* unit.h's CHECK evaluates its condition twice: evaluate once here. */
#define EXPECT(cond, ...) do {                                             \
	bool expect_ok_ = (cond);                                          \
	CHECK(expect_ok_, __VA_ARGS__);                                     \
} while (0)

#define VECTOR_LEVEL 3
#define DOC_PATH "docs/stream-format.md"

struct vector {
	const char *name;
	bool keyed;
	const char *hex;                /* as in the doc: "OFFSET: XX XX ..." lines */
};

static const uint8_t vector_key_bytes[32] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};
static const struct vstream_key vector_key = { vector_key_bytes, sizeof(vector_key_bytes) };

static const struct vector vectors[] = {
	{ "unkeyed", false,
		"0000: 89 56 46 4d 49 47 0d 0a 01 00 01 00 00 00 00 00\n"
		"0010: 01 00 00 00 8c 00 00 00 00 01 02 03 04 05 06 07\n"
		"0020: 08 09 0a 0b 0c 0d 0e 0f 00 00 00 00 00 00 00 00\n"
		"0030: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\n"
		"0040: 00 00 00 00 00 00 00 00 01 00 01 00 02 02 00 24\n"
		"0050: 00 38 33 62 38 66 34 66 32 2d 35 30 39 66 2d 33\n"
		"0060: 38 32 66 2d 33 63 31 65 2d 65 36 62 66 65 30 66\n"
		"0070: 61 31 30 30 31 04 00 06 00 6d 74 74 79 2d 32 05\n"
		"0080: 00 04 00 6d 74 74 79 06 00 08 00 07 00 00 00 00\n"
		"0090: 00 00 00 07 00 08 00 60 00 00 00 00 00 00 00 08\n"
		"00a0: 00 05 00 30 2e 31 2e 30 09 00 03 00 73 72 63 0a\n"
		"00b0: 00 08 00 00 f1 53 65 00 00 00 00 0b 00 04 00 6d\n"
		"00c0: 74 74 79 0c 00 03 00 30 2e 31 0e 00 06 00 36 2e\n"
		"00d0: 31 32 2e 30 61 83 46 99 5d 3b f3 4b 75 2e 40 03\n"
		"00e0: a0 f7 82 06 4d 1b 83 6d b4 62 63 ea 2e 53 14 de\n"
		"00f0: cc 07 5d d0 01 00 00 00 18 00 00 00 18 00 00 00\n"
		"0100: 00 00 00 00 00 00 00 00 4e 2c 3e 8c 89 09 9d 7e\n"
		"0110: 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00\n"
		"0120: 80 d8 9c 8c 78 d8 cb 4d 6f 45 ab fc 1c d4 ca 59\n"
		"0130: 95 f7 1b 33 01 ad c5 fa d1 1b 49 ac ce 34 a1 9b\n"
		"0140: 02 00 01 00 60 00 00 00 23 00 00 00 01 00 00 00\n"
		"0150: 00 00 00 00 28 b5 2f fd 20 60 d5 00 00 70 4e 2c\n"
		"0160: 3e 8c 89 09 9d 7e 01 00 02 00 0b 00 04 00 47 e1\n"
		"0170: 00 38 0c 36 1e 00 12 4a 38 c7 bc 6a ee e9 0b 9e\n"
		"0180: fc f5 78 11 c9 e2 d9 82 c3 d7 d6 e4 16 d6 01 5f\n"
		"0190: b8 c0 61 de 99 07 98 03 00 00 00 68 00 00 00 68\n"
		"01a0: 00 00 00 02 00 00 00 00 00 00 00 02 00 00 00 00\n"
		"01b0: 00 00 00 01 00 00 00 00 00 00 00 01 00 00 00 00\n"
		"01c0: 00 00 00 18 00 00 00 00 00 00 00 18 00 00 00 00\n"
		"01d0: 00 00 00 02 00 00 00 00 00 00 00 01 00 00 00 00\n"
		"01e0: 00 00 00 60 00 00 00 00 00 00 00 23 00 00 00 00\n"
		"01f0: 00 00 00 28 bc 31 a8 e1 6b cf 55 87 bc a7 63 54\n"
		"0200: 2b 56 b8 d3 1d d0 d8 99 27 f0 8a 4d a1 e4 0e 63\n"
		"0210: 2a f1 7a 32 78 cb a4 a0 d2 7e f5 8a 9d 6a 29 0e\n"
		"0220: c2 95 09 d0 21 e7 97 68 8d 1e 0b 23 2f 91 2c a5\n"
		"0230: 92 3b c9\n" },
	{ "keyed", true,
		"0000: 89 56 46 4d 49 47 0d 0a 01 00 01 00 00 00 00 00\n"
		"0010: 02 00 00 00 92 00 00 00 f0 f1 f2 f3 f4 f5 f6 f7\n"
		"0020: f8 f9 fa fb fc fd fe ff 80 cf 67 c1 b0 40 8e b9\n"
		"0030: e3 ff 90 2d d7 dc 68 41 49 43 73 0d cd 76 d7 bb\n"
		"0040: 9a c6 25 c0 f5 ee 8d 8e 01 00 01 00 01 02 00 0c\n"
		"0050: 00 30 30 30 30 3a 33 62 3a 30 30 2e 31 03 00 0d\n"
		"0060: 00 86 80 72 15 86 80 01 00 00 00 02 00 02 05 00\n"
		"0070: 08 00 76 66 69 6f 2d 70 63 69 06 00 08 00 07 00\n"
		"0080: 00 00 00 00 00 00 07 00 08 00 10 00 00 00 00 00\n"
		"0090: 00 00 08 00 05 00 30 2e 31 2e 30 09 00 01 00 61\n"
		"00a0: 0a 00 08 00 00 f1 53 65 00 00 00 00 0b 00 08 00\n"
		"00b0: 76 66 69 6f 5f 70 63 69 0e 00 06 00 36 2e 31 32\n"
		"00c0: 2e 30 0f 00 04 00 69 34 30 65 12 00 0c 00 66 77\n"
		"00d0: 2e 6d 67 6d 74 3d 39 2e 32 30 39 14 6b f6 9b d5\n"
		"00e0: 0e 5c 06 a9 ca d0 f4 85 f3 d3 fa bc 1e e4 29 ed\n"
		"00f0: c4 31 b4 a5 e5 f2 7e 21 a9 9e 02 00 00 00 10 00\n"
		"0100: 00 00 10 00 00 00 00 00 00 00 00 00 00 00 76 66\n"
		"0110: 69 6f 6d 69 67 20 76 65 63 74 6f 72 20 32 60 8b\n"
		"0120: 19 77 f4 3a 7b 3a 1e fa e1 40 c3 cd fa f0 67 14\n"
		"0130: e2 59 f4 ce 6a ee 29 b2 42 59 bb 07 a9 d9 03 00\n"
		"0140: 00 00 48 00 00 00 48 00 00 00 01 00 00 00 00 00\n"
		"0150: 00 00 01 00 00 00 00 00 00 00 02 00 00 00 00 00\n"
		"0160: 00 00 01 00 00 00 00 00 00 00 10 00 00 00 00 00\n"
		"0170: 00 00 10 00 00 00 00 00 00 00 92 35 86 6f 42 5b\n"
		"0180: 7c 15 18 96 51 61 12 d3 25 0e 54 8f 1b 32 5e c4\n"
		"0190: 4f da 32 e9 23 a4 c3 c0 6c 87 43 1f 54 75 cd 2c\n"
		"01a0: 3d cc b2 1e f3 90 58 98 f7 c7 f2 00 43 a4 7e 62\n"
		"01b0: 03 1b 59 25 1d da 14 7e 43 14\n" },
};

/* The inputs the vectors were made from: fixed stream ids and times. */
static void vector_header(bool keyed, struct vstream_header *hdr)
{
	vstream_header_init(hdr, NULL);
	for (unsigned i = 0; i < VSTREAM_ID_LEN; i++)
		hdr->stream_id[i] = (uint8_t)(keyed ? 0xf0 + i : i);
	hdr->id.created = 1700000000;
	strcpy(hdr->id.vfiomig_version, "0.1.0");
	hdr->id.migration_flags = 7;
	if (keyed) {
		hdr->id.kind = VSTREAM_KIND_PCI;
		strcpy(hdr->id.device_name, "0000:3b:00.1");
		hdr->id.vendor = 0x8086;
		hdr->id.device = 0x1572;
		hdr->id.subsystem_vendor = 0x8086;
		hdr->id.subsystem_device = 0x0001;
		hdr->id.class_code = 0x020000;
		hdr->id.revision = 2;
		strcpy(hdr->id.driver, "vfio-pci");
		strcpy(hdr->id.host_name, "a");
		hdr->id.stop_copy_estimate = 16;
		strcpy(hdr->id.module, "vfio_pci");
		strcpy(hdr->id.kernel_release, "6.12.0");
		strcpy(hdr->id.pf_driver, "i40e");
		strcpy(hdr->id.pf_firmware, "fw.mgmt=9.20");
	} else {
		hdr->id.kind = VSTREAM_KIND_MDEV;
		strcpy(hdr->id.device_name, "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001");
		strcpy(hdr->id.mdev_type, "mtty-2");
		strcpy(hdr->id.driver, "mtty");
		strcpy(hdr->id.host_name, "src");
		hdr->id.stop_copy_estimate = 96;
		strcpy(hdr->id.module, "mtty");
		strcpy(hdr->id.module_version, "0.1");
		strcpy(hdr->id.kernel_release, "6.12.0");
	}
}

/* An mtty-like blob: a 24-byte header and 36 mostly-zero bytes per port. */
static size_t vector_payload(bool keyed, unsigned index, uint8_t *out)
{
	static const uint8_t mtty_header[24] = {
		0x4e, 0x2c, 0x3e, 0x8c, 0x89, 0x09, 0x9d, 0x7e, 1, 0, 0, 0, 0, 0, 0, 0,
		2, 0, 0, 0, 0, 0, 0, 0,
	};

	if (keyed) {
		memcpy(out, "vfiomig vector 2", 16);
		return 16;
	}
	memcpy(out, mtty_header, sizeof(mtty_header));
	if (index == 0)
		return sizeof(mtty_header);
	memset(out + 24, 0, 72);
	out[24 + 4] = 0x0b;
	out[60 + 4] = 0x0b;
	return 96;
}

/* Writes a vector stream: header, its records, trailer. */
static size_t vector_build(bool keyed, uint8_t *out, size_t cap)
{
	const struct vstream_key *key = keyed ? &vector_key : NULL;
	struct vstream_header hdr;
	struct vstream_writer *w;
	struct vstream_encoder *enc;
	const uint8_t *h;
	uint8_t raw[128];
	size_t len, n = 0, nrec = keyed ? 1 : 2;

	vector_header(keyed, &hdr);
	vstream_writer_new(&hdr, key, &w, NULL);
	vstream_encoder_new(key, hdr.stream_id, &enc, NULL);
	vstream_writer_header(w, &h, &len);
	memcpy(out, h, len);
	n = len;
	for (unsigned i = 0; i < nrec; i++) {
		uint16_t type = keyed || i == 1 ? VSTREAM_REC_STOPCOPY : VSTREAM_REC_PRECOPY;
		size_t raw_len = vector_payload(keyed, i, raw);

		vstream_encode_record(enc, type, i, VECTOR_LEVEL, raw, raw_len, out + n, cap - n,
				      &len, NULL);
		vstream_writer_add(w, out + n, len, NULL);
		n += len;
	}
	vstream_writer_finish(w, out + n, cap - n, &len, NULL);
	vstream_encoder_free(enc);
	vstream_writer_free(w);
	return n + len;
}

static void print_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		printf("%04zx:", i);
		for (size_t j = i; j < n && j < i + 16; j++)
			printf(" %02x", p[j]);
		putchar('\n');
	}
}

/* Parses "OFFSET: XX XX ..." lines up to the first line that is not one. */
static size_t parse_hex(const char *text, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*text == '\n')
		text++;
	while (isxdigit((unsigned char)text[0]) && strchr(text, ':') == text + 4) {
		text += 5;
		while (*text == ' ' && n < cap) {
			out[n++] = (uint8_t)strtoul(text + 1, NULL, 16);
			text += 3;
		}
		if (*text != '\n')
			break;
		text++;
	}
	return n;
}

/* Decodes a vector and re-encodes what the reader yielded: header, records (at
 * the vectors' zstd level) and trailer must come out byte for byte. */
static bool reencodes(const uint8_t *stream, size_t len, const struct vstream_key *key)
{
	struct vstream_reader *r;
	struct vstream_writer *w = NULL;
	struct vstream_encoder *enc = NULL;
	uint8_t out[4096];
	size_t pos = 0, used, n;
	bool same = true, done = false;

	vstream_reader_new(key, "vector", &r, NULL);
	while (same && pos < len) {
		struct vstream_event ev;
		const uint8_t *h;

		if (vstream_reader_feed(r, stream + pos, len - pos, &used, &ev, NULL) < 0)
			same = false;
		if (ev.kind == VSTREAM_EV_HEADER) {
			same = vstream_writer_new(ev.header, key, &w, NULL) == 0 &&
			       vstream_encoder_new(key, ev.header->stream_id, &enc, NULL) == 0;
			vstream_writer_header(w, &h, &n);
			same = same && n == used && !memcmp(h, stream, n);
		} else if (ev.kind == VSTREAM_EV_RECORD) {
			same = vstream_encode_record(enc, ev.record.type, ev.record.seq, VECTOR_LEVEL,
						     ev.data, ev.len, out, sizeof(out), &n, NULL) == 0 &&
			       n == used && !memcmp(out, stream + pos, n) &&
			       vstream_writer_add(w, out, n, NULL) == 0;
		} else if (ev.kind == VSTREAM_EV_TRAILER) {
			same = vstream_writer_finish(w, out, sizeof(out), &n, NULL) == 0 &&
			       n == used && !memcmp(out, stream + pos, n);
			done = true;
		}
		pos += used;
	}
	same = same && done && vstream_reader_end(r, NULL) == 0;
	vstream_encoder_free(enc);
	vstream_writer_free(w);
	vstream_reader_free(r);
	return same;
}

static char *read_doc(void)
{
	FILE *f = fopen(DOC_PATH, "r");
	char *text = NULL;
	size_t size = 0;

	if (!f)
		return NULL;
	if (getdelim(&text, &size, '\0', f) < 0) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

static void check_vector(const struct vector *v, const char *doc)
{
	const struct vstream_key *key = v->keyed ? &vector_key : NULL;
	uint8_t parsed[4096], built[4096], from_doc[4096];
	size_t n = parse_hex(v->hex, parsed, sizeof(parsed));
	size_t m = vector_build(v->keyed, built, sizeof(built));
	char marker[64];
	const char *at;

	EXPECT(n > 0 && n == m && !memcmp(parsed, built, n),
	      "%s vector: the writer still produces it from its inputs", v->name);
	EXPECT(reencodes(parsed, n, key), "%s vector: decodes and re-encodes byte for byte", v->name);
	snprintf(marker, sizeof(marker), "<!-- vector %s -->\n```\n", v->name);
	at = doc ? strstr(doc, marker) : NULL;
	if (!doc)
		printf("ok %d - # SKIP %s not found from this directory\n", ++unit_count, DOC_PATH);
	else
		EXPECT(at && parse_hex(at + strlen(marker), from_doc, sizeof(from_doc)) == n &&
		      !memcmp(from_doc, parsed, n), "%s vector: %s shows the same bytes",
		      v->name, DOC_PATH);
}

int main(int argc, char **argv)
{
	uint8_t buf[4096];
	char *doc;

	if (argc > 1 && !strcmp(argv[1], "--print")) {
		for (int keyed = 0; keyed < 2; keyed++) {
			printf("<!-- vector %s -->\n```\n", keyed ? "keyed" : "unkeyed");
			print_hex(buf, vector_build(keyed, buf, sizeof(buf)));
			printf("```\n");
		}
		return 0;
	}
	doc = read_doc();
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		check_vector(&vectors[i], doc);
	free(doc);
	return unit_done();
}
