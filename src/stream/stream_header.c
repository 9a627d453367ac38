/* The stream header: fixed fields, the source device's identity as type-length-
 * value fields, a key check value and the header's own digest (docs §3). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/rand.h>

#include "stream.h"

/* Offsets in the fixed part. */
enum {
	HDR_MAGIC = 0, HDR_MAJOR = 8, HDR_MINOR = 10, HDR_FLAGS = 12, HDR_DIGEST = 16,
	HDR_IDLEN = 20, HDR_STREAM_ID = 24, HDR_KEYCHECK = 40,
};

/* FIELD_TEXT: a string of printable ASCII (0x20-0x7e), shown in messages as it is. */
enum field_kind { FIELD_U8, FIELD_U64, FIELD_STRING, FIELD_TEXT, FIELD_PCI_IDS };
enum field_when { WHEN_ALWAYS, WHEN_NONEMPTY, WHEN_PCI };

#define PCI_IDS_LEN 13

/* The identity fields of format 1.0, in the order the encoder writes them. */
static const struct field {
	uint16_t tag;
	enum field_kind kind;
	enum field_when when;
	size_t offset, size;
	const char *name;
} fields[] = {
#define F(tag, kind, when, member, name) \
	{ tag, kind, when, offsetof(struct vstream_identity, member), \
	  sizeof(((struct vstream_identity *)0)->member), name }
	F(1, FIELD_U8, WHEN_ALWAYS, kind, "device kind"),
	F(2, FIELD_STRING, WHEN_NONEMPTY, device_name, "device name"),
	F(3, FIELD_PCI_IDS, WHEN_PCI, vendor, "PCI ids"),
	F(4, FIELD_STRING, WHEN_NONEMPTY, mdev_type, "mdev type"),
	F(5, FIELD_STRING, WHEN_NONEMPTY, driver, "driver"),
	F(6, FIELD_U64, WHEN_ALWAYS, migration_flags, "migration flags"),
	F(7, FIELD_U64, WHEN_ALWAYS, stop_copy_estimate, "stop-copy estimate"),
	F(8, FIELD_STRING, WHEN_NONEMPTY, vfiomig_version, "vfiomig version"),
	F(9, FIELD_STRING, WHEN_NONEMPTY, host_name, "host name"),
	F(10, FIELD_U64, WHEN_ALWAYS, created, "creation time"),
	/* 1.1 */
	F(11, FIELD_TEXT, WHEN_NONEMPTY, module, "driver module"),
	F(12, FIELD_TEXT, WHEN_NONEMPTY, module_version, "module version"),
	F(13, FIELD_TEXT, WHEN_NONEMPTY, srcversion, "module srcversion"),
	F(14, FIELD_TEXT, WHEN_NONEMPTY, kernel_release, "kernel release"),
	F(15, FIELD_TEXT, WHEN_NONEMPTY, pf_driver, "PF driver"),
	F(16, FIELD_TEXT, WHEN_NONEMPTY, pf_module_version, "PF module version"),
	F(17, FIELD_TEXT, WHEN_NONEMPTY, pf_srcversion, "PF module srcversion"),
	F(18, FIELD_TEXT, WHEN_NONEMPTY, pf_firmware, "PF firmware"),
#undef F
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static size_t field_len(const struct field *f, const struct vstream_identity *id)
{
	const char *p = (const char *)id + f->offset;

	switch (f->kind) {
	case FIELD_U8: return 1;
	case FIELD_U64: return 8;
	case FIELD_PCI_IDS: return PCI_IDS_LEN;
	case FIELD_STRING:
	case FIELD_TEXT: return strnlen(p, f->size - 1);
	}
	return 0;
}

static bool field_wanted(const struct field *f, const struct vstream_identity *id)
{
	if (f->when == WHEN_PCI)
		return id->kind == VSTREAM_KIND_PCI;
	return f->when == WHEN_ALWAYS || field_len(f, id) > 0;
}

static void field_put(const struct field *f, const struct vstream_identity *id, uint8_t *out)
{
	const char *p = (const char *)id + f->offset;

	switch (f->kind) {
	case FIELD_U8: out[0] = (uint8_t)id->kind; break;
	case FIELD_U64: vstream_put64(out, *(const uint64_t *)(const void *)p); break;
	case FIELD_STRING:
	case FIELD_TEXT: memcpy(out, p, field_len(f, id)); break;
	case FIELD_PCI_IDS:
		vstream_put16(out, id->vendor);
		vstream_put16(out + 2, id->device);
		vstream_put16(out + 4, id->subsystem_vendor);
		vstream_put16(out + 6, id->subsystem_device);
		vstream_put32(out + 8, id->class_code);
		out[12] = id->revision;
		break;
	}
}

/* Writes the identity fields at out; returns their length or -ENOSPC. */
static ssize_t identity_encode(const struct vstream_header *hdr, uint8_t *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		size_t len = field_len(f, &hdr->id);

		if (!field_wanted(f, &hdr->id))
			continue;
		if (n + 4 + len > cap)
			return -ENOSPC;
		vstream_put16(out + n, f->tag);
		vstream_put16(out + n + 2, (uint16_t)len);
		field_put(f, &hdr->id, out + n + 4);
		n += 4 + len;
	}
	if (hdr->extra_len > cap - n)
		return -ENOSPC;
	if (hdr->extra_len)
		memcpy(out + n, hdr->extra_fields, hdr->extra_len);
	return (ssize_t)(n + hdr->extra_len);
}

int vstream_header_init(struct vstream_header *hdr, struct verr *err)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->major = VSTREAM_VERSION_MAJOR;
	hdr->minor = VSTREAM_VERSION_MINOR;
	hdr->id.created = (uint64_t)time(NULL);
	if (RAND_bytes(hdr->stream_id, VSTREAM_ID_LEN) != 1)
		return verr_set(err, VERR_FAILED, EIO, NULL, NULL,
				"libcrypto: draw a random stream id");
	return 0;
}

static int header_sign(const struct vstream_digester *dg, uint8_t *out, size_t body)
{
	int rc = 0;

	if (vstream_digester_keyed(dg))
		rc = vstream_digest2(dg, VSTREAM_LABEL_KEYCHECK, out + HDR_STREAM_ID,
				     VSTREAM_ID_LEN, NULL, 0, out + HDR_KEYCHECK);
	if (rc == 0)
		rc = vstream_digest2(dg, VSTREAM_LABEL_HEADER, out, body, NULL, 0, out + body);
	return rc;
}

int vstream_header_encode(const struct vstream_header *hdr, const struct vstream_key *key,
			  uint8_t *out, size_t cap, size_t *len, struct verr *err)
{
	struct vstream_digester *dg;
	ssize_t idlen;
	int rc;

	if (cap < VSTREAM_HEADER_FIXED + VSTREAM_DIGEST_LEN)
		return verr_set(err, VERR_FAILED, ENOSPC, NULL, NULL, "encode stream header");
	if (!hdr->major)
		return verr_set(err, VERR_FAILED, EINVAL, NULL, NULL,
				"encode stream header: version 0 (header not initialized)");
	idlen = identity_encode(hdr, out + VSTREAM_HEADER_FIXED,
				cap - VSTREAM_HEADER_FIXED - VSTREAM_DIGEST_LEN);
	if (idlen < 0 || idlen > VSTREAM_IDENTITY_MAX)
		return verr_set(err, VERR_FAILED, ENOSPC, NULL, NULL,
				"encode stream header: identity fields too long");
	memset(out, 0, VSTREAM_HEADER_FIXED);
	memcpy(out + HDR_MAGIC, VSTREAM_MAGIC, VSTREAM_MAGIC_LEN);
	vstream_put16(out + HDR_MAJOR, hdr->major);
	vstream_put16(out + HDR_MINOR, hdr->minor);
	vstream_put32(out + HDR_FLAGS, hdr->flags);
	out[HDR_DIGEST] = key ? VSTREAM_DIGEST_HMAC_SHA256 : VSTREAM_DIGEST_SHA256;
	vstream_put32(out + HDR_IDLEN, (uint32_t)idlen);
	memcpy(out + HDR_STREAM_ID, hdr->stream_id, VSTREAM_ID_LEN);
	rc = vstream_digester_new(key, &dg, err);
	if (rc < 0)
		return rc;
	rc = header_sign(dg, out, VSTREAM_HEADER_FIXED + (size_t)idlen);
	vstream_digester_free(dg);
	if (rc < 0)
		return verr_set(err, VERR_FAILED, -rc, NULL, NULL, "libcrypto: digest the header");
	*len = VSTREAM_HEADER_FIXED + (size_t)idlen + VSTREAM_DIGEST_LEN;
	return 0;
}

static int header_bad(struct verr *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A corrupt header: VERR_DATA, "header: ..." */
static int header_bad(struct verr *err, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	verr_set(err, VERR_DATA, 0, NULL, NULL, "header: %s", what);
	return -EBADMSG;
}

static int field_get(const struct field *f, const uint8_t *v, size_t len,
		     struct vstream_identity *id)
{
	char *p = (char *)id + f->offset;

	switch (f->kind) {
	case FIELD_U8:
		if (len != 1 || !v[0])
			return -EINVAL;
		id->kind = v[0];
		return 0;
	case FIELD_U64:
		if (len != 8)
			return -EINVAL;
		*(uint64_t *)(void *)p = vstream_get64(v);
		return 0;
	case FIELD_TEXT:
		for (size_t i = 0; i < len; i++)
			if (v[i] < 0x20 || v[i] > 0x7e)
				return -EINVAL;
		/* fall through */
	case FIELD_STRING:
		if (len >= f->size || memchr(v, '\0', len))
			return -EINVAL;
		memcpy(p, v, len);
		p[len] = '\0';
		return 0;
	case FIELD_PCI_IDS:
		if (len != PCI_IDS_LEN)
			return -EINVAL;
		id->vendor = vstream_get16(v);
		id->device = vstream_get16(v + 2);
		id->subsystem_vendor = vstream_get16(v + 4);
		id->subsystem_device = vstream_get16(v + 6);
		id->class_code = vstream_get32(v + 8);
		id->revision = v[12];
		return 0;
	}
	return -EINVAL;
}

static const struct field *field_find(uint16_t tag, unsigned *index)
{
	for (unsigned i = 0; i < NFIELDS; i++)
		if (fields[i].tag == tag) {
			*index = i;
			return &fields[i];
		}
	return NULL;
}

/* Reads the identity fields; unknown tags are skipped (a newer minor version). */
static int identity_decode(const uint8_t *p, size_t len, struct vstream_header *hdr,
			   struct verr *err)
{
	uint32_t seen = 0;
	size_t off = 0;

	while (off < len) {
		const struct field *f;
		unsigned index;
		uint16_t tag, flen;

		if (len - off < 4 || vstream_get16(p + off + 2) > len - off - 4)
			return header_bad(err, "identity field at byte %zu is cut short",
					  VSTREAM_HEADER_FIXED + off);
		tag = vstream_get16(p + off);
		flen = vstream_get16(p + off + 2);
		f = field_find(tag, &index);
		if (!f)
			hdr->unknown_fields++;
		else if (seen & (1u << index))
			return header_bad(err, "identity field %u (%s) appears twice", tag, f->name);
		else if (field_get(f, p + off + 4, flen, &hdr->id) < 0)
			return header_bad(err, "identity field %u (%s) is malformed", tag, f->name);
		if (f)
			seen |= 1u << index;
		off += 4 + (size_t)flen;
	}
	if (!(seen & 1u))
		return header_bad(err, "identity field %u (%s) is missing", fields[0].tag,
				  fields[0].name);
	return 0;
}

/* Checks what the fixed part says before the rest is read: magic, version,
 * digest, key presence, size. *need gets the bytes the header needs. */
static int header_check_fixed(const uint8_t *buf, size_t size, bool keyed_reader,
			      size_t *need, struct verr *err)
{
	unsigned major, minor, alg, idlen;

	*need = VSTREAM_HEADER_FIXED;
	if (memcmp(buf, VSTREAM_MAGIC, size < VSTREAM_MAGIC_LEN ? size : VSTREAM_MAGIC_LEN))
		return header_bad(err, "not a vfiomig stream (bad magic)");
	if (size < VSTREAM_HEADER_FIXED)
		return -EAGAIN;
	major = vstream_get16(buf + HDR_MAJOR);
	minor = vstream_get16(buf + HDR_MINOR);
	if (major != VSTREAM_VERSION_MAJOR) {
		verr_set(err, VERR_UNSUPPORTED, 0, NULL,
			 major > VSTREAM_VERSION_MAJOR ? "read it with a newer vfiomig" : NULL,
			 "header: stream format %u.%u is not supported (this vfiomig reads %u.x)",
			 major, minor, VSTREAM_VERSION_MAJOR);
		return -EPROTONOSUPPORT;
	}
	alg = buf[HDR_DIGEST];
	if (!vstream_digest_name(alg)) {
		verr_set(err, VERR_UNSUPPORTED, 0, NULL, NULL,
			 "header: unknown digest algorithm %u", alg);
		return -EPROTONOSUPPORT;
	}
	if (alg == VSTREAM_DIGEST_HMAC_SHA256 && !keyed_reader) {
		verr_set(err, VERR_USAGE, 0, NULL, "the writer used a key; read it with the same key",
			 "stream is keyed; give --key-file");
		return -EKEYREJECTED;
	}
	if (alg == VSTREAM_DIGEST_SHA256 && keyed_reader) {
		verr_set(err, VERR_USAGE, 0, NULL, "omit --key-file to read an unkeyed stream",
			 "stream is not keyed, but a key was given");
		return -EKEYREJECTED;
	}
	idlen = vstream_get32(buf + HDR_IDLEN);
	if (idlen > VSTREAM_IDENTITY_MAX)
		return header_bad(err, "identity area of %u bytes exceeds the %u-byte limit",
				  idlen, VSTREAM_IDENTITY_MAX);
	*need = VSTREAM_HEADER_FIXED + idlen + VSTREAM_DIGEST_LEN;
	return size < *need ? -EAGAIN : 0;
}

static int header_verify(const uint8_t *buf, size_t body, const struct vstream_digester *dg,
			 struct verr *err)
{
	uint8_t want[VSTREAM_DIGEST_LEN];
	int rc = 0;

	if (vstream_digester_keyed(dg)) {
		rc = vstream_digest2(dg, VSTREAM_LABEL_KEYCHECK, buf + HDR_STREAM_ID,
				     VSTREAM_ID_LEN, NULL, 0, want);
		if (rc == 0 && !vstream_digest_equal(want, buf + HDR_KEYCHECK)) {
			verr_set(err, VERR_USAGE, 0, NULL,
				 "give the key file the stream was written with",
				 "wrong key: the stream was written with a different key");
			return -EKEYREJECTED;
		}
	}
	if (rc == 0)
		rc = vstream_digest2(dg, VSTREAM_LABEL_HEADER, buf, body, NULL, 0, want);
	if (rc < 0)
		return verr_set(err, VERR_FAILED, -rc, NULL, NULL, "libcrypto: digest the header");
	if (!vstream_digest_equal(want, buf + body))
		return header_bad(err, "digest mismatch");
	return 0;
}

static int header_fill(const uint8_t *buf, size_t len, struct vstream_header *hdr,
		       struct verr *err)
{
	uint32_t unknown;

	memset(hdr, 0, sizeof(*hdr));
	hdr->major = vstream_get16(buf + HDR_MAJOR);
	hdr->minor = vstream_get16(buf + HDR_MINOR);
	hdr->flags = vstream_get32(buf + HDR_FLAGS);
	hdr->digest = buf[HDR_DIGEST];
	memcpy(hdr->stream_id, buf + HDR_STREAM_ID, VSTREAM_ID_LEN);
	memcpy(hdr->digest_value, buf + len - VSTREAM_DIGEST_LEN, VSTREAM_DIGEST_LEN);
	hdr->size = len;
	unknown = hdr->flags & VSTREAM_FLAGS_REQUIRED & ~VSTREAM_FLAGS_KNOWN;
	if (unknown) {
		verr_set(err, VERR_UNSUPPORTED, 0, NULL, "read it with a newer vfiomig",
			 "header: unknown required flags 0x%04x", unknown);
		return -EPROTONOSUPPORT;
	}
	hdr->id.build_recorded = hdr->minor >= 1;
	return identity_decode(buf + VSTREAM_HEADER_FIXED,
			       len - VSTREAM_HEADER_FIXED - VSTREAM_DIGEST_LEN, hdr, err);
}

int vstream_header_decode(const uint8_t *buf, size_t size, const struct vstream_key *key,
			  struct vstream_header *hdr, size_t *len, struct verr *err)
{
	struct vstream_digester *dg;
	size_t need;
	int rc;

	rc = header_check_fixed(buf, size, key != NULL, &need, err);
	*len = need;
	if (rc < 0)
		return rc;
	rc = vstream_digester_new(key, &dg, err);
	if (rc < 0)
		return rc;
	rc = header_verify(buf, need - VSTREAM_DIGEST_LEN, dg, err);
	vstream_digester_free(dg);
	if (rc < 0)
		return rc;
	return header_fill(buf, need, hdr, err);
}
