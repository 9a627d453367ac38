/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Per-thread rates of the work a vfiomig record costs, on 1 MiB chunks of the
 * generated device state (tests/double/content.h): zstd -1 compression, zstd
 * decompression, SHA-256 and HMAC-SHA-256 of the compressed chunk, and memcpy.
 * Rates are MB/s (10^6 bytes) per CPU-second of the thread that did the work
 * (CLOCK_THREAD_CPUTIME_ID), so other load on the machine does not lower them;
 * with THREADS > 1 every thread runs the same work at once and the aggregate
 * wall-clock rate is printed too (it shows whether the cores scale).
 * Build: cc -O2 -Itests/double -o rates bench/rates.c -lzstd -lcrypto -lpthread
 * Usage: rates [MIB [THREADS]]   (default 256 MiB, 1 thread) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <zstd.h>

#include "content.h"

#define CHUNK (1u << 20)

enum { W_COMPRESS, W_DECOMPRESS, W_SHA256, W_HMAC, W_MEMCPY, W_NR };

static const char *const work_name[W_NR] = {
	[W_COMPRESS] = "zstd -1 compress (raw bytes)",
	[W_DECOMPRESS] = "zstd decompress (raw bytes)",
	[W_SHA256] = "SHA-256 (compressed bytes)",
	[W_HMAC] = "HMAC-SHA-256 (compressed bytes)",
	[W_MEMCPY] = "memcpy",
};

struct task {
	unsigned chunks;
	unsigned char *raw, *zst, *out;         /* chunks x CHUNK each */
	size_t *zlen;
	double cpu[W_NR];                       /* CPU seconds */
	double bytes[W_NR];
};

static double now(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "rates: %s failed\n", what);
	exit(1);
}

static void run_compress(struct task *t, ZSTD_CCtx *cctx)
{
	for (unsigned i = 0; i < t->chunks; i++) {
		size_t n = ZSTD_compress2(cctx, t->zst + (size_t)i * ZSTD_compressBound(CHUNK),
					  ZSTD_compressBound(CHUNK), t->raw + (size_t)i * CHUNK, CHUNK);

		if (ZSTD_isError(n))
			die("ZSTD_compress2");
		t->zlen[i] = n;
		t->bytes[W_COMPRESS] += CHUNK;
	}
}

static void run_decompress(struct task *t, ZSTD_DCtx *dctx)
{
	for (unsigned i = 0; i < t->chunks; i++) {
		size_t n = ZSTD_decompressDCtx(dctx, t->out, CHUNK,
					       t->zst + (size_t)i * ZSTD_compressBound(CHUNK), t->zlen[i]);

		if (n != CHUNK)
			die("ZSTD_decompressDCtx");
		t->bytes[W_DECOMPRESS] += CHUNK;
	}
}

static void run_digest(struct task *t, int work, EVP_MD *md, EVP_MAC_CTX *key)
{
	unsigned char sum[EVP_MAX_MD_SIZE];

	for (unsigned i = 0; i < t->chunks; i++) {
		const unsigned char *p = t->zst + (size_t)i * ZSTD_compressBound(CHUNK);
		size_t len;

		if (work == W_SHA256) {
			EVP_MD_CTX *c = EVP_MD_CTX_new();

			if (!c || !EVP_DigestInit_ex2(c, md, NULL) || !EVP_DigestUpdate(c, p, t->zlen[i]) ||
			    !EVP_DigestFinal_ex(c, sum, NULL))
				die("SHA-256");
			EVP_MD_CTX_free(c);
		} else {
			EVP_MAC_CTX *c = EVP_MAC_CTX_dup(key);

			if (!c || !EVP_MAC_update(c, p, t->zlen[i]) ||
			    !EVP_MAC_final(c, sum, &len, sizeof(sum)))
				die("HMAC-SHA-256");
			EVP_MAC_CTX_free(c);
		}
		t->bytes[work] += (double)t->zlen[i];
	}
}

static void *task_main(void *arg)
{
	struct task *t = arg;
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *key = mac ? EVP_MAC_CTX_new(mac) : NULL;
	static const unsigned char secret[32] = "a 32-byte key for the benchmark";
	OSSL_PARAM params[2] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	double t0;

	if (!cctx || !dctx || !md || !key || !EVP_MAC_init(key, secret, sizeof(secret), params))
		die("setting up zstd and libcrypto");
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
	for (int w = 0; w < W_NR; w++) {
		t0 = now(CLOCK_THREAD_CPUTIME_ID);
		switch (w) {
		case W_COMPRESS:
			run_compress(t, cctx);
			break;
		case W_DECOMPRESS:
			run_decompress(t, dctx);
			break;
		case W_SHA256:
		case W_HMAC:
			run_digest(t, w, md, key);
			break;
		default:
			for (unsigned i = 0; i < t->chunks; i++) {
				memcpy(t->out, t->raw + (size_t)i * CHUNK, CHUNK);
				t->bytes[W_MEMCPY] += CHUNK;
			}
		}
		t->cpu[w] = now(CLOCK_THREAD_CPUTIME_ID) - t0;
	}
	ZSTD_freeCCtx(cctx);
	ZSTD_freeDCtx(dctx);
	EVP_MAC_CTX_free(key);
	EVP_MAC_free(mac);
	EVP_MD_free(md);
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned mib = argc > 1 ? (unsigned)atoi(argv[1]) : 256;
	unsigned nthreads = argc > 2 ? (unsigned)atoi(argv[2]) : 1;
	struct task *tasks;
	pthread_t *th;
	double wall, zbytes = 0;

	if (mib < 1 || nthreads < 1 || nthreads > 256) {
		fprintf(stderr, "usage: rates [MIB [THREADS]]\n");
		return 2;
	}
	tasks = calloc(nthreads, sizeof(*tasks));
	th = calloc(nthreads, sizeof(*th));
	if (!tasks || !th)
		die("calloc");
	for (unsigned k = 0; k < nthreads; k++) {
		struct task *t = &tasks[k];

		t->chunks = mib;
		t->raw = malloc((size_t)mib * CHUNK);
		t->zst = malloc((size_t)mib * ZSTD_compressBound(CHUNK));
		t->out = malloc(CHUNK);
		t->zlen = calloc(mib, sizeof(*t->zlen));
		if (!t->raw || !t->zst || !t->out || !t->zlen)
			die("malloc");
		/* Each thread its own part of the state, so no two share a cache line. */
		content_fill((uint64_t)k * mib * CHUNK, t->raw, (size_t)mib * CHUNK);
		memset(t->zst, 0, (size_t)mib * ZSTD_compressBound(CHUNK));
		memset(t->out, 0, CHUNK);
	}
	wall = now(CLOCK_MONOTONIC);
	for (unsigned k = 0; k < nthreads; k++)
		if (pthread_create(&th[k], NULL, task_main, &tasks[k]) != 0)
			die("pthread_create");
	for (unsigned k = 0; k < nthreads; k++)
		pthread_join(th[k], NULL);
	wall = now(CLOCK_MONOTONIC) - wall;
	for (unsigned i = 0; i < mib; i++)
		zbytes += (double)tasks[0].zlen[i];
	printf("rates: %u MiB of generated state in 1 MiB chunks, compressed to %.1f%% by zstd -1, "
	       "%u thread%s\n", mib, 100.0 * zbytes / ((double)mib * CHUNK), nthreads,
	       nthreads == 1 ? "" : "s");
	for (int w = 0; w < W_NR; w++) {
		double bytes = 0, cpu = 0;

		for (unsigned k = 0; k < nthreads; k++) {
			bytes += tasks[k].bytes[w];
			cpu += tasks[k].cpu[w];
		}
		printf("%-34s %8.0f MB/s per CPU-second\n", work_name[w], bytes / cpu / 1e6);
	}
	if (nthreads > 1) {
		double cpu = 0;

		for (unsigned k = 0; k < nthreads; k++)
			for (int w = 0; w < W_NR; w++)
				cpu += tasks[k].cpu[w];
		printf("all of it on %u threads at once: %.2f s wall for %.2f CPU-seconds\n",
		       nthreads, wall, cpu);
	}
	return 0;
}
