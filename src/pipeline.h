/* The pipeline layer: threads that overlap device reads, record encoding
 * (compression and digests) and output, through bounded queues and a fixed pool
 * of buffers, so memory does not grow with the state's size. */
#ifndef VFIOMIG_PIPELINE_H
#define VFIOMIG_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "stream.h"
#include "transport.h"
#include "verr.h"

#define VPIPE_CHUNK_DEFAULT (1u << 20)
#define VPIPE_THREADS_MAX   64
#define VPIPE_NO_STREAM     (~0u)

/*
 * The save side: the caller fills pooled buffers with device data, each for one of
 * its streams (save has one; migrate one per device); workers encode them into
 * records in parallel; one writer thread hands everything to the sink in the order
 * it was queued, each stream's records in sequence and its trailer last. The pool
 * bounds memory. While the threads run, SIGINT, SIGTERM and SIGHUP are blocked in
 * the caller's thread and go to the writer, whose output they must interrupt: the
 * caller checks its signal flag between reads.
 */
enum vpipe_part {
	VPIPE_HEADER,                   /* a stream's header, from vpipe_save_start */
	VPIPE_RECORD,                   /* an encoded record */
	VPIPE_TRAILER,                  /* a stream's END record */
	VPIPE_MARK,                     /* vpipe_save_mark: no bytes, stream VPIPE_NO_STREAM */
};

struct vpipe_sink {
	/* Headers come on the caller's thread, everything else on the writer's. */
	int (*write)(void *ctx, unsigned stream, enum vpipe_part part, const uint8_t *buf,
		     size_t len, struct verr *err);
	void *ctx;
};

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

/* Encoding threads for a state of about state_bytes (0: unknown): the online CPUs,
 * at most 8, and no more than the state has chunks. */
unsigned vpipe_save_threads(uint64_t state_bytes, size_t chunk);
/* Gives the sink each stream's header and starts the workers and the writer. */
int vpipe_save_start(const struct vstream_header *hdrs, unsigned nstreams,
		     const struct vpipe_save_options *opt, const struct vpipe_sink *sink,
		     struct vpipe_save **pipe, struct verr *err);
/* A free buffer of opt->chunk bytes to fill; blocks while all are in flight. */
int vpipe_save_buffer(struct vpipe_save *pipe, uint8_t **buf, size_t *cap, struct verr *err);
/* Queues the buffer last handed out, holding len bytes of the given record type. */
int vpipe_save_submit(struct vpipe_save *pipe, unsigned stream, uint16_t type, size_t len,
		      struct verr *err);
/* Reads dev's migration data into one buffer, until it is full or the device has
 * nothing more (*drained: for now in PRE_COPY, for good in STOP_COPY), and queues
 * what it got (*got bytes) as one record of stream. */
int vpipe_save_read(struct vpipe_save *pipe, unsigned stream, struct vdev *dev, uint16_t type,
		    size_t *got, bool *drained, struct verr *err);
/* Queues stream's trailer; nothing more may be submitted to it. */
int vpipe_save_end(struct vpipe_save *pipe, unsigned stream, struct verr *err);
/* Queues a mark, which the sink sees between what was queued before and after. */
int vpipe_save_mark(struct vpipe_save *pipe, struct verr *err);
/* Waits until the sink has had everything queued so far. */
int vpipe_save_flush(struct vpipe_save *pipe, struct verr *err);
/* Ends the streams not ended yet, waits until the sink has had everything, stops
 * the threads and frees pipe. */
int vpipe_save_finish(struct vpipe_save *pipe, struct vpipe_stats *stats, struct verr *err);
/* What the sink has been given so far (for progress displays). */
void vpipe_save_progress(struct vpipe_save *pipe, struct vpipe_stats *stats);
/* Stops the threads and frees pipe; the output is left to the caller to abort.
 * Safe on NULL. */
void vpipe_save_abort(struct vpipe_save *pipe);

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

#endif
