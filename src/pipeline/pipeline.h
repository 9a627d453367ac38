/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The pipeline layer: threads that overlap device reads, record encoding
 * (compression and digests) and output, through bounded queues and a fixed pool
 * of buffers, so memory does not grow with the state's size. */
#ifndef VFIOMIG_PIPELINE_H
#define VFIOMIG_PIPELINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device/device.h"
#include "stream/stream.h"
#include "transport/transport.h"
#include "base/verr.h"
#include "base/stop.h"

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
 *
 * Several threads may feed the pipeline at once (one reader per device), each its
 * own streams: buffer, submit, read and end are safe for distinct streams; threads
 * the caller starts after vpipe_save_start inherit its blocked signals. Marks,
 * flush, finish and abort come from one thread while no other feeds.
 *
 * With opt->stop, a signal ends the pipeline at once: the writer hands the sink
 * nothing more, the caller's waits fail (VERR_INTERRUPTED) within
 * VQUEUE_STOP_POLL_MS, and finish and abort, should the writer be stuck in the
 * sink's output, send it the signal again until its write gives up.
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
	/* NULL, or a flag that a signal handler, installed without SA_RESTART, sets
	 * to its signal's number (the number is sent again to a stuck writer). */
	vstop_t *stop;
	/* The CPUs the encoders share with the readers (0: vpipe_threads' count):
	 * while readers are in a device read, at most max(1, cpus - readers)
	 * encoders run a job, so that the readers keep a CPU each. */
	unsigned cpus;
	/* Tests: each encoder calls this as it starts a job, with how many run one. */
	void (*on_encode)(void *ctx, unsigned encoding);
	void *on_encode_ctx;
};

struct vpipe_stats {
	uint64_t records, raw_bytes, stored_bytes, wire_bytes;
};

struct vpipe_save;

/* Gives the sink each stream's header and starts the workers and the writer. */
int vpipe_save_start(const struct vstream_header *hdrs, unsigned nstreams,
		     const struct vpipe_save_options *opt, const struct vpipe_sink *sink,
		     struct vpipe_save **pipe, struct verr *err);
/* A free buffer of opt->chunk bytes to fill for stream (the same one until it is
 * submitted); blocks while all are in flight. */
int vpipe_save_buffer(struct vpipe_save *pipe, unsigned stream, uint8_t **buf, size_t *cap,
		      struct verr *err);
/* Queues the buffer handed out for stream, holding len bytes of the given record type. */
int vpipe_save_submit(struct vpipe_save *pipe, unsigned stream, uint16_t type, size_t len,
		      struct verr *err);
/* Reads dev's migration data into one buffer, until it is full or the device has
 * nothing more (*drained: for now in PRE_COPY, for good in STOP_COPY), and queues
 * what it got (*got bytes) as one record of stream. */
int vpipe_save_read(struct vpipe_save *pipe, unsigned stream, struct vdev *dev, uint16_t type,
		    size_t *got, bool *drained, struct verr *err);
/* Stream's reader is busy reading its device (true) or no longer (false), for a
 * caller that fills buffers itself: vpipe_save_read says so on its own, from its
 * first read until the device is drained, the read fails or the stream ends. While
 * it waits in vpipe_save_buffer for a free buffer a reader is not busy. */
void vpipe_save_reading(struct vpipe_save *pipe, unsigned stream, bool reading);
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
 * The receiving side: the caller feeds each stream's bytes, in order, through its
 * vstream_reader (put in split mode), which frames the records; workers verify and
 * decompress them in parallel into pooled buffers; the caller's thread takes them
 * back in the order they were fed, passes them through the reader's in-order
 * checks and gives each verified payload to the sink, which writes it to the
 * device. That happens within feed, drain and end, on the caller's thread. The
 * first record in feed order that fails decides the error; the sink gets nothing
 * from it or after it, and the pipeline refuses everything from then on. The
 * caller's thread keeps SIGINT, SIGTERM and SIGHUP; the workers block them.
 */
struct vpipe_decode_sink {
	int (*record)(void *ctx, unsigned stream, const uint8_t *data, size_t len,
		      struct verr *err);
	void *ctx;
	/* NULL, or a signal handler's flag: once it is non-zero the sink gets no
	 * further record, and feed, drain and end fail (VERR_INTERRUPTED) within
	 * VQUEUE_STOP_POLL_MS, or once the record in the sink's hands is done. */
	vstop_t *stop;
	/* The streams are independent (one device each): record runs on one writer
	 * thread per stream, each stream's records in order, streams at once; feed,
	 * drain and end report a writer's failure at their next call, and drain and
	 * end wait for the writers too. With one stream the caller's thread writes. */
	bool parallel;
};

struct vpipe_decode;

/* Worker threads for a state of about state_bytes (0: unknown): the CPUs the
 * process may run on, at most 8, and no more than the state has chunks. For either
 * side. */
unsigned vpipe_threads(uint64_t state_bytes, size_t chunk);
/* readers[0..nstreams) stay the caller's and must outlive pipe; they must not have
 * read a record yet. key: the readers' key (NULL: unkeyed), kept by the caller. */
int vpipe_decode_start(struct vstream_reader *const *readers, unsigned nstreams,
		       const struct vstream_key *key, unsigned threads,
		       const struct vpipe_decode_sink *sink, struct vpipe_decode **pipe,
		       struct verr *err);
/* Feeds buf[0..len) of stream's bytes; may block while all buffers are in flight. */
int vpipe_decode_feed(struct vpipe_decode *pipe, unsigned stream, const uint8_t *buf,
		      size_t len, struct verr *err);
/* Direct input for stream (vstream_reader_space): where its next bytes go and how
 * many its current item still needs; 0 once the pipeline failed. Bytes read to *at
 * and fed from there are not copied. */
size_t vpipe_decode_space(struct vpipe_decode *pipe, unsigned stream, uint8_t **at);
/* Waits until the sink has had every record fed so far. */
int vpipe_decode_drain(struct vpipe_decode *pipe, struct verr *err);
/* At the end of stream's input: drains, then the stream must be complete, its
 * trailer verified (vstream_reader_end). */
int vpipe_decode_end(struct vpipe_decode *pipe, unsigned stream, struct verr *err);
/* Stops the workers and frees pipe; records not taken back are dropped. Safe on
 * NULL. */
void vpipe_decode_stop(struct vpipe_decode *pipe);

#endif
