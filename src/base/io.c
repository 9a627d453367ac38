/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Full-count I/O helpers used for every fd. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "io.h"

static vstop_t *interrupt_flag;

void io_set_interrupt_flag(vstop_t *flag)
{
	interrupt_flag = flag;
}

bool io_interrupted(void)
{
	return interrupt_flag && *interrupt_flag;
}

void io_block_interrupts(sigset_t *saved)
{
	sigset_t signals;

	sigemptyset(&signals);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &signals, saved);
}

static int wait_fd(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int n = poll(&pfd, 1, -1);

		if (n >= 0)
			return 0;
		if (errno != EINTR || io_interrupted())
			return -errno;
	}
}

ssize_t io_read_some(int fd, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(fd, buf, len);

		if (n >= 0)
			return n;
		if (errno == EINTR && !io_interrupted())
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int ret = wait_fd(fd, POLLIN);

			if (ret < 0)
				return ret;
			continue;
		}
		return -errno;
	}
}

ssize_t io_read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = io_read_some(fd, (char *)buf + done, len - done);

		if (n < 0)
			return n;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int io_write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);

		if (n < 0) {
			if (errno == EINTR && !io_interrupted())
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int ret = wait_fd(fd, POLLOUT);

				if (ret < 0)
					return ret;
				continue;
			}
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += (size_t)n;
		/* A pipe or socket write cut short by a signal returns what it wrote; the
		 * next one would block again where the signal was meant to end it. */
		if (done < len && io_interrupted())
			return -EINTR;
	}
	return 0;
}

/* Waits until fd takes bytes or the deadline passes: 0, -ETIMEDOUT, or -errno. A
 * signal only shortens one wait; the deadline still bounds the whole. */
static int wait_writable_until(int fd, int64_t deadline_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int64_t left = deadline_ms - vclock_now_ms();
	int n;

	if (left <= 0)
		return -ETIMEDOUT;
	n = poll(&pfd, 1, (int)left);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -ETIMEDOUT;
	if ((pfd.revents & (POLLERR | POLLHUP)) && !(pfd.revents & POLLOUT))
		return -EPIPE;
	return 0;
}

static ssize_t write_once(int fd, const char *buf, size_t len, unsigned how)
{
	if ((how & IO_POLL_FIRST) && len > PIPE_BUF)
		len = PIPE_BUF;
	if (how & IO_SEND_DONTWAIT)
		return send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	return write(fd, buf, len);
}

int io_write_within(int fd, const void *buf, size_t len, int budget_ms, unsigned how,
		    size_t *done)
{
	int64_t deadline = vclock_now_ms() + budget_ms;
	int ret = 0;

	*done = 0;
	while (*done < len) {
		ssize_t n;

		if ((how & IO_POLL_FIRST) && (ret = wait_writable_until(fd, deadline)) < 0)
			break;
		n = write_once(fd, (const char *)buf + *done, len - *done, how);
		if (n > 0) {
			*done += (size_t)n;
			continue;
		}
		if (n == 0) {
			ret = -EIO;
			break;
		}
		if (errno == EINTR) {
			ret = vclock_now_ms() < deadline ? 0 : -ETIMEDOUT;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (!(how & IO_POLL_FIRST))
				ret = wait_writable_until(fd, deadline);
		} else {
			ret = -errno;
		}
		if (ret < 0)
			break;
	}
	return ret;
}

int io_read_text_file(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd, ret = 0;

	if (size == 0)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = io_read_full(fd, buf, size - 1);
	if (n < 0) {
		ret = (int)n;
		n = 0;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	close(fd);
	return ret;
}
