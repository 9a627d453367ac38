/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Several connections for one migration (docs/protocol.md §8): the primary carries
 * the conversation and its share of DATA; the extra ones, each authenticated by TLS
 * and by the session's token in its JOIN, carry DATA only. A lane is one of them:
 * on the source a sender thread that encrypts and writes, on the destination a
 * reader thread that reads and decrypts, so TLS runs on several cores. */
#ifndef VFIOMIG_ENGINE_LANES_H
#define VFIOMIG_ENGINE_LANES_H

#include "peer.h"
#include "base/stop.h"

/* A connection that would join gets at most this long for its TLS handshake and
 * its JOIN, so a silent stranger delays the migration by that much and no more. */
#define ENG_JOIN_WAIT_MS 5000

/* The source's side: lane 0 is the primary, written by the pipeline's writer
 * itself; lanes 1..n-1 have a sender thread each. */
struct eng_lanes_out;

/* Sends CONNECTIONS on the primary, reads the TOKEN, opens n-1 extra connections
 * with connect, each sending JOIN(index, token), and starts their senders. stop: the
 * signal flag a blocked hand-over to a sender checks. *out is set also on failure,
 * for eng_lanes_out_close. */
int eng_lanes_out_open(struct eng_peer *peer, unsigned n, const struct eng_connector *connect,
		       vstop_t *stop, struct eng_lanes_out **out, struct verr *err);
/* DATA of device: on the lane whose turn it is (round robin; under the test
 * variable VFIOMIG_TEST_LANES=random a random one), counted for RECORDS. The test
 * variable VFIOMIG_TEST_LANE_DELAY=K:MS makes lane K sleep MS before each record. */
int eng_lanes_out_data(struct eng_lanes_out *l, uint16_t device, const uint8_t *payload,
		       size_t len, struct verr *err);
/* RECORDS on the primary: how many DATA of each of devices went out so far. */
int eng_lanes_out_records(struct eng_lanes_out *l, unsigned devices, struct verr *err);
/* A sender's failure so far, if any (copied into err): -EIO. */
int eng_lanes_out_check(struct eng_lanes_out *l, struct verr *err);
/* Bytes written on the extra connections. */
uint64_t eng_lanes_out_bytes(const struct eng_lanes_out *l);
/* orderly: waits for the senders to write what they hold, then closes; otherwise
 * stops them at once and aborts the connections. Frees l; safe on NULL. */
int eng_lanes_out_close(struct eng_lanes_out *l, bool orderly, struct verr *err);

/* The destination's side: one reader per connection, the primary's included,
 * feeding the main thread, which takes each device's DATA in sequence. */
struct eng_lanes_in;

/* One message as a lane read it; payload points into the same allocation. */
struct eng_lane_msg {
	struct eng_lane_msg *next;
	unsigned lane;
	bool held;                      /* it came before DATA sent ahead of it */
	struct proto_msg msg;
	uint8_t bytes[];
};

/* Sends TOKEN (n in all, a fresh random token) on the primary, then accepts n-1
 * connections with accept until each index 1..n-1 has joined with the token, within
 * timeout_ms in all; a connection that sends anything else, or nothing within
 * ENG_JOIN_WAIT_MS, is closed and counted in *turned_away. *out is set also on
 * failure, for eng_lanes_in_close. */
int eng_lanes_in_open(struct eng_peer *peer, unsigned n, const struct eng_acceptor *accept,
		      int timeout_ms, struct eng_lanes_in **out, unsigned *turned_away,
		      struct verr *err);
/* Starts the readers, the primary's included: from now on only the lanes read the
 * primary, until the last DEVICE_END (or a SYNC, until eng_lanes_in_resume). */
int eng_lanes_in_start(struct eng_lanes_in *l, unsigned devices, vstop_t *stop,
		       struct verr *err);
/*
 * The next message the destination can use: a DATA whose sequence number is the
 * next of its device, a DEVICE_END or RECORDS once every DATA it counts was taken,
 * any other message of the primary in its order. Refuses (VERR_PEER) a duplicate, a
 * sequence number PROTO_REORDER_MAX or more ahead, DATA after its device's end,
 * more DATA than RECORDS or DEVICE_END counted, and a stall in which every
 * connection waits with a message none can use; a lane's failure ends it too.
 * The caller frees *msg; take the DATA it returns (counting it) before the next call.
 */
int eng_lanes_in_next(struct eng_lanes_in *l, struct eng_lane_msg **msg, struct verr *err);
/* After the echo of a SYNC went out: the primary's reader reads on. */
void eng_lanes_in_resume(struct eng_lanes_in *l);
/* Bytes read on the extra connections. */
uint64_t eng_lanes_in_bytes(const struct eng_lanes_in *l);
/* Stops the readers and closes the extra connections (the primary is the peer's
 * again). Frees l; safe on NULL. */
void eng_lanes_in_close(struct eng_lanes_in *l);

#endif
