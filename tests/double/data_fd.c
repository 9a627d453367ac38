/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Migration data fds: read() of saving fds, write() of resuming fds (checked like
 * mtty), the saved blob, and the read/write/pread/pwrite interposers. */
#include "double.h"

#include "content.h"

#include <pthread.h>

/* content=cycled: a device whose reads cost a copy, as a driver's that hands out
 * state it holds in memory, where content=generated spends about 1 CPU-s/GiB making
 * each byte. Records are compressed one by one, so the repetition does not make
 * them compress better. */
#define CONTENT_CYCLE (16u << 20)

static unsigned char *cycle;
static pthread_once_t cycle_once = PTHREAD_ONCE_INIT;

static void make_cycle(void)
{
	cycle = malloc(CONTENT_CYCLE);
	if (cycle)
		content_fill(0, cycle, CONTENT_CYCLE);
}

/* The device's bytes at offset; -ENOMEM when the cycle could not be made. */
static int content_at(const struct devcfg *c, uint64_t offset, unsigned char *buf, size_t len)
{
	size_t done = 0;

	if (!c->cycled) {
		content_fill(offset, buf, len);
		return 0;
	}
	pthread_once(&cycle_once, make_cycle);
	if (!cycle)
		return -ENOMEM;
	while (done < len) {
		size_t at = (size_t)((offset + done) % CONTENT_CYCLE);
		size_t n = len - done < CONTENT_CYCLE - at ? len - done : CONTENT_CYCLE - at;

		memcpy(buf + done, cycle + at, n);
		done += n;
	}
	return 0;
}

/* ---- the saving blob ---- */
static unsigned char *make_blob(const char *dev, const struct devcfg *c)
{
	unsigned char *b = calloc(1, (size_t)c->size + 1);
	char name[1024], path[PATH_MAX];
	long long i;

	if (!b)
		return NULL;
	dev_path(path, sizeof(path), dev, "restored");
	if (file_read(path, b, (size_t)c->size) >= 0)
		return b;
	if (knob_str(dev, "blob", name, sizeof(name)) && name[0]) {
		if (name[0] == '/')
			snprintf(path, sizeof(path), "%s", name);
		else
			dev_path(path, sizeof(path), dev, name);
		if (file_read(path, b, (size_t)c->size) >= 0)
			return b;
	}
	for (i = MTTY_HDR; i < c->size; i++)
		b[i] = (unsigned char)(0x41 + (i - MTTY_HDR) % 53);
	if (c->size >= MTTY_HDR) {
		uint64_t magic = MTTY_MAGIC;
		uint32_t words[4] = { 1, 0, (uint32_t)c->nr_ports, 0 };

		memcpy(b, &magic, 8);   /* little-endian host, as the kernel's struct */
		memcpy(b + 8, words, sizeof(words));
	}
	return b;
}

static int header_ok(const unsigned char *h, const struct devcfg *c)
{
	uint64_t magic;
	uint32_t words[4];

	memcpy(&magic, h, 8);
	memcpy(words, h + 8, sizeof(words));
	return magic == MTTY_MAGIC && words[0] == 1 && words[1] == 0 &&
	       words[2] == (uint32_t)c->nr_ports && words[3] == 0;
}

/* ---- data fds ---- */
static void slow_down(const char *dev)
{
	sleep_ms(knob_int(dev, "delay_ms", 0));
}

static ssize_t save_read(struct dfd *e, void *buf, size_t len)
{
	struct devcfg c;
	struct devstate s;
	long long limit = 0, n, max;
	int lk, err;
	ssize_t ret;
	unsigned char *blob;
	char end[32];

	load_cfg(e->dev, &c);
	lk = lock_dev(e->dev);
	load_state(e->dev, &s);
	if (s.save_stream != e->stream) {
		ret = -ENODEV;
		goto out;
	}
	if (s.save_pos > s.save_filled) {
		ret = -EINVAL;
		goto out;
	}
	n = s.save_filled - s.save_pos;
	if ((long long)len < n)
		n = (long long)len;
	/* a driver that hands out at most so many bytes a read (a page, a buffer) */
	max = knob_int(e->dev, "read_max", 0);
	if (max > 0 && n > max)
		n = max;
	/* precopy_batch=N: a driver that hands out its PRE_COPY data N bytes a round,
	 * saying "nothing more for now" at each N although initial_bytes remain. */
	max = knob_int(e->dev, "precopy_batch", 0);
	if (max > 0 && (s.state == S_PRE_COPY || s.state == S_PRE_COPY_P2P) && n > 0) {
		if (s.save_pos > 0 && s.save_pos % max == 0 && e->paused_at != s.save_pos + 1) {
			e->paused_at = s.save_pos + 1;
			n = 0;
		} else if (n > max - s.save_pos % max) {
			n = max - s.save_pos % max;
		}
	}
	err = fail_after(e->dev, "read_fail_after", &limit);
	if (err) {
		if (s.save_pos >= limit) {
			ret = -err;
			goto out;
		}
		if (s.save_pos + n > limit)
			n = limit - s.save_pos;
	}
	if (n == 0) {
		ret = 0;
		if ((s.state == S_PRE_COPY || s.state == S_PRE_COPY_P2P) &&
		    knob_str(e->dev, "precopy_end", end, sizeof(end)) && !strcasecmp(end, "ENOMSG"))
			ret = -ENOMSG;
		/* stopcopy_end=ENOMSG: a driver that ends STOP_COPY like PRE_COPY. */
		if (s.state == S_STOP_COPY && knob_errno(e->dev, "stopcopy_end"))
			ret = -knob_errno(e->dev, "stopcopy_end");
		goto out;
	}
	if (c.generated) {
		ret = content_at(&c, (uint64_t)s.save_pos, buf, (size_t)n);
		if (ret < 0)
			goto out;
	} else {
		blob = make_blob(e->dev, &c);
		if (!blob) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(buf, blob + s.save_pos, (size_t)n);
		free(blob);
	}
	s.save_pos += n;
	save_state(e->dev, &s);
	ret = (ssize_t)n;
out:
	unlock_dev(lk);
	return ret;
}

/* Compares resumed bytes with the generated content; a mismatch is recorded in the
 * device's "mismatch" file (the offset) and refused like a driver refusing data. */
static int generated_check(const char *dev, const struct devcfg *c, long long offset,
			   const void *buf, size_t len)
{
	unsigned char expect[4096];
	size_t done = 0;

	while (done < len) {
		size_t n = len - done < sizeof(expect) ? len - done : sizeof(expect);

		if (content_at(c, (uint64_t)offset + done, expect, n) < 0)
			return -ENOMEM;
		if (memcmp(expect, (const unsigned char *)buf + done, n) != 0) {
			char path[PATH_MAX], text[32];
			int tl = snprintf(text, sizeof(text), "%lld\n", offset + (long long)done);

			dev_path(path, sizeof(path), dev, "mismatch");
			file_write(path, text, (size_t)tl);
			return -EFAULT;
		}
		done += n;
	}
	return 0;
}

static ssize_t resume_write(struct dfd *e, const void *buf, size_t len)
{
	struct devcfg c;
	struct devstate s;
	long long limit = 0;
	unsigned char hdr[MTTY_HDR];
	char path[PATH_MAX];
	int lk, err, fd, bad = 0;
	ssize_t ret;

	load_cfg(e->dev, &c);
	lk = lock_dev(e->dev);
	load_state(e->dev, &s);
	if (s.resume_len + (long long)len > c.size) {
		ret = -ENOMEM;
		goto out;
	}
	if (s.resume_stream != e->stream) {
		ret = -ENODEV;
		goto out;
	}
	err = fail_after(e->dev, "write_fail_after", &limit);
	if (err) {
		if (s.resume_len >= limit) {
			ret = -err;
			goto out;
		}
		if (s.resume_len + (long long)len > limit)
			len = (size_t)(limit - s.resume_len);
	}
	if (c.generated) {
		/* Large-state mode keeps no copy: it checks the bytes against the content. */
		ret = generated_check(e->dev, &c, s.resume_len, buf, len);
		if (ret == 0) {
			s.resume_len += (long long)len;
			save_state(e->dev, &s);
			ret = (ssize_t)len;
		}
		goto out;
	}
	dev_path(path, sizeof(path), e->dev, "resume.buf");
	fd = real_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -EIO;
		goto out;
	}
	if (real_pwrite(fd, buf, len, (off_t)s.resume_len) != (ssize_t)len) {
		real_close(fd);
		ret = -EIO;
		goto out;
	}
	if (c.header_check && s.resume_len < MTTY_HDR &&
	    s.resume_len + (long long)len >= MTTY_HDR) {
		if (real_pread(fd, hdr, MTTY_HDR, 0) != MTTY_HDR || !header_ok(hdr, &c))
			bad = 1;
	}
	real_close(fd);
	s.resume_len += (long long)len;    /* mtty counts the bytes even when the header fails */
	save_state(e->dev, &s);
	ret = bad ? -EFAULT : (ssize_t)len;
out:
	unlock_dev(lk);
	return ret;
}

/* The calls the double interposes on data fds, described once so that one function
 * serves them all. */
enum io_call { IO_READ, IO_WRITE, IO_PREAD, IO_PWRITE };

struct io_request {
	enum io_call call;
	int fd;
	void *buf;              /* read, pread */
	const void *data;       /* write, pwrite */
	size_t len;
	off_t off;              /* pread, pwrite */
};

static ssize_t real_io(const struct io_request *io)
{
	switch (io->call) {
	case IO_READ:
		return real_read(io->fd, io->buf, io->len);
	case IO_WRITE:
		return real_write(io->fd, io->data, io->len);
	case IO_PREAD:
		return real_pread(io->fd, io->buf, io->len, io->off);
	default:
		return real_pwrite(io->fd, io->data, io->len, io->off);
	}
}

/* With knob io_log=1 each data-fd read or write of the device is logged, as it begins
 * (before any delay) and as it ends, in $R/double/io.log, which all devices share:
 * the order of the lines shows whether two devices' I/O overlapped. */
static void log_io(const char *dev, const char *what, int writing)
{
	char path[PATH_MAX], line[192];
	int fd, n;

	if (!knob_int(dev, "io_log", 0))
		return;
	snprintf(path, sizeof(path), "%s/double/io.log", root);
	fd = real_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%s %s %s\n", dev, what, writing ? "write" : "read");
	if (real_write(fd, line, (size_t)n) < 0)
		n = 0;
	real_close(fd);
}

/* read or write on an fd of ours of that KIND: only a data fd of the call's direction
 * moves bytes. The fd is looked up again after the delay, which runs unlocked. */
static ssize_t data_fd_io(const struct io_request *io, enum fd_kind kind, const char *dev)
{
	int writing = io->call == IO_WRITE;
	enum fd_kind own = writing ? FK_RESUME : FK_SAVE;
	enum fd_kind other = writing ? FK_SAVE : FK_RESUME;
	struct dfd *e;
	ssize_t ret;

	if (kind == own) {
		log_io(dev, "begin", writing);
		slow_down(dev);
	}
	pthread_mutex_lock(&big_lock);
	e = lookup(io->fd);
	if (!e)
		ret = -EBADF;
	else if (kind == own)
		ret = writing ? resume_write(e, io->data, io->len) : save_read(e, io->buf, io->len);
	else if (kind == other)
		ret = -EBADF;          /* a saving fd is opened O_RDONLY, a resuming one O_WRONLY */
	else
		ret = -EINVAL;         /* region access is not modelled */
	pthread_mutex_unlock(&big_lock);
	if (kind == own)
		log_io(dev, "end", writing);
	return ret;
}

/* VFIOMIG_DOUBLE_CPU=FILE: the CPU time this process spent in the double's read and
 * write paths (generating, checking and bookkeeping, not the real I/O passed on to libc)
 * is appended to FILE at exit as "PID NANOSECONDS", so that a benchmark can tell
 * vfiomig's CPU time from the device's. */
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static int cpu_on;
static _Atomic long long cpu_ns;

static void cpu_init(void)
{
	const char *f = getenv("VFIOMIG_DOUBLE_CPU");

	cpu_on = f && f[0];
}

/* This thread's CPU time in ns, or 0 when nobody asked. */
static long long cpu_now(void)
{
	struct timespec ts;

	pthread_once(&cpu_once, cpu_init);
	if (!cpu_on || clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void cpu_add(long long since)
{
	if (since)
		cpu_ns += cpu_now() - since;
}

__attribute__((destructor)) static void cpu_report(void)
{
	const char *f = cpu_on ? getenv("VFIOMIG_DOUBLE_CPU") : NULL;
	char line[64];
	int fd, n;

	if (!f || !real_open)
		return;
	n = snprintf(line, sizeof(line), "%d %lld\n", (int)getpid(), (long long)cpu_ns);
	fd = real_open(f, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (real_write(fd, line, (size_t)n) != n)
		fprintf(stderr, "vfio double: %s: %s\n", f, strerror(errno));
	real_close(fd);
}

/* Every interposed read, write, pread and pwrite: fds that are not ours go to libc. */
static ssize_t double_io(const struct io_request *io)
{
	long long start = cpu_now();
	struct dfd *e;
	char dev[128];
	enum fd_kind kind;
	ssize_t ret;

	ensure_init();
	pthread_mutex_lock(&big_lock);
	e = lookup(io->fd);
	if (!e) {
		pthread_mutex_unlock(&big_lock);
		cpu_add(start);
		return real_io(io);
	}
	kind = e->kind;
	snprintf(dev, sizeof(dev), "%s", e->dev);
	pthread_mutex_unlock(&big_lock);
	if (io->call == IO_PREAD || io->call == IO_PWRITE)   /* data fds are streams */
		ret = (kind == FK_SAVE || kind == FK_RESUME) ? -ESPIPE : -EINVAL;
	else
		ret = data_fd_io(io, kind, dev);
	cpu_add(start);
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	return ret;
}

ssize_t read(int fd, void *buf, size_t len)
{
	struct io_request io = { .call = IO_READ, .fd = fd, .buf = buf, .len = len };

	return double_io(&io);
}

ssize_t write(int fd, const void *buf, size_t len)
{
	struct io_request io = { .call = IO_WRITE, .fd = fd, .data = buf, .len = len };

	return double_io(&io);
}

ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	struct io_request io = { .call = IO_PREAD, .fd = fd, .buf = buf, .len = len, .off = off };

	return double_io(&io);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	struct io_request io = { .call = IO_PWRITE, .fd = fd, .data = buf, .len = len, .off = off };

	return double_io(&io);
}

ssize_t pread64(int fd, void *buf, size_t len, off_t off)
{
	return pread(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	return pwrite(fd, buf, len, off);
}
