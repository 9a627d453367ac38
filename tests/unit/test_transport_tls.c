/* SPDX-License-Identifier: GPL-2.0-or-later */
/* TLS reads ahead: what ends the records that came in with good ones (a corrupted
 * record, garbage, a cut connection, the peer's close_notify) is reported on the
 * next read, after the good bytes, never lost, never a clean end when it is not
 * one, and nothing after it is delivered. A relay between two vfiomig TLS ends
 * passes the handshake, then sends a chosen run of the client's records (one of
 * them damaged) to the server in one send(2), before the server reads. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/transport_net.h"
#include "unit.h"

#define RECORD_HEAD 5
#define RECORD_MAX (RECORD_HEAD + 16384 + 256)
#define READ_LEN (64 * 1024)

static const uint8_t key[32] = "key A: thirty-two bytes of key.";
static const struct xport_tls psk = { .mode = XPORT_TLS_PSK, .psk = key, .psk_len = sizeof(key) };
static const struct xport_timeouts quick = { .connect_ms = 5000, .idle_ms = 5000 };

/* The client, the server and the relay's two sockets in between. */
struct pair {
	struct xport_conn *client, *server;
	int relay_fd;                   /* where the client connects */
	int to_client, to_server;       /* the relay's ends */
	struct xport_listener *l;
	struct verr cerr, serr;
	int quit[2];                    /* the relay's pass-through ends when this is written */
};

/* A TLS record of the client's, as the relay holds it. */
struct record {
	uint8_t bytes[RECORD_MAX];
	size_t len;
};

static void *accept_main(void *arg)
{
	struct pair *p = arg;

	xport_accept(p->l, &quick, 5000, NULL, &p->server, &p->serr);
	return NULL;
}

/* Copies what is there from one socket to the other; false at its end. */
static bool pass(int from, int to)
{
	uint8_t buf[4096];
	ssize_t n = recv(from, buf, sizeof(buf), 0);

	return n > 0 && send(to, buf, (size_t)n, MSG_NOSIGNAL) == n;
}

static int connect_to(const char *name)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	const char *colon = strrchr(name, ':');
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_port = htons((uint16_t)atoi(colon ? colon + 1 : "0"));
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Takes the client's connection, opens one to the server, and passes both ways
 * until told to stop: the handshake. */
static void *relay_main(void *arg)
{
	struct pair *p = arg;
	struct pollfd fds[3];

	p->to_client = accept4(p->relay_fd, NULL, NULL, SOCK_CLOEXEC);
	p->to_server = connect_to(xport_listener_name(p->l));
	fds[0] = (struct pollfd){ .fd = p->to_client, .events = POLLIN };
	fds[1] = (struct pollfd){ .fd = p->to_server, .events = POLLIN };
	fds[2] = (struct pollfd){ .fd = p->quit[0], .events = POLLIN };
	if (p->to_client < 0 || p->to_server < 0)
		return NULL;
	while (poll(fds, 3, -1) > 0 && !fds[2].revents) {
		if (fds[0].revents && !pass(p->to_client, p->to_server))
			break;
		if (fds[1].revents && !pass(p->to_server, p->to_client))
			break;
	}
	return NULL;
}

static int listen_local(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static void pair_close(struct pair *p)
{
	xport_conn_abort(p->client);
	xport_conn_abort(p->server);
	xport_listener_close(p->l);
	for (int i = 0; i < 2; i++)
		if (p->quit[i] >= 0)
			close(p->quit[i]);
	if (p->relay_fd >= 0)
		close(p->relay_fd);
	if (p->to_client >= 0)
		close(p->to_client);
	if (p->to_server >= 0)
		close(p->to_server);
	memset(p, 0, sizeof(*p));
}

/* A TLS client and server through the relay, the handshake over and the relay
 * stopped: 0, or -1 (the reason in cerr or serr). */
static int pair_open(struct pair *p)
{
	pthread_t acceptor, relay;
	char to[64];
	uint16_t port;
	int rc;

	memset(p, 0, sizeof(*p));
	p->to_client = p->to_server = p->relay_fd = p->quit[0] = p->quit[1] = -1;
	if (pipe(p->quit) < 0 || xport_listen("127.0.0.1:0", &psk, &p->l, &p->serr) < 0)
		return -1;
	p->relay_fd = listen_local(&port);
	if (p->relay_fd < 0)
		return -1;
	pthread_create(&acceptor, NULL, accept_main, p);
	pthread_create(&relay, NULL, relay_main, p);
	snprintf(to, sizeof(to), "127.0.0.1:%u", port);
	rc = xport_connect(to, &psk, &quick, &p->client, &p->cerr);
	pthread_join(acceptor, NULL);
	/* both ends finished the handshake: nothing of it is left in the relay */
	if (write(p->quit[1], "", 1) != 1)
		rc = -1;
	pthread_join(relay, NULL);
	return rc == 0 && p->server ? 0 : -1;
}

/* The next TLS record the client sent; false at the end of its data. */
static bool take_record(struct pair *p, struct record *r)
{
	size_t want = RECORD_HEAD;

	r->len = 0;
	while (r->len < want) {
		ssize_t n = recv(p->to_client, r->bytes + r->len, want - r->len, 0);

		if (n <= 0)
			return false;
		r->len += (size_t)n;
		if (r->len == RECORD_HEAD)
			want = RECORD_HEAD + ((size_t)r->bytes[3] << 8 | r->bytes[4]);
		if (want > sizeof(r->bytes))
			return false;
	}
	return true;
}

/* What one server read gave: its return and its bytes. */
struct reading {
	ssize_t rc;
	uint8_t buf[READ_LEN];
	struct verr err;
};

static void server_read(struct pair *p, struct reading *r)
{
	memset(&r->err, 0, sizeof(r->err));
	r->rc = xport_conn_read(p->server, r->buf, sizeof(r->buf), &r->err);
}

/* The first read gave exactly text. */
static bool got(const struct reading *r, const char *text)
{
	return r->rc == (ssize_t)strlen(text) && memcmp(r->buf, text, strlen(text)) == 0;
}

/* The client writes text (one record) and the relay takes that record. */
static bool client_sends(struct pair *p, const char *text, struct record *r)
{
	return xport_conn_write(p->client, text, strlen(text), &p->cerr) == 0 &&
	       take_record(p, r);
}

/* The relay hands the server len bytes in one send(2), before the server reads. */
static bool deliver(struct pair *p, const uint8_t *bytes, size_t len)
{
	return send(p->to_server, bytes, len, MSG_NOSIGNAL) == (ssize_t)len;
}

/* Records a, b, c (b damaged by damage) in one send; the server reads (r[0]), writes
 * (r[1]) and reads twice more (r[2], r[3]). */
static bool three_records(struct pair *p, void (*damage)(struct record *b), struct reading r[4])
{
	static struct record rec[3];
	static uint8_t all[3 * RECORD_MAX];
	static const char *const text[3] = { "first, good", "second, damaged", "third, good" };
	size_t len = 0;

	if (pair_open(p) < 0)
		return false;
	for (int i = 0; i < 3; i++)
		if (!client_sends(p, text[i], &rec[i]))
			return false;
	damage(&rec[1]);
	for (int i = 0; i < 3; i++) {
		memcpy(all + len, rec[i].bytes, rec[i].len);
		len += rec[i].len;
	}
	if (!deliver(p, all, len))
		return false;
	server_read(p, &r[0]);
	/* a destination answers what it read before it reads on */
	memset(&r[1].err, 0, sizeof(r[1].err));
	r[1].rc = xport_conn_write(p->server, "answer", 6, &r[1].err);
	server_read(p, &r[2]);
	server_read(p, &r[3]);
	return true;
}

/* One bit of the authentication tag, at the record's end. */
static void flip_tag(struct record *b)
{
	b->bytes[b->len - 1] ^= 0x01;
}

/* Not a TLS record at all: a text protocol's line where the record should be. */
static void garbage(struct record *b)
{
	memcpy(b->bytes, "HTTP/1.1 400 Bad Request\r\n", 26);
}

/* r failed with -EPROTO, naming the peer and what it sent (reason). */
static bool says(const struct reading *r, const char *reason)
{
	return r->rc == -EPROTO && strncmp(r->err.object, "tls 127.0.0.1:", 14) == 0 &&
	       strstr(r->err.what, reason);
}

static void test_damaged_record(void)
{
	static struct reading r[4];
	struct pair p;
	bool ok = three_records(&p, flip_tag, r);

	CHECK(ok && got(&r[0], "first, good"),
	      "the record read ahead before a damaged one is delivered first (%zd)", r[0].rc);
	CHECK(ok && says(&r[1], "bad record mac"),
	      "a write after it reports the damaged record, naming the peer: %s: %s", r[1].err.object,
	      r[1].err.what);
	CHECK(ok && says(&r[2], "bad record mac"),
	      "the next read reports the damaged record, naming the peer: %s: %s", r[2].err.object,
	      r[2].err.what);
	CHECK(ok && says(&r[3], "bad record mac"),
	      "the good record after the damaged one is never delivered, and the reads that "
	      "follow still say why: %zd: %s", r[3].rc, r[3].err.what);
	pair_close(&p);
}

static void test_garbage(void)
{
	static struct reading r[4];
	struct pair p;
	bool ok = three_records(&p, garbage, r);

	CHECK(ok && got(&r[0], "first, good"),
	      "the record read ahead before garbage is delivered first (%zd)", r[0].rc);
	CHECK(ok && says(&r[1], "read: TLS: ") && says(&r[2], "read: TLS: "),
	      "the garbage fails the write after it and the next read, naming the peer: %s: %s",
	      r[2].err.object, r[2].err.what);
	CHECK(ok && says(&r[3], "read: TLS: "), "nothing after the garbage is delivered (%zd)",
	      r[3].rc);
	pair_close(&p);
}

/* Half a record, then the connection's end: a cut, not the peer's orderly end. */
static void test_cut_record(void)
{
	static struct record a, b;
	static uint8_t all[2 * RECORD_MAX];
	static struct reading r[2];
	struct pair p;
	bool ok = pair_open(&p) == 0 && client_sends(&p, "first, good", &a) &&
		  client_sends(&p, "second, cut in half", &b);

	if (ok) {
		memcpy(all, a.bytes, a.len);
		memcpy(all + a.len, b.bytes, b.len / 2);
		ok = deliver(&p, all, a.len + b.len / 2) && shutdown(p.to_server, SHUT_WR) == 0;
	}
	if (ok)
		for (int i = 0; i < 2; i++)
			server_read(&p, &r[i]);
	CHECK(ok && got(&r[0], "first, good"),
	      "the record read ahead before a cut is delivered first (%zd)", r[0].rc);
	CHECK(ok && r[1].rc == -ECONNRESET && strncmp(r[1].err.object, "tls 127.0.0.1:", 14) == 0,
	      "a cut in a record fails the next read, not a clean end: %s: %s (%s)",
	      r[1].err.object, r[1].err.what, r[1].err.hint);
	pair_close(&p);
}

/* close_notify after the data, in the same segment: the data, then the clean end. */
static void test_close_notify(void)
{
	static struct record a, bye;
	static uint8_t all[2 * RECORD_MAX];
	static struct reading r[3];
	struct pair p;
	bool ok = pair_open(&p) == 0 && client_sends(&p, "last words", &a);

	if (ok) {
		ok = xport_conn_close(p.client, &p.cerr) == 0;
		p.client = NULL;
	}
	if (ok && take_record(&p, &bye)) {
		memcpy(all, a.bytes, a.len);
		memcpy(all + a.len, bye.bytes, bye.len);
		ok = deliver(&p, all, a.len + bye.len);
	}
	if (ok)
		for (int i = 0; i < 3; i++)
			server_read(&p, &r[i]);
	CHECK(ok && got(&r[0], "last words"),
	      "the record read ahead before close_notify is delivered first (%zd)", r[0].rc);
	CHECK(ok && r[1].rc == 0 && r[2].rc == 0,
	      "close_notify is the clean end on the next reads (%zd, %zd: %s)", r[1].rc, r[2].rc,
	      r[1].err.what);
	pair_close(&p);
}

int main(void)
{
	test_damaged_record();
	test_garbage();
	test_cut_record();
	test_close_notify();
	return unit_done();
}
