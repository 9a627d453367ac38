/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Bidirectional connections: timed, signal-aware I/O on sockets and pipes, the
 * stdio connection, and the close/abort paths shared by every kind. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "transport_net_internal.h"

/* A thread that waits with a stop flag looks at it this often: the signal that set
 * it may have gone to another thread and interrupted nothing here. */
#define XPORT_STOP_POLL_MS 200

int xport_wait(int fd, short events, int timeout_ms, vstop_t *stop)
{
	int64_t deadline = vclock_now_ms() + timeout_ms;
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int left = -1, n;

		if (stop && *stop)
			return -EINTR;
		if (timeout_ms > 0) {
			int64_t rest = deadline - vclock_now_ms();

			if (rest <= 0)
				return -ETIMEDOUT;
			left = rest > 0x7fffffff ? 0x7fffffff : (int)rest;
		}
		if (stop && (left < 0 || left > XPORT_STOP_POLL_MS))
			left = XPORT_STOP_POLL_MS;
		n = poll(&pfd, 1, left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
		/* a slice ended, or a signal: the deadline and the flag say what next */
	}
}

/* Bytes from the peer waiting to be read; -1 if the fd cannot tell. */
static int64_t inbound_bytes(const struct xport_conn *c)
{
	int n;

	return ioctl(c->rfd, FIONREAD, &n) == 0 ? n : -1;
}

int xport_wait_writable(struct xport_conn *c)
{
	int64_t seen = inbound_bytes(c);

	for (;;) {
		int rc = xport_wait(c->wfd, POLLOUT, c->idle_ms, c->stop);
		int64_t now;

		if (rc != -ETIMEDOUT)
			return rc;
		/* A busy peer that does not read still pings: it is slow, not gone. */
		now = inbound_bytes(c);
		if (seen < 0 || now <= seen)
			return rc;
		seen = now;
	}
}

int xport_interrupted(vstop_t *stop, const char *object, const char *op,
		      struct verr *err)
{
	verr_set(err, VERR_INTERRUPTED, 0, object, NULL, "%s: interrupted by signal %d", op,
		 stop ? (int)*stop : 0);
	return -EINTR;
}

struct xport_conn *xport_conn_new(enum xport_kind kind)
{
	struct xport_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->kind = kind;
	c->rfd = c->wfd = -1;
	c->saved_rflags = c->saved_wflags = -1;
	c->child = -1;
	return c;
}

int xport_set_nonblock(int fd, int *saved_flags)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	if (saved_flags)
		*saved_flags = flags;
	return 0;
}

int xport_conn_fail(const struct xport_conn *c, int rc, const char *op, struct verr *err)
{
	const char *hint = NULL;
	enum verr_class class = VERR_PEER;
	char text[96];

	switch (-rc) {
	case ETIMEDOUT:
		snprintf(text, sizeof(text), "the peer was silent for %d ms; check it, or raise "
			 "--timeout", c->idle_ms);
		hint = text;
		break;
	case EINTR:
		return xport_interrupted(c->stop, c->name, op, err);
	case EPIPE: case ECONNRESET:
		hint = "the peer closed the connection";
		break;
	default:
		class = VERR_FAILED;
	}
	return verr_set(err, class, -rc, c->name, hint, "%s", op);
}

/* One read(2)/recv(2) that waits for data with the idle timeout. */
static ssize_t fd_read(struct xport_conn *c, void *buf, size_t len, struct verr *err)
{
	for (;;) {
		ssize_t n = c->is_socket ? recv(c->rfd, buf, len, 0) : read(c->rfd, buf, len);
		int rc = 0;

		if (n >= 0)
			return n;
		if (errno == EINTR)
			rc = xport_conn_stopped(c) ? -EINTR : 0;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			rc = xport_wait(c->rfd, POLLIN, c->idle_ms, c->stop);
		else
			rc = -errno;
		if (rc < 0)
			return xport_conn_fail(c, rc, "read", err);
	}
}

static int fd_write(struct xport_conn *c, const void *buf, size_t len, struct verr *err)
{
	const char *p = buf;

	while (len) {
		ssize_t n = c->is_socket ? send(c->wfd, p, len, MSG_NOSIGNAL) : write(c->wfd, p, len);
		int rc = 0;

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return xport_conn_fail(c, -EIO, "write", err);
		if (errno == EINTR)
			rc = xport_conn_stopped(c) ? -EINTR : 0;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			rc = xport_wait_writable(c);
		else
			rc = -errno;
		if (rc < 0)
			return xport_conn_fail(c, rc, "write", err);
	}
	return 0;
}

ssize_t xport_conn_read(struct xport_conn *c, void *buf, size_t len, struct verr *err)
{
	if (xport_conn_stopped(c))
		return xport_conn_fail(c, -EINTR, "read", err);
	if (c->ops && c->ops->read)
		return c->ops->read(c, buf, len, err);
	return fd_read(c, buf, len, err);
}

int xport_conn_write(struct xport_conn *c, const void *buf, size_t len, struct verr *err)
{
	if (xport_conn_stopped(c))
		return xport_conn_fail(c, -EINTR, "write", err);
	if (c->ops && c->ops->write)
		return c->ops->write(c, buf, len, err);
	return fd_write(c, buf, len, err);
}

int xport_conn_write_now(struct xport_conn *c, const void *buf, size_t len, struct verr *err)
{
	struct pollfd pfd = { .fd = c->wfd, .events = POLLOUT };

	/* POLLOUT promises room for far more than a keepalive, so it goes out whole. */
	if (poll(&pfd, 1, 0) != 1)
		return -EAGAIN;
	return xport_conn_write(c, buf, len, err);
}

void xport_conn_set_stop(struct xport_conn *c, vstop_t *stop)
{
	c->stop = stop;
}

void xport_conn_set_idle(struct xport_conn *c, int idle_ms)
{
	c->idle_ms = idle_ms > 0 ? idle_ms : 0;
}

int xport_conn_idle(const struct xport_conn *c)
{
	return c->idle_ms;
}

const char *xport_conn_name(const struct xport_conn *c)
{
	return c->name;
}

const char *xport_conn_peer(const struct xport_conn *c)
{
	return c->peer;
}

bool xport_conn_secure(const struct xport_conn *c)
{
	return c->kind == XPORT_TLS && c->ssl;
}

int xport_stdio(const struct xport_timeouts *t, struct xport_conn **out, struct verr *err)
{
	struct xport_conn *c = xport_conn_new(XPORT_STDIO);
	struct stat st;
	int rc;

	*out = NULL;
	if (!c)
		return verr_set(err, VERR_FAILED, ENOMEM, "stdio", NULL, "open connection");
	strcpy(c->name, "stdio");
	c->rfd = STDIN_FILENO;
	c->wfd = STDOUT_FILENO;
	c->idle_ms = t && t->idle_ms > 0 ? t->idle_ms : 0;
	c->stop = t ? t->stop : NULL;
	if (isatty(c->rfd) || isatty(c->wfd)) {
		free(c);
		return verr_set(err, VERR_USAGE, 0, "stdio", "run it as 'ssh HOST vfiomig receive "
				"... --stdio', or use migrate --exec", "refusing to speak the "
				"migration protocol on a terminal");
	}
	c->is_socket = fstat(c->rfd, &st) == 0 && S_ISSOCK(st.st_mode) && c->rfd == c->wfd;
	rc = xport_set_nonblock(c->rfd, &c->saved_rflags);
	if (rc == 0)
		rc = xport_set_nonblock(c->wfd, &c->saved_wflags);
	if (rc < 0) {
		xport_conn_abort(c);
		return verr_set(err, VERR_FAILED, rc, "stdio", NULL, "make stdin/stdout non-blocking");
	}
	*out = c;
	return 0;
}

int xport_socket(int fd, const char *name, const struct xport_timeouts *t,
		 struct xport_conn **out, struct verr *err)
{
	struct xport_conn *c = xport_conn_new(XPORT_TCP);
	int rc;

	*out = NULL;
	if (!c) {
		close(fd);
		return verr_set(err, VERR_FAILED, ENOMEM, name, NULL, "open connection");
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->rfd = c->wfd = fd;
	c->is_socket = true;
	c->idle_ms = t && t->idle_ms > 0 ? t->idle_ms : 0;
	c->stop = t ? t->stop : NULL;
	rc = xport_set_nonblock(fd, NULL);
	if (rc < 0) {
		xport_conn_abort(c);
		return verr_set(err, VERR_FAILED, rc, name, NULL, "make the socket non-blocking");
	}
	*out = c;
	return 0;
}

/* Closes or restores the fds; the stdio fds belong to the process. */
static void conn_release(struct xport_conn *c)
{
	if (c->kind == XPORT_STDIO) {
		if (c->saved_wflags >= 0)
			fcntl(c->wfd, F_SETFL, c->saved_wflags);
		if (c->saved_rflags >= 0)
			fcntl(c->rfd, F_SETFL, c->saved_rflags);
	} else {
		if (c->wfd >= 0 && c->wfd != c->rfd)
			close(c->wfd);
		if (c->rfd >= 0)
			close(c->rfd);
	}
	free(c);
}

int xport_conn_close(struct xport_conn *c, struct verr *err)
{
	const struct xport_conn_ops *ops = c ? c->ops : NULL;   /* TLS's end clears c->ops */
	int rc = 0;

	if (!c)
		return 0;
	if (ops && ops->end)
		ops->end(c, true);
	if (c->is_socket && c->kind != XPORT_STDIO)
		shutdown(c->wfd, SHUT_WR);
	if (ops && ops->reap)
		rc = ops->reap(c, c->idle_ms > 0 ? c->idle_ms : 10000, err);
	conn_release(c);
	return rc;
}

void xport_conn_abort(struct xport_conn *c)
{
	if (!c)
		return;
	if (c->ops && c->ops->end)
		c->ops->end(c, false);
	conn_release(c);
}
