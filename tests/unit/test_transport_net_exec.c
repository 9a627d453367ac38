/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The exec and stdio connections, signals and refused or malformed addresses:
 * no network beyond loopback, every child reaped, every test ends by itself. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "transport/transport_net.h"
#include "unit.h"

static const struct xport_timeouts quick = { .connect_ms = 5000, .idle_ms = 5000 };
static vstop_t stop;

static void on_alarm(int sig)
{
	stop = 1;
}

static void test_exec(void)
{
	struct xport_conn *c;
	struct verr err = { 0 };
	char buf[64] = "";
	ssize_t n = 0;
	time_t start;

	CHECK(xport_exec("cat", &quick, &c, &err) == 0 &&
	      xport_conn_write(c, "ping over exec", 14, &err) == 0 &&
	      (n = xport_conn_read(c, buf, sizeof(buf), &err)) > 0,
	      "exec 'cat' takes bytes: %s", err.what);
	CHECK(n == 14 && memcmp(buf, "ping over exec", 14) == 0, "and gives them back");
	CHECK(xport_conn_close(c, &err) == 0, "closing ends cat cleanly: %s", err.what);

	verr_clear(&err);
	CHECK(xport_exec("echo early; exit 3", &quick, &c, &err) == 0 &&
	      xport_conn_read(c, buf, sizeof(buf), &err) == 6 &&
	      xport_conn_read(c, buf, sizeof(buf), &err) == 0,
	      "a command that exits early gives its output, then the end");
	CHECK(xport_conn_write(c, "x", 1, &err) < 0 || 1, "writing to it raises no SIGPIPE");
	verr_clear(&err);
	CHECK(xport_conn_close(c, &err) < 0 && strstr(err.what, "exited with status 3"),
	      "its exit status is reported on close: %s", err.what);

	verr_clear(&err);
	xport_exec("exec vfiomig-no-such-command-here 2>/dev/null", &quick, &c, &err);
	CHECK(xport_conn_read(c, buf, sizeof(buf), &err) == 0 && xport_conn_close(c, &err) < 0 &&
	      strstr(err.hint, "installed"), "a missing command is reported as such: %s (%s)",
	      err.what, err.hint);

	start = time(NULL);
	verr_clear(&err);
	xport_exec("trap '' TERM; sleep 30 </dev/null", &quick, &c, &err);
	xport_conn_abort(c);
	CHECK(time(NULL) - start < 5, "abort kills a command that ignores SIGTERM");

	start = time(NULL);
	verr_clear(&err);
	xport_exec("exec sleep 30", &quick, &c, &err);
	xport_conn_set_idle(c, 300);
	CHECK(xport_conn_read(c, buf, sizeof(buf), &err) == -ETIMEDOUT,
	      "a silent command times out: %s", err.what);
	xport_conn_abort(c);
	CHECK(time(NULL) - start < 5, "and is killed quickly");
}

static void test_stop_flag(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { .it_value = { 0, 200000 } };
	struct xport_conn *c;
	struct verr err = { 0 };
	char buf[8];
	time_t start = time(NULL);

	sigaction(SIGALRM, &sa, NULL);      /* no SA_RESTART */
	xport_exec("exec sleep 30", &quick, &c, &err);
	xport_conn_set_stop(c, &stop);
	setitimer(ITIMER_REAL, &it, NULL);
	CHECK(xport_conn_read(c, buf, sizeof(buf), &err) == -EINTR && err.class == VERR_INTERRUPTED,
	      "a signal that sets the stop flag ends a read: %s", err.what);
	xport_conn_abort(c);
	CHECK(time(NULL) - start < 4, "at once, not at the idle timeout");
	stop = 0;
}

/* receive --stdio: a child whose stdin and stdout are a socket pair echoes. */
static void test_stdio(void)
{
	struct verr err = { 0 };
	char buf[16] = "";
	int sv[2], status = -1;
	pid_t pid;

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	pid = fork();
	if (pid == 0) {
		struct xport_conn *c;
		ssize_t n;

		dup2(sv[1], 0);
		dup2(sv[1], 1);
		alarm(5);
		if (xport_stdio(&quick, &c, &err) < 0)
			_exit(2);
		n = xport_conn_read(c, buf, 5, &err);
		if (n != 5 || xport_conn_write(c, buf, 5, &err) < 0)
			_exit(3);
		_exit(xport_conn_close(c, &err) == 0 ? 0 : 4);
	}
	close(sv[1]);
	CHECK(write(sv[0], "hello", 5) == 5 && read(sv[0], buf, sizeof(buf)) == 5 &&
	      memcmp(buf, "hello", 5) == 0, "a stdio connection echoes");
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "and closes cleanly (status %d)",
	      status);
	close(sv[0]);
}

static void test_addresses(void)
{
	struct xport_tls plain = { .mode = XPORT_INSECURE };
	static const char *bad_listen[] = { "::1:80", "70000", "abc", ":80", "1.2.3.4:", "-1" };
	struct xport_listener *l;
	struct xport_conn *c;
	struct verr err = { 0 };
	char to[64];
	unsigned refused = 0;

	for (size_t i = 0; i < sizeof(bad_listen) / sizeof(bad_listen[0]); i++) {
		verr_clear(&err);
		if (xport_listen(bad_listen[i], &plain, &l, &err) == -EINVAL && err.class == VERR_USAGE)
			refused++;
		else
			printf("# %s was accepted\n", bad_listen[i]);
	}
	CHECK(refused == sizeof(bad_listen) / sizeof(bad_listen[0]),
	      "malformed listen addresses are usage errors");
	verr_clear(&err);
	CHECK(xport_connect("4444", &plain, &quick, &c, &err) == -EINVAL,
	      "a client needs HOST:PORT");
	xport_listen("127.0.0.1:0", &plain, &l, &err);
	snprintf(to, sizeof(to), "%s", xport_listener_name(l));
	xport_listener_close(l);
	verr_clear(&err);
	CHECK(xport_connect(to, &plain, &quick, &c, &err) == -ECONNREFUSED &&
	      err.class == VERR_PEER && strstr(err.hint, "listening"),
	      "connecting to a closed port is refused: %s (%s)", err.what, err.hint);
}

int main(void)
{
	test_exec();
	test_stop_flag();
	test_stdio();
	test_addresses();
	return unit_done();
}
