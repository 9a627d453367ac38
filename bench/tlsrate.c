/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ceiling of one TLS 1.3 connection over loopback TCP, apart from vfiomig: a
 * sender thread writes SIZE bytes through SSL_write in 1 MiB pieces, a receiver
 * thread reads them, both with a pre-shared key and the suite vfiomig uses
 * (TLS_AES_256_GCM_SHA384) unless another is named; "tcp" is the same without TLS.
 * Each side's CPU time (CLOCK_THREAD_CPUTIME_ID, user and kernel) per GiB tells
 * what one connection can carry when each end has a core of its own: the ceiling
 * is 1 / the busier side's CPU-seconds per byte. The wall-clock rate is printed
 * too, but on a small machine both ends share its cores. "pipe" moves the bytes
 * through a pipe grown to 1 MiB instead, as vfiomig's stdin and stdout are: the
 * least a save | restore pays to cross from one process to the other (1 MiB
 * writes, 64 KiB reads: the cheapest of the sizes tried here).
 * Build: cc -O2 -o tlsrate bench/tlsrate.c -lssl -lcrypto -lpthread
 * With "read-ahead", the receiver reads ahead into a 256 KiB buffer; with
 * "vfiomig", the sender also gathers records in a 256 KiB write buffer, as
 * vfiomig's transport does.
 * Usage: tlsrate [MIB [SUITE|tcp|pipe [read-ahead|vfiomig]]]   (default 1024 MiB) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define PIECE (1u << 20)
/* A pipe's reader takes 64 KiB at a time, as vfiomig restore does: reading 1 MiB at
 * a time costs the reader half as much again here (its buffer falls out of the
 * cache between the kernel's copy and the next read). */
#define PIPE_READ (64u << 10)

struct side {
	int fd;
	SSL_CTX *ctx;
	bool server;
	unsigned long long bytes;
	double cpu;
};

static const char *suite = "TLS_AES_256_GCM_SHA384";
static bool plain, pipe_mode, read_ahead, write_buffer;
static const unsigned char psk_key[48] = "a pre-shared key of 48 bytes for the benchmark";

static double now(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "tlsrate: %s failed\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static SSL_SESSION *psk_session(SSL *ssl)
{
	const SSL_CIPHER *cipher = NULL;
	STACK_OF(SSL_CIPHER) *list = SSL_get_ciphers(ssl);
	SSL_SESSION *s;

	for (int i = 0; list && i < sk_SSL_CIPHER_num(list); i++)
		if (!strcmp(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(list, i)), suite))
			cipher = sk_SSL_CIPHER_value(list, i);
	s = cipher ? SSL_SESSION_new() : NULL;
	if (!s || !SSL_SESSION_set1_master_key(s, psk_key, EVP_MD_get_size(
			SSL_CIPHER_get_handshake_digest(cipher))) ||
	    !SSL_SESSION_set_cipher(s, cipher) || !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION))
		die("making the PSK session");
	return s;
}

static int psk_use(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
		   SSL_SESSION **sess)
{
	(void)md;
	*id = (const unsigned char *)"bench";
	*idlen = 5;
	*sess = psk_session(ssl);
	return 1;
}

static int psk_find(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
	*sess = idlen == 5 && !memcmp(id, "bench", 5) ? psk_session(ssl) : NULL;
	return 1;
}

static SSL_CTX *make_ctx(bool server)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, suite))
		die("SSL_CTX_new");
	if (server)
		SSL_CTX_set_psk_find_session_callback(ctx, psk_find);
	else
		SSL_CTX_set_psk_use_session_callback(ctx, psk_use);
	if (read_ahead) {
		SSL_CTX_set_read_ahead(ctx, 1);
		SSL_CTX_set_default_read_buffer_len(ctx, 256 * 1024);
	}
	return ctx;
}

static void *side_main(void *arg)
{
	struct side *s = arg;
	unsigned char *buf = calloc(1, PIECE);
	SSL *ssl = NULL;
	double t0;

	if (!buf)
		die("calloc");
	if (!plain) {
		ssl = SSL_new(s->ctx);
		if (!ssl || !SSL_set_fd(ssl, s->fd) || (s->server ? SSL_accept(ssl) : SSL_connect(ssl)) != 1)
			die("the TLS handshake");
		if (!s->server && write_buffer) {
			BIO *wbio = BIO_new(BIO_f_buffer()), *sock = SSL_get_wbio(ssl);

			if (!wbio || !BIO_set_write_buffer_size(wbio, 256 * 1024) || !BIO_up_ref(sock))
				die("the write buffer");
			SSL_set0_wbio(ssl, BIO_push(wbio, sock));
		}
	}
	t0 = now(CLOCK_THREAD_CPUTIME_ID);
	if (s->server) {
		for (;;) {
			size_t n = 0;
			ssize_t r;

			if (plain) {
				r = read(s->fd, buf, pipe_mode ? PIPE_READ : PIECE);
				n = r > 0 ? (size_t)r : 0;
			} else if (!SSL_read_ex(ssl, buf, PIECE, &n)) {
				n = 0;
			}
			if (!n)
				break;
			s->bytes += n;
		}
	} else {
		unsigned long long left = s->bytes;

		while (left) {
			size_t n = left < PIECE ? (size_t)left : PIECE, done = 0;

			if (plain) {
				for (; done < n;) {
					ssize_t r = write(s->fd, buf + done, n - done);

					if (r <= 0)
						die("write");
					done += (size_t)r;
				}
			} else if (!SSL_write_ex(ssl, buf, n, &done) || done != n) {
				die("SSL_write_ex");
			} else if (write_buffer && BIO_flush(SSL_get_wbio(ssl)) != 1) {
				die("BIO_flush");
			}
			left -= n;
		}
		if (ssl)
			SSL_shutdown(ssl);
		if (pipe_mode) {
			close(s->fd);
			s->fd = -1;
		} else {
			shutdown(s->fd, SHUT_WR);
		}
	}
	s->cpu = now(CLOCK_THREAD_CPUTIME_ID) - t0;
	SSL_free(ssl);
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned long long mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 1024;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	struct side tx = { .server = false }, rx = { .server = true };
	pthread_t ttx, trx;
	int lfd, one = 1;
	double wall, gib = (double)(mib << 20) / (1 << 30);

	if (argc > 2) {
		pipe_mode = !strcmp(argv[2], "pipe");
		plain = pipe_mode || !strcmp(argv[2], "tcp");
		suite = plain ? "none" : argv[2];
	}
	write_buffer = argc > 3 && !strcmp(argv[3], "vfiomig");
	read_ahead = write_buffer || (argc > 3 && !strcmp(argv[3], "read-ahead"));
	if (pipe_mode) {
		int p[2];

		if (pipe(p) < 0)
			die("pipe");
		fcntl(p[1], F_SETPIPE_SZ, PIECE);
		rx.fd = p[0];
		tx.fd = p[1];
		lfd = -1;
		goto run;
	}
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0)
		die("listen on 127.0.0.1");
	tx.fd = socket(AF_INET, SOCK_STREAM, 0);
	if (tx.fd < 0 || connect(tx.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (rx.fd = accept(lfd, NULL, NULL)) < 0)
		die("connect over loopback");
	setsockopt(tx.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!plain) {
		tx.ctx = make_ctx(false);
		rx.ctx = make_ctx(true);
	}
run:
	tx.bytes = mib << 20;
	wall = now(CLOCK_MONOTONIC);
	if (pthread_create(&trx, NULL, side_main, &rx) != 0 ||
	    pthread_create(&ttx, NULL, side_main, &tx) != 0)
		die("pthread_create");
	pthread_join(ttx, NULL);
	pthread_join(trx, NULL);
	wall = now(CLOCK_MONOTONIC) - wall;
	if (rx.bytes != mib << 20)
		die("receiving every byte");
	printf("tlsrate: %llu MiB, %s%s: sender %.3f CPU-s/GiB, receiver %.3f CPU-s/GiB, "
	       "one connection's ceiling %.0f MB/s (%.1f Gbit/s); wall %.0f MB/s on this machine\n",
	       mib, pipe_mode ? "pipe" : suite, write_buffer ? " with read-ahead and a write buffer" :
	       read_ahead ? " with read-ahead" : "", tx.cpu / gib, rx.cpu / gib,
	       (double)rx.bytes / (tx.cpu > rx.cpu ? tx.cpu : rx.cpu) / 1e6,
	       (double)rx.bytes * 8 / (tx.cpu > rx.cpu ? tx.cpu : rx.cpu) / 1e9,
	       (double)rx.bytes / wall / 1e6);
	if (tx.fd >= 0)
		close(tx.fd);
	close(rx.fd);
	if (lfd >= 0)
		close(lfd);
	SSL_CTX_free(tx.ctx);
	SSL_CTX_free(rx.ctx);
	return 0;
}
