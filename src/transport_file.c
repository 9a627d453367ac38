/* stdio and file transports: atomic file output, terminal refusal, full-count I/O. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "transport.h"

struct xport_out {
	int fd;
	bool is_file;
	char name[PATH_MAX];            /* the final path, or "stdout" */
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

static int open_temp_beside(struct xport_out *out, const char *path, struct verr *err)
{
	char base_copy[PATH_MAX], dir_copy[PATH_MAX], *dir, *base;

	if (strlen(path) >= sizeof(base_copy))
		return verr_set(err, VERR_USAGE, ENAMETOOLONG, path, NULL, "open output");
	/* basename() and dirname() may modify their argument: one copy each. */
	strcpy(base_copy, path);
	strcpy(dir_copy, path);
	base = basename(base_copy);
	dir = dirname(dir_copy);
	strcpy(out->name, path);
	if ((size_t)snprintf(out->temp, sizeof(out->temp), "%s/.%s.XXXXXX", dir, base) >=
	    sizeof(out->temp))
		return verr_set(err, VERR_USAGE, ENAMETOOLONG, path, NULL, "open output");
	out->fd = mkostemp(out->temp, O_CLOEXEC);
	if (out->fd < 0) {
		out->temp[0] = '\0';
		return verr_set(err, VERR_FAILED, errno, path,
				"check that the directory exists and is writable",
				"create a temporary file in %s", dir);
	}
	return 0;
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
	} else {
		struct stat st;

		out->is_file = true;
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			ret = verr_set(err, VERR_USAGE, EISDIR, path, NULL, "open output");
		else
			ret = open_temp_beside(out, path, err);
	}
	if (ret < 0) {
		free(out);
		return ret;
	}
	*outp = out;
	return 0;
}

int xport_out_write(struct xport_out *out, const void *buf, size_t len, struct verr *err)
{
	int ret = write_full(out->fd, buf, len);

	if (ret < 0)
		return verr_set(err, VERR_FAILED, ret, out->name,
				ret == -EPIPE ? "the reader of the pipe went away" :
				ret == -ENOSPC ? "free some space" : NULL, "write");
	return 0;
}

int xport_out_commit(struct xport_out *out, struct verr *err)
{
	int ret = 0;

	if (out->is_file) {
		/* The data reaches the disk before the name does. */
		if (fsync(out->fd) < 0)
			ret = verr_set(err, VERR_FAILED, errno, out->name, NULL, "fsync");
		else if (close(out->fd) < 0)
			ret = verr_set(err, VERR_FAILED, errno, out->name, NULL, "close");
		out->fd = -1;
		if (ret == 0 && rename(out->temp, out->name) < 0)
			ret = verr_set(err, VERR_FAILED, errno, out->name, NULL,
				       "rename %s into place", out->temp);
		if (ret < 0) {
			xport_out_abort(out);
			return ret;
		}
	} else if (fsync(out->fd) < 0 && errno != EINVAL && errno != EROFS) {
		/* pipes and terminals cannot be synced; regular files redirected can */
		ret = verr_set(err, VERR_FAILED, errno, out->name, NULL, "fsync");
	}
	free(out);
	return ret;
}

void xport_out_abort(struct xport_out *out)
{
	if (!out)
		return;
	if (out->is_file) {
		if (out->fd >= 0)
			close(out->fd);
		if (out->temp[0])
			unlink(out->temp);
	}
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
	ssize_t n = read_some(in->fd, buf, len);

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
