/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The versions of zstd and OpenSSL, run time and build time (stream_versions.h). */
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <zstd.h>

#include "stream_versions.h"

const char *stream_zstd_version(void)
{
	return ZSTD_versionString();
}

const char *stream_zstd_built_version(void)
{
	return ZSTD_VERSION_STRING;
}

const char *stream_crypto_version(void)
{
	return OpenSSL_version(OPENSSL_VERSION);
}

const char *stream_crypto_built_version(void)
{
	return OPENSSL_VERSION_TEXT;
}
