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

/*
 * The restore side: a reader thread pulls the stream from its transport, verifies
 * and decompresses each record (vstream_reader), and hands verified payloads to the
 * caller, who writes them to the device meanwhile. At most VPIPE_RESTORE_DEPTH
 * records wait between the two.
 */
#define VPIPE_RESTORE_DEPTH 4

struct vpipe_restore;

struct vpipe_item {
	bool end;                       /* the stream ended complete and verified */
	uint16_t type;
	uint8_t *data;                  /* verified payload, owned by the item */
	size_t len;
};

/* pending: bytes already read from in but not yet fed to reader. */
int vpipe_restore_start(struct vstream_reader *reader, struct xport_in *in,
			const uint8_t *pending, size_t pending_len,
			struct vpipe_restore **pipe, struct verr *err);
/* The next verified record, or end; an error when the stream or the input failed. */
int vpipe_restore_next(struct vpipe_restore *pipe, struct vpipe_item *item, struct verr *err);
void vpipe_item_release(struct vpipe_item *item);
/* Stops the reader thread (if still running) and frees pipe. Safe on NULL. */
void vpipe_restore_stop(struct vpipe_restore *pipe);
/* Stream bytes read so far. */
uint64_t vpipe_restore_wire(struct vpipe_restore *pipe);
