/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One record of the stream: its 20-byte head, payload (zstd or stored) and
 * digest. Encoders and decoders are independent, so each worker thread owns one. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "stream.h"

/* Offsets in the record head. */
enum { REC_TYPE = 0, REC_CODEC = 2, REC_RAW = 4, REC_STORED = 8, REC_SEQ = 12 };

struct vstream_encoder {
	ZSTD_CCtx *cctx;
	struct vstream_digester *dg;
	uint8_t stream_id[VSTREAM_ID_LEN];
};

struct vstream_decoder {
	ZSTD_DCtx *dctx;
	struct vstream_digester *dg;
	uint8_t stream_id[VSTREAM_ID_LEN];
	uint8_t *out;                   /* decompressed payload */
	size_t out_cap;
};

static int record_bad(struct verr *err, enum verr_class class, const char *where,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A record refused: "WHERE: WHAT", -EBADMSG for corruption, -EPROTONOSUPPORT for
 * what a newer vfiomig may have written. */
static int record_bad(struct verr *err, enum verr_class class, const char *where,
		      const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	verr_set(err, class, 0, NULL, class == VERR_UNSUPPORTED ? "read it with a newer vfiomig" : NULL,
		 "%s: %s", where, what);
	return class == VERR_UNSUPPORTED ? -EPROTONOSUPPORT : -EBADMSG;
}

size_t vstream_record_bound(size_t raw_len)
{
	return VSTREAM_RECORD_HEAD + ZSTD_compressBound(raw_len) + VSTREAM_DIGEST_LEN;
}

int vstream_encoder_new(const struct vstream_key *key, const uint8_t stream_id[VSTREAM_ID_LEN],
			struct vstream_encoder **out, struct verr *err)
{
	struct vstream_encoder *enc = calloc(1, sizeof(*enc));
	int rc;

	*out = NULL;
	if (!enc || !(enc->cctx = ZSTD_createCCtx())) {
		vstream_encoder_free(enc);
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "allocate a record encoder");
	}
	rc = vstream_digester_new(key, &enc->dg, err);
	if (rc < 0) {
		vstream_encoder_free(enc);
		return rc;
	}
	memcpy(enc->stream_id, stream_id, VSTREAM_ID_LEN);
	*out = enc;
	return 0;
}

void vstream_encoder_free(struct vstream_encoder *enc)
{
	if (!enc)
		return;
	ZSTD_freeCCtx(enc->cctx);
	vstream_digester_free(enc->dg);
	free(enc);
}

void vstream_encoder_set_stream(struct vstream_encoder *enc,
				const uint8_t stream_id[VSTREAM_ID_LEN])
{
	memcpy(enc->stream_id, stream_id, VSTREAM_ID_LEN);
}

static int record_seal(const struct vstream_digester *dg, const uint8_t *stream_id,
		       uint8_t *rec, size_t body)
{
	return vstream_digest2(dg, VSTREAM_LABEL_RECORD, stream_id, VSTREAM_ID_LEN, rec, body,
			       rec + body);
}

/* Compresses into payload (cap bytes); returns the stored length and sets codec. */
static int record_compress(struct vstream_encoder *enc, int level, const void *raw,
			   size_t raw_len, uint8_t *payload, size_t cap, uint8_t *codec,
			   size_t *stored, struct verr *err)
{
	size_t n = raw_len;

	*codec = VSTREAM_CODEC_STORED;
	if (raw_len && level != VSTREAM_LEVEL_STORED) {
		ZSTD_CCtx_setParameter(enc->cctx, ZSTD_c_compressionLevel, level);
		n = ZSTD_compress2(enc->cctx, payload, cap, raw, raw_len);
		if (ZSTD_isError(n))
			return verr_set(err, VERR_FAILED, EIO, NULL, NULL, "zstd: compress: %s",
					ZSTD_getErrorName(n));
	}
	if (n < raw_len)
		*codec = VSTREAM_CODEC_ZSTD;
	else if (raw_len)
		memcpy(payload, raw, raw_len);
	*stored = *codec == VSTREAM_CODEC_ZSTD ? n : raw_len;
	return 0;
}

int vstream_encode_record(struct vstream_encoder *enc, uint16_t type, uint64_t seq, int level,
			  const void *raw, size_t raw_len, uint8_t *out, size_t cap,
			  size_t *len, struct verr *err)
{
	size_t stored = 0;
	uint8_t codec = VSTREAM_CODEC_STORED;
	int rc;

	if (!type || type == VSTREAM_REC_END || raw_len > VSTREAM_RECORD_RAW_MAX)
		return verr_set(err, VERR_FAILED, EINVAL, NULL, NULL,
				"encode record %llu: type %u, %zu bytes",
				(unsigned long long)seq, type, raw_len);
	if (level != VSTREAM_LEVEL_STORED && (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()))
		return verr_set(err, VERR_USAGE, EINVAL, NULL, NULL,
				"zstd level %d is outside %d..%d", level, ZSTD_minCLevel(),
				ZSTD_maxCLevel());
	if (cap < vstream_record_bound(raw_len))
		return verr_set(err, VERR_FAILED, ENOSPC, NULL, NULL, "encode record %llu",
				(unsigned long long)seq);
	rc = record_compress(enc, level, raw, raw_len, out + VSTREAM_RECORD_HEAD,
			     cap - VSTREAM_RECORD_HEAD - VSTREAM_DIGEST_LEN, &codec, &stored, err);
	if (rc < 0)
		return rc;
	memset(out, 0, VSTREAM_RECORD_HEAD);
	vstream_put16(out + REC_TYPE, type);
	out[REC_CODEC] = codec;
	vstream_put32(out + REC_RAW, (uint32_t)raw_len);
	vstream_put32(out + REC_STORED, (uint32_t)stored);
	vstream_put64(out + REC_SEQ, seq);
	rc = record_seal(enc->dg, enc->stream_id, out, VSTREAM_RECORD_HEAD + stored);
	if (rc < 0)
		return verr_set(err, VERR_FAILED, -rc, NULL, NULL, "libcrypto: digest record %llu",
				(unsigned long long)seq);
	*len = VSTREAM_RECORD_HEAD + stored + VSTREAM_DIGEST_LEN;
	return 0;
}

int vstream_record_build(const struct vstream_digester *dg, const uint8_t *stream_id,
			 uint16_t type, uint64_t seq, const void *payload, size_t len,
			 uint8_t *out)
{
	memset(out, 0, VSTREAM_RECORD_HEAD);
	vstream_put16(out + REC_TYPE, type);
	out[REC_CODEC] = VSTREAM_CODEC_STORED;
	vstream_put32(out + REC_RAW, (uint32_t)len);
	vstream_put32(out + REC_STORED, (uint32_t)len);
	vstream_put64(out + REC_SEQ, seq);
	if (len)
		memcpy(out + VSTREAM_RECORD_HEAD, payload, len);
	return record_seal(dg, stream_id, out, VSTREAM_RECORD_HEAD + len);
}

int vstream_record_head_parse(const uint8_t *buf, struct vstream_record_head *head,
			      const char *where, struct verr *err)
{
	head->type = vstream_get16(buf + REC_TYPE);
	head->codec = buf[REC_CODEC];
	head->raw_len = vstream_get32(buf + REC_RAW);
	head->stored_len = vstream_get32(buf + REC_STORED);
	head->seq = vstream_get64(buf + REC_SEQ);
	if (!vstream_codec_name(head->codec))
		return record_bad(err, VERR_UNSUPPORTED, where, "unknown codec %u", head->codec);
	if (head->raw_len > VSTREAM_RECORD_RAW_MAX)
		return record_bad(err, VERR_DATA, where,
				  "raw length %u exceeds the %u-byte limit", head->raw_len,
				  VSTREAM_RECORD_RAW_MAX);
	if (head->stored_len > head->raw_len)
		return record_bad(err, VERR_DATA, where, "stored length %u exceeds raw length %u",
				  head->stored_len, head->raw_len);
	if (head->codec == VSTREAM_CODEC_STORED && head->stored_len != head->raw_len)
		return record_bad(err, VERR_DATA, where,
				  "stored length %u differs from raw length %u without a codec",
				  head->stored_len, head->raw_len);
	return 0;
}

size_t vstream_record_size(const struct vstream_record_head *head)
{
	return VSTREAM_RECORD_HEAD + (size_t)head->stored_len + VSTREAM_DIGEST_LEN;
}

int vstream_decoder_new(const struct vstream_key *key, const uint8_t stream_id[VSTREAM_ID_LEN],
			struct vstream_decoder **out, struct verr *err)
{
	struct vstream_decoder *dec = calloc(1, sizeof(*dec));
	int rc;

	*out = NULL;
	if (!dec || !(dec->dctx = ZSTD_createDCtx())) {
		vstream_decoder_free(dec);
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "allocate a record decoder");
	}
	rc = vstream_digester_new(key, &dec->dg, err);
	if (rc < 0) {
		vstream_decoder_free(dec);
		return rc;
	}
	memcpy(dec->stream_id, stream_id, VSTREAM_ID_LEN);
	*out = dec;
	return 0;
}

void vstream_decoder_set_stream(struct vstream_decoder *dec,
				const uint8_t stream_id[VSTREAM_ID_LEN])
{
	memcpy(dec->stream_id, stream_id, VSTREAM_ID_LEN);
}

void vstream_decoder_swap_output(struct vstream_decoder *dec, uint8_t **buf, size_t *cap)
{
	uint8_t *out = dec->out;
	size_t out_cap = dec->out_cap;

	dec->out = *buf;
	dec->out_cap = *cap;
	*buf = out;
	*cap = out_cap;
}

void vstream_decoder_free(struct vstream_decoder *dec)
{
	if (!dec)
		return;
	ZSTD_freeDCtx(dec->dctx);
	vstream_digester_free(dec->dg);
	free(dec->out);
	free(dec);
}

static int record_inflate(struct vstream_decoder *dec, const struct vstream_record_head *head,
			  const uint8_t *payload, const char *where, struct verr *err)
{
	size_t n;

	if (dec->out_cap < head->raw_len) {
		uint8_t *bigger = realloc(dec->out, head->raw_len);

		if (!bigger)
			return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL,
					"%s: allocate %u bytes", where, head->raw_len);
		dec->out = bigger;
		dec->out_cap = head->raw_len;
	}
	n = ZSTD_decompressDCtx(dec->dctx, dec->out, head->raw_len, payload, head->stored_len);
	if (ZSTD_isError(n))
		return record_bad(err, VERR_DATA, where, "zstd: %s", ZSTD_getErrorName(n));
	if (n != head->raw_len)
		return record_bad(err, VERR_DATA, where, "decompressed to %zu bytes, not %u",
				  n, head->raw_len);
	return 0;
}

int vstream_decode_record(struct vstream_decoder *dec, const uint8_t *rec, size_t len,
			  struct vstream_record_head *head, const uint8_t **data,
			  size_t *data_len, const char *where, struct verr *err)
{
	uint8_t want[VSTREAM_DIGEST_LEN];
	size_t body;
	int rc;

	*data = NULL;
	*data_len = 0;
	if (len < VSTREAM_RECORD_HEAD)
		return record_bad(err, VERR_DATA, where, "record of %zu bytes is cut short", len);
	rc = vstream_record_head_parse(rec, head, where, err);
	if (rc < 0)
		return rc;
	if (len != vstream_record_size(head))
		return record_bad(err, VERR_DATA, where, "record of %zu bytes, its head says %zu",
				  len, vstream_record_size(head));
	body = VSTREAM_RECORD_HEAD + head->stored_len;
	rc = vstream_digest2(dec->dg, VSTREAM_LABEL_RECORD, dec->stream_id, VSTREAM_ID_LEN, rec,
			     body, want);
	if (rc < 0)
		return verr_set(err, VERR_FAILED, -rc, NULL, NULL, "%s: libcrypto: digest", where);
	if (!vstream_digest_equal(want, rec + body))
		return record_bad(err, VERR_DATA, where, "digest mismatch");
	if (head->codec == VSTREAM_CODEC_STORED) {
		*data = rec + VSTREAM_RECORD_HEAD;
	} else {
		rc = record_inflate(dec, head, rec + VSTREAM_RECORD_HEAD, where, err);
		if (rc < 0)
			return rc;
		*data = dec->out;
	}
	*data_len = head->raw_len;
	return 0;
}
