/* The pipeline layer: threads that overlap device reads, record encoding
 * (compression and digests) and output, through bounded queues and a fixed pool
 * of buffers, so memory does not grow with the state's size. */
#ifndef VFIOMIG_PIPELINE_H
#define VFIOMIG_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream.h"
#include "transport.h"
#include "verr.h"

#define VPIPE_CHUNK_DEFAULT (1u << 20)
#define VPIPE_THREADS_MAX   64

struct vpipe_save_options {
	int level;                      /* zstd level; ignored when !compress */
	bool compress;
	unsigned threads;               /* encoding workers, 1..VPIPE_THREADS_MAX */
	size_t chunk;                   /* raw bytes per record */
	const struct vstream_key *key;  /* NULL: unkeyed */
};

struct vpipe_stats {
	uint64_t records, raw_bytes, stored_bytes, wire_bytes;
};

struct vpipe_save;

/* Writes the stream header to out and starts the workers and the writer. */
int vpipe_save_start(const struct vstream_header *hdr, const struct vpipe_save_options *opt,
		     struct xport_out *out, struct vpipe_save **pipe, struct verr *err);
/* A free buffer of opt->chunk bytes to fill; blocks while all are in flight. */
int vpipe_save_buffer(struct vpipe_save *pipe, uint8_t **buf, size_t *cap, struct verr *err);
/* Queues the buffer last handed out, holding len bytes of the given record type. */
int vpipe_save_submit(struct vpipe_save *pipe, uint16_t type, size_t len, struct verr *err);
/* Waits for every record to be written, then writes the trailer; frees pipe. */
int vpipe_save_finish(struct vpipe_save *pipe, struct vpipe_stats *stats, struct verr *err);
/* What the writer has written so far (for progress displays). */
void vpipe_save_progress(struct vpipe_save *pipe, struct vpipe_stats *stats);
/* Stops the threads and frees pipe; the output is left to the caller to abort. */
void vpipe_save_abort(struct vpipe_save *pipe);

#endif
