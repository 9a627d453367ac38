/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the network transport files share: the connection object and timed waits. */
#ifndef VFIOMIG_TRANSPORT_NET_INTERNAL_H
#define VFIOMIG_TRANSPORT_NET_INTERNAL_H

#include <poll.h>
#include <stdint.h>

#include "transport_net.h"
#include "base/clock.h"
#include "base/stop.h"

struct xport_tls_ctx;
typedef struct ssl_st SSL;

enum xport_kind { XPORT_TCP, XPORT_TLS, XPORT_EXEC, XPORT_STDIO };

struct xport_conn;

/* What a kind of connection does beyond plain fd I/O, so that the connection core
 * (transport_net.c) knows no TLS and no child process. Any member may be NULL. */
struct xport_conn_ops {
	ssize_t (*read)(struct xport_conn *c, void *buf, size_t len, struct verr *err);
	int (*write)(struct xport_conn *c, const void *buf, size_t len, struct verr *err);
	/* Before the fds close: orderly from xport_conn_close, at once from abort. */
	void (*end)(struct xport_conn *c, bool orderly);
	/* xport_conn_close, after our end of data: waits for what c started; 0 or -errno. */
	int (*reap)(struct xport_conn *c, int timeout_ms, struct verr *err);
};

struct xport_conn {
	enum xport_kind kind;
	const struct xport_conn_ops *ops;   /* NULL: plain fd I/O */
	int rfd, wfd;                   /* the same socket except for stdio */
	bool is_socket;                 /* send(MSG_NOSIGNAL) and shutdown work */
	bool write_shut;
	int saved_rflags, saved_wflags; /* stdio: file status flags to restore */
	struct xport_tls_ctx *tls;      /* TLS: the context, owned */
	SSL *ssl;
	/* TLS: what ended the records read ahead after some bytes were returned, for
	 * the next read (rc 0: the peer's close_notify); a read's failure (rc < 0)
	 * stays, for every later read and write. */
	bool tls_later;
	int tls_later_rc;
	struct verr tls_later_err;
	pid_t child;                    /* exec: the shell, until reaped */
	int child_status;
	/* Set by the connection's user, read by the keepalive thread's writes too. */
	_Atomic int idle_ms;
	vstop_t *_Atomic stop;
	char name[320];
	char peer[128];
};

/* Waits until fd has events or timeout_ms (<= 0: forever) passes: 0 when ready,
 * -ETIMEDOUT, -EINTR once *stop is set, or -errno. POLLHUP/POLLERR count as ready. */
int xport_wait(int fd, short events, int timeout_ms, vstop_t *stop);
/* Waits until c can be written to; the idle timeout counts the peer's silence:
 * a period in which its bytes arrived (unread) starts another. */
int xport_wait_writable(struct xport_conn *c);
/* Whether c's stop flag is set (the flag may be replaced meanwhile: read it once). */
static inline bool xport_conn_stopped(const struct xport_conn *c)
{
	vstop_t *stop = c->stop;

	return stop && *stop;
}
/* Records that a signal (*stop holds its number) ended op on object; -EINTR. */
int xport_interrupted(vstop_t *stop, const char *object, const char *op,
		      struct verr *err);
/* A new connection of kind with both fds -1; NULL without memory. */
struct xport_conn *xport_conn_new(enum xport_kind kind);
/* Records a failure of op on c with a hint that fits errno; returns rc. */
int xport_conn_fail(const struct xport_conn *c, int rc, const char *op, struct verr *err);
int xport_set_nonblock(int fd, int *saved_flags);
/* Formats a socket address as "HOST:PORT" or "[V6]:PORT" into buf. */
void xport_sockaddr_name(const void *sa, unsigned len, char *buf, size_t size);

/* transport_tls.c */
int xport_tls_ctx_new(const struct xport_tls *tls, bool server, struct xport_tls_ctx **out,
		      struct verr *err);
/* Another reference to t (a listener hands one to each connection it tries). */
struct xport_tls_ctx *xport_tls_ctx_ref(struct xport_tls_ctx *t);
/* Drops a reference; the last one frees t. */
void xport_tls_ctx_free(struct xport_tls_ctx *t);
/* Takes ownership of a reference to t; runs the handshake on c->rfd within timeout_ms.
 * From then on c's I/O goes through TLS (c->ops). */
int xport_tls_start(struct xport_conn *c, struct xport_tls_ctx *t, bool server, int timeout_ms,
		    struct verr *err);

#endif
