/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Knobs: reading $R/double/<dev>/<name> files into numbers, errnos, states, the
 * device configuration and the per-arc fault lines. */
#include "double.h"

/* A knob is the content of $R/double/<dev>/<name>, trailing newline stripped. */
int knob_str(const char *dev, const char *name, char *buf, size_t size)
{
	char path[PATH_MAX];
	ssize_t n;

	dev_path(path, sizeof(path), dev, name);
	n = file_read(path, buf, size - 1);
	if (n < 0)
		return 0;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 1;
}

long long knob_int(const char *dev, const char *name, long long dflt)
{
	char buf[64];

	if (!knob_str(dev, name, buf, sizeof(buf)) || !buf[0])
		return dflt;
	return strtoll(buf, NULL, 0);
}

static const struct { const char *name; int value; } errno_names[] = {
	{ "EIO", EIO }, { "EINVAL", EINVAL }, { "ENODEV", ENODEV }, { "EBUSY", EBUSY },
	{ "EACCES", EACCES }, { "EPERM", EPERM }, { "ENOMEM", ENOMEM }, { "EFAULT", EFAULT },
	{ "ENOSPC", ENOSPC }, { "ETIMEDOUT", ETIMEDOUT }, { "EAGAIN", EAGAIN },
	{ "ENOMSG", ENOMSG }, { "ENOTTY", ENOTTY }, { "ENXIO", ENXIO }, { "ENOENT", ENOENT },
	{ "EOPNOTSUPP", EOPNOTSUPP }, { "EBADF", EBADF }, { "ENOLINK", ENOLINK },
};

int parse_errno(const char *text, int dflt)
{
	size_t i;

	if (!text || !*text)
		return dflt;
	for (i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (!strcasecmp(text, errno_names[i].name))
			return errno_names[i].value;
	if (*text >= '0' && *text <= '9')
		return atoi(text);
	return dflt;
}

int knob_errno(const char *dev, const char *name)
{
	char buf[64];

	if (!knob_str(dev, name, buf, sizeof(buf)) || !buf[0] || !strcmp(buf, "0"))
		return 0;
	return parse_errno(buf, EIO);
}

int parse_state(const char *text)
{
	int i;

	for (i = 0; i < S_NR; i++)
		if (!strcasecmp(text, state_names[i]))
			return i;
	return -1;
}

static long long blob_file_size(const char *dev)
{
	char name[1024], path[PATH_MAX];
	struct stat st;

	if (!knob_str(dev, "blob", name, sizeof(name)) || !name[0])
		return -1;
	if (name[0] == '/')
		snprintf(path, sizeof(path), "%s", name);
	else
		dev_path(path, sizeof(path), dev, name);
	return stat(path, &st) < 0 ? -1 : (long long)st.st_size;
}

void load_cfg(const char *dev, struct devcfg *c)
{
	char buf[64];
	long long blob;

	c->is_pci = knob_str(dev, "kind", buf, sizeof(buf)) && !strcmp(buf, "pci");
	if (knob_str(dev, "migration", buf, sizeof(buf))) {
		c->has_mig = strcmp(buf, "none") != 0 && buf[0];
		c->flags = c->has_mig ? (uint32_t)strtoul(buf, NULL, 0) : 0;
	} else {
		c->has_mig = !c->is_pci;
		c->flags = c->has_mig ? 7 : 0;
	}
	c->nr_ports = knob_int(dev, "nr_ports", 2);
	blob = blob_file_size(dev);
	c->size = knob_int(dev, "size", blob >= 0 ? blob : MTTY_HDR + MTTY_PORT_SIZE * c->nr_ports);
	c->precopy_bytes = knob_int(dev, "precopy_bytes", MTTY_HDR);
	if (c->precopy_bytes > c->size)
		c->precopy_bytes = c->size;
	c->data_size = knob_int(dev, "data_size", c->size);
	c->header_check = (int)knob_int(dev, "header_check", 1);
	c->dma_logging = (int)knob_int(dev, "dma_logging", c->is_pci ? 0 : 1);
	c->reset_on_close = (int)knob_int(dev, "reset_on_close", c->is_pci ? 1 : 0);
	c->generated = knob_str(dev, "content", buf, sizeof(buf)) &&
		       (!strcmp(buf, "generated") || !strcmp(buf, "cycled"));
	c->cycled = c->generated && !strcmp(buf, "cycled");
	if (c->generated)
		c->header_check = 0;
}

/* A knob line "FROM>TO REST" (cut in place): REST if the line names arc FROM>TO, else NULL.
 * fail_arc, extra_fd and arc_delay_ms are lists of such lines. */
static const char *arc_line_rest(char *line, int from, int to)
{
	char a[32], b[32];
	char *gt = strchr(line, '>');
	int end = 0;

	if (!gt)
		return NULL;
	*gt = ' ';
	if (sscanf(line, "%31s %31s%n", a, b, &end) < 2)
		return NULL;
	return parse_state(a) == from && parse_state(b) == to ? line + end : NULL;
}

/* "FROM>TO ERRNO [error]" lines: fail that arc; "error" lands the device in ERROR. */
int arc_fault(const char *dev, int from, int to, int *to_error)
{
	char buf[2048], *line, *save = NULL;
	const char *rest;

	*to_error = 0;
	if (!knob_str(dev, "fail_arc", buf, sizeof(buf)))
		return 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char err[32] = "EIO", land[32] = "";

		rest = arc_line_rest(line, from, to);
		if (!rest)
			continue;
		sscanf(rest, "%31s %31s", err, land);
		*to_error = !strcasecmp(land, "error");
		return parse_errno(err, EIO);
	}
	return 0;
}

/* Whether knob NAME has a line "FROM>TO" naming this arc. */
int arc_listed(const char *dev, const char *name, int from, int to)
{
	char buf[2048], *line, *save = NULL;

	if (!knob_str(dev, name, buf, sizeof(buf)))
		return 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (arc_line_rest(line, from, to))
			return 1;
	return 0;
}

/* "FROM>TO MS" lines of knob arc_delay_ms: that arc takes MS (a slow driver). */
long long arc_delay(const char *dev, int from, int to)
{
	char buf[2048], *line, *save = NULL;
	const char *rest;

	if (!knob_str(dev, "arc_delay_ms", buf, sizeof(buf)))
		return 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		long long ms = 0;

		rest = arc_line_rest(line, from, to);
		if (rest && sscanf(rest, "%lld", &ms) == 1)
			return ms > 0 ? ms : 0;
	}
	return 0;
}

/* "N [ERRNO]": I/O fails once the stream position reaches N bytes. */
int fail_after(const char *dev, const char *knob, long long *limit)
{
	char buf[64], err[32] = "EIO";
	long long n;

	if (!knob_str(dev, knob, buf, sizeof(buf)) || sscanf(buf, "%lld %31s", &n, err) < 1)
		return 0;
	*limit = n;
	return parse_errno(err, EIO);
}
