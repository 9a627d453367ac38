/* SPDX-License-Identifier: GPL-2.0-or-later */
/* --events: the engine's events as JSON Lines on an inherited fd or in a file, each
 * line one write(2), as they happen. A reader that goes away (EPIPE) or stops reading
 * costs one warning and the rest of the events, never the migration: the devices'
 * safety does not depend on who watches, so no write may block on it. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_events.h"
#include "base/io.h"
#include "base/json.h"
#include "engine/engine.h"

/* How long a line may wait in all for a reader that does not read (a full pipe). */
#define EVENTS_WRITE_WAIT_MS 1000

static struct {
	const char *spec;               /* --events' argument; NULL: no events */
	const char *command;
	int fd;                         /* -1: closed, or given up after a failure */
	unsigned how;                   /* IO_* flags that keep writes on fd from blocking */
	struct timespec t0;
	pthread_mutex_t lock;
} ev = { .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

enum { OPT_EVENTS = 0xa00 };

static const struct argp_option events_options[] = {
	{ "events", OPT_EVENTS, "FD|FILE", 0, "Write every state change, phase and the outcome "
	  "as JSON Lines to the open file descriptor FD or appended to FILE", 0 },
	{ 0 }
};

static error_t parse_events(int key, char *arg, struct argp_state *state)
{
	if (key != OPT_EVENTS)
		return ARGP_ERR_UNKNOWN;
	if (!*arg)
		argp_error(state, "--events takes a file descriptor number or a file name");
	ev.spec = arg;
	return 0;
}

const struct argp cli_events_argp = { events_options, parse_events, NULL, NULL, NULL, NULL, NULL };

/*
 * Makes writes to the inherited descriptor *fd unable to block, *fd becoming another
 * descriptor if need be; returns the IO_* flags to write with. The descriptor is shared
 * with whoever passed it, so its O_NONBLOCK flag is not ours to set (a shell reading
 * the same terminal would see its reads fail). A pipe, FIFO or terminal is reopened
 * through /proc/self/fd: the same pipe or terminal, in a private open file description
 * that is non-blocking. A socket is sent to with MSG_DONTWAIT; a regular file does not
 * block. Where none of this works (no /proc, a FIFO without a reader, another device),
 * each write waits for poll(2) and takes at most PIPE_BUF bytes, which a pipe with
 * room takes without blocking unless another writer fills it in between.
 */
static unsigned writes_without_blocking(int *fd)
{
	char path[40];
	struct stat st;
	int private_fd;

	if (fstat(*fd, &st) < 0 || S_ISREG(st.st_mode))
		return 0;
	if (S_ISSOCK(st.st_mode))
		return IO_SEND_DONTWAIT;
	if (!S_ISFIFO(st.st_mode) && !isatty(*fd))
		return IO_POLL_FIRST;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", *fd);
	private_fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (private_fd < 0) {
		/* ENXIO: a FIFO nobody reads; its first write says EPIPE. */
		if (errno != ENXIO)
			cli_debug("--events %s: reopen %s non-blocking: %s; each event waits "
				  "for room first", ev.spec, path, strerror(errno));
		return IO_POLL_FIRST;
	}
	close(*fd);
	*fd = private_fd;
	return 0;
}

/* An inherited descriptor: open for writing, not stdin or stdout (they carry data). */
static int use_fd(long fd, struct verr *err)
{
	int flags;

	if (fd <= STDOUT_FILENO)
		return verr_set(err, VERR_USAGE, 0, ev.spec, "standard input and output carry "
				"streams, the protocol or --json; give another descriptor "
				"(e.g. '--events 3 3>>events.log')",
				"--events: descriptor %ld is not for events", fd);
	flags = fcntl((int)fd, F_GETFL);
	if (flags < 0)
		return verr_set(err, VERR_USAGE, errno, ev.spec, "open it for writing in the "
				"calling process (e.g. '--events 3 3>>events.log'), or give a "
				"file name ('./3' for a file named 3)",
				"--events: descriptor %ld is not open", fd);
	if ((flags & O_ACCMODE) == O_RDONLY)
		return verr_set(err, VERR_USAGE, EBADF, ev.spec, "open it for writing "
				"(e.g. 3>>events.log, not 3<events.log)",
				"--events: descriptor %ld is open for reading only", fd);
	/* Not to be inherited by an --exec command (ssh): the reader's end is ours. */
	fcntl((int)fd, F_SETFD, fcntl((int)fd, F_GETFD) | FD_CLOEXEC);
	ev.fd = (int)fd;
	ev.how = writes_without_blocking(&ev.fd);
	return 0;
}

/* A file: appended to, created 0644 (events carry names, states and errors, never
 * keys or device data); a symbolic link is refused as for every path we write. A FIFO
 * is waited for until its reader opens it, before anything starts; then, the open file
 * description being ours alone, it is made non-blocking. */
static int use_file(struct verr *err)
{
	int fd = open(ev.spec, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
		      0644);

	if (fd < 0)
		return verr_set(err, VERR_FAILED, errno, ev.spec,
				errno == ELOOP ? "give the path the link points to"
					       : "check the path and its directory's permissions",
				"--events: open for appending");
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	ev.fd = fd;
	ev.how = 0;
	return 0;
}

static void now_text(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char secs[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(secs, sizeof(secs), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%06dZ", secs, (int)(ts.tv_nsec / 1000) % 1000000);
}

/* Gives up on events after a failed write, with one warning; under the lock. */
static void give_up(const char *why)
{
	if (ev.fd > STDERR_FILENO)
		close(ev.fd);
	ev.fd = -1;
	cli_note("warning: --events %s: %s; no more events are written, and the %s goes on",
		 ev.spec, why, ev.command);
}

/* One line, one write(2) (more only when the reader takes part of it, which a pipe
 * does with lines over PIPE_BUF); a reader that does not take it within a second in
 * all is given up. */
static void put_line(const char *line, size_t len)
{
	size_t done;
	int ret = io_write_within(ev.fd, line, len, EVENTS_WRITE_WAIT_MS, ev.how, &done);

	if (ret == -ETIMEDOUT)
		give_up(done ? "the reader does not read (the last line is cut short)"
			     : "the reader does not read");
	else if (ret < 0)
		give_up(strerror(-ret));
}

/* Begins a line with the fields every event has. */
static void begin(struct json *j, const char *event)
{
	char time[64];

	now_text(time, sizeof(time));
	json_object_begin(j, NULL);
	json_string(j, "event", event);
	json_string(j, "time", time);
	json_double(j, "elapsed_ms", cli_seconds(&ev.t0, NULL) * 1000);
	json_string(j, "command", ev.command);
}

/* Builds a line in memory and writes it whole; fill adds the event's own fields. */
static void emit(const char *event, void (*fill)(struct json *j, const void *arg),
		 const void *arg)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f;
	struct json j;

	pthread_mutex_lock(&ev.lock);
	if (ev.fd < 0)
		goto out;
	f = open_memstream(&buf, &size);
	if (!f)
		goto out;
	json_init_line(&j, f);
	begin(&j, event);
	if (fill)
		fill(&j, arg);
	json_object_end(&j);
	json_finish(&j);
	if (fclose(f) == 0)
		put_line(buf, size);
	free(buf);
out:
	pthread_mutex_unlock(&ev.lock);
}

static void fill_engine_event(struct json *j, const void *arg)
{
	const struct eng_event *e = arg;

	if (e->kind == ENG_EVENT_PHASE)
		json_string(j, "phase", eng_phase_name(e->phase));
	if (e->device)
		json_string(j, "device", e->device);
	if (e->kind == ENG_EVENT_STATE) {
		json_string(j, "from", vmig_state_name(e->from));
		json_string(j, "to", vmig_state_name(e->to));
	}
	if (e->fields & ENG_EVENT_ROUND)
		json_uint(j, "round", e->round);
	if (e->fields & ENG_EVENT_BYTES)
		json_uint(j, "bytes", e->bytes);
	if (e->fields & ENG_EVENT_RATE)
		json_uint(j, "rate_bytes_per_s", (uint64_t)e->rate);
	if (e->fields & ENG_EVENT_REMAINING)
		json_uint(j, "remaining_bytes", e->remaining);
	if (e->fields & ENG_EVENT_PROJECTED)
		json_double(j, "projected_downtime_ms", e->projected_ms);
	if (e->fields & ENG_EVENT_DURATION)
		json_double(j, "duration_ms", e->duration_ms);
	if (e->fields & ENG_EVENT_DOWNTIME)
		json_double(j, "downtime_ms", e->downtime_ms);
	if (e->text && *e->text)
		json_string(j, "text", e->text);
	if (e->recovery)
		json_string(j, "recovery", e->recovery);
}

static void on_engine_event(void *ctx, const struct eng_event *e)
{
	emit(e->kind == ENG_EVENT_STATE ? "state" : "phase", fill_engine_event, e);
}

static void fill_start(struct json *j, const void *arg)
{
	json_string(j, "version", VFIOMIG_VERSION);
	json_int(j, "pid", getpid());
}

int cli_events_open(const char *command)
{
	struct verr err = { 0 };
	long fd;
	int ret;

	ev.command = command;
	clock_gettime(CLOCK_MONOTONIC, &ev.t0);
	if (!ev.spec)
		return 0;
	ret = cli_parse_int(ev.spec, 0, 1 << 30, &fd) == 0 ? use_fd(fd, &err) : use_file(&err);
	if (ret < 0)
		return cli_fail(&err);
	emit("start", fill_start, NULL);
	eng_set_events(on_engine_event, NULL);
	return 0;
}

static void fill_outcome(struct json *j, const void *arg)
{
	int code = *(const int *)arg;

	json_int(j, "exit", code);
	json_string(j, "error", code ? cli_first_error() : NULL);
	if (cli_signal)
		json_int(j, "signal", cli_signal);
}

void cli_events_close(int exit_code)
{
	eng_set_events(NULL, NULL);
	emit("outcome", fill_outcome, &exit_code);
	pthread_mutex_lock(&ev.lock);
	if (ev.fd > STDERR_FILENO)
		close(ev.fd);
	ev.fd = -1;
	pthread_mutex_unlock(&ev.lock);
}
