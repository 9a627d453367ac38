/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The exec transport: `sh -c COMMAND` with a socket pair as its stdin and stdout
 * (so writes never raise SIGPIPE), stderr shared, reaped with a bounded wait. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "transport_net_internal.h"

#define KILL_GRACE_MS 1000

/* In the child, between fork and exec: async-signal-safe calls only. */
static void child_exec(int fd, const char *command)
{
	sigset_t none;

	if (dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
		_exit(127);
	if (fd <= STDOUT_FILENO)
		fcntl(fd, F_SETFD, 0);
	signal(SIGPIPE, SIG_DFL);       /* an ignored SIGPIPE would survive exec */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execl("/bin/sh", "sh", "-c", command, (char *)NULL);
	_exit(127);
}

static const struct xport_conn_ops exec_ops;

int xport_exec(const char *command, const struct xport_timeouts *t, struct xport_conn **out,
	       struct verr *err)
{
	struct xport_conn *c = xport_conn_new(XPORT_EXEC);
	int sv[2];

	*out = NULL;
	if (!c)
		return verr_set(err, VERR_FAILED, ENOMEM, command, NULL, "start command");
	c->ops = &exec_ops;
	snprintf(c->name, sizeof(c->name), "exec '%.280s'", command);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		xport_conn_abort(c);
		return verr_set(err, VERR_FAILED, errno, command, NULL, "socketpair");
	}
	c->child = fork();
	if (c->child == 0)
		child_exec(sv[1], command);
	close(sv[1]);
	c->rfd = c->wfd = sv[0];
	c->is_socket = true;
	c->idle_ms = t && t->idle_ms > 0 ? t->idle_ms : 0;
	c->stop = t ? t->stop : NULL;
	if (c->child < 0) {
		int e = errno;

		xport_conn_abort(c);
		return verr_set(err, VERR_FAILED, e, command, NULL, "fork");
	}
	xport_set_nonblock(c->rfd, NULL);
	*out = c;
	return 0;
}

/* Waits up to timeout_ms for the child to exit: 0 with *status, or -ETIMEDOUT. A
 * pidfd makes the wait a poll; kernels before 5.3 get a 10 ms check loop. */
static int child_wait(pid_t pid, int timeout_ms, int *status)
{
	int64_t deadline = vclock_now_ms() + timeout_ms;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	for (;;) {
		pid_t got = waitpid(pid, status, WNOHANG);
		int left = (int)(deadline - vclock_now_ms());

		if (got == pid || (got < 0 && errno != EINTR)) {
			if (got < 0)
				*status = 0;
			break;
		}
		if (left <= 0) {
			if (pidfd >= 0)
				close(pidfd);
			return -ETIMEDOUT;
		}
		if (pidfd >= 0) {
			xport_wait(pidfd, POLLIN, left, NULL);
		} else {
			struct timespec ts = { 0, 10 * 1000000 };

			nanosleep(&ts, NULL);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	return 0;
}

static void exec_kill(struct xport_conn *c);

/* Waits up to timeout_ms for the child, then kills it; 0 if it exited 0. */
static int exec_reap(struct xport_conn *c, int timeout_ms, struct verr *err)
{
	int status = 0;

	if (c->child <= 0)
		return 0;
	if (child_wait(c->child, timeout_ms, &status) < 0) {
		exec_kill(c);
		return verr_set(err, VERR_PEER, ETIMEDOUT, c->name, NULL,
				"the command did not exit after the end of the migration; killed it");
	}
	c->child = -1;
	c->child_status = status;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		return verr_set(err, VERR_PEER, 0, c->name, NULL, "the command was killed by "
				"signal %d", WTERMSIG(status));
	return verr_set(err, VERR_PEER, 0, c->name, WEXITSTATUS(status) == 127 ?
			"is the command installed on that side?" : NULL,
			"the command exited with status %d", WEXITSTATUS(status));
}

static void exec_kill(struct xport_conn *c)
{
	int status;

	if (c->child <= 0)
		return;
	kill(c->child, SIGTERM);
	if (child_wait(c->child, KILL_GRACE_MS, &status) < 0) {
		kill(c->child, SIGKILL);
		while (waitpid(c->child, &status, 0) < 0 && errno == EINTR)
			;
	}
	c->child = -1;
	c->child_status = status;
}

/* An orderly close lets the child finish (reap waits for it); an abort kills it. */
static void exec_end(struct xport_conn *c, bool orderly)
{
	if (!orderly)
		exec_kill(c);
}

static const struct xport_conn_ops exec_ops = { .end = exec_end, .reap = exec_reap };
