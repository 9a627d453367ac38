/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Names of the stream format's record types, codecs, digests and device kinds:
 * one table each, used for printing and for deciding what a reader knows. */
#include <stddef.h>

#include "stream.h"

struct vstream_name {
	unsigned value;
	const char *name;
};

/* The record types this version reads; anything else is skipped or refused. */
static const struct vstream_name type_names[] = {
	{ VSTREAM_REC_PRECOPY, "precopy" },
	{ VSTREAM_REC_STOPCOPY, "stopcopy" },
	{ VSTREAM_REC_END, "end" },
};

static const struct vstream_name codec_names[] = {
	{ VSTREAM_CODEC_STORED, "stored" },
	{ VSTREAM_CODEC_ZSTD, "zstd" },
};

static const struct vstream_name digest_names[] = {
	{ VSTREAM_DIGEST_SHA256, "sha256" },
	{ VSTREAM_DIGEST_HMAC_SHA256, "hmac-sha256" },
};

static const struct vstream_name kind_names[] = {
	{ VSTREAM_KIND_PCI, "pci" },
	{ VSTREAM_KIND_MDEV, "mdev" },
};

#define LOOKUP(table, v) lookup(table, sizeof(table) / sizeof(table[0]), v)

static const char *lookup(const struct vstream_name *table, size_t n, unsigned value)
{
	for (size_t i = 0; i < n; i++)
		if (table[i].value == value)
			return table[i].name;
	return NULL;
}

const char *vstream_type_name(uint16_t type)
{
	return LOOKUP(type_names, type);
}

bool vstream_type_known(uint16_t type)
{
	return vstream_type_name(type) != NULL;
}

const char *vstream_codec_name(unsigned codec)
{
	return LOOKUP(codec_names, codec);
}

const char *vstream_digest_name(unsigned alg)
{
	return LOOKUP(digest_names, alg);
}

const char *vstream_kind_name(unsigned kind)
{
	return LOOKUP(kind_names, kind);
}
