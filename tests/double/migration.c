/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The migration state machine: the kernel's next-hop table and skip loop, each arc
 * executed like mtty's step function, and the data fds it hands out. */
#include "double.h"

const char *const state_names[S_NR] = {
	"ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P", "PRE_COPY",
	"PRE_COPY_P2P",
};

/* vfio_mig_get_next_state()'s table: row = current, column = target, value = next hop. */
static const uint8_t next_hop[S_NR][S_NR] = {
	[S_STOP] = { S_ERROR, S_STOP, S_RUNNING_P2P, S_STOP_COPY, S_RESUMING, S_RUNNING_P2P,
		     S_RUNNING_P2P, S_RUNNING_P2P },
	[S_RUNNING] = { S_ERROR, S_RUNNING_P2P, S_RUNNING, S_RUNNING_P2P, S_RUNNING_P2P,
			S_RUNNING_P2P, S_PRE_COPY, S_RUNNING_P2P },
	[S_STOP_COPY] = { S_ERROR, S_STOP, S_STOP, S_STOP_COPY, S_STOP, S_STOP, S_ERROR,
			  S_ERROR },
	[S_RESUMING] = { S_ERROR, S_STOP, S_STOP, S_STOP, S_RESUMING, S_STOP, S_STOP, S_STOP },
	[S_RUNNING_P2P] = { S_ERROR, S_STOP, S_RUNNING, S_STOP, S_STOP, S_RUNNING_P2P,
			    S_RUNNING, S_PRE_COPY_P2P },
	[S_PRE_COPY] = { S_ERROR, S_RUNNING, S_RUNNING, S_PRE_COPY_P2P, S_RUNNING, S_RUNNING,
			 S_PRE_COPY, S_PRE_COPY_P2P },
	[S_PRE_COPY_P2P] = { S_ERROR, S_RUNNING_P2P, S_RUNNING_P2P, S_STOP_COPY,
			     S_RUNNING_P2P, S_RUNNING_P2P, S_PRE_COPY, S_PRE_COPY_P2P },
	[S_ERROR] = { S_ERROR, S_ERROR, S_ERROR, S_ERROR, S_ERROR, S_ERROR, S_ERROR, S_ERROR },
};

/* Flags a state needs; ERROR needs flags no device has. */
static const uint32_t state_needs[S_NR] = {
	[S_ERROR] = ~0u,
	[S_STOP] = MIG_STOP_COPY,
	[S_RUNNING] = MIG_STOP_COPY,
	[S_STOP_COPY] = MIG_STOP_COPY,
	[S_RESUMING] = MIG_STOP_COPY,
	[S_RUNNING_P2P] = MIG_STOP_COPY | MIG_P2P,
	[S_PRE_COPY] = MIG_STOP_COPY | MIG_PRE_COPY,
	[S_PRE_COPY_P2P] = MIG_STOP_COPY | MIG_P2P | MIG_PRE_COPY,
};

/* ---- the migration state machine ---- */
static int get_next_state(uint32_t flags, int cur, int target, int *next)
{
	if (cur < 0 || cur >= S_NR || (state_needs[cur] & flags) != state_needs[cur])
		return -EINVAL;
	if (target < 0 || target >= S_NR || (state_needs[target] & flags) != state_needs[target])
		return -EINVAL;
	/* The kernel's loop has no ERROR exit: for STOP_COPY -> PRE_COPY* it would spin on
	 * ERROR (state_needs[ERROR] is never met). The SPEC wants EINVAL; see README.md. */
	*next = next_hop[cur][target];
	while (*next != S_ERROR && (state_needs[*next] & flags) != state_needs[*next])
		*next = next_hop[*next][target];
	return *next != S_ERROR ? 0 : -EINVAL;
}

static int record_restored(const char *dev, const struct devcfg *c)
{
	char path[PATH_MAX], out[PATH_MAX];
	unsigned char *buf = calloc(1, (size_t)c->size + 1);
	ssize_t n;
	int ret;

	if (!buf)
		return -ENOMEM;
	dev_path(path, sizeof(path), dev, "resume.buf");
	n = file_read(path, buf, (size_t)c->size);
	if (n < 0)
		n = 0;
	dev_path(out, sizeof(out), dev, "restored");
	ret = file_write(out, buf, (size_t)n);
	free(buf);
	return ret;
}

/* Slow arcs add up here and are slept off once the ioctl let go of every lock, so
 * that the caller's other threads (and other processes) carry on meanwhile, as they
 * do while a kernel driver works. */
__thread long long pending_delay_ms;

void sleep_ms(long long ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One arc, as a driver implements it (mtty's step function); *stream = 1 if it hands out
 * a new data file. */
static int step(const char *dev, const struct devcfg *c, struct devstate *s, int cur, int next,
		int *stream)
{
	int err, to_error;

	*stream = 0;
	pending_delay_ms += arc_delay(dev, cur, next);
	err = arc_fault(dev, cur, next, &to_error);
	if (err) {
		if (to_error) {
			s->state = S_ERROR;
			disable_streams(s);
		}
		return -err;
	}
	if (cur == S_RESUMING && next == S_STOP) {
		if (!s->resume_stream || s->resume_len < c->size)
			return -EINVAL;
		if (!c->generated)
			record_restored(dev, c);
		disable_streams(s);
		return 0;
	}
	if ((cur == S_PRE_COPY && next == S_RUNNING) ||
	    (cur == S_PRE_COPY_P2P && next == S_RUNNING_P2P) ||
	    (cur == S_STOP_COPY && next == S_STOP)) {
		disable_streams(s);
		return 0;
	}
	if ((cur == S_RUNNING && next == S_PRE_COPY) ||
	    (cur == S_RUNNING_P2P && next == S_PRE_COPY_P2P) || (cur == S_STOP && next == S_STOP_COPY) ||
	    ((cur == S_PRE_COPY || cur == S_PRE_COPY_P2P) && next == S_STOP_COPY)) {
		if (s->save_stream) {           /* PRE_COPY* -> STOP_COPY: the same file goes on */
			if (next == S_STOP_COPY)
				s->save_filled = c->size;
			/* precopy_new_fd=1: a driver that starts a new session here (lost fd). */
			if (next == S_STOP_COPY && knob_int(dev, "precopy_new_fd", 0)) {
				s->save_stream = s->next_stream++;
				s->save_pos = 0;
				*stream = 1;
			}
			return 0;
		}
		s->save_stream = s->next_stream++;
		s->save_pos = 0;
		s->save_filled = next == S_STOP_COPY ? c->size : c->precopy_bytes;
		*stream = 1;
		return 0;
	}
	if (cur == S_STOP && next == S_RESUMING) {
		char path[PATH_MAX];

		dev_path(path, sizeof(path), dev, "resume.buf");
		file_write(path, "", 0);
		s->resume_stream = s->next_stream++;
		s->resume_len = 0;
		*stream = 1;
		return 0;
	}
	return 0;   /* RUNNING <-> RUNNING_P2P, RUNNING_P2P -> STOP, STOP -> RUNNING_P2P, ... */
}

/* With knob trace=1 every arc the driver executes is appended to $R/double/<dev>/arcs. */
void trace_arc(const char *dev, int from, int to)
{
	char path[PATH_MAX], line[64];
	int fd, n;

	if (!knob_int(dev, "trace", 0))
		return;
	dev_path(path, sizeof(path), dev, "arcs");
	fd = real_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	/* from < 0: a VFIO_DEVICE_RESET, logged as RESET>state */
	n = snprintf(line, sizeof(line), "%s>%s\n", from < 0 ? "RESET" : state_names[from],
		     state_names[to]);
	if (real_write(fd, line, (size_t)n) < 0)
		n = 0;
	real_close(fd);
}

/* extra_fd lines "FROM>TO": that arc also hands out a data fd (of no session). */
static int extra_fd(const char *dev, int from, int to, int *data_fd)
{
	int fd;
	struct dfd *e;

	if (from < 0 || !arc_listed(dev, "extra_fd", from, to))
		return 0;
	fd = new_memfd("save", dev, 0x7fffffffUL);
	if (fd < 0)
		return -errno;
	e = track(fd, FK_SAVE, dev);
	if (e)
		e->stream = 0x7fffffffUL;
	*data_fd = fd;
	return 0;
}

int set_state(const char *dev, const struct devcfg *c, struct devstate *s, int target,
		     int *data_fd)
{
	int ret = 0, stream = 0, next, last_from = -1;

	*data_fd = -1;
	while (s->state != target) {
		ret = get_next_state(c->flags, s->state, target, &next);
		if (ret) {
			/* refuse_errno: a driver that refuses with its own errno, not EINVAL. */
			int other = knob_errno(dev, "refuse_errno");

			ret = other ? -other : ret;
			break;
		}
		last_from = s->state;
		ret = step(dev, c, s, s->state, next, &stream);
		if (ret)
			break;
		trace_arc(dev, s->state, next);
		s->state = next;
		if (stream && next != target) {   /* drivers refuse an fd mid-walk */
			ret = -EINVAL;
			stream = 0;
			break;
		}
	}
	if (!ret && stream) {
		int save = s->state != S_RESUMING;
		unsigned long id = save ? s->save_stream : s->resume_stream;
		int fd = new_memfd(save ? "save" : "resume", dev, id);
		struct dfd *e;

		if (fd < 0)
			return -errno;
		e = track(fd, save ? FK_SAVE : FK_RESUME, dev);
		if (e)
			e->stream = id;
		*data_fd = fd;
	} else if (!ret) {
		ret = extra_fd(dev, last_from, target, data_fd);
	}
	return ret;
}

