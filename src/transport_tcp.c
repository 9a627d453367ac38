/* TCP: [ADDR:]PORT parsing, a listener that accepts one peer, a client with a
 * deadline; either hands the socket to TLS unless the caller chose insecure. */
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
			 NULL, "listen on %s port %s", ep.host[0] ? ep.host : "the default address",
			 ep.port);
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

/* A connected socket becomes a connection, TLS or plain. */
static int conn_from_socket(int fd, const char *peer, struct xport_tls_ctx **tls, bool server,
			    int timeout_ms, const struct xport_timeouts *t,
			    struct xport_conn **out, struct verr *err)
{
	struct xport_conn *c = xport_conn_new(*tls ? XPORT_TLS : XPORT_TCP);
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
	snprintf(c->name, sizeof(c->name), "%s %s", *tls ? "tls" : "tcp", peer);
	if (*tls) {
		rc = xport_tls_start(c, *tls, server, timeout_ms, err);
		*tls = NULL;
	}
	if (rc < 0) {
		xport_conn_abort(c);
		return rc;
	}
	*out = c;
	return 0;
}

int xport_accept(struct xport_listener *l, const struct xport_timeouts *t, int timeout_ms,
		 struct xport_conn **out, struct verr *err)
{
	volatile sig_atomic_t *stop = t ? t->stop : NULL;
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	char peer[128];
	int rc, fd;

	*out = NULL;
	for (;;) {
		rc = xport_wait(l->fd, POLLIN, timeout_ms, stop);
		if (rc == -EINTR)
			return xport_interrupted(stop, l->name, "wait for a peer", err);
		if (rc < 0)
			return verr_set(err, VERR_PEER, rc, l->name, rc == -ETIMEDOUT ?
					"no peer connected in time" : NULL, "wait for a peer");
		fd = accept4(l->fd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0)
			break;
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			return verr_set(err, VERR_FAILED, errno, l->name, NULL, "accept");
	}
	close(l->fd);           /* one peer per listener */
	l->fd = -1;
	xport_sockaddr_name(&sa, len, peer, sizeof(peer));
	return conn_from_socket(fd, peer, &l->tls, true,
				t && t->connect_ms > 0 ? t->connect_ms : DEFAULT_CONNECT_MS,
				t, out, err);
}

/* Connects to one address before the deadline; fd or -errno. */
static int connect_one(const struct addrinfo *ai, int64_t deadline, volatile sig_atomic_t *stop)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), rc = 0;
	socklen_t len = sizeof(rc);

	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		rc = errno == EINPROGRESS ? 0 : -errno;
		if (rc == 0)
			rc = xport_wait(fd, POLLOUT, (int)(deadline - xport_now_ms()) > 0 ?
					(int)(deadline - xport_now_ms()) : 1, stop);
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
		   volatile sig_atomic_t *stop, struct addrinfo **res, bool *interrupted)
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

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += RESOLVE_POLL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
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
	int64_t deadline = xport_now_ms() + total;
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
		return verr_set(err, VERR_USAGE, gai == EAI_SYSTEM ? errno : 0, spec, NULL,
				"resolve %s: %s", ep.host, gai_strerror(gai));
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
	total = (int)(deadline - xport_now_ms());
	return conn_from_socket(fd, peer, &ctx, false, total > 0 ? total : 1, t, out, err);
}
