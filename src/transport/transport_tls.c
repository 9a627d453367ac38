/* SPDX-License-Identifier: GPL-2.0-or-later */
/* TLS 1.3 over a connected socket with OpenSSL: external pre-shared key or X.509
 * mutual authentication, non-blocking with timeouts, through a socket BIO of ours
 * that sends with MSG_NOSIGNAL so a vanished peer cannot raise SIGPIPE. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "transport_net_internal.h"

#define PSK_LABEL "vfiomig tls psk"
#define TLS_READ_BUFFER (256 * 1024)
#define TLS_WRITE_BUFFER (256 * 1024)
#define PSK_LEN 32
#define PSK_KEY_MIN 16
#define PSK_KEY_MAX 4096
#define CLOSE_NOTIFY_MS 2000

struct xport_tls_ctx {
	unsigned refs;                  /* a listener's and its connection's; one thread */
	SSL_CTX *ctx;
	BIO_METHOD *bio;
	enum xport_security mode;
	uint8_t psk[PSK_LEN];           /* HMAC-SHA-256(key file, PSK_LABEL) */
	char identity[64];
};

/* TLS_AES_256_GCM_SHA384: the suite a PSK session is bound to. */
static const unsigned char psk_suite[2] = { 0x13, 0x02 };

static SSL_SESSION *psk_session(SSL *ssl, const struct xport_tls_ctx *t)
{
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, psk_suite);
	SSL_SESSION *s = cipher ? SSL_SESSION_new() : NULL;

	if (s && (!SSL_SESSION_set1_master_key(s, t->psk, sizeof(t->psk)) ||
		  !SSL_SESSION_set_cipher(s, cipher) ||
		  !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION))) {
		SSL_SESSION_free(s);
		s = NULL;
	}
	return s;
}

static int psk_use(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
		   SSL_SESSION **sess)
{
	const struct xport_tls_ctx *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, psk_suite);

	*sess = NULL;
	*id = NULL;
	*idlen = 0;
	/* A second call names the hash the server chose: offer the PSK only if it fits. */
	if (md && (!cipher || md != SSL_CIPHER_get_handshake_digest(cipher)))
		return 1;
	*sess = psk_session(ssl, t);
	if (!*sess)
		return 0;
	*id = (const unsigned char *)t->identity;
	*idlen = strlen(t->identity);
	return 1;
}

static int psk_find(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
	const struct xport_tls_ctx *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	*sess = NULL;
	if (idlen != strlen(t->identity) || memcmp(id, t->identity, idlen) != 0)
		return 1;       /* unknown identity: no PSK, so the handshake fails */
	*sess = psk_session(ssl, t);
	return *sess ? 1 : 0;
}

static int bio_write(BIO *b, const char *buf, int len)
{
	ssize_t n = send((int)(intptr_t)BIO_get_data(b), buf, (size_t)len, MSG_NOSIGNAL);

	BIO_clear_retry_flags(b);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_write(b);
	return (int)n;
}

static int bio_read(BIO *b, char *buf, int len)
{
	ssize_t n = recv((int)(intptr_t)BIO_get_data(b), buf, (size_t)len, 0);

	BIO_clear_retry_flags(b);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_read(b);
	return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

/* The first queued OpenSSL error as text; clears the queue. */
static void tls_reason(char *buf, size_t size)
{
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, size);
	else
		snprintf(buf, size, "no details from OpenSSL");
	ERR_clear_error();
}

static int ctx_fail(struct xport_tls_ctx *t, const char *object, const char *hint,
		    const char *what, struct verr *err)
{
	char reason[256];

	tls_reason(reason, sizeof(reason));
	xport_tls_ctx_free(t);
	return verr_set(err, VERR_USAGE, 0, object, hint, "%s: %s", what, reason);
}

static int ctx_psk(struct xport_tls_ctx *t, const struct xport_tls *tls, bool server,
		   struct verr *err)
{
	unsigned int len = PSK_LEN;
	const char *id = tls->psk_identity ? tls->psk_identity : "vfiomig";

	if (!tls->psk || tls->psk_len < PSK_KEY_MIN || tls->psk_len > PSK_KEY_MAX ||
	    strlen(id) >= sizeof(t->identity) || !id[0]) {
		xport_tls_ctx_free(t);
		return verr_set(err, VERR_USAGE, EINVAL, "--psk-file", "a key file holds 16 to "
				"4096 bytes, e.g. 'head -c 32 /dev/urandom'", "unusable pre-shared key");
	}
	if (!HMAC(EVP_sha256(), tls->psk, (int)tls->psk_len, (const unsigned char *)PSK_LABEL,
		  strlen(PSK_LABEL), t->psk, &len))
		return ctx_fail(t, "--psk-file", NULL, "derive the TLS key", err);
	strcpy(t->identity, id);
	if (server)
		SSL_CTX_set_psk_find_session_callback(t->ctx, psk_find);
	else
		SSL_CTX_set_psk_use_session_callback(t->ctx, psk_use);
	return 0;
}

static int ctx_x509(struct xport_tls_ctx *t, const struct xport_tls *tls, struct verr *err)
{
	if (!tls->cert || !tls->key || !tls->ca) {
		xport_tls_ctx_free(t);
		return verr_set(err, VERR_USAGE, EINVAL, "TLS", "give --cert, --key and --ca",
				"X.509 authentication needs a certificate, its key and a CA");
	}
	if (SSL_CTX_use_certificate_chain_file(t->ctx, tls->cert) != 1)
		return ctx_fail(t, tls->cert, "give a PEM certificate", "load certificate", err);
	if (SSL_CTX_use_PrivateKey_file(t->ctx, tls->key, SSL_FILETYPE_PEM) != 1)
		return ctx_fail(t, tls->key, "give the PEM key of --cert", "load key", err);
	if (SSL_CTX_check_private_key(t->ctx) != 1)
		return ctx_fail(t, tls->key, NULL, "key does not match the certificate", err);
	if (SSL_CTX_load_verify_locations(t->ctx, tls->ca, NULL) != 1)
		return ctx_fail(t, tls->ca, "give a PEM CA certificate", "load CA", err);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return 0;
}

int xport_tls_ctx_new(const struct xport_tls *tls, bool server, struct xport_tls_ctx **out,
		      struct verr *err)
{
	struct xport_tls_ctx *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return verr_set(err, VERR_FAILED, ENOMEM, "TLS", NULL, "set up TLS");
	t->refs = 1;
	t->mode = tls->mode;
	t->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	t->bio = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "vfiomig socket");
	if (!t->ctx || !t->bio || !BIO_meth_set_write(t->bio, bio_write) ||
	    !BIO_meth_set_read(t->bio, bio_read) || !BIO_meth_set_ctrl(t->bio, bio_ctrl) ||
	    !BIO_meth_set_create(t->bio, bio_create) ||
	    !SSL_CTX_set_min_proto_version(t->ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(t->ctx, "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"))
		return ctx_fail(t, "TLS", NULL, "set up TLS", err);
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(t->ctx, 0);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	/* One recv(2) takes many records, instead of two for each (its head, then the
	 * rest): a quarter less CPU on the receiving side (bench/tlsrate.c). */
	SSL_CTX_set_read_ahead(t->ctx, 1);
	SSL_CTX_set_default_read_buffer_len(t->ctx, TLS_READ_BUFFER);
	SSL_CTX_set_app_data(t->ctx, t);
	if (tls->mode == XPORT_TLS_PSK) {
		if (ctx_psk(t, tls, server, err) < 0)
			return -EINVAL;
	} else if (ctx_x509(t, tls, err) < 0) {
		return -EINVAL;
	}
	*out = t;
	return 0;
}

struct xport_tls_ctx *xport_tls_ctx_ref(struct xport_tls_ctx *t)
{
	t->refs++;
	return t;
}

void xport_tls_ctx_free(struct xport_tls_ctx *t)
{
	if (!t || --t->refs > 0)
		return;
	SSL_CTX_free(t->ctx);
	BIO_meth_free(t->bio);
	OPENSSL_cleanse(t->psk, sizeof(t->psk));
	free(t);
}

/* What a failed handshake most likely means, for the hint. */
static const char *handshake_hint(const struct xport_conn *c, unsigned long e)
{
	int reason = ERR_GET_REASON(e);

	if (c->tls->mode == XPORT_TLS_PSK)
		/* A server refusing our binder answers decrypt_error or illegal_parameter. */
		return reason == SSL_R_BINDER_DOES_NOT_VERIFY ||
		       reason == SSL_R_TLSV1_ALERT_DECRYPT_ERROR ||
		       reason == SSL_R_SSLV3_ALERT_ILLEGAL_PARAMETER ?
		       "the peer's pre-shared key differs; give both sides the same --psk-file" :
		       "check that both sides use TLS with the same --psk-file";
	return "check --cert, --key and --ca on both sides: each certificate must chain "
	       "to the other side's CA";
}

static int handshake_fail(struct xport_conn *c, int ret, struct verr *err)
{
	int e = SSL_get_error(c->ssl, ret), sys = errno;
	unsigned long code = ERR_peek_error();
	long verify = SSL_get_verify_result(c->ssl);
	char reason[256];

	if (e == SSL_ERROR_SYSCALL && !code)
		return verr_set(err, VERR_PEER, sys ? sys : ECONNRESET, c->name,
				"is the peer using TLS with the same settings?",
				"TLS handshake: the peer closed the connection");
	tls_reason(reason, sizeof(reason));
	if (verify != X509_V_OK)
		return verr_set(err, VERR_PEER, 0, c->name, handshake_hint(c, code),
				"TLS handshake: peer certificate refused: %s",
				X509_verify_cert_error_string(verify));
	return verr_set(err, VERR_PEER, 0, c->name, handshake_hint(c, code),
			"TLS handshake failed: %s", reason);
}

static const struct xport_conn_ops tls_ops;

int xport_tls_start(struct xport_conn *c, struct xport_tls_ctx *t, bool server, int timeout_ms,
		    struct verr *err)
{
	int64_t deadline = vclock_now_ms() + timeout_ms;
	BIO *bio, *wbio;

	c->tls = t;
	c->ops = &tls_ops;
	c->ssl = SSL_new(t->ctx);
	bio = c->ssl ? BIO_new(t->bio) : NULL;
	wbio = bio ? BIO_new(BIO_f_buffer()) : NULL;
	if (!wbio || !BIO_set_write_buffer_size(wbio, TLS_WRITE_BUFFER) || !BIO_up_ref(bio)) {
		BIO_free(wbio);
		BIO_free(bio);
		return verr_set(err, VERR_FAILED, ENOMEM, c->name, NULL, "set up TLS");
	}
	BIO_set_data(bio, (void *)(intptr_t)c->rfd);
	/* Records gather in wbio and leave in few send(2) calls, flushed at the end of
	 * each write (OpenSSL flushes its handshake and alerts itself). */
	SSL_set_bio(c->ssl, bio, BIO_push(wbio, bio));
	if (server)
		SSL_set_accept_state(c->ssl);
	else
		SSL_set_connect_state(c->ssl);
	for (;;) {
		int ret, e, rc, left = (int)(deadline - vclock_now_ms());

		ERR_clear_error();
		errno = 0;
		ret = SSL_do_handshake(c->ssl);
		if (ret == 1)
			return 0;
		e = SSL_get_error(c->ssl, ret);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return handshake_fail(c, ret, err);
		rc = left <= 0 ? -ETIMEDOUT :
		     xport_wait(c->rfd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, left, c->stop);
		if (rc == -EINTR)
			return xport_interrupted(c->stop, c->name, "TLS handshake", err);
		if (rc < 0)
			return verr_set(err, VERR_PEER, rc, c->name, rc == -ETIMEDOUT ? "the peer "
					"does not answer; is it vfiomig with TLS?" : NULL,
					"TLS handshake");
	}
}

/* What a failed SSL_read_ex/SSL_write_ex (SSL_get_error e, errno sys) means, when it
 * is not a wait: the error. */
static int io_failure(struct xport_conn *c, int e, int sys, const char *op, struct verr *err)
{
	unsigned long code = ERR_peek_error();
	char reason[256];

	if (e == SSL_ERROR_SYSCALL && !code)
		return xport_conn_fail(c, sys ? -sys : -ECONNRESET, op, err);
	if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ERR_clear_error();
		return xport_conn_fail(c, -ECONNRESET, op, err);
	}
	tls_reason(reason, sizeof(reason));
	return verr_set(err, VERR_PEER, EPROTO, c->name, NULL, "%s: TLS: %s", op, reason);
}

/* After SSL_read_ex/SSL_write_ex failed: wait and retry (0), or the error. */
static int io_retry(struct xport_conn *c, const char *op, struct verr *err)
{
	int e = SSL_get_error(c->ssl, 0), sys = errno, rc;

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		rc = e == SSL_ERROR_WANT_READ ? xport_wait(c->rfd, POLLIN, c->idle_ms, c->stop) :
		     xport_wait_writable(c);
		return rc < 0 ? xport_conn_fail(c, rc, op, err) : 0;
	}
	return io_failure(c, e, sys, op, err);
}

/* The failure kept by read_broken: into err unless it holds one already. */
static int broken(struct xport_conn *c, struct verr *err)
{
	if (err && !err->set)
		*err = c->tls_later_err;
	return c->tls_later_rc;
}

/* A read failed for good (SSL_get_error e, errno sys): a bad record, garbage, an
 * alert or a cut leaves the session unusable. The failure is kept, and every later
 * read and write reports it rather than what OpenSSL says after it (that the peer
 * closed). err NULL: kept for the next call only. */
static int read_broken(struct xport_conn *c, int e, int sys, struct verr *err)
{
	verr_clear(&c->tls_later_err);
	c->tls_later = true;
	c->tls_later_rc = io_failure(c, e, sys, "read", &c->tls_later_err);
	return broken(c, err);
}

/* The records that came in with the last one (read-ahead) fill the rest of the
 * caller's buffer without a wait: a TLS record carries at most 16 KiB, and each
 * read costs the caller a round of its own. Whatever ends them (the peer's
 * close_notify, a bad record) is kept for the next read to report. */
static size_t tls_read_more(struct xport_conn *c, uint8_t *buf, size_t len)
{
	size_t total = 0;

	while (total < len && SSL_has_pending(c->ssl)) {
		size_t n;
		int e, sys;

		ERR_clear_error();
		errno = 0;
		if (SSL_read_ex(c->ssl, buf + total, len - total, &n)) {
			total += n;
			continue;
		}
		sys = errno;
		e = SSL_get_error(c->ssl, 0);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			ERR_clear_error();
			break;
		}
		if (e == SSL_ERROR_ZERO_RETURN) {
			c->tls_later = true;
			c->tls_later_rc = 0;
		} else {
			read_broken(c, e, sys, NULL);
		}
		break;
	}
	return total;
}

static ssize_t tls_read(struct xport_conn *c, void *buf, size_t len, struct verr *err)
{
	if (c->tls_later && c->tls_later_rc < 0)
		return broken(c, err);
	if (c->tls_later) {
		c->tls_later = false;
		return 0;               /* close_notify after the bytes read ahead */
	}
	for (;;) {
		size_t n;
		int e, sys, rc;

		ERR_clear_error();
		errno = 0;
		if (SSL_read_ex(c->ssl, buf, len, &n))
			return (ssize_t)(n + tls_read_more(c, (uint8_t *)buf + n, len - n));
		sys = errno;
		e = SSL_get_error(c->ssl, 0);
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;       /* close_notify: the peer ended cleanly */
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return read_broken(c, e, sys, err);
		rc = io_retry(c, "read", err);
		if (rc < 0)
			return rc;
	}
}

/* Sends what the write buffer holds, waiting while the socket is full. */
static int tls_flush(struct xport_conn *c, struct verr *err)
{
	BIO *wbio = SSL_get_wbio(c->ssl);

	for (;;) {
		int rc;

		errno = 0;
		if (BIO_flush(wbio) > 0)
			return 0;
		if (!BIO_should_retry(wbio))
			return xport_conn_fail(c, errno ? -errno : -EPIPE, "write", err);
		rc = xport_wait_writable(c);
		if (rc < 0)
			return xport_conn_fail(c, rc, "write", err);
	}
}

static int tls_write(struct xport_conn *c, const void *buf, size_t len, struct verr *err)
{
	const char *p = buf;

	if (c->tls_later && c->tls_later_rc < 0)
		return broken(c, err);  /* the session is over: say why, not "closed" */
	while (len) {
		size_t n;
		int rc;

		ERR_clear_error();
		errno = 0;
		if (SSL_write_ex(c->ssl, p, len, &n)) {
			p += n;
			len -= n;
			continue;
		}
		rc = io_retry(c, "write", err);
		if (rc < 0)
			return rc;
	}
	return tls_flush(c, err);
}

/* orderly: send close_notify (bounded); frees the SSL and context. */
static void tls_end(struct xport_conn *c, bool orderly)
{
	if (orderly) {
		int64_t deadline = vclock_now_ms() + CLOSE_NOTIFY_MS;

		/* Our close_notify only; the peer's answer is not waited for. */
		for (;;) {
			int ret = SSL_shutdown(c->ssl), e, left;

			if (ret >= 0)
				break;
			e = SSL_get_error(c->ssl, ret);
			left = (int)(deadline - vclock_now_ms());
			if (e != SSL_ERROR_WANT_WRITE || left <= 0 ||
			    xport_wait(c->wfd, POLLOUT, left, c->stop) < 0)
				break;
		}
		/* The alert may still sit in the write buffer. */
		for (;;) {
			BIO *wbio = SSL_get_wbio(c->ssl);
			int left = (int)(deadline - vclock_now_ms());

			if (BIO_flush(wbio) > 0 || !BIO_should_retry(wbio) || left <= 0 ||
			    xport_wait(c->wfd, POLLOUT, left, c->stop) < 0)
				break;
		}
	}
	ERR_clear_error();
	SSL_free(c->ssl);
	c->ssl = NULL;
	xport_tls_ctx_free(c->tls);
	c->tls = NULL;
	c->ops = NULL;
}

static const struct xport_conn_ops tls_ops = {
	.read = tls_read, .write = tls_write, .end = tls_end,
};
