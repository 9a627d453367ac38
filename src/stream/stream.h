/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The stream layer: vfiomig's framed, versioned migration-data format (see
 * docs/stream-format.md) as pure functions over byte buffers — no fds, no threads. */
#ifndef VFIOMIG_STREAM_H
#define VFIOMIG_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/verr.h"

#define VSTREAM_MAGIC            "\x89VFMIG\r\n"
#define VSTREAM_MAGIC_LEN        8
#define VSTREAM_VERSION_MAJOR    1
#define VSTREAM_VERSION_MINOR    1         /* 1.1: build identity fields 11-18 */
#define VSTREAM_ID_LEN           16
#define VSTREAM_DIGEST_LEN       32

#define VSTREAM_HEADER_FIXED     72          /* bytes before the identity fields */
#define VSTREAM_IDENTITY_MAX     4096        /* identity field area limit */
#define VSTREAM_HEADER_MAX       (VSTREAM_HEADER_FIXED + VSTREAM_IDENTITY_MAX + VSTREAM_DIGEST_LEN)
#define VSTREAM_RECORD_HEAD      20          /* record bytes before the payload */
#define VSTREAM_RECORD_RAW_MAX   (16u << 20) /* payload limit, raw and stored */
#define VSTREAM_MAX_TYPES        32          /* distinct record types in one stream */
#define VSTREAM_TRAILER_MAX      (VSTREAM_RECORD_HEAD + 8 + 32 * VSTREAM_MAX_TYPES + \
				  VSTREAM_DIGEST_LEN + VSTREAM_DIGEST_LEN)
#define VSTREAM_KEY_MIN          16
#define VSTREAM_KEY_MAX          4096

/* Header flags: bits 0-15 must be understood, bits 16-31 may be ignored. None is
 * defined in format 1.0. */
#define VSTREAM_FLAGS_REQUIRED   0x0000ffffu
#define VSTREAM_FLAGS_KNOWN      0u

/* Record types; bit 15 set means a reader that does not know the type may skip it. */
enum vstream_type {
	VSTREAM_REC_PRECOPY = 1,        /* data read from the device in PRE_COPY */
	VSTREAM_REC_STOPCOPY = 2,       /* data read from the device in STOP_COPY */
	VSTREAM_REC_END = 3,            /* the trailer */
	VSTREAM_REC_MAY_SKIP = 0x8000,
};

enum vstream_codec { VSTREAM_CODEC_STORED = 0, VSTREAM_CODEC_ZSTD = 1 };
enum vstream_digest_alg { VSTREAM_DIGEST_SHA256 = 1, VSTREAM_DIGEST_HMAC_SHA256 = 2 };
enum vstream_kind { VSTREAM_KIND_PCI = 1, VSTREAM_KIND_MDEV = 2 };

/* A secret shared by writer and reader; the bytes stay owned by the caller. */
struct vstream_key {
	const uint8_t *data;
	size_t len;                     /* VSTREAM_KEY_MIN..VSTREAM_KEY_MAX */
};

/* The source device as the header describes it; strings are NUL-terminated, ""
 * and 0 when unknown. Encoded as type-length-value fields (docs §3.2). */
struct vstream_identity {
	enum vstream_kind kind;
	char device_name[64];           /* BDF or UUID on the source host */
	uint16_t vendor, device, subsystem_vendor, subsystem_device;  /* PCI only */
	uint32_t class_code;            /* 24 bits, PCI only */
	uint8_t revision;               /* PCI only */
	char mdev_type[64];             /* mdev only, "mtty-2" */
	char driver[64];
	uint64_t migration_flags;       /* VMIG_FLAG_* */
	uint64_t stop_copy_estimate;    /* bytes, from MIG_DATA_SIZE; 0 when unknown */
	char vfiomig_version[32];
	char host_name[256];
	uint64_t created;               /* seconds since the epoch, UTC */
	/* Format 1.1: what decides in practice whether a driver reads the state (the
	 * device layer's struct vdev_build; docs §2.1). */
	char module[64];                /* the driver's module */
	char module_version[64];
	char srcversion[64];
	char kernel_release[65];
	char pf_driver[64];             /* a VF's PF */
	char pf_module_version[64];
	char pf_srcversion[64];
	char pf_firmware[512];
	/* Decoder: the writer knew fields 11-18 (format 1.1 or later), so an absent one
	 * means "the host had none", not "not recorded". Encoder: ignored. */
	bool build_recorded;
};

struct vstream_header {
	uint16_t major, minor;          /* the encoder writes what is here */
	uint32_t flags;
	enum vstream_digest_alg digest; /* set by the decoder; the encoder derives it */
	uint8_t stream_id[VSTREAM_ID_LEN];
	struct vstream_identity id;
	/* Encoder: extra well-formed TLV fields appended verbatim (tests, future use).
	 * Decoder: NULL; unknown_fields counts the fields it skipped. */
	const uint8_t *extra_fields;
	size_t extra_len;
	unsigned unknown_fields;
	uint8_t digest_value[VSTREAM_DIGEST_LEN];  /* decoder: the header's own digest */
	size_t size;                    /* decoder: encoded bytes */
};

/* Totals per record type, in the trailer; data records only (END is not counted). */
struct vstream_type_total {
	uint16_t type;
	uint64_t records, raw_bytes, stored_bytes;
};

struct vstream_totals {
	unsigned ntypes;                /* entries in type[], ascending by type */
	struct vstream_type_total type[VSTREAM_MAX_TYPES];
	uint64_t records, raw_bytes, stored_bytes;  /* sums over type[] */
};

/* stream_names.c: names from one table, for printing and parsing. */
const char *vstream_type_name(uint16_t type);     /* "precopy"; NULL if unknown */
const char *vstream_codec_name(unsigned codec);   /* "zstd"; NULL if unknown */
const char *vstream_digest_name(unsigned alg);    /* "hmac-sha256"; NULL if unknown */
const char *vstream_kind_name(unsigned kind);     /* "pci"; NULL if unknown */
bool vstream_type_known(uint16_t type);           /* a type this version reads */
/* Checks a key's length; VERR_USAGE on failure. NULL key is fine (unkeyed). */
int vstream_key_check(const struct vstream_key *key, struct verr *err);

/* stream_header.c */
/* Current version, no flags, a random stream id, created = now; identity zeroed. */
int vstream_header_init(struct vstream_header *hdr, struct verr *err);
/* Writes the header (keyed when key is given) into out; -ENOSPC if cap is short
 * (VSTREAM_HEADER_MAX always suffices). */
int vstream_header_encode(const struct vstream_header *hdr, const struct vstream_key *key,
			  uint8_t *out, size_t cap, size_t *len, struct verr *err);
/* Parses and verifies a complete header at the start of buf; *len gets its size.
 * -EAGAIN (no error recorded) when buf holds only part of it. */
int vstream_header_decode(const uint8_t *buf, size_t size, const struct vstream_key *key,
			  struct vstream_header *hdr, size_t *len, struct verr *err);

/* stream_record.c: one record at a time; one encoder or decoder per thread. */
struct vstream_encoder;
struct vstream_decoder;

struct vstream_record_head {
	uint16_t type;
	uint8_t codec;
	uint32_t raw_len, stored_len;
	uint64_t seq;
};

/* Bytes an encoded record of raw_len payload bytes may take: the output size
 * vstream_encode_record needs. */
size_t vstream_record_bound(size_t raw_len);
/* The level that stores payloads without trying zstd (--no-compress). */
#define VSTREAM_LEVEL_STORED (-0x7fffffff - 1)
int vstream_encoder_new(const struct vstream_key *key, const uint8_t stream_id[VSTREAM_ID_LEN],
			struct vstream_encoder **out, struct verr *err);
void vstream_encoder_free(struct vstream_encoder *enc);
/* Makes enc encode for another stream with the same key (one encoder per thread,
 * whatever stream its records belong to). */
void vstream_encoder_set_stream(struct vstream_encoder *enc,
				const uint8_t stream_id[VSTREAM_ID_LEN]);
/*
 * Encodes raw[0..raw_len) as one record of the given type and sequence number
 * into out (cap >= vstream_record_bound(raw_len)). level is a zstd level
 * (negative = fast; 0 = default); the payload is stored when zstd does not make
 * it smaller. Type END is refused: vstream_writer_finish writes it.
 */
int vstream_encode_record(struct vstream_encoder *enc, uint16_t type, uint64_t seq, int level,
			  const void *raw, size_t raw_len, uint8_t *out, size_t cap,
			  size_t *len, struct verr *err);

/* Parses the VSTREAM_RECORD_HEAD bytes at buf and checks their bounds; the whole
 * record is then vstream_record_size() bytes. where prefixes error messages. */
int vstream_record_head_parse(const uint8_t *buf, struct vstream_record_head *head,
			      const char *where, struct verr *err);
size_t vstream_record_size(const struct vstream_record_head *head);
int vstream_decoder_new(const struct vstream_key *key, const uint8_t stream_id[VSTREAM_ID_LEN],
			struct vstream_decoder **out, struct verr *err);
void vstream_decoder_free(struct vstream_decoder *dec);
/* Makes dec decode another stream's records (same key). */
void vstream_decoder_set_stream(struct vstream_decoder *dec,
				const uint8_t stream_id[VSTREAM_ID_LEN]);
/* Trades the buffer holding the last decompressed payload for *buf (capacity
 * *cap, may be NULL/0): the caller keeps the payload without copying it. */
void vstream_decoder_swap_output(struct vstream_decoder *dec, uint8_t **buf, size_t *cap);
/* Verifies the digest of the complete record rec[0..len) and, if that passes,
 * decompresses it. *data stays valid until the next call on dec. The sequence
 * number and type are the caller's to judge. */
int vstream_decode_record(struct vstream_decoder *dec, const uint8_t *rec, size_t len,
			  struct vstream_record_head *head, const uint8_t **data,
			  size_t *data_len, const char *where, struct verr *err);

/* stream_writer.c: the in-order part of writing: the header, then each encoded
 * record in sequence order, then the trailer. */
struct vstream_writer;

int vstream_writer_new(const struct vstream_header *hdr, const struct vstream_key *key,
		       struct vstream_writer **out, struct verr *err);
void vstream_writer_free(struct vstream_writer *w);
/* The encoded header, to be written first; valid while w lives. */
void vstream_writer_header(const struct vstream_writer *w, const uint8_t **buf, size_t *len);
const uint8_t *vstream_writer_stream_id(const struct vstream_writer *w);
uint64_t vstream_writer_next_seq(const struct vstream_writer *w);
/* Accounts one record made by an encoder with this stream's id and key; records
 * must come in sequence order (0, 1, 2, ...). The record's digest is trusted, not
 * recomputed: it goes into the stream digest as it is. */
int vstream_writer_add(struct vstream_writer *w, const uint8_t *rec, size_t len,
		       struct verr *err);
/* Writes the END record (cap >= VSTREAM_TRAILER_MAX); no record may follow. */
int vstream_writer_finish(struct vstream_writer *w, uint8_t *out, size_t cap, size_t *len,
			  struct verr *err);
const struct vstream_totals *vstream_writer_totals(const struct vstream_writer *w);

/* stream_reader.c: an incremental reader over slices of any size. */
struct vstream_reader;

enum vstream_event_kind {
	VSTREAM_EV_NONE = 0,            /* all input consumed, nothing complete yet */
	VSTREAM_EV_HEADER,
	VSTREAM_EV_RECORD,
	VSTREAM_EV_TRAILER,             /* verified; see vstream_reader_end() */
	VSTREAM_EV_SPLIT,               /* split mode: a complete record, NOT verified */
};

struct vstream_event {
	enum vstream_event_kind kind;
	uint64_t offset;                        /* stream byte where the item starts */
	const struct vstream_header *header;    /* HEADER */
	struct vstream_record_head record;      /* RECORD */
	const uint8_t *data;                    /* RECORD: verified, decompressed */
	size_t len;
	const struct vstream_totals *totals;    /* TRAILER: verified */
	const char *where;                      /* SPLIT: "record N at byte M" */
};

/* object names the stream in error messages (a file name, "stdin"); the key bytes
 * are copied. Memory: at most one record (2 x 16 MiB + 52 bytes) plus zstd's. */
int vstream_reader_new(const struct vstream_key *key, const char *object,
		       struct vstream_reader **out, struct verr *err);
void vstream_reader_free(struct vstream_reader *r);
/*
 * Consumes bytes from buf[0..len) until one event completes or the input is used
 * up; *used tells how many. Call again with the rest. Pointers in ev stay valid
 * until the next call. Errors: -EBADMSG (VERR_DATA: corrupt or truncated),
 * -EPROTONOSUPPORT (VERR_UNSUPPORTED: newer format), -EKEYREJECTED (VERR_USAGE:
 * key missing, wrong or superfluous); the message says "record N at byte M: ...".
 * After an error the reader refuses everything.
 */
int vstream_reader_feed(struct vstream_reader *r, const void *buf, size_t len, size_t *used,
			struct vstream_event *ev, struct verr *err);
/* At end of input: 0 when the trailer verified and nothing followed it, -EBADMSG
 * (incomplete, with what was missing) otherwise. Only then is a stream complete:
 * a restore finalizes after this returns 0, not at the TRAILER event. */
int vstream_reader_end(struct vstream_reader *r, struct verr *err);
uint64_t vstream_reader_offset(const struct vstream_reader *r);   /* bytes consumed */
/*
 * Direct input, to spare a copy: where the current item's next bytes go inside the
 * reader (*at), and how many the item still needs (0 after the trailer or an error).
 * Bytes read there and then passed to vstream_reader_feed at that same address are
 * not copied again. The place is valid until the next call on r; an item's need can
 * grow once its head is known (a record's head, then its body).
 */
size_t vstream_reader_space(struct vstream_reader *r, uint8_t **at);
/* The verified header; NULL before it was read. */
const struct vstream_header *vstream_reader_header(const struct vstream_reader *r);

/*
 * Split mode, for verifying records on several threads. Set before the first
 * record; from then on the reader only frames records: each complete one comes as
 * VSTREAM_EV_SPLIT, its encoded bytes in ev->data/len, unverified. Whoever verifies
 * and decodes it (vstream_decode_record, with a decoder of its own) hands the
 * result back IN STREAM ORDER to vstream_reader_accept, which does what depends on
 * order (sequence numbers, types, totals, stream digest, trailer) and yields the
 * RECORD or TRAILER event the reader would have; a record that failed goes to
 * vstream_reader_refuse instead. An error from accept or refuse wins over a
 * framing error that feed reported for a later byte. vstream_reader_end then
 * succeeds only once the trailer was accepted.
 */
void vstream_reader_split(struct vstream_reader *r);
/* digest: the record's last VSTREAM_DIGEST_LEN bytes; where, offset: ev's. */
int vstream_reader_accept(struct vstream_reader *r, const struct vstream_record_head *head,
			  const uint8_t digest[VSTREAM_DIGEST_LEN], const uint8_t *data,
			  size_t len, const char *where, uint64_t offset,
			  struct vstream_event *ev, struct verr *err);
/* Right after VSTREAM_EV_SPLIT: trades the buffer holding the record (ev->data,
 * which becomes the caller's) for *buf of *cap bytes (may be NULL/0), so the
 * record is kept without copying it. */
void vstream_reader_swap_buffer(struct vstream_reader *r, uint8_t **buf, size_t *cap);
/* Records rc and err (a record's decode failure) as the reader's failure and
 * returns rc; the stream's name goes into err. */
int vstream_reader_refuse(struct vstream_reader *r, int rc, struct verr *err);

/*
 * Building blocks shared by the stream files (and their tests): little-endian
 * fields, digests with the format's domain labels.
 */
static inline void vstream_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void vstream_put32(uint8_t *p, uint32_t v)
{
	vstream_put16(p, (uint16_t)v);
	vstream_put16(p + 2, (uint16_t)(v >> 16));
}
static inline void vstream_put64(uint8_t *p, uint64_t v)
{
	vstream_put32(p, (uint32_t)v);
	vstream_put32(p + 4, (uint32_t)(v >> 32));
}
static inline uint16_t vstream_get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t vstream_get32(const uint8_t *p)
{
	return vstream_get16(p) | (uint32_t)vstream_get16(p + 2) << 16;
}
static inline uint64_t vstream_get64(const uint8_t *p)
{
	return vstream_get32(p) | (uint64_t)vstream_get32(p + 4) << 32;
}

/* Domain labels: each digest input starts with one, 16 bytes, NUL padded. */
#define VSTREAM_LABEL_LEN        16
#define VSTREAM_LABEL_KEYCHECK   "vfiomig keycheck"
#define VSTREAM_LABEL_HEADER     "vfiomig header\0\0"
#define VSTREAM_LABEL_RECORD     "vfiomig record\0\0"
#define VSTREAM_LABEL_STREAM     "vfiomig stream\0\0"

/* SHA-256, or HMAC-SHA-256 when keyed: a template to start digests from. */
struct vstream_digester;
struct vstream_digest;          /* one digest in progress */

int vstream_digester_new(const struct vstream_key *key, struct vstream_digester **out,
			 struct verr *err);
void vstream_digester_free(struct vstream_digester *dg);
bool vstream_digester_keyed(const struct vstream_digester *dg);
/* Starts a digest whose input begins with label (VSTREAM_LABEL_LEN bytes). */
struct vstream_digest *vstream_digest_begin(const struct vstream_digester *dg, const char *label);
void vstream_digest_update(struct vstream_digest *d, const void *buf, size_t len);
/* Writes the result and frees d; -ENOMEM/-EIO if libcrypto failed somewhere. */
int vstream_digest_end(struct vstream_digest *d, uint8_t out[VSTREAM_DIGEST_LEN]);
/* One-shot: label || a || b. */
int vstream_digest2(const struct vstream_digester *dg, const char *label, const void *a,
		    size_t alen, const void *b, size_t blen, uint8_t out[VSTREAM_DIGEST_LEN]);
bool vstream_digest_equal(const uint8_t *a, const uint8_t *b);  /* constant time */
/* Builds a stored record of any type (the trailer; tests forging records) into out,
 * which holds VSTREAM_RECORD_HEAD + len + VSTREAM_DIGEST_LEN bytes. */
int vstream_record_build(const struct vstream_digester *dg, const uint8_t *stream_id,
			 uint16_t type, uint64_t seq, const void *payload, size_t len,
			 uint8_t *out);
/* Counts a data record in totals; -ENOSPC past VSTREAM_MAX_TYPES distinct types. */
int vstream_totals_add(struct vstream_totals *totals, const struct vstream_record_head *head);
/* The END record's payload: totals and the stream digest; returns its length. */
size_t vstream_trailer_payload(const struct vstream_totals *totals,
			       const uint8_t stream_digest[VSTREAM_DIGEST_LEN], uint8_t *out);
/* Parses an END payload; "where" prefixes errors (VERR_DATA, -EBADMSG). */
int vstream_trailer_parse(const uint8_t *payload, size_t len, struct vstream_totals *totals,
			  uint8_t stream_digest[VSTREAM_DIGEST_LEN], const char *where,
			  struct verr *err);

#endif
