/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stdio and file transports: atomic output to regular files, in-place output to device
 * nodes and FIFOs, terminal refusal, full-count I/O. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/io.h"
#include "transport.h"

struct xport_out {
	int fd;
	bool replace;                   /* a regular file or a new name: temp, then rename */
	bool owns_fd;                   /* not stdout */
	char name[PATH_MAX];            /* the path as given, or "stdout" */
	char target[PATH_MAX];          /* what the temporary file is renamed onto */
	char dir[PATH_MAX];             /* target's directory, synced after the rename */
	char temp[PATH_MAX];            /* the temporary file while writing */
};

struct xport_in {
	int fd;
	bool owns_fd;
	char name[PATH_MAX];
};

static bool is_stdio(const char *path)
{
	return !path || strcmp(path, "-") == 0;
}

/* A pipe holds 64 KiB by default: a 1 MiB record then crosses it in 16 rounds of
 * waking the other side. A larger one (up to /proc/sys/fs/pipe-max-size) wakes it
 * less; where it cannot grow, nothing changes. */
#define PIPE_WANT (1 << 20)

static void grow_pipe(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && fcntl(fd, F_GETPIPE_SZ) < PIPE_WANT)
		fcntl(fd, F_SETPIPE_SZ, PIPE_WANT);
}

/* The temporary name is short and fixed, so that any name up to NAME_MAX can be the
 * target: ".NAME.XXXXXX" would not fit beside a 250-byte NAME. */
#define TEMP_NAME "/.vfiomig-XXXXXX"

/* A new temporary file beside out->target; out->dir and out->temp are set. */
static int open_temp_beside(struct xport_out *out, struct verr *err)
{
	char dir_copy[PATH_MAX];

	/* dirname() may modify its argument. */
	strcpy(dir_copy, out->target);
	snprintf(out->dir, sizeof(out->dir), "%s", dirname(dir_copy));
	if ((size_t)snprintf(out->temp, sizeof(out->temp), "%s" TEMP_NAME, out->dir) >=
	    sizeof(out->temp))
		return verr_set(err, VERR_USAGE, ENAMETOOLONG, out->name, NULL, "open output");
	out->fd = mkostemp(out->temp, O_CLOEXEC);
	if (out->fd < 0) {
		out->temp[0] = '\0';
		return verr_set(err, VERR_FAILED, errno, out->name,
				"check that the directory exists and is writable",
				"create a temporary file in %s", out->dir);
	}
	out->replace = true;
	out->owns_fd = true;
	return 0;
}

/* A device node, FIFO or socket that exists is written where it is: replacing it
 * would, for /dev/null, take the node away from everyone. */
static int open_in_place(struct xport_out *out, bool allow_tty, struct verr *err)
{
	struct stat st;
	int fd = open(out->name, O_WRONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0 && errno == EINTR)
		return verr_set(err, VERR_INTERRUPTED, EINTR, out->name,
				"nothing read the FIFO before the signal", "open output");
	if (fd < 0)
		return verr_set(err, VERR_FAILED, errno, out->name, errno == ENXIO ?
				"a socket cannot be opened as a file; write to stdout and "
				"connect it, e.g. with socat" : NULL, "open output");
	out->fd = fd;
	out->owns_fd = true;
	if (fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
		return verr_set(err, VERR_FAILED, EAGAIN, out->name, "try again",
				"open output: the file changed while it was opened");
	if (!allow_tty && isatty(fd))
		return verr_set(err, VERR_USAGE, 0, out->name, "give a file or a pipe",
				"refusing to write binary migration data to a terminal");
	return 0;
}

/* Regular files (through a symlink too: its target is replaced, the link stays) and
 * new names get a temporary file; other existing files are written in place. */
static int open_path(struct xport_out *out, const char *path, bool allow_tty, struct verr *err)
{
	struct stat st, lst;

	if (strlen(path) >= sizeof(out->name))
		return verr_set(err, VERR_USAGE, ENAMETOOLONG, path, NULL, "open output");
	strcpy(out->name, path);
	strcpy(out->target, path);
	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			return verr_set(err, VERR_USAGE, errno, path, NULL, "open output");
		return open_temp_beside(out, err);
	}
	if (S_ISDIR(st.st_mode))
		return verr_set(err, VERR_USAGE, EISDIR, path,
				"give the name of a file in it", "open output");
	if (!S_ISREG(st.st_mode))
		return open_in_place(out, allow_tty, err);
	if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) && !realpath(path, out->target))
		return verr_set(err, VERR_USAGE, errno, path, NULL, "resolve the symbolic link");
	return open_temp_beside(out, err);
}

int xport_out_open(const char *path, bool allow_tty, struct xport_out **outp, struct verr *err)
{
	struct xport_out *out = calloc(1, sizeof(*out));
	int ret = 0;

	*outp = NULL;
	if (!out)
		return verr_set(err, VERR_FAILED, ENOMEM, path ? path : "stdout", NULL, "open output");
	out->fd = -1;
	if (is_stdio(path)) {
		strcpy(out->name, "stdout");
		if (!allow_tty && isatty(STDOUT_FILENO))
			ret = verr_set(err, VERR_USAGE, 0, "stdout",
				       "redirect it to a file or a pipe, or use -o FILE",
				       "refusing to write binary migration data to a terminal");
		else
			out->fd = STDOUT_FILENO;
		if (out->fd >= 0)
			grow_pipe(out->fd);
	} else {
		ret = open_path(out, path, allow_tty, err);
	}
	if (ret < 0) {
		xport_out_abort(out);
		return ret;
	}
	*outp = out;
	return 0;
}

int xport_out_write(struct xport_out *out, const void *buf, size_t len, struct verr *err)
{
	int ret = io_write_full(out->fd, buf, len);

	if (ret < 0)
		return verr_set(err, VERR_FAILED, ret, out->name,
				ret == -EPIPE ? "the reader of the pipe went away" :
				ret == -ENOSPC ? "free some space" : NULL, "write");
	return 0;
}

/* After the rename: the directory entry reaches the disk too. */
static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS)
		ret = -errno;
	close(fd);
	return ret;
}

/* The data reaches the disk before the name does, and the name before we return. */
static int commit_replace(struct xport_out *out, struct verr *err)
{
	int fd = out->fd, ret;

	out->fd = -1;
	if (fsync(fd) < 0) {
		ret = verr_set(err, VERR_FAILED, errno, out->name, NULL, "fsync");
		close(fd);
		return ret;
	}
	if (close(fd) < 0)
		return verr_set(err, VERR_FAILED, errno, out->name, NULL, "close");
	if (rename(out->temp, out->target) < 0)
		return verr_set(err, VERR_FAILED, errno, out->name, NULL,
				"rename %s into place", out->temp);
	out->temp[0] = '\0';
	ret = sync_dir(out->dir);
	if (ret < 0) {
		unlink(out->target);
		return verr_set(err, VERR_FAILED, -ret, out->dir, NULL,
				"fsync the directory of %s (removed it)", out->name);
	}
	return 0;
}

/* Pipes, terminals and most device nodes cannot be synced. */
static int commit_in_place(struct xport_out *out, struct verr *err)
{
	int ret = 0;

	if (fsync(out->fd) < 0 && errno != EINVAL && errno != EROFS)
		ret = verr_set(err, VERR_FAILED, errno, out->name, NULL, "fsync");
	if (out->owns_fd) {
		if (close(out->fd) < 0 && ret == 0)
			ret = verr_set(err, VERR_FAILED, errno, out->name, NULL, "close");
		out->fd = -1;
	}
	return ret;
}

int xport_out_commit(struct xport_out *out, struct verr *err)
{
	int ret = out->replace ? commit_replace(out, err) : commit_in_place(out, err);

	if (ret < 0) {
		xport_out_abort(out);
		return ret;
	}
	free(out);
	return 0;
}

void xport_out_abort(struct xport_out *out)
{
	if (!out)
		return;
	if (out->owns_fd && out->fd >= 0)
		close(out->fd);
	if (out->replace && out->temp[0])
		unlink(out->temp);
	free(out);
}

const char *xport_out_name(const struct xport_out *out)
{
	return out->name;
}

int xport_in_open(const char *path, struct xport_in **inp, struct verr *err)
{
	struct xport_in *in = calloc(1, sizeof(*in));

	*inp = NULL;
	if (!in)
		return verr_set(err, VERR_FAILED, ENOMEM, path ? path : "stdin", NULL, "open input");
	if (is_stdio(path)) {
		strcpy(in->name, "stdin");
		if (isatty(STDIN_FILENO)) {
			free(in);
			return verr_set(err, VERR_USAGE, 0, "stdin",
					"pipe a stream in, or use -i FILE",
					"refusing to read migration data from a terminal");
		}
		in->fd = STDIN_FILENO;
		grow_pipe(in->fd);
	} else {
		snprintf(in->name, sizeof(in->name), "%s", path);
		in->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (in->fd < 0) {
			int e = errno;

			free(in);
			return verr_set(err, VERR_USAGE, e, path, NULL, "open");
		}
		in->owns_fd = true;
	}
	*inp = in;
	return 0;
}

ssize_t xport_in_read(struct xport_in *in, void *buf, size_t len, struct verr *err)
{
	ssize_t n = io_read_some(in->fd, buf, len);

	if (n < 0)
		return verr_set(err, VERR_FAILED, (int)n, in->name, NULL, "read");
	return n;
}

void xport_in_close(struct xport_in *in)
{
	if (!in)
		return;
	if (in->owns_fd)
		close(in->fd);
	free(in);
}

const char *xport_in_name(const struct xport_in *in)
{
	return in->name;
}

int xport_in_fd(const struct xport_in *in)
{
	return in->fd;
}

/* A key file is treated as OpenSSH treats a private key: it must belong to us or
 * root, and nobody else may read or write it. Symbolic links are followed: what
 * counts is the file the key is read from. */
static int key_file_refused(const char *path, const struct stat *st, struct verr *err)
{
	char hint[PATH_MAX + 32];

	if (S_ISDIR(st->st_mode))
		return verr_set(err, VERR_USAGE, EISDIR, path, "give the key file itself",
				"open key file");
	if (st->st_uid != getuid() && st->st_uid != geteuid() && st->st_uid != 0)
		return verr_set(err, VERR_USAGE, 0, path, "use a key file that you or root own",
				"key file is owned by uid %u, not by you (uid %u) or root",
				(unsigned)st->st_uid, (unsigned)geteuid());
	if (st->st_mode & 077) {
		snprintf(hint, sizeof(hint), "chmod 600 %s", path);
		return verr_set(err, VERR_USAGE, 0, path, hint, "key file has mode %04o: its "
				"group or others can %s it", (unsigned)(st->st_mode & 07777),
				st->st_mode & 044 ? "read" : "write");
	}
	return 0;
}

int xport_key_file_check(const char *path, struct verr *err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return verr_set(err, VERR_USAGE, errno, path, NULL, "open key file");
	return key_file_refused(path, &st, err);
}

int xport_key_file_read(const char *path, uint8_t *buf, size_t size, size_t *len,
			struct verr *err)
{
	struct stat st;
	ssize_t n;
	int fd, ret;

	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return verr_set(err, VERR_USAGE, errno, path, NULL, "open key file");
	if (fstat(fd, &st) < 0)
		ret = verr_set(err, VERR_USAGE, errno, path, NULL, "stat key file");
	else
		ret = key_file_refused(path, &st, err);
	if (ret == 0) {
		n = io_read_full(fd, buf, size);
		if (n < 0)
			ret = verr_set(err, VERR_USAGE, (int)-n, path, NULL, "read key file");
		else
			*len = (size_t)n;
	}
	close(fd);
	return ret;
}
