/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The versions of the libraries the stream is made with: zstd compresses it, OpenSSL's
 * libcrypto digests it. For `vfiomig --version`. */
#ifndef VFIOMIG_STREAM_VERSIONS_H
#define VFIOMIG_STREAM_VERSIONS_H

/* zstd's version as the running library reports it, and the one compiled against. */
const char *stream_zstd_version(void);
const char *stream_zstd_built_version(void);

/* OpenSSL's version text ("OpenSSL 3.0.19 ...") at run time, and the compiled one. */
const char *stream_crypto_version(void);
const char *stream_crypto_built_version(void);

#endif
