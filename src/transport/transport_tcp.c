/* SPDX-License-Identifier: GPL-2.0-or-later */
/* TCP: [ADDR:]PORT parsing, a listener that accepts peers until one authenticates
 * (junk is turned away), a client with a deadline; either hands the socket to TLS
 * unless the caller chose insecure. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "transport_net_internal.h"

#define DEFAULT_CONNECT_MS 30000
#define RESOLVE_POLL_MS 200

struct xport_listener {
	int fd;
	uint16_t port;
	struct xport_tls_ctx *tls;      /* NULL when insecure */
	char name[160];
};

struct endpoint {
	char host[128];                 /* "" when not given; "*" for every address */
	char port[8];
};

static int parse_port(const char *text, bool zero_ok, char *out)
{
	unsigned v;

	if (!*text || strlen(text) > 5 || strspn(text, "0123456789") != strlen(text))
		return -1;
	v = (unsigned)strtoul(text, NULL, 10);
	if (v > 65535 || (v == 0 && !zero_ok))
		return -1;
	snprintf(out, 8, "%u", v & 0xffffu);
	return 0;
}

/* "PORT", "HOST:PORT", "[V6]:PORT", "*:PORT". */
static int parse_endpoint(const char *spec, bool listening, struct endpoint *ep, struct verr *err)
{
	const char *colon = strrchr(spec, ':'), *host = spec, *port = spec;
	size_t hlen = 0;

	memset(ep, 0, sizeof(*ep));
	if (colon) {
		hlen = (size_t)(colon - spec);
		port = colon + 1;
		if (hlen == 0)
			goto bad;
	} else if (!listening) {
		goto bad;
	}
	if (hlen >= 2 && spec[0] == '[' && spec[hlen - 1] == ']') {
		host++;
		hlen -= 2;
	} else if (hlen && memchr(spec, ':', hlen)) {
		return verr_set(err, VERR_USAGE, EINVAL, spec, "write it as [ADDR]:PORT",
				"an IPv6 address needs brackets");
	}
	if (hlen >= sizeof(ep->host) || (colon && hlen == 0))
		goto bad;
	memcpy(ep->host, host, hlen);
	if (parse_port(port, listening, ep->port) < 0)
		goto bad;
	return 0;
bad:
	return verr_set(err, VERR_USAGE, EINVAL, spec,
			listening ? "give [ADDR:]PORT, PORT 0 to 65535" : "give HOST:PORT",
			"bad address");
}

void xport_sockaddr_name(const void *sa, unsigned len, char *buf, size_t size)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	const struct sockaddr *s = sa;

	if (getnameinfo(s, len, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(buf, size, "?");
	else if (s->sa_family == AF_INET6)
		snprintf(buf, size, "[%s]:%s", host, serv);
	else
		snprintf(buf, size, "%s:%s", host, serv);
}

/* Binds a listening socket to one address; -errno. */
static int bind_one(const struct sockaddr *sa, socklen_t len, struct xport_listener *l)
{
	struct sockaddr_storage me;
	socklen_t melen = sizeof(me);
	int one = 1, zero = 0, fd;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)  /* "::" serves IPv4 too */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, sa, len) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&me, &melen) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	l->fd = fd;
	l->port = ntohs(me.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&me)->sin6_port :
			((struct sockaddr_in *)&me)->sin_port);
	xport_sockaddr_name(&me, melen, l->name, sizeof(l->name));
	return 0;
}

/* A static vfiomig has glibc's own "files" and "dns" lookups only: no NSS module
 * (systemd-resolved's, mDNS, LDAP) is loaded into it. */
#ifdef VFIOMIG_STATIC
#define RESOLVE_HINT "check the name, or give a numeric address: this static vfiomig " \
	"resolves names through /etc/hosts and DNS only"
#define LISTEN_HINT "give one of this host's addresses, or a name that resolves to one: " \
	"this static vfiomig resolves names through /etc/hosts and DNS only"
#else
#define RESOLVE_HINT "check the name, or give a numeric address"
#define LISTEN_HINT "give one of this host's addresses, or a name that resolves to one"
#endif

static int bind_endpoint(const struct endpoint *ep, bool secure, struct xport_listener *l)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res, *ai;
	const char *host = ep->host;
	int rc = -EADDRNOTAVAIL;

	if (!host[0] && !secure)
		host = "127.0.0.1";
	if (!host[0] || strcmp(host, "*") == 0) {
		hints.ai_family = AF_INET6;
		if (getaddrinfo(NULL, ep->port, &hints, &res) == 0) {
			rc = bind_one(res->ai_addr, res->ai_addrlen, l);
			freeaddrinfo(res);
			if (rc != -EAFNOSUPPORT)
				return rc;
		}
		host = "0.0.0.0";
		hints.ai_family = AF_UNSPEC;
	}
	if (getaddrinfo(host, ep->port, &hints, &res) != 0)
		return -EADDRNOTAVAIL;
	for (ai = res; ai && rc < 0; ai = ai->ai_next)
		rc = bind_one(ai->ai_addr, ai->ai_addrlen, l);
	freeaddrinfo(res);
	return rc;
}

int xport_listen(const char *spec, const struct xport_tls *tls, struct xport_listener **out,
		 struct verr *err)
{
	struct xport_listener *l;
	struct endpoint ep;
	bool secure = tls && tls->mode != XPORT_INSECURE;
	int rc;

	*out = NULL;
	if (parse_endpoint(spec, true, &ep, err) < 0)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return verr_set(err, VERR_FAILED, ENOMEM, spec, NULL, "listen");
	l->fd = -1;
	if (secure && (rc = xport_tls_ctx_new(tls, true, &l->tls, err)) < 0)
		goto fail;
	rc = bind_endpoint(&ep, secure, l);
	if (rc < 0) {
		verr_set(err, VERR_FAILED, rc, spec, rc == -EADDRINUSE ? "choose another port" :
			 rc == -EADDRNOTAVAIL ? LISTEN_HINT : NULL, "listen on %s port %s",
			 ep.host[0] ? ep.host : "the default address", ep.port);
		goto fail;
	}
	*out = l;
	return 0;
fail:
	xport_listener_close(l);
	return rc;
}

uint16_t xport_listener_port(const struct xport_listener *l)
{
	return l->port;
}

const char *xport_listener_name(const struct xport_listener *l)
{
	return l->name;
}

void xport_listener_close(struct xport_listener *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	xport_tls_ctx_free(l->tls);
	free(l);
}

/* A connected socket becomes a connection, TLS (with a reference to tls) or plain. */
static int conn_from_socket(int fd, const char *peer, struct xport_tls_ctx *tls, bool server,
			    int timeout_ms, const struct xport_timeouts *t,
			    struct xport_conn **out, struct verr *err)
{
	struct xport_conn *c = xport_conn_new(tls ? XPORT_TLS : XPORT_TCP);
	int one = 1, rc = 0;

	if (!c) {
		close(fd);
		return verr_set(err, VERR_FAILED, ENOMEM, peer, NULL, "set up the connection");
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->rfd = c->wfd = fd;
	c->is_socket = true;
	c->idle_ms = t && t->idle_ms > 0 ? t->idle_ms : 0;
	c->stop = t ? t->stop : NULL;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	snprintf(c->name, sizeof(c->name), "%s %s", tls ? "tls" : "tcp", peer);
	if (tls)
		rc = xport_tls_start(c, xport_tls_ctx_ref(tls), server, timeout_ms, err);
	if (rc < 0) {
		xport_conn_abort(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* Waits for more bytes than the peer sent so far (want), or its end: 0, 1 when the
 * peer closed its side, or -errno. SO_RCVLOWAT makes poll(2) wait for want bytes. */
static int wait_for_bytes(int fd, size_t want, int64_t deadline, vstop_t *stop)
{
	int lowat = (int)want, left = (int)(deadline - vclock_now_ms()), rc;
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };

	if (left <= 0)
		return -ETIMEDOUT;
	setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
	rc = xport_wait(fd, POLLIN | POLLRDHUP, left, stop);
	if (rc < 0)
		return rc;
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)))
		return 1;
	return 0;
}

/* Plain TCP: shows admit->check what the peer sent first until it decides. */
static int check_plain_peer(int fd, const char *name, const struct xport_admit *admit,
			    int64_t deadline, vstop_t *stop, struct verr *err)
{
	uint8_t head[XPORT_ADMIT_MAX];
	size_t need = 1;
	char why[256];
	int one = 1;

	for (;;) {
		int ended = wait_for_bytes(fd, need, deadline, stop), verdict;
		ssize_t n;

		if (ended == -EINTR)
			return xport_interrupted(stop, name, "wait for the peer's first message", err);
		if (ended < 0)
			return verr_set(err, VERR_PEER, -ended, name, ended == -ETIMEDOUT ?
					"a vfiomig peer sends HELLO at once; raise --timeout if "
					"the network is that slow" : NULL,
					"wait for the peer's first message (%zu bytes in)", need - 1);
		n = recv(fd, head, sizeof(head), MSG_PEEK);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return verr_set(err, VERR_PEER, errno, name, NULL, "read the peer's first bytes");
		if ((size_t)n < need) {
			if (!ended)
				continue;
			return verr_set(err, VERR_PEER, ECONNRESET, name, NULL,
					"the peer closed the connection after %zd bytes", n);
		}
		verdict = admit->check(admit->ctx, head, (size_t)n, why, sizeof(why));
		if (verdict < 0)
			return verr_set(err, VERR_PEER, EPROTO, name, NULL, "%s", why);
		if (verdict == 0) {
			setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
			return 0;
		}
		if ((size_t)verdict <= (size_t)n || (size_t)verdict > sizeof(head))
			return verr_set(err, VERR_PEER, EPROTO, name, NULL,
					"the peer's first message does not fit %zu bytes", sizeof(head));
		need = (size_t)verdict;
	}
}

/* One accepted socket: its TLS handshake or its first bytes, within timeout_ms. */
static int try_peer(struct xport_listener *l, int fd, const char *peer,
		    const struct xport_timeouts *t, int timeout_ms, const struct xport_admit *admit,
		    struct xport_conn **out, struct verr *err)
{
	char name[200];

	if (l->tls || !admit || !admit->check)
		return conn_from_socket(fd, peer, l->tls, true, timeout_ms, t, out, err);
	snprintf(name, sizeof(name), "tcp %s", peer);
	if (check_plain_peer(fd, name, admit, vclock_now_ms() + timeout_ms, t ? t->stop : NULL,
			     err) < 0) {
		close(fd);
		return -EPROTO;
	}
	return conn_from_socket(fd, peer, NULL, true, timeout_ms, t, out, err);
}

/* The next connection before the deadline (0: none); fd, or -errno with err set. */
static int next_peer(struct xport_listener *l, vstop_t *stop, int64_t deadline,
		     char *peer, size_t size, struct verr *err)
{
	for (;;) {
		struct sockaddr_storage sa;
		socklen_t len = sizeof(sa);
		int64_t left = deadline ? deadline - vclock_now_ms() : 0;
		int rc, fd;

		rc = deadline && left <= 0 ? -ETIMEDOUT :
		     xport_wait(l->fd, POLLIN, deadline ? (int)left : 0, stop);
		if (rc == -EINTR)
			return xport_interrupted(stop, l->name, "wait for a peer", err);
		if (rc < 0)
			return rc;      /* the caller says what timed out */
		fd = accept4(l->fd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			xport_sockaddr_name(&sa, len, peer, size);
			return fd;
		}
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			return verr_set(err, VERR_FAILED, errno, l->name, NULL, "accept");
	}
}

static int accept_timed_out(const struct xport_listener *l, int timeout_ms, unsigned failed,
			    const struct verr *last, struct verr *err)
{
	char why[sizeof(last->what) + 64];

	if (!failed)
		return verr_set(err, VERR_PEER, ETIMEDOUT, l->name, "no peer connected in time; "
				"raise --accept-timeout", "wait for a peer");
	verr_format(last, why, sizeof(why));
	return verr_set(err, VERR_PEER, ETIMEDOUT, l->name, "check the source's settings; "
			"-v lists every connection turned away",
			"no peer authenticated within %g s; %u connection%s turned away, the last: %s",
			timeout_ms / 1000.0, failed, failed == 1 ? "" : "s", why);
}

int xport_accept(struct xport_listener *l, const struct xport_timeouts *t, int timeout_ms,
		 struct xport_admit *admit, struct xport_conn **out, struct verr *err)
{
	vstop_t *stop = t ? t->stop : NULL;
	int64_t deadline = timeout_ms > 0 ? vclock_now_ms() + timeout_ms : 0;
	int handshake_ms = t && t->connect_ms > 0 ? t->connect_ms : DEFAULT_CONNECT_MS;
	struct verr last = { 0 };
	unsigned failed = 0;

	*out = NULL;
	for (;;) {
		struct verr why = { 0 };
		char peer[128];
		int fd = next_peer(l, stop, deadline, peer, sizeof(peer), err), rc, budget;

		if (fd == -ETIMEDOUT)
			return accept_timed_out(l, timeout_ms, failed, &last, err);
		if (fd < 0)
			return fd;
		budget = handshake_ms;
		if (deadline && deadline - vclock_now_ms() < budget)
			budget = (int)(deadline - vclock_now_ms()) > 0 ? (int)(deadline - vclock_now_ms()) : 1;
		rc = try_peer(l, fd, peer, t, budget, admit, out, &why);
		if (rc == 0)
			break;
		if (why.class != VERR_PEER) {   /* a signal, or a failure of ours */
			*err = why;
			return rc;
		}
		failed++;
		last = why;
		if (admit) {
			admit->turned_away++;
			if (admit->rejected)
				admit->rejected(admit->ctx, &why);
		}
	}
	if (admit && admit->keep_listening)
		return 0;
	close(l->fd);           /* one peer per listener */
	l->fd = -1;
	return 0;
}

/* Connects to one address before the deadline; fd or -errno. */
static int connect_one(const struct addrinfo *ai, int64_t deadline, vstop_t *stop)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), rc = 0;
	socklen_t len = sizeof(rc);

	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		rc = errno == EINPROGRESS ? 0 : -errno;
		if (rc == 0)
			rc = xport_wait(fd, POLLOUT, (int)(deadline - vclock_now_ms()) > 0 ?
					(int)(deadline - vclock_now_ms()) : 1, stop);
		if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &rc, &len) == 0)
			rc = -rc;
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

/* A name lookup on its own thread, so that a signal can end the wait for it: glibc's
 * resolver retries through EINTR. Whoever finishes last (the lookup, or the caller that
 * gave up on it) frees the job. */
struct resolve_job {
	pthread_mutex_t lock;
	pthread_cond_t done_cv;
	bool done, abandoned;
	struct endpoint ep;
	struct addrinfo hints, *res;
	int gai, errnum;
};

static void resolve_job_free(struct resolve_job *job)
{
	if (job->res)
		freeaddrinfo(job->res);
	pthread_cond_destroy(&job->done_cv);
	pthread_mutex_destroy(&job->lock);
	free(job);
}

static void *resolve_main(void *arg)
{
	struct resolve_job *job = arg;
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(job->ep.host, job->ep.port, &job->hints, &res);
	int errnum = errno;
	bool abandoned;

	pthread_mutex_lock(&job->lock);
	job->res = res;
	job->gai = gai;
	job->errnum = errnum;
	job->done = true;
	abandoned = job->abandoned;
	pthread_cond_signal(&job->done_cv);
	pthread_mutex_unlock(&job->lock);
	if (abandoned)
		resolve_job_free(job);
	return NULL;
}

/* getaddrinfo(): 0 or an EAI_ code (errno set for EAI_SYSTEM); a signal that sets *stop
 * ends the wait with *interrupted set (EAI_ codes are negative numbers that -EINTR
 * could be one of). */
static int resolve(const struct endpoint *ep, const struct addrinfo *hints,
		   vstop_t *stop, struct addrinfo **res, bool *interrupted)
{
	struct resolve_job *job;
	sigset_t all, saved;
	pthread_attr_t attr;
	pthread_t thread;
	int ret;

	*res = NULL;
	*interrupted = false;
	if (!stop)
		return getaddrinfo(ep->host, ep->port, hints, res);
	job = calloc(1, sizeof(*job));
	if (!job)
		return EAI_MEMORY;
	job->ep = *ep;
	job->hints = *hints;
	pthread_mutex_init(&job->lock, NULL);
	pthread_cond_init(&job->done_cv, NULL);
	/* The lookup thread takes no signals: they stay with the caller's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ret = pthread_create(&thread, &attr, resolve_main, job);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (ret != 0) {
		resolve_job_free(job);
		return getaddrinfo(ep->host, ep->port, hints, res);
	}
	pthread_mutex_lock(&job->lock);
	while (!job->done && !*stop) {
		struct timespec until;

		vclock_deadline(CLOCK_REALTIME, RESOLVE_POLL_MS, &until);
		pthread_cond_timedwait(&job->done_cv, &job->lock, &until);
	}
	if (!job->done) {
		job->abandoned = true;              /* the lookup thread frees it */
		pthread_mutex_unlock(&job->lock);
		*interrupted = true;
		return EAI_SYSTEM;
	}
	pthread_mutex_unlock(&job->lock);
	*res = job->res;
	job->res = NULL;
	ret = job->gai;
	errno = job->errnum;
	resolve_job_free(job);
	return ret;
}

int xport_connect(const char *spec, const struct xport_tls *tls, const struct xport_timeouts *t,
		  struct xport_conn **out, struct verr *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int total = t && t->connect_ms > 0 ? t->connect_ms : DEFAULT_CONNECT_MS;
	int64_t deadline = vclock_now_ms() + total;
	struct xport_tls_ctx *ctx = NULL;
	struct endpoint ep;
	char peer[160] = "";
	int fd = -EHOSTUNREACH, gai;
	bool interrupted;

	*out = NULL;
	if (parse_endpoint(spec, false, &ep, err) < 0)
		return -EINVAL;
	if (tls && tls->mode != XPORT_INSECURE && xport_tls_ctx_new(tls, false, &ctx, err) < 0)
		return -EINVAL;
	gai = resolve(&ep, &hints, t ? t->stop : NULL, &res, &interrupted);
	if (interrupted) {
		char op[200];

		xport_tls_ctx_free(ctx);
		snprintf(op, sizeof(op), "resolve %s", ep.host);
		return xport_interrupted(t->stop, spec, op, err);
	}
	if (gai != 0) {
		xport_tls_ctx_free(ctx);
		return verr_set(err, VERR_USAGE, gai == EAI_SYSTEM ? errno : 0, spec,
				RESOLVE_HINT, "resolve %s: %s", ep.host, gai_strerror(gai));
	}
	for (ai = res; ai && fd < 0 && fd != -ETIMEDOUT && fd != -EINTR; ai = ai->ai_next) {
		xport_sockaddr_name(ai->ai_addr, ai->ai_addrlen, peer, sizeof(peer));
		fd = connect_one(ai, deadline, t ? t->stop : NULL);
	}
	freeaddrinfo(res);
	if (fd == -EINTR) {
		char op[200];

		xport_tls_ctx_free(ctx);
		snprintf(op, sizeof(op), "connect to %s", peer);
		return xport_interrupted(t->stop, spec, op, err);
	}
	if (fd < 0) {
		xport_tls_ctx_free(ctx);
		return verr_set(err, VERR_PEER, fd, spec, fd == -ECONNREFUSED ?
				"is 'vfiomig receive' listening there?" : NULL, "connect to %s", peer);
	}
	total = (int)(deadline - vclock_now_ms());
	gai = conn_from_socket(fd, peer, ctx, false, total > 0 ? total : 1, t, out, err);
	xport_tls_ctx_free(ctx);        /* the connection holds its own reference */
	return gai;
}
