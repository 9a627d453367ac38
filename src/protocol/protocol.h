/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The protocol layer: messages of the live-migration protocol between two vfiomig
 * peers (docs/protocol.md) as pure functions over byte buffers — no fds, no clock. */
#ifndef VFIOMIG_PROTOCOL_H
#define VFIOMIG_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream/stream.h"
#include "base/verr.h"

#define PROTO_MAGIC              "\x89VMP"
#define PROTO_MAGIC_LEN          4
#define PROTO_HEAD_LEN           16          /* bytes before every payload */
/* Version 2 added LOADED and RUN (docs §5): a version-1 destination runs its devices
 * before the source knows, so this build refuses version 1. */
#define PROTO_VERSION_MIN        2           /* protocol versions this build speaks */
#define PROTO_VERSION_MAX        2
#define PROTO_MAX_DEVICES        32          /* device pairs in one migration */
#define PROTO_NO_DEVICE          0xffffu     /* device index of a message about none */
#define PROTO_TEXT_MAX           1024        /* reason text bytes */
#define PROTO_SOFTWARE_MAX       63          /* HELLO software string bytes */
#define PROTO_COMPAT_MAX         255         /* vendor compatibility string bytes */
#define PROTO_ID_FIELDS_MAX      1024        /* extra identity fields per device */
#define PROTO_HELLO_MAX          256
#define PROTO_IDENTITY_MAX       (4 + PROTO_MAX_DEVICES * \
				  (4 + VSTREAM_HEADER_MAX + PROTO_ID_FIELDS_MAX))
#define PROTO_DATA_MAX           (VSTREAM_RECORD_HEAD + VSTREAM_RECORD_RAW_MAX + \
				  VSTREAM_DIGEST_LEN)
/* A buffer of this size holds any message but START, DATA and DEVICE_END encoded. */
#define PROTO_DATA_START         (PROTO_HEAD_LEN + VSTREAM_RECORD_HEAD)
#define PROTO_CONTROL_MAX        (PROTO_HEAD_LEN + PROTO_IDENTITY_MAX)

/* Header flags: bits 0-7 must be understood, 8-15 may be ignored; none in version 1. */
#define PROTO_FLAGS_REQUIRED     0x00ffu
#define PROTO_FLAGS_KNOWN        0u

/* Message types; bit 15 set means a receiver that does not know the type skips it. */
enum proto_type {
	PROTO_NONE = 0,                 /* parser: nothing complete yet */
	PROTO_HELLO = 1,                /* both: versions, features, role */
	PROTO_IDENTITY = 2,             /* destination: its devices */
	PROTO_VERDICT = 3,              /* source: accept or refuse the pairing */
	PROTO_READY = 4,                /* destination: every device is RESUMING */
	PROTO_START = 5,                /* source, device i: stream header */
	PROTO_DATA = 6,                 /* source, device i: one stream record */
	PROTO_SWITCHOVER = 7,           /* source: all devices are stopping */
	PROTO_DEVICE_END = 8,           /* source, device i: the stream trailer */
	PROTO_COMMIT = 9,               /* destination: it ran every device (after RUN) */
	PROTO_ABORT = 10,               /* both: give up, with a reason */
	PROTO_PING = 11,                /* both: keepalive while busy */
	PROTO_SYNC = 12,                /* both: source asks, destination echoes once it
					 * has taken everything sent before (feature SYNC) */
	PROTO_LOADED = 13,              /* destination: every device loaded and stopped */
	PROTO_RUN = 14,                 /* source: the state is the destination's now */
	/* Feature CONNECTIONS (docs §8): data over several connections. */
	PROTO_CONNECTIONS = 15,         /* source: asks for this many connections in all */
	PROTO_TOKEN = 16,               /* destination: the token extra connections JOIN with */
	PROTO_JOIN = 17,                /* source, first on an extra connection: index, token */
	PROTO_RECORDS = 18,             /* source, before SYNC: DATA sent so far per device */
	PROTO_TYPE_MAY_SKIP = 0x8000,
};

enum proto_role { PROTO_ROLE_SOURCE = 1, PROTO_ROLE_DESTINATION = 2 };

/* Feature bits in HELLO; the pair uses those both sides set. */
#define PROTO_FEAT_PRECOPY       (1ull << 0)   /* pre-copy rounds */
#define PROTO_FEAT_KEYED_RECORDS (1ull << 1)   /* stream records keyed with the shared key */
#define PROTO_FEAT_SYNC          (1ull << 2)   /* SYNC before the switchover */
/* The source: this is a rehearsal; the destination: it knows rehearsals. Agreed, the
 * migration ends with ABORT (REHEARSAL) before SWITCHOVER, and nothing runs. */
#define PROTO_FEAT_REHEARSAL     (1ull << 3)
#define PROTO_FEAT_CONNECTIONS   (1ull << 4)   /* DATA over several connections */
#define PROTO_FEATURES_KNOWN     (PROTO_FEAT_PRECOPY | PROTO_FEAT_KEYED_RECORDS | \
				  PROTO_FEAT_SYNC | PROTO_FEAT_REHEARSAL | \
				  PROTO_FEAT_CONNECTIONS)

/* Feature CONNECTIONS: connections of one migration, the primary included; the token
 * extra connections prove they belong to it; how far ahead of the next record its
 * device needs a DATA's sequence number may be (docs §8). */
#define PROTO_CONNECTIONS_MAX    16
#define PROTO_TOKEN_LEN          32
#define PROTO_REORDER_MAX        (1ull << 24)

/* Reason codes of VERDICT and ABORT; unknown codes are accepted and printed as numbers. */
enum proto_reason_code {
	PROTO_REASON_NONE = 0,
	PROTO_REASON_INTERRUPTED = 1,   /* a signal or the user */
	PROTO_REASON_INCOMPATIBLE = 2,  /* device identities do not pair */
	PROTO_REASON_VERSION = 3,       /* no common protocol version or feature */
	PROTO_REASON_DEVICE = 4,        /* a device operation failed */
	PROTO_REASON_DATA = 5,          /* a record or stream did not verify */
	PROTO_REASON_PROTOCOL = 6,      /* the peer broke the protocol */
	PROTO_REASON_TIMEOUT = 7,
	PROTO_REASON_LOCAL = 8,         /* memory, I/O or another local failure */
	PROTO_REASON_REHEARSAL = 9,     /* a rehearsal ended as planned: not a failure */
};

enum proto_verdict_kind {
	PROTO_VERDICT_ACCEPT = 0,
	PROTO_VERDICT_REFUSE = 1,
	PROTO_VERDICT_FORCED = 2,       /* accepted despite a mismatch (--force) */
};

struct proto_reason {
	uint16_t code;                  /* enum proto_reason_code */
	char text[PROTO_TEXT_MAX + 1];  /* UTF-8, no NUL inside; "" allowed */
};

struct proto_hello {
	enum proto_role role;
	uint16_t min_version, max_version;
	uint16_t devices;               /* source: pairs to migrate; destination: devices opened */
	uint64_t features;              /* PROTO_FEAT_*; unknown bits are ignored */
	char software[PROTO_SOFTWARE_MAX + 1];  /* "vfiomig 0.1.0", for messages */
};

/* One destination device: the stream header's identity, plus the vendor's
 * compatibility string from sysfs ("" when the driver has none; printable ASCII). */
struct proto_device_identity {
	struct vstream_identity id;
	char compat[PROTO_COMPAT_MAX + 1];
};

struct proto_identity {
	unsigned count;                 /* 1..PROTO_MAX_DEVICES */
	struct proto_device_identity dev[PROTO_MAX_DEVICES];
};

/* One message. Encoder: fill type, device, flags and the member of u the type uses
 * (START, DATA, DEVICE_END: payload/len). Decoder: everything; payload/len are the
 * raw payload bytes, and u holds the parsed form. */
struct proto_msg {
	uint16_t type, flags;
	uint16_t device;                /* index, or PROTO_NO_DEVICE */
	uint64_t offset;                /* decoder: byte of the peer's bytes where it starts */
	uint64_t number;                /* decoder: 0 for the first message received */
	const uint8_t *payload;
	size_t len;
	/* Parser in pass mode: DATA's bytes after payload[0..len) (its record's head),
	 * which the caller reads around the parser (proto_parser_passed). */
	size_t pending;
	union {
		struct proto_hello hello;                       /* HELLO */
		const struct proto_identity *identity;          /* IDENTITY */
		struct {
			enum proto_verdict_kind kind;
			struct proto_reason reason;
		} verdict;                                      /* VERDICT */
		struct vstream_record_head record;              /* DATA, DEVICE_END */
		uint32_t precopy_rounds;                        /* SWITCHOVER */
		uint64_t resume_us;                             /* COMMIT: SWITCHOVER to RUNNING */
		uint64_t loaded_us;                             /* LOADED: SWITCHOVER to loaded */
		struct proto_reason reason;                     /* ABORT */
		uint64_t ping;                                  /* PING: a counter */
		uint64_t sync;                                  /* SYNC: the source's counter */
		struct {
			uint16_t count;         /* CONNECTIONS, TOKEN: connections in all */
			uint16_t index;         /* JOIN: 1..count-1 */
			uint8_t token[PROTO_TOKEN_LEN];         /* TOKEN, JOIN */
		} join;
		struct {
			uint16_t devices;
			uint64_t sent[PROTO_MAX_DEVICES];       /* DATA of each device so far */
		} records;                                      /* RECORDS */
	} u;
};

/* protocol_names.c: names from one table, for printing and parsing. */
const char *proto_type_name(uint16_t type);             /* "DATA"; NULL if unknown */
const char *proto_reason_name(uint16_t code);           /* "incompatible"; NULL if unknown */
const char *proto_role_name(unsigned role);             /* "source"; NULL if unknown */
const char *proto_verdict_name(unsigned kind);          /* "refuse"; NULL if unknown */

/* protocol.c: whole messages. */
/* Writes msg into out; -ENOSPC if cap is short (PROTO_CONTROL_MAX suffices for all
 * but START, DATA and DEVICE_END, which need PROTO_HEAD_LEN + len), -EINVAL
 * (VERR_USAGE) for a message the decoder would refuse. */
int proto_encode(const struct proto_msg *msg, uint8_t *out, size_t cap, size_t *len,
		 struct verr *err);
/* The header alone, for START, DATA and DEVICE_END payloads written from where
 * they are, without a copy; checks the type's length limits. */
int proto_encode_head(uint16_t type, uint16_t device, size_t payload_len,
		      uint8_t out[PROTO_HEAD_LEN], struct verr *err);
/*
 * Parses one complete message sent by a peer in role `from` at the start of buf;
 * *len gets its size. -EAGAIN (no error recorded) when buf holds only part of it.
 * IDENTITY is decoded into *ids (may be NULL for other types; then IDENTITY fails).
 * Errors: -EBADMSG (VERR_DATA) for malformed bytes, -EPROTONOSUPPORT
 * (VERR_UNSUPPORTED) for unknown types or required flags. Messages do not say
 * where they are: the parser prefixes them.
 */
int proto_decode(const uint8_t *buf, size_t size, enum proto_role from,
		 struct proto_msg *msg, struct proto_identity *ids, size_t *len,
		 struct verr *err);
/* The first PROTO_DATA_START bytes of a message (its head and, for DATA, its record's
 * head): 1 when they begin a valid DATA message, with msg filled as for a message
 * whose payload holds just the record's head (msg->len) and msg->pending bytes to
 * follow; 0 when it is another type (decode it whole); -EAGAIN with fewer bytes;
 * errors as proto_decode. *len gets the whole message's size. */
int proto_decode_data_start(const uint8_t *buf, size_t size, enum proto_role from,
			    struct proto_msg *msg, size_t *len, struct verr *err);
/*
 * Agrees on a version and features from the two HELLOs: the highest version both
 * speak, the features both set. Refuses (VERR_PEER or VERR_UNSUPPORTED) two peers
 * of the same role, disjoint versions, and different device counts.
 */
int proto_negotiate(const struct proto_hello *mine, const struct proto_hello *peer,
		    uint16_t *version, uint64_t *features, struct verr *err);
/* What a pair's vendor compatibility strings ("" = none) say (docs/protocol.md §3):
 * only NONE and EQUAL let the pair migrate without --force. */
enum proto_compat {
	PROTO_COMPAT_NONE,              /* neither side has one: nothing to compare */
	PROTO_COMPAT_EQUAL,
	PROTO_COMPAT_DIFFERENT,
	PROTO_COMPAT_SOURCE_ONLY,       /* the destination's driver publishes none */
	PROTO_COMPAT_DESTINATION_ONLY,  /* the source's driver publishes none */
};
enum proto_compat proto_compat_compare(const char *source, const char *destination);
/* A reason with printf-style text, cut to PROTO_TEXT_MAX bytes. */
void proto_reason_set(struct proto_reason *reason, uint16_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* protocol_parser.c: an incremental parser over slices of any size. */
struct proto_parser;

/* local is this side's role: the parser refuses messages the peer's role may not
 * send. object names the peer in errors ("10.0.0.2:4444", "ssh dst ..."). Memory:
 * one message, at most PROTO_HEAD_LEN + PROTO_DATA_MAX bytes, grown as needed. */
int proto_parser_new(enum proto_role local, const char *object, struct proto_parser **out,
		     struct verr *err);
void proto_parser_free(struct proto_parser *p);
/*
 * Consumes bytes from buf[0..len) until one message completes or the input is
 * used up; *used tells how many. msg->type is PROTO_NONE when nothing completed.
 * Pointers in msg stay valid until the next call. Errors are those of
 * proto_decode, as "message N (TYPE) at byte M: ..."; after one the parser
 * refuses everything. Messages with an unknown type that has bit 15 set are
 * skipped silently.
 */
int proto_parser_feed(struct proto_parser *p, const void *buf, size_t len, size_t *used,
		      struct proto_msg *msg, struct verr *err);
/* At end of input: 0 between messages, -EBADMSG (with what was cut) inside one. */
int proto_parser_end(struct proto_parser *p, struct verr *err);
/*
 * Pass mode, to spare copying the bulk of the stream: a DATA message comes out once
 * its head and its record's head are in (msg->pending > 0), and its remaining
 * msg->pending bytes are the caller's to read from the same input and to count with
 * proto_parser_passed before feeding more. Off by default.
 */
void proto_parser_pass(struct proto_parser *p, bool on);
/* n of the pending payload bytes were read around the parser (n <= pending). */
void proto_parser_passed(struct proto_parser *p, size_t n);
/* What the last passed message still has to come. */
size_t proto_parser_pending(const struct proto_parser *p);
uint64_t proto_parser_offset(const struct proto_parser *p);    /* bytes consumed */

/* protocol_session.c: the order of messages on one connection (docs §4), the same
 * machine on both peers; it does no I/O and takes no decisions. */
enum proto_phase {
	PROTO_PHASE_HELLO,              /* both HELLOs not yet exchanged */
	PROTO_PHASE_IDENTITY,           /* waiting for the destination's IDENTITY */
	PROTO_PHASE_VERDICT,            /* waiting for the source's VERDICT */
	PROTO_PHASE_READY,              /* every START, then the destination's READY */
	PROTO_PHASE_TRANSFER,           /* START, DATA, SWITCHOVER, DEVICE_END */
	PROTO_PHASE_LOADING,            /* every trailer sent; waiting for LOADED */
	PROTO_PHASE_HANDOVER,           /* loaded; waiting for the source's RUN */
	PROTO_PHASE_COMMIT,             /* RUN sent; waiting for COMMIT */
	PROTO_PHASE_COMMITTED,          /* COMMIT went through: the end */
	PROTO_PHASE_REFUSED,            /* VERDICT refuse: the end */
	PROTO_PHASE_ABORTED,            /* ABORT went through: the end */
};

struct proto_session {
	enum proto_role role;
	enum proto_phase phase;
	bool hello_sent, hello_received, switched_over;
	bool handed_over;               /* RUN sent or received */
	unsigned devices;               /* from the source's HELLO */
	uint32_t started, ended;        /* bit per device */
	unsigned started_count, ended_count;
	unsigned connections;           /* CONNECTIONS asked for (0: not asked) */
	bool token;                     /* TOKEN answered it */
	bool records_pending;           /* RECORDS sent or received: SYNC comes next */
};

void proto_session_init(struct proto_session *s, enum proto_role role);
/* Advance on a message this side sends / received; -EPROTO (VERR_PEER for a received
 * message, VERR_FAILED for our own) when it is out of order. */
int proto_session_sent(struct proto_session *s, const struct proto_msg *msg, struct verr *err);
int proto_session_received(struct proto_session *s, const struct proto_msg *msg,
			   struct verr *err);
const char *proto_phase_name(enum proto_phase phase);
/* True once the destination has committed: the source received COMMIT, or the
 * destination sent it. */
bool proto_session_committed(const struct proto_session *s);
/*
 * The rule for at most one running copy (docs §5): true once RUN went (the source
 * began sending it, or the destination received it). Until then the source returns
 * its devices to RUNNING on any failure and the destination resets its devices;
 * after it the destination owns the state, and the source resumes only on the
 * destination's ABORT.
 */
bool proto_session_handed_over(const struct proto_session *s);
bool proto_session_over(const struct proto_session *s);  /* COMMITTED, REFUSED, ABORTED */
/* The token check of a JOIN, in constant time: true when they are equal. */
bool proto_token_equal(const uint8_t a[PROTO_TOKEN_LEN], const uint8_t b[PROTO_TOKEN_LEN]);

#endif
