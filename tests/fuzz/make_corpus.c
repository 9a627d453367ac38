/* Writes the seed streams of tests/fuzz/corpus/ with the stream writer: a mode
 * byte (bit 0: keyed with the fuzz key) followed by a complete stream. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/stream.h"

static const uint8_t key_bytes[32] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
};

static bool with_build;

static void seed(const char *path, unsigned mode, unsigned nrec, size_t size, uint16_t type)
{
	const struct vstream_key key = { key_bytes, sizeof(key_bytes) };
	const struct vstream_key *k = mode & 1 ? &key : NULL;
	struct vstream_header hdr;
	struct vstream_writer *w;
	struct vstream_encoder *enc;
	const uint8_t *h;
	uint8_t *raw = calloc(1, size + 1), *out = malloc(vstream_record_bound(size) + 4096);
	size_t len;
	FILE *f = fopen(path, "wb");

	vstream_header_init(&hdr, NULL);
	hdr.id.kind = VSTREAM_KIND_MDEV;
	strcpy(hdr.id.mdev_type, "mtty-2");
	if (with_build) {       /* format 1.1's build identity, fields 11-18 */
		strcpy(hdr.id.module, "mlx5_vfio_pci");
		strcpy(hdr.id.module_version, "0.1");
		strcpy(hdr.id.srcversion, "4E1B3C0D2A8F97E6C5D4B3A");
		strcpy(hdr.id.kernel_release, "6.12.0");
		strcpy(hdr.id.pf_driver, "mlx5_core");
		strcpy(hdr.id.pf_module_version, "1.0");
		strcpy(hdr.id.pf_srcversion, "0A9B8C7D6E5F4A3B2C1D0E9");
		strcpy(hdr.id.pf_firmware, "fw.version=16.35.2000 fw=16.35.2000");
	}
	vstream_writer_new(&hdr, k, &w, NULL);
	vstream_encoder_new(k, hdr.stream_id, &enc, NULL);
	vstream_writer_header(w, &h, &len);
	fputc((int)mode, f);
	fwrite(h, 1, len, f);
	for (unsigned i = 0; i < nrec; i++) {
		for (size_t j = 0; j < size; j++)
			raw[j] = (uint8_t)(i % 2 ? (size_t)rand() : j / 7);
		vstream_encode_record(enc, i == 1 ? type : VSTREAM_REC_STOPCOPY, i, 1, raw, size,
				      out, vstream_record_bound(size), &len, NULL);
		vstream_writer_add(w, out, len, NULL);
		fwrite(out, 1, len, f);
	}
	vstream_writer_finish(w, out, VSTREAM_TRAILER_MAX, &len, NULL);
	fwrite(out, 1, len, f);
	fclose(f);
	vstream_encoder_free(enc);
	vstream_writer_free(w);
	free(raw);
	free(out);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "tests/fuzz/corpus";
	char path[512];

	snprintf(path, sizeof(path), "%s/empty-unkeyed", dir);
	seed(path, 0x00, 0, 0, 0);
	snprintf(path, sizeof(path), "%s/three-unkeyed", dir);
	seed(path, 0x12, 3, 200, VSTREAM_REC_PRECOPY);
	snprintf(path, sizeof(path), "%s/three-keyed", dir);
	seed(path, 0x35, 3, 120, VSTREAM_REC_PRECOPY);
	snprintf(path, sizeof(path), "%s/skippable-keyed", dir);
	seed(path, 0x07, 3, 40, 0x8042);
	snprintf(path, sizeof(path), "%s/build-unkeyed", dir);
	with_build = true;
	seed(path, 0x12, 2, 64, VSTREAM_REC_PRECOPY);
	return 0;
}
