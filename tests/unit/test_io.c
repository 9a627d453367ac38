/* SPDX-License-Identifier: GPL-2.0-or-later */
/* io_write_within: a reader that does not read costs the budget, never a hang, on a
 * non-blocking pipe, a blocking socket (MSG_DONTWAIT) and a blocking pipe (poll first). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/io.h"
#include "unit.h"

#define BUDGET_MS 50

static char line[3 * 4096];

/* Fills fd's pipe or socket until it takes no more (fd non-blocking for it). */
static void fill(int fd, unsigned how)
{
	size_t done;

	while (io_write_within(fd, line, 512, 0, how, &done) == 0)
		;
}

static void pipe_cases(void)
{
	int p[2];
	size_t done;
	char buf[4096];

	CHECK(pipe2(p, O_NONBLOCK) == 0, "a non-blocking pipe");
	CHECK(io_write_within(p[1], line, 100, BUDGET_MS, 0, &done) == 0 && done == 100,
	      "a line into a pipe with room goes whole");
	fill(p[1], 0);
	CHECK(io_write_within(p[1], line, 100, BUDGET_MS, 0, &done) == -ETIMEDOUT && done == 0,
	      "a full pipe: -ETIMEDOUT once the budget is spent, nothing written");
	/* Two free pages: a line of three goes in part. */
	CHECK(read(p[0], buf, sizeof(buf)) == sizeof(buf) &&
	      read(p[0], buf, sizeof(buf)) == sizeof(buf), "two pages read");
	CHECK(io_write_within(p[1], line, sizeof(line), BUDGET_MS, 0, &done) == -ETIMEDOUT &&
	      done > 0 && done < sizeof(line), "a line longer than the room: cut, and said so");
	close(p[0]);
	CHECK(io_write_within(p[1], line, 100, BUDGET_MS, 0, &done) == -EPIPE,
	      "a pipe whose reader went away: -EPIPE");
	close(p[1]);
}

static void blocking_cases(void)
{
	int s[2], p[2];
	size_t done;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0, "a blocking socket pair");
	fill(s[0], IO_SEND_DONTWAIT);
	CHECK(io_write_within(s[0], line, 100, BUDGET_MS, IO_SEND_DONTWAIT, &done) == -ETIMEDOUT,
	      "a full blocking socket with IO_SEND_DONTWAIT: -ETIMEDOUT, no hang");
	CHECK(fcntl(s[0], F_GETFL) >= 0 && !(fcntl(s[0], F_GETFL) & O_NONBLOCK),
	      "the socket's own flags are left blocking");
	close(s[0]);
	close(s[1]);

	CHECK(pipe(p) == 0, "a blocking pipe");
	CHECK(io_write_within(p[1], line, sizeof(line), BUDGET_MS, IO_POLL_FIRST, &done) == 0 &&
	      done == sizeof(line), "IO_POLL_FIRST: a line longer than PIPE_BUF in pieces");
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	fill(p[1], 0);
	fcntl(p[1], F_SETFL, 0);
	CHECK(io_write_within(p[1], line, 100, BUDGET_MS, IO_POLL_FIRST, &done) == -ETIMEDOUT &&
	      done == 0, "IO_POLL_FIRST on a full blocking pipe: -ETIMEDOUT, no hang");
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	alarm(60);                      /* a hang is the bug: end it as a failure */
	memset(line, 'x', sizeof(line));
	pipe_cases();
	blocking_cases();
	return unit_done();
}
