/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The engine layer: what save, restore, a migration source and a migration
 * destination do, written once over the layers below (docs/architecture.md). It
 * prints nothing and never exits: functions return 0 or -errno and record a verr
 * whose class the CLI maps to an exit code; notes go through eng_set_log. */
#ifndef VFIOMIG_ENGINE_H
#define VFIOMIG_ENGINE_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/verr.h"
#include "device/device.h"
#include "pipeline/pipeline.h"
#include "stream/stream.h"

/* log.c: where the engine's words go. note: warnings and facts the user sees
 * (unless -q); debug: details for -v. Both NULL by default: silent. */
struct eng_log {
	void (*note)(const char *msg);
	void (*debug)(const char *msg);
};
void eng_set_log(const struct eng_log *log);
void eng_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void eng_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The one "interrupted by signal N" failure: VERR_INTERRUPTED on object. Returns
 * -EINTR when *stop is set, 0 otherwise (stop may be NULL). */
int eng_stopped(vstop_t *stop, const char *object, struct verr *err);

/* events.c: what happens, as it happens, for callers that follow a run (the CLI's
 * --events): every device state change and every phase. Set before the run. */
enum eng_event_kind { ENG_EVENT_STATE, ENG_EVENT_PHASE };
enum eng_phase {
	ENG_PHASE_HANDSHAKE,            /* the peers agreed: identities paired, verdict sent */
	ENG_PHASE_READY,                /* every destination device is in RESUMING */
	ENG_PHASE_PRECOPY,              /* save: pre-copy begins */
	ENG_PHASE_PRECOPY_ROUND,        /* a pre-copy round ended: round, bytes, rate, ... */
	ENG_PHASE_SYNC,                 /* the destination took every pre-copy record */
	ENG_PHASE_SWITCHOVER,           /* the source's devices stop (downtime begins) */
	ENG_PHASE_STOPCOPY,             /* save: stop-copy begins */
	ENG_PHASE_LOADED,               /* every trailer verified, every device loaded */
	ENG_PHASE_RUN,                  /* RUN sent or received: the point of no return */
	ENG_PHASE_COMMIT,               /* the destination runs the state; save: committed */
	ENG_PHASE_ROLLBACK,             /* a failure: devices back to where they were, or reset */
	ENG_PHASE_LEFT_STOPPED,         /* after RUN without an answer: outcome unknown */
	ENG_PHASE_REHEARSAL,            /* a rehearsal ended, accepted */
	ENG_PHASE_HEADER,               /* restore: the stream's header checked */
};
/* Which optional fields of an event are set. */
enum {
	ENG_EVENT_ROUND = 1u << 0, ENG_EVENT_BYTES = 1u << 1, ENG_EVENT_REMAINING = 1u << 2,
	ENG_EVENT_RATE = 1u << 3, ENG_EVENT_PROJECTED = 1u << 4, ENG_EVENT_DURATION = 1u << 5,
	ENG_EVENT_DOWNTIME = 1u << 6,
};
struct eng_event {
	enum eng_event_kind kind;
	enum eng_phase phase;           /* ENG_EVENT_PHASE */
	const char *device;             /* a device's name; NULL: every device of the run */
	enum vmig_state from, to;       /* ENG_EVENT_STATE */
	const char *text;               /* a phase's word (a reason, a verdict); may be NULL */
	const char *recovery;           /* left-stopped: the command that resumes device here */
	unsigned fields;                /* ENG_EVENT_*: which of the below are set */
	unsigned round;
	uint64_t bytes, remaining;      /* the round's bytes; what is left after it */
	double rate;                    /* bytes/s */
	double projected_ms, duration_ms, downtime_ms;
};
typedef void eng_event_fn(void *ctx, const struct eng_event *ev);
/* fn is called in the thread where the event happens; NULL: no events. */
void eng_set_events(eng_event_fn *fn, void *ctx);
void eng_emit(const struct eng_event *ev);
void eng_emit_phase(enum eng_phase phase, const char *device, const char *text);
const char *eng_phase_name(enum eng_phase phase);

/* compat.c: the compatibility policy (--compat): which differences in the build
 * identity (driver module, PF driver and firmware, kernel; stream format 1.1) refuse
 * a state and which only warn. */
enum eng_compat { ENG_COMPAT_IDS, ENG_COMPAT_DRIVER, ENG_COMPAT_STRICT };
#define ENG_COMPAT_DEFAULT ENG_COMPAT_DRIVER
const char *eng_compat_name(enum eng_compat policy);
int eng_compat_parse(const char *text, enum eng_compat *policy);        /* -EINVAL */
/* from's build identity against to's under policy; labels name the two sides in
 * messages ("the stream", "this device"). Each difference the policy lets pass is a
 * warning (eng_note, on device); 1 with why and a hint at the first it refuses. */
int eng_build_compare(const struct vstream_identity *from, const struct vstream_identity *to,
		      enum eng_compat policy, const char *const labels[2], const char *device,
		      char *why, size_t size, const char **hint);

/* identity.c */
/* The stream identity a device's header carries: kind, names, PCI ids, driver,
 * migration flags, stop-copy estimate, this host and now. */
void eng_identity_from_device(const struct vdev_ident *id, uint64_t flags, uint64_t estimate,
			      struct vstream_identity *out);
/* 1 with a reason in why when the saved state cannot belong on this device. */
int eng_identity_mismatch(const struct vstream_identity *saved, const struct vdev_ident *id,
			  char *why, size_t size);
/* The check restore and receive make of a stream header against their device: kind
 * and ids, then the build identity under policy; VERR_PEER on a mismatch, a note
 * instead with force. command names the action in the note ("restore" gives
 * "restoring anyway") and who wrote the header ("restore": the stream, else the source). */
int eng_check_stream_identity(const struct vstream_header *hdr, const struct vdev_ident *id,
			      enum eng_compat policy, bool force, const char *command,
			      struct verr *err);
/* 1 with a reason when dst cannot take src's state (migrate's pairing rule). */
int eng_identity_compare(const struct vstream_identity *src, const struct vstream_identity *dst,
			 char *why, size_t size);

/* Refuses (VERR_PEER) a device whose driver publishes a compatibility string that
 * cannot be compared: unreadable, too long or not printable (peer.c). */
int eng_compat_usable(const struct vdev_ident *id, struct verr *err);
/* A device found in RESUMING was abandoned by a killed restore or receive (we hold
 * it alone now): reset it, with a note. *state: the state it is in after that. */
int eng_recover_abandoned(struct vdev *dev, enum vmig_state *state, struct verr *err);
/* Identifies and opens a device by the user's name (a BDF, an mdev UUID, a path). */
int eng_open_device(const char *name, enum vdev_open_via via, struct vdev **dev,
		    struct verr *err);

/* read.c: device data into a save pipeline, for save and a migration source. */
struct eng_reader {
	struct vpipe_save *pipe;
	vstop_t *stop;    /* checked before every read; NULL: never */
	/* After every chunk (got may be 0): progress displays, byte counts. */
	void (*progress)(void *ctx, unsigned stream, size_t got);
	void *ctx;
	const atomic_bool *cancel;      /* set: stop before the next chunk; NULL: never */
};
/* One chunk of dev into stream; *drained when the device has nothing more (for now
 * in PRE_COPY, for good in STOP_COPY). */
int eng_read_chunk(const struct eng_reader *r, unsigned stream, struct vdev *dev,
		   uint16_t type, size_t *got, bool *drained, struct verr *err);
/* Chunks until the device is drained; *bytes grows by what was read. */
int eng_read_phase(const struct eng_reader *r, unsigned stream, struct vdev *dev,
		   uint16_t type, uint64_t *bytes, struct verr *err);
/* A device of a pass over several. */
struct eng_read_dev {
	unsigned stream;
	struct vdev *dev;
	uint64_t bytes;                 /* grows by what the pass read */
};
/* Every device drained at once, one reader thread each (one device: on the
 * caller's thread), and with end each stream's trailer queued after its last
 * record. The first device to fail stops the others before their next chunk and
 * decides the error. r->progress runs on the caller's thread only. */
int eng_read_devices(const struct eng_reader *r, struct eng_read_dev *devs, unsigned n,
		     uint16_t type, bool end, struct verr *err);

/* Live migration (source.c, destination.c; docs/protocol.md). */
struct xport_conn;

/* Called as data moves: phase names a new phase ("pre-copy round 2", "stop-copy"),
 * NULL the same one; raw and wire are the bytes of state and on the wire so far. */
typedef void eng_phase_fn(void *ctx, const char *phase, uint64_t raw, uint64_t wire);

/* A rehearsal (migrate --rehearse) ends before the switchover, both sides rolled back. */
enum eng_rehearsal {
	ENG_REHEARSAL_NONE,
	ENG_REHEARSAL_IDENTITY,         /* stopped after the identities: a device lacks PRE_COPY */
	ENG_REHEARSAL_INITIAL_DATA,     /* the destination took every device's initial data */
};

struct eng_migration_stats {
	unsigned devices;
	uint64_t raw_bytes, wire_bytes, precopy_bytes;
	unsigned precopy_rounds;
	double total_ms;                /* from the start to COMMIT (the device running) */
	double downtime_ms;             /* source: from the first device stopping to COMMIT */
	double resume_ms;               /* destination: from SWITCHOVER to every device running */
	double drain_ms;                /* source: the wait for the echo of SYNC */
	uint64_t resume_us, loaded_us;  /* source: what COMMIT and LOADED reported */
	uint64_t pings_sent, pings_received;
	unsigned unknown_sizes;         /* source: devices whose driver gave no stop-copy size */
	double initial_ack_ms;          /* source: from the start to the destination's word
					 * that the initial data is in its devices; 0: none */
	unsigned connections;           /* the data went over this many connections */
	unsigned turned_away;           /* destination: connections that did not join */
	enum eng_rehearsal rehearsal;   /* how far a rehearsal went; NONE: not one */
	char rehearsal_note[200];       /* what it proved, or where it stopped and why */
};

/* More connections to the same peer, for feature CONNECTIONS (docs/protocol.md §8):
 * the CLI's, with the same address and credentials as the first. */
struct eng_connector {
	int (*connect)(void *ctx, struct xport_conn **out, struct verr *err);
	void *ctx;
};
struct eng_acceptor {
	/* The next connection the listener admitted (TLS authenticated it), within
	 * timeout_ms in all, each peer getting handshake_ms for its TLS handshake (or
	 * its first bytes); NULL: this side takes one connection only. */
	int (*accept)(void *ctx, int timeout_ms, int handshake_ms, struct xport_conn **out,
		      struct verr *err);
	void (*done)(void *ctx);        /* no more connections: stop listening */
	void *ctx;
};

struct eng_source_options {
	const char *const *devices;     /* names, paired in order with the destination's */
	unsigned n;                     /* 1..PROTO_MAX_DEVICES */
	enum vdev_open_via open_via;
	bool force;                     /* pair devices that do not match, with a note each */
	enum eng_compat compat;         /* which build differences refuse a pair */
	bool precopy;                   /* pre-copy rounds when every device has PRE_COPY */
	bool rehearse;                  /* a rehearsal: end after the initial data, abort */
	long max_downtime_ms, max_rounds;
	int initial_wait_ms;            /* the longest pre-copy waits for initial data; 0: 60 s */
	unsigned threads;               /* encoders; 0: vpipe_threads() */
	const struct vstream_key *record_key;
	unsigned connections;           /* 1..PROTO_CONNECTIONS_MAX; more need connector */
	struct eng_connector connector;
	vstop_t *stop;    /* a signal's number: roll back, before RUN */
	eng_phase_fn *progress;
	void *progress_ctx;
};
struct eng_source;

/* Opens and checks the devices (RUNNING, a usable compatibility string); none
 * changes state. *out is set also on failure, for eng_source_close. */
int eng_source_open(const struct eng_source_options *opt, struct eng_source **out,
		    struct verr *err);
/* The whole migration over conn (owned from now on). 0: the destination ran the
 * devices (COMMIT); these are in STOP. VERR_UNKNOWN: RUN went out and no answer
 * came (exit 8). Anything else: the devices run again once eng_source_close has
 * rolled back (it says so with eng_note), after the caller reported the error. */
int eng_source_run(struct eng_source *src, struct xport_conn *conn, struct verr *err);
const struct eng_migration_stats *eng_source_stats(const struct eng_source *src);
/* Ends a failed run as its outcome requires (ABORT and roll back, or leave the
 * devices stopped after RUN), closes the devices, frees src. NULL is fine. */
void eng_source_close(struct eng_source *src);

struct eng_destination_options {
	const char *const *devices;     /* names; opened once the source said HELLO */
	unsigned n;
	enum vdev_open_via open_via;
	bool force;                     /* load a stream header from another kind of device */
	enum eng_compat compat;         /* which build differences refuse a START */
	bool leave_stopped;             /* devices stay in STOP after RUN (receive --stop) */
	unsigned threads;               /* decoders; 0: vpipe_threads() */
	const struct vstream_key *record_key;   /* required of the source when given */
	struct eng_acceptor acceptor;   /* extra connections the source may ask for */
	vstop_t *stop;    /* a signal's number: reset, before RUN */
	eng_phase_fn *progress;
	void *progress_ctx;
};
struct eng_destination;

int eng_destination_new(const struct eng_destination_options *opt,
			struct eng_destination **out, struct verr *err);
/* The whole migration over conn (owned from now on). 0: RUN came, the devices run
 * (or wait in STOP) and COMMIT went out (or could not: a note says so). On failure
 * eng_destination_close resets every device it touched, then sends ABORT. */
int eng_destination_run(struct eng_destination *dst, struct xport_conn *conn,
			struct verr *err);
const struct eng_migration_stats *eng_destination_stats(const struct eng_destination *dst);
void eng_destination_close(struct eng_destination *dst);

/* save.c and restore.c: a device's state into a stream and back, for save and
 * restore. The engine owns the device's states; the caller owns the bytes' ends
 * (eng_sink, eng_source) and the display (a progress callback). */
#include <sys/types.h>

#include "base/stop.h"

struct eng_progress {
	uint64_t raw;                   /* state bytes so far */
	uint64_t wire;                  /* stream bytes so far (an estimate while saving) */
	uint64_t total;                 /* the stop-copy estimate; 0 when unknown */
};
typedef void eng_progress_fn(void *ctx, const struct eng_progress *p);

struct eng_sink {
	int (*write)(void *ctx, const uint8_t *buf, size_t len, struct verr *err);
	/* After the trailer: makes the stream durable (NULL: nothing to do). */
	int (*commit)(void *ctx, struct verr *err);
	void *ctx;
};
struct eng_save_options {
	bool precopy;                   /* PRE_COPY first when the device has it */
	bool resume;                    /* RUNNING again once the stream is committed */
	bool compress;
	int level;                      /* zstd level when compress */
	unsigned threads;               /* 0: vpipe_threads() on the estimate */
	const struct vstream_key *key;  /* NULL: unkeyed */
	vstop_t *stop;    /* a signal handler's flag; NULL: never */
	eng_progress_fn *progress;      /* NULL: none */
	void *ctx;
};
struct eng_save_result {
	struct vpipe_stats stats;
	bool committed;                 /* the sink committed the whole stream */
	struct verr recovery;           /* set when the return to the start state failed */
};
/* dev (RUNNING or STOP) through PRE_COPY and STOP_COPY into sink; ends in STOP, or
 * RUNNING with resume. On a failure before the commit the device goes back to the
 * state it was in, since its state is saved nowhere. */
int eng_save(struct vdev *dev, const struct eng_save_options *opt, const struct eng_sink *sink,
	     struct eng_save_result *res, struct verr *err);

struct eng_input {
	/* Bytes read, 0 at the end, or -errno with err set. */
	ssize_t (*read)(void *ctx, void *buf, size_t len, struct verr *err);
	void *ctx;
	const char *name;               /* for messages */
};
struct eng_restore_options {
	const struct vstream_key *key;  /* required of the stream when given */
	unsigned threads;               /* 0: vpipe_threads() on the header's estimate */
	bool force;                     /* a foreign identity gets a note, not a refusal */
	enum eng_compat compat;         /* which build differences refuse the stream */
	bool leave_stopped;             /* finalize to STOP, not RUNNING */
	vstop_t *stop;
	eng_progress_fn *progress;
	void *ctx;
};
struct eng_restore_result {
	uint64_t bytes, records, wire;
	bool reset;                     /* a failure after RESUMING reset the device */
	struct verr recovery;           /* set when that reset failed */
};
struct eng_restore;
/* Reads src's header and checks it against id, before any device is opened.
 * src and opt are kept by the caller and must outlive *r. */
int eng_restore_begin(const struct eng_input *src, const struct eng_restore_options *opt,
		      const struct vdev_ident *id, struct eng_restore **r, struct verr *err);
const struct vstream_header *eng_restore_header(const struct eng_restore *r);
/* The rest of the stream into dev: RESUMING, every record verified before it is
 * written, STOP and RUNNING only after the trailer verified; reset on any failure
 * after RESUMING, so the device is never left there. */
int eng_restore_into(struct eng_restore *r, struct vdev *dev, struct eng_restore_result *res,
		     struct verr *err);
void eng_restore_free(struct eng_restore *r);       /* safe on NULL */

#endif
