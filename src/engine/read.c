/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The PRE_COPY and STOP_COPY read loop, written once: a device's data fd into a save
 * pipeline, a chunk at a time, with the stop flag looked at before every read. */
#include <errno.h>

#include "engine.h"

int eng_read_chunk(const struct eng_reader *r, unsigned stream, struct vdev *dev,
		   uint16_t type, size_t *got, bool *drained, struct verr *err)
{
	*got = 0;
	if (eng_stopped(r->stop, vdev_ident(dev)->name, err) < 0)
		return -EINTR;
	if (vpipe_save_read(r->pipe, stream, dev, type, got, drained, err) < 0)
		return -EIO;
	if (r->progress)
		r->progress(r->ctx, stream, *got);
	return 0;
}

int eng_read_phase(const struct eng_reader *r, unsigned stream, struct vdev *dev,
		   uint16_t type, uint64_t *bytes, struct verr *err)
{
	bool drained = false;

	while (!drained) {
		size_t got;

		if (eng_read_chunk(r, stream, dev, type, &got, &drained, err) < 0)
			return -EIO;
		*bytes += got;
	}
	return 0;
}
