/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the save and decode pipelines share: how many threads, starting them, and
 * the reorder window. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/io.h"
#include "pipeline.h"
#include "pipeline_internal.h"

unsigned vpipe_cpus(void)
{
	cpu_set_t set;
	long online;

	/* taskset or a cpuset may allow fewer than are online. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	online = sysconf(_SC_NPROCESSORS_ONLN);
	return online < 1 ? 1 : (unsigned)online;
}

unsigned vpipe_threads(uint64_t state_bytes, size_t chunk)
{
	unsigned cpus = vpipe_cpus();
	unsigned n = cpus > 8 ? 8 : cpus;

	/* A state smaller than a few chunks gains nothing from more workers. */
	if (state_bytes && state_bytes / chunk + 1 < n)
		n = (unsigned)(state_bytes / chunk + 1);
	return n;
}

int vpipe_spawn(pthread_t *threads, unsigned n, unsigned *started, void *(*main)(void *),
		void *arg)
{
	sigset_t saved;
	int ret = 0;

	io_block_interrupts(&saved);
	for (; *started < n; (*started)++)
		if (pthread_create(&threads[*started], NULL, main, arg) != 0) {
			ret = -EAGAIN;
			break;
		}
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	return ret;
}

int vpipe_window_init(struct vpipe_window *w, size_t size)
{
	w->slot = calloc(size, sizeof(*w->slot));
	w->size = size;
	w->next = 0;
	return w->slot ? 0 : -ENOMEM;
}

void vpipe_window_free(struct vpipe_window *w)
{
	free(w->slot);
	w->slot = NULL;
}

int vpipe_window_put(struct vpipe_window *w, uint64_t order, void *item)
{
	struct vpipe_window_slot *s = &w->slot[order % w->size];

	if (order < w->next || order - w->next >= w->size || s->item)
		return -ERANGE;
	s->order = order;
	s->item = item;
	return 0;
}

void *vpipe_window_take(struct vpipe_window *w)
{
	struct vpipe_window_slot *s = &w->slot[w->next % w->size];
	void *item = s->item;

	if (!item || s->order != w->next)
		return NULL;
	s->item = NULL;
	w->next++;
	return item;
}
