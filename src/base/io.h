/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one way vfiomig reads and writes fds: full counts, EINTR retried, EAGAIN
 * waited out with poll(2). */
#ifndef VFIOMIG_IO_H
#define VFIOMIG_IO_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "stop.h"

/* When *flag becomes non-zero (a signal handler sets it), a read, write or wait that a
 * signal interrupts returns -EINTR instead of retrying, so the caller can unwind. */
void io_set_interrupt_flag(vstop_t *flag);
bool io_interrupted(void);
/* Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (saved: the mask before),
 * so that they reach a thread whose blocking I/O they must interrupt. */
void io_block_interrupts(sigset_t *saved);
/* Reads until len bytes or end of file; returns bytes read (short only at EOF) or -errno. */
ssize_t io_read_full(int fd, void *buf, size_t len);
/* Reads what one read(2) gives, retrying EINTR and waiting on EAGAIN; 0 at EOF or -errno. */
ssize_t io_read_some(int fd, void *buf, size_t len);
/* Writes all len bytes; returns 0 or -errno (-EINTR: a write cut short once the
 * interrupt flag is set). */
int io_write_full(int fd, const void *buf, size_t len);
/*
 * Writes len bytes within budget_ms in all, for a reader vfiomig must never wait on
 * (--events): write(2) as a whole first, then what is left after a short count, poll(2)
 * for room on EAGAIN, EINTR retried only while budget remains. The fd must not block:
 * opened O_NONBLOCK, a regular file, a socket with IO_SEND_DONTWAIT (sent with
 * MSG_DONTWAIT, the socket's flags untouched), or with IO_POLL_FIRST a blocking fd
 * shared with others (poll before every write, at most PIPE_BUF bytes a write: a pipe
 * that has room for that much does not block, unless another writer fills it first).
 * Returns 0, -ETIMEDOUT once the budget is spent, or -errno; *done gets the bytes
 * written in every case (a cut line when short).
 */
#define IO_SEND_DONTWAIT 1u
#define IO_POLL_FIRST    2u
int io_write_within(int fd, const void *buf, size_t len, int budget_ms, unsigned how,
		    size_t *done);
/* Reads a small text file (sysfs attribute) into buf, NUL-terminated, trailing newline cut. */
int io_read_text_file(const char *path, char *buf, size_t size);

#endif
