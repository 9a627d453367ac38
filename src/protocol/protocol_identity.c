/* SPDX-License-Identifier: GPL-2.0-or-later */
/* IDENTITY payloads: per device an unkeyed stream header (so identities are encoded
 * and checked by the stream layer's own code) plus protocol fields (vendor string). */
#include <errno.h>
#include <string.h>

#include "protocol_internal.h"

enum { FIELD_COMPAT = 1 };

/* Compatibility strings are printable ASCII, so that messages can show them as is. */
static bool compat_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

enum proto_compat proto_compat_compare(const char *source, const char *destination)
{
	if (!source[0] && !destination[0])
		return PROTO_COMPAT_NONE;
	if (!destination[0])
		return PROTO_COMPAT_SOURCE_ONLY;
	if (!source[0])
		return PROTO_COMPAT_DESTINATION_ONLY;
	return strcmp(source, destination) ? PROTO_COMPAT_DIFFERENT : PROTO_COMPAT_EQUAL;
}

/* The identity alone, as a header no record follows: fixed id, no key. */
static int header_put(const struct vstream_identity *id, uint8_t *out, size_t cap,
		      size_t *len, struct verr *err)
{
	struct vstream_header hdr;

	memset(&hdr, 0, sizeof(hdr));
	hdr.major = VSTREAM_VERSION_MAJOR;
	hdr.minor = VSTREAM_VERSION_MINOR;
	hdr.id = *id;
	return vstream_header_encode(&hdr, NULL, out, cap, len, err);
}

static ssize_t entry_put(const struct proto_device_identity *dev, uint8_t *out, size_t cap,
			 struct verr *err)
{
	size_t hlen, clen = strnlen(dev->compat, sizeof(dev->compat)), flen;
	int rc;

	if (cap < 4)
		return -ENOSPC;
	rc = header_put(&dev->id, out + 4, cap - 4, &hlen, err);
	if (rc < 0)
		return rc;
	if (clen > PROTO_COMPAT_MAX || !compat_printable(dev->compat))
		return -EINVAL;
	flen = clen ? 4 + clen : 0;
	if (cap - 4 - hlen < flen)
		return -ENOSPC;
	if (clen) {
		uint8_t *f = out + 4 + hlen;

		vstream_put16(f, FIELD_COMPAT);
		vstream_put16(f + 2, (uint16_t)clen);
		memcpy(f + 4, dev->compat, clen);
	}
	vstream_put16(out, (uint16_t)hlen);
	vstream_put16(out + 2, (uint16_t)flen);
	return (ssize_t)(4 + hlen + flen);
}

ssize_t proto_identity_encode(const struct proto_identity *ids, uint8_t *out, size_t cap,
			      struct verr *err)
{
	size_t off = 4;

	if (ids->count == 0 || ids->count > PROTO_MAX_DEVICES)
		return -EINVAL;
	if (cap < 4)
		return -ENOSPC;
	vstream_put16(out, (uint16_t)ids->count);
	vstream_put16(out + 2, 0);
	for (unsigned i = 0; i < ids->count; i++) {
		ssize_t n = entry_put(&ids->dev[i], out + off, cap - off, err);

		if (n < 0)
			return n;
		off += (size_t)n;
	}
	return (ssize_t)off;
}

/* Protocol fields after the header: tag (2), length (2), value; unknown tags skip. */
static int fields_get(const uint8_t *p, size_t len, struct proto_device_identity *dev,
		      unsigned index, struct verr *err)
{
	bool seen_compat = false;
	size_t off = 0;

	while (off < len) {
		uint16_t tag, flen;

		if (len - off < 4 || vstream_get16(p + off + 2) > len - off - 4)
			return proto_bad(err, "device %u: field at byte %zu is cut short", index, off);
		tag = vstream_get16(p + off);
		flen = vstream_get16(p + off + 2);
		if (tag == FIELD_COMPAT) {
			if (seen_compat ||
			    proto_get_string(dev->compat, sizeof(dev->compat), p + off + 4, flen) ||
			    !compat_printable(dev->compat))
				return proto_bad(err, "device %u: compatibility string is malformed",
						 index);
			seen_compat = true;
		}
		off += 4 + (size_t)flen;
	}
	return 0;
}

static int entry_get(const uint8_t *p, size_t len, struct proto_device_identity *dev,
		     unsigned index, size_t *used, struct verr *err)
{
	struct vstream_header hdr;
	struct verr local = { 0 };
	size_t hlen, flen, got;
	int rc;

	if (len < 4)
		return proto_bad(err, "device %u: entry is cut short", index);
	hlen = vstream_get16(p);
	flen = vstream_get16(p + 2);
	if (hlen > len - 4 || flen > len - 4 - hlen || flen > PROTO_ID_FIELDS_MAX)
		return proto_bad(err, "device %u: entry lengths %zu + %zu do not fit", index,
				 hlen, flen);
	rc = vstream_header_decode(p + 4, hlen, NULL, &hdr, &got, &local);
	if (rc < 0 || got != hlen)
		return proto_bad(err, "device %u: identity %s", index, local.set ? local.what :
				 rc == -EAGAIN ? "is cut short" : "has trailing bytes");
	memset(dev, 0, sizeof(*dev));
	dev->id = hdr.id;
	*used = 4 + hlen + flen;
	return fields_get(p + 4 + hlen, flen, dev, index, err);
}

int proto_identity_decode(const uint8_t *p, size_t len, struct proto_identity *ids,
			  struct verr *err)
{
	size_t off = 4;

	ids->count = vstream_get16(p);
	if (ids->count == 0 || ids->count > PROTO_MAX_DEVICES)
		return proto_bad(err, "%u devices (1 to %u allowed)", ids->count,
				 PROTO_MAX_DEVICES);
	for (unsigned i = 0; i < ids->count; i++) {
		size_t used;
		int rc = entry_get(p + off, len - off, &ids->dev[i], i, &used, err);

		if (rc < 0)
			return rc;
		off += used;
	}
	if (off != len)
		return proto_bad(err, "%zu bytes follow the last device", len - off);
	return 0;
}
