/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The network transports over loopback only: plain TCP, TLS 1.3 with a PSK (right
 * and wrong key) and X.509 (certificates made here with the openssl CLI), timeouts,
 * exec with cat and with commands that exit or hang, stdio. Every test ends by itself. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "transport/transport_net.h"
#include "unit.h"

#define BIG (1u << 20)

static const uint8_t key_a[32] = "key A: thirty-two bytes of key.";
static const uint8_t key_b[32] = "key B: thirty-two bytes of key.";
static const struct xport_timeouts quick = { .connect_ms = 5000, .idle_ms = 5000 };
static char certdir[] = "/tmp/vfiomig-test-certs.XXXXXX";
static bool have_certs;

struct server {
	struct xport_listener *l;
	struct xport_timeouts t;
	bool echo;                      /* read BIG bytes, send them back */
	int rc;
	struct verr err;
	bool secure;
	struct xport_admit *admit;      /* NULL: none */
};

/* How long serve() accepts in all: a listener turns failed peers away until then. */
static int serve_accept_ms = 5000;

static ssize_t read_exact(struct xport_conn *c, uint8_t *buf, size_t len, struct verr *err)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = xport_conn_read(c, buf + done, len - done, err);

		if (n <= 0)
			return n < 0 ? n : (ssize_t)done;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static void *serve(void *arg)
{
	struct server *s = arg;
	struct xport_conn *c;
	uint8_t *buf;

	s->rc = xport_accept(s->l, &s->t, serve_accept_ms, s->admit, &c, &s->err);
	if (s->rc < 0)
		return NULL;
	s->secure = xport_conn_secure(c);
	if (s->echo) {
		buf = malloc(BIG);
		if (read_exact(c, buf, BIG, &s->err) != BIG)
			s->rc = -EIO;
		else
			s->rc = xport_conn_write(c, buf, BIG, &s->err);
		free(buf);
	} else {
		uint8_t byte;

		s->rc = (int)xport_conn_read(c, &byte, 1, &s->err);
	}
	if (s->rc >= 0)
		s->rc = xport_conn_close(c, &s->err);
	else
		xport_conn_abort(c);
	return NULL;
}

/* Listens on spec with server_tls, connects with client_tls, echoes BIG bytes. */
static int echo_pair(const char *spec, const struct xport_tls *server_tls,
		     const struct xport_tls *client_tls, struct server *s, struct verr *cerr)
{
	uint8_t *out = malloc(BIG), *in = malloc(BIG);
	struct xport_conn *c = NULL;
	char to[96];
	pthread_t th;
	int rc;

	memset(s, 0, sizeof(*s));
	s->t = quick;
	s->echo = true;
	for (size_t i = 0; i < BIG; i++)
		out[i] = (uint8_t)(i * 131 + (i >> 9));
	rc = xport_listen(spec, server_tls, &s->l, &s->err);
	if (rc < 0)
		goto out;
	snprintf(to, sizeof(to), "%s", xport_listener_name(s->l));
	pthread_create(&th, NULL, serve, s);
	rc = xport_connect(to, client_tls, &quick, &c, cerr);
	if (rc == 0)
		rc = xport_conn_write(c, out, BIG, cerr);
	if (rc == 0)
		rc = read_exact(c, in, BIG, cerr) == BIG && memcmp(in, out, BIG) == 0 ? 0 : -EIO;
	if (rc == 0)
		rc = xport_conn_close(c, cerr);
	else
		xport_conn_abort(c);
	pthread_join(th, NULL);
	xport_listener_close(s->l);
out:
	free(out);
	free(in);
	return rc;
}

static void test_plain(void)
{
	struct xport_tls insecure = { .mode = XPORT_INSECURE };
	struct xport_listener *l;
	struct verr err = { 0 };
	struct server s;
	int rc;

	CHECK(xport_listen("127.0.0.1:0", &insecure, &l, &err) == 0 &&
	      xport_listener_port(l) != 0 && strstr(xport_listener_name(l), "127.0.0.1:"),
	      "port 0 picks a port and reports it: %s", l ? xport_listener_name(l) : err.what);
	xport_listener_close(l);
	CHECK(xport_listen("0", &insecure, &l, &err) == 0 &&
	      strncmp(xport_listener_name(l), "127.0.0.1:", 10) == 0,
	      "an insecure listener without an address listens on 127.0.0.1 only");
	xport_listener_close(l);
	rc = echo_pair("127.0.0.1:0", &insecure, &insecure, &s, &err);
	CHECK(rc == 0 && s.rc == 0 && !s.secure, "plain TCP over 127.0.0.1 echoes 1 MiB (%s%s)",
	      err.what, s.err.what);
	verr_clear(&err);
	rc = echo_pair("[::1]:0", &insecure, &insecure, &s, &err);
	if (rc < 0 && s.err.set && s.err.errnum == EADDRNOTAVAIL)
		CHECK(1, "# SKIP no IPv6 loopback");
	else
		CHECK(rc == 0 && s.rc == 0, "plain TCP over [::1] echoes 1 MiB (%s%s)", err.what,
		      s.err.what);
}

static void test_psk(void)
{
	struct xport_tls a = { .mode = XPORT_TLS_PSK, .psk = key_a, .psk_len = sizeof(key_a) };
	struct xport_tls b = a, plain = { .mode = XPORT_INSECURE };
	struct xport_listener *l;
	struct verr err = { 0 };
	struct server s;
	int rc;

	b.psk = key_b;
	rc = echo_pair("127.0.0.1:0", &a, &a, &s, &err);
	CHECK(rc == 0 && s.rc == 0 && s.secure, "TLS 1.3 with the same PSK echoes 1 MiB (%s%s)",
	      err.what, s.err.what);
	verr_clear(&err);
	serve_accept_ms = 500;          /* the server turns the wrong peers away until then */
	rc = echo_pair("127.0.0.1:0", &a, &b, &s, &err);
	CHECK(rc < 0 && strstr(err.what, "TLS handshake") && err.class == VERR_PEER &&
	      strstr(err.hint, "key differs"),
	      "a client with the wrong PSK fails in the handshake: %s (%s)", err.what, err.hint);
	CHECK(s.rc < 0 && strstr(s.err.what, "TLS handshake") && strstr(s.err.what, "--psk-file"),
	      "the server refuses the wrong PSK in the handshake: %s (%s)", s.err.what, s.err.hint);
	verr_clear(&err);
	rc = echo_pair("127.0.0.1:0", &a, &plain, &s, &err);
	CHECK(rc < 0 && s.rc < 0, "a plain client is refused by a PSK listener (%s)", s.err.what);
	serve_accept_ms = 5000;
	a.psk_len = 8;
	verr_clear(&err);
	CHECK(xport_listen("127.0.0.1:0", &a, &l, &err) == -EINVAL && err.class == VERR_USAGE,
	      "a listener with an 8-byte PSK refuses to start: %s", err.what);
}

static void make_certs(void)
{
	char cmd[2048];

	if (!mkdtemp(certdir))
		return;
	snprintf(cmd, sizeof(cmd), "cd %s && set -e; "
		 "k='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'; "
		 "exec >/dev/null 2>&1; openssl req -x509 $k -keyout ca.key -out ca.pem -subj /CN=ca -days 1; "
		 "openssl req -x509 $k -keyout rogue.key -out rogue.pem -subj /CN=rogue -days 1; "
		 "for n in server client; do "
		 "openssl req $k -keyout $n.key -out $n.csr -subj /CN=$n; "
		 "openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		 "-out $n.pem -days 1; done", certdir);
	have_certs = system(cmd) == 0 ? true : false;
	if (!have_certs)
		printf("# could not make certificates with the openssl CLI\n");
}

static void test_x509(void)
{
	char cert[2][128], key[2][128], ca[128], rogue[128], rogue_key[128];
	struct xport_tls srv = { .mode = XPORT_TLS_X509 }, cli, bad;
	struct xport_listener *l;
	struct verr err = { 0 };
	struct server s;
	int rc;

	if (!have_certs) {
		CHECK(1, "# SKIP no openssl CLI for certificates");
		return;
	}
	for (int i = 0; i < 2; i++) {
		snprintf(cert[i], sizeof(cert[i]), "%s/%s.pem", certdir, i ? "client" : "server");
		snprintf(key[i], sizeof(key[i]), "%s/%s.key", certdir, i ? "client" : "server");
	}
	snprintf(ca, sizeof(ca), "%s/ca.pem", certdir);
	snprintf(rogue, sizeof(rogue), "%s/rogue.pem", certdir);
	snprintf(rogue_key, sizeof(rogue_key), "%s/rogue.key", certdir);
	srv.cert = cert[0], srv.key = key[0], srv.ca = ca;
	cli = srv;
	cli.cert = cert[1], cli.key = key[1];
	rc = echo_pair("127.0.0.1:0", &srv, &cli, &s, &err);
	CHECK(rc == 0 && s.rc == 0 && s.secure, "X.509 mutual authentication echoes 1 MiB (%s%s)",
	      err.what, s.err.what);
	bad = cli;
	bad.cert = rogue, bad.key = rogue_key, bad.ca = rogue;
	verr_clear(&err);
	rc = echo_pair("127.0.0.1:0", &srv, &bad, &s, &err);
	CHECK(rc < 0 && s.rc < 0 && strstr(s.err.what, "TLS handshake"),
	      "a client certificate from another CA is refused: %s", s.err.what);
	bad = srv;
	bad.key = key[1];
	verr_clear(&err);
	CHECK(xport_listen("127.0.0.1:0", &bad, &l, &err) == -EINVAL && err.class == VERR_USAGE,
	      "a listener whose key does not match its certificate refuses to start: %s", err.what);
	bad.ca = NULL;
	verr_clear(&err);
	CHECK(xport_listen("127.0.0.1:0", &bad, &l, &err) == -EINVAL && strstr(err.hint, "--ca"),
	      "a listener without a CA refuses to start: %s", err.what);
}

/* A peer that connects and never speaks: the TLS handshake and reads time out. */
static void test_timeouts(void)
{
	struct xport_tls psk = { .mode = XPORT_TLS_PSK, .psk = key_a, .psk_len = sizeof(key_a) };
	struct xport_tls plain = { .mode = XPORT_INSECURE };
	struct xport_conn *c = NULL;
	struct verr err = { 0 };
	struct server s = { .t = { .connect_ms = 300, .idle_ms = 300 } };
	pthread_t th;
	char to[96];
	time_t start = time(NULL);

	xport_listen("127.0.0.1:0", &psk, &s.l, &s.err);
	snprintf(to, sizeof(to), "%s", xport_listener_name(s.l));
	serve_accept_ms = 600;          /* one silent peer turned away, then the end */
	pthread_create(&th, NULL, serve, &s);
	xport_connect(to, &plain, &quick, &c, &err);
	pthread_join(th, NULL);
	serve_accept_ms = 5000;
	CHECK(s.rc == -ETIMEDOUT && strstr(s.err.what, "TLS handshake"),
	      "a TLS handshake with a silent peer times out: %s", s.err.what);
	xport_conn_abort(c);
	xport_listener_close(s.l);

	memset(&s, 0, sizeof(s));
	s.t = (struct xport_timeouts){ .connect_ms = 300, .idle_ms = 300 };
	xport_listen("127.0.0.1:0", &plain, &s.l, &s.err);
	snprintf(to, sizeof(to), "%s", xport_listener_name(s.l));
	pthread_create(&th, NULL, serve, &s);
	xport_connect(to, &plain, &quick, &c, &err);
	pthread_join(th, NULL);
	CHECK(s.rc == -ETIMEDOUT && s.err.class == VERR_PEER && strstr(s.err.hint, "--timeout"),
	      "a read from a silent peer times out: %s (%s)", s.err.what, s.err.hint);
	xport_conn_abort(c);
	xport_listener_close(s.l);
	CHECK(time(NULL) - start < 4, "both timeouts took well under the 5 s fallback");

	CHECK(xport_listen("127.0.0.1:0", &plain, &s.l, &err) == 0 &&
	      xport_accept(s.l, &quick, 200, NULL, &c, &err) == -ETIMEDOUT,
	      "accept gives up when no peer comes");
	xport_listener_close(s.l);
}

/* A plain listener's check: peers that begin with "OK" are admitted. */
static int check_ok(void *ctx, const uint8_t *head, size_t len, char *why, size_t size)
{
	(void)ctx;
	if (len < 2)
		return head[0] == 'O' ? 2 : (snprintf(why, size, "starts with %c", head[0]), -1);
	if (memcmp(head, "OK", 2) == 0)
		return 0;
	snprintf(why, size, "not OK");
	return -1;
}

/* Connects to `to` with tls, writes text (may be NULL), and keeps the connection for
 * hold_ms before it closes it. */
static void visit(const char *to, const struct xport_tls *tls, const char *text, int hold_ms)
{
	struct timespec ts = { hold_ms / 1000, (hold_ms % 1000) * 1000000L };
	struct xport_conn *c = NULL;
	struct verr err = { 0 };

	if (xport_connect(to, tls, &quick, &c, &err) < 0)
		return;
	if (text)
		xport_conn_write(c, text, strlen(text), &err);
	nanosleep(&ts, NULL);
	xport_conn_abort(c);
}

static void test_turn_away(void)
{
	struct xport_tls a = { .mode = XPORT_TLS_PSK, .psk = key_a, .psk_len = sizeof(key_a) };
	struct xport_tls b = a, plain = { .mode = XPORT_INSECURE };
	struct xport_admit admit = { .check = check_ok };
	struct server s = { .t = quick };
	pthread_t th;
	char to[96];

	b.psk = key_b;
	xport_listen("127.0.0.1:0", &a, &s.l, &s.err);
	snprintf(to, sizeof(to), "%s", xport_listener_name(s.l));
	s.admit = &admit;
	pthread_create(&th, NULL, serve, &s);
	visit(to, &plain, NULL, 0);             /* a port scan */
	visit(to, &b, NULL, 0);                 /* a wrong key */
	visit(to, &plain, "GET / HTTP/1.0\r\n\r\n", 100);
	visit(to, &a, "hi", 300);
	pthread_join(th, NULL);
	CHECK(s.rc == 0 && s.secure && admit.turned_away == 3,
	      "a PSK listener turns away a scan, a wrong key and text, then admits the key "
	      "(%u turned away; %s)", admit.turned_away, s.err.what);
	xport_listener_close(s.l);

	memset(&s, 0, sizeof(s));
	memset(&admit, 0, sizeof(admit));
	admit.check = check_ok;
	s.t = (struct xport_timeouts){ .connect_ms = 300, .idle_ms = 300 };
	s.admit = &admit;
	xport_listen("127.0.0.1:0", &plain, &s.l, &s.err);
	snprintf(to, sizeof(to), "%s", xport_listener_name(s.l));
	pthread_create(&th, NULL, serve, &s);
	visit(to, &plain, "junk", 100);
	visit(to, &plain, "O", 800);            /* one byte, then nothing: cut at 300 ms */
	visit(to, &plain, "OK", 300);
	pthread_join(th, NULL);
	CHECK(s.rc == 0 && admit.turned_away == 2,
	      "a plain listener turns away junk and a trickling peer, then admits one that "
	      "begins right (%u turned away; %s)", admit.turned_away, s.err.what);
	xport_listener_close(s.l);
}

static vstop_t stop;

static void on_alarm(int sig)
{
	stop = sig;
}

/* A signal that sets the stop flag 200 ms from now (no SA_RESTART). */
static void stop_soon(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { .it_value = { 0, 200000 } };

	stop = 0;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
}

/* A listener that never accepts: the kernel completes the connect, nobody answers;
 * with its accept queue full, further connects hang. A signal ends either wait. */
static void test_stop_flag(void)
{
	struct xport_tls psk = { .mode = XPORT_TLS_PSK, .psk = key_a, .psk_len = sizeof(key_a) };
	struct xport_tls plain = { .mode = XPORT_INSECURE };
	struct xport_timeouts t = { .connect_ms = 30000, .idle_ms = 30000, .stop = &stop };
	struct xport_conn *c = NULL, *fill[2] = { NULL, NULL };
	struct xport_listener *l = NULL;
	struct verr err = { 0 };
	char to[96];
	time_t start = time(NULL);

	xport_listen("127.0.0.1:0", &psk, &l, &err);
	snprintf(to, sizeof(to), "%s", xport_listener_name(l));
	stop_soon();
	CHECK(xport_connect(to, &psk, &t, &c, &err) == -EINTR && err.class == VERR_INTERRUPTED &&
	      strstr(err.what, "TLS handshake: interrupted by signal"),
	      "a signal ends a TLS handshake with a silent listener: %s", err.what);
	for (int i = 0; i < 2; i++)
		xport_connect(to, &plain, &quick, &fill[i], &err);
	verr_clear(&err);
	stop_soon();
	CHECK(xport_connect(to, &plain, &t, &c, &err) == -EINTR && err.class == VERR_INTERRUPTED &&
	      strstr(err.what, "connect to 127.0.0.1:"),
	      "a signal ends a connect that nobody answers: %s", err.what);
	CHECK(time(NULL) - start < 10, "both at once, not at the 30 s timeout");
	for (int i = 0; i < 2; i++)
		xport_conn_abort(fill[i]);
	xport_listener_close(l);
	stop = 0;
}

/* The peer does not read for a while but keeps sending a byte every 100 ms: a write
 * blocked meanwhile outlasts the 300 ms idle timeout; once it stops sending too, the
 * write times out. */
struct busy_peer {
	struct xport_listener *l;
	int pings;                      /* bytes sent 100 ms apart before it reads */
	int silent_ms;                  /* then silence before it reads */
	size_t got;
};

static void *busy_serve(void *arg)
{
	struct busy_peer *b = arg;
	struct xport_conn *c;
	struct verr err = { 0 };
	uint8_t *buf = malloc(BIG);
	ssize_t n;

	if (xport_accept(b->l, &quick, 5000, NULL, &c, &err) < 0) {
		free(buf);
		return NULL;
	}
	for (int i = 0; i < b->pings; i++) {
		struct timespec ts = { 0, 100 * 1000000 };

		xport_conn_write(c, "p", 1, &err);
		nanosleep(&ts, NULL);
	}
	if (b->silent_ms) {
		struct timespec ts = { b->silent_ms / 1000, (b->silent_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
	while ((n = xport_conn_read(c, buf, BIG, &err)) > 0)
		b->got += (size_t)n;
	xport_conn_abort(c);
	free(buf);
	return NULL;
}

static int write_to_busy_peer(int pings, int silent_ms, struct verr *err)
{
	struct xport_tls plain = { .mode = XPORT_INSECURE };
	struct xport_timeouts t = { .connect_ms = 5000, .idle_ms = 300 };
	struct busy_peer b = { .pings = pings, .silent_ms = silent_ms };
	size_t len = 64u << 20;         /* far more than the socket buffers hold */
	uint8_t *buf = calloc(1, len);
	struct xport_conn *c = NULL;
	pthread_t th;
	int rc;

	xport_listen("127.0.0.1:0", &plain, &b.l, err);
	pthread_create(&th, NULL, busy_serve, &b);
	rc = xport_connect(xport_listener_name(b.l), &plain, &t, &c, err);
	if (rc == 0)
		rc = xport_conn_write(c, buf, len, err);
	xport_conn_abort(c);
	pthread_join(th, NULL);
	xport_listener_close(b.l);
	free(buf);
	return rc;
}

static void test_busy_peer(void)
{
	struct verr err = { 0 };

	CHECK(write_to_busy_peer(10, 0, &err) == 0,
	      "a write to a peer that pings for 1 s before it reads waits it out (%s)", err.what);
	verr_clear(&err);
	CHECK(write_to_busy_peer(0, 1000, &err) == -ETIMEDOUT && strstr(err.hint, "silent for 300 ms"),
	      "a write to a peer that neither reads nor pings times out: %s (%s)", err.what,
	      err.hint);
}

int main(void)
{
	make_certs();
	test_plain();
	test_psk();
	test_turn_away();
	test_x509();
	test_timeouts();
	test_stop_flag();
	test_busy_peer();
	if (have_certs) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", certdir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", certdir);
	}
	return unit_done();
}
