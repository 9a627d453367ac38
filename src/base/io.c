/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Full-count I/O helpers used for every fd. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

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
