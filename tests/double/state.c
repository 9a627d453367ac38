/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Device state persisted in $R/double/<dev>/state (locked with flock): the
 * migration state, the streams and the live opens ("holders"). */
#include "double.h"

int dev_exists(const char *dev)
{
	char path[PATH_MAX];
	struct stat st;

	if (!dev[0] || strchr(dev, '/'))
		return 0;
	snprintf(path, sizeof(path), "%s/double/%s", root, dev);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int lock_dev(const char *dev)
{
	char path[PATH_MAX];
	int fd;

	dev_path(path, sizeof(path), dev, "lock");
	fd = real_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
			;
	return fd;
}

void unlock_dev(int fd)
{
	if (fd >= 0)
		real_close(fd);
}

void disable_streams(struct devstate *s)
{
	s->save_stream = 0;
	s->save_pos = s->save_filled = 0;
	s->resume_stream = 0;
	s->resume_len = 0;
	s->reinit = 0;
}

/* The device's last open file went away: mtty disables its migration files,
 * vfio-pci resets the function (back to RUNNING). */
static void last_close(const char *dev, struct devstate *s)
{
	struct devcfg c;

	load_cfg(dev, &c);
	disable_streams(s);
	s->precopy_v2 = 0;
	s->log_active = 0;
	if (c.reset_on_close)
		s->state = S_RUNNING;
}

void load_state(const char *dev, struct devstate *s)
{
	char path[PATH_MAX], buf[4096], *line, *save = NULL;
	char init_name[32];
	ssize_t n;
	int had, i, j;

	memset(s, 0, sizeof(*s));
	s->state = S_RUNNING;
	s->next_stream = 1;
	dev_path(path, sizeof(path), dev, "state");
	n = file_read(path, buf, sizeof(buf) - 1);
	if (n < 0) {
		if (knob_str(dev, "initial_state", init_name, sizeof(init_name)) &&
		    parse_state(init_name) >= 0)
			s->state = parse_state(init_name);
		return;
	}
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[32];
		long long v;
		int off = 0;

		if (sscanf(line, "%31s %lld%n", key, &v, &off) < 2)
			continue;
		if (!strcmp(key, "state") && v >= 0 && v < S_NR)
			s->state = (int)v;
		else if (!strcmp(key, "next_stream"))
			s->next_stream = (unsigned long)v;
		else if (!strcmp(key, "save_stream"))
			s->save_stream = (unsigned long)v;
		else if (!strcmp(key, "save_pos"))
			s->save_pos = v;
		else if (!strcmp(key, "save_filled"))
			s->save_filled = v;
		else if (!strcmp(key, "resume_stream"))
			s->resume_stream = (unsigned long)v;
		else if (!strcmp(key, "resume_len"))
			s->resume_len = v;
		else if (!strcmp(key, "reported"))
			s->reported = (int)v;
		else if (!strcmp(key, "precopy_v2"))
			s->precopy_v2 = (int)v;
		else if (!strcmp(key, "reinit"))
			s->reinit = (int)v;
		else if (!strcmp(key, "log_active"))
			s->log_active = (int)v;
		else if (!strcmp(key, "holder") && s->nholders < MAX_HOLDERS) {
			int fd = -1;

			sscanf(line + off, "%d", &fd);
			s->holders[s->nholders].pid = (int)v;
			s->holders[s->nholders].fd = fd;
			s->nholders++;
		}
	}
	/* A holder whose process is gone closed its fd without telling us (exit, kill). */
	had = s->nholders;
	for (i = j = 0; i < s->nholders; i++)
		if (kill(s->holders[i].pid, 0) == 0 || errno != ESRCH)
			s->holders[j++] = s->holders[i];
	s->nholders = j;
	if (had && !j)
		last_close(dev, s);
}

void save_state(const char *dev, const struct devstate *s)
{
	char path[PATH_MAX], buf[4096];
	int len, i;

	len = snprintf(buf, sizeof(buf),
		       "state %d %s\nnext_stream %lu\nsave_stream %lu\nsave_pos %lld\n"
		       "save_filled %lld\nresume_stream %lu\nresume_len %lld\nreported %d\n"
		       "precopy_v2 %d\nreinit %d\nlog_active %d\n",
		       s->state, state_names[s->state], s->next_stream, s->save_stream,
		       s->save_pos, s->save_filled, s->resume_stream, s->resume_len, s->reported,
		       s->precopy_v2, s->reinit, s->log_active);
	for (i = 0; i < s->nholders && len < (int)sizeof(buf) - 32; i++)
		len += snprintf(buf + len, sizeof(buf) - len, "holder %d %d\n",
				s->holders[i].pid, s->holders[i].fd);
	dev_path(path, sizeof(path), dev, "state");
	file_write(path, buf, (size_t)len);
}

int held_by_other_process(const char *dev)
{
	struct devstate s;
	int lk = lock_dev(dev), i, other = 0;

	load_state(dev, &s);
	unlock_dev(lk);
	for (i = 0; i < s.nholders; i++)
		if (s.holders[i].pid != (int)getpid())
			other = 1;
	return other;
}

void holder_add(const char *dev, int fd)
{
	struct devstate s;
	int lk = lock_dev(dev);

	load_state(dev, &s);
	if (s.nholders < MAX_HOLDERS) {
		s.holders[s.nholders].pid = (int)getpid();
		s.holders[s.nholders].fd = fd;
		s.nholders++;
	}
	save_state(dev, &s);
	unlock_dev(lk);
}

void holder_drop(const char *dev, int fd)
{
	struct devstate s;
	int lk = lock_dev(dev);
	int i, had;

	load_state(dev, &s);
	had = s.nholders;
	for (i = 0; i < s.nholders; i++) {
		if (s.holders[i].pid == (int)getpid() && s.holders[i].fd == fd) {
			s.holders[i] = s.holders[--s.nholders];
			break;
		}
	}
	if (had && !s.nholders)
		last_close(dev, &s);
	save_state(dev, &s);
	unlock_dev(lk);
}

/* Live opens of a device (by any process) as the double's holders record them. */
int open_count(const char *dev)
{
	struct devstate s;
	int lk = lock_dev(dev);

	load_state(dev, &s);
	save_state(dev, &s);    /* keeps the pruning of dead holders */
	unlock_dev(lk);
	return s.nholders;
}
