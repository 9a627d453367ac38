/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The destination's lanes, shared by the joining (lanes_join.c) and the reading and
 * ordering (lanes_destination.c). */
#ifndef VFIOMIG_ENGINE_LANES_INTERNAL_H
#define VFIOMIG_ENGINE_LANES_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "lanes.h"
#include "base/stop.h"

struct lane_in {
	struct eng_lanes_in *l;
	unsigned index;
	struct xport_conn *conn;        /* extra lanes: owned; lane 0: the peer's */
	struct proto_parser *parser;
	pthread_t thread;
	bool running;
	struct eng_lane_msg *head, *tail;       /* under l->lock */
	unsigned count;
	bool done;                      /* the reader ended: nothing more comes */
	bool failed;
	int64_t failed_ms;              /* when (monotonic) */
	struct verr err;
	uint64_t pings;
	_Atomic uint64_t bytes;
};

struct eng_lanes_in {
	struct eng_peer *peer;
	unsigned n, devices;
	struct lane_in lane[PROTO_CONNECTIONS_MAX];
	pthread_mutex_t lock;
	pthread_cond_t more, room;
	bool paused;                    /* the primary's reader waits for the SYNC echo */
	vstop_t quit;     /* the readers' connections' stop flag */
	vstop_t *stop;    /* the signal flag */
	vstop_t *primary_stop;    /* the primary's own, given back at the end */
	bool stop_swapped;
	int keepalive_ms, idle_ms;
	/* The main thread's alone: where each device is. */
	uint64_t expected[PROTO_MAX_DEVICES];
	bool ended[PROTO_MAX_DEVICES];
	int64_t owed_since;             /* a message waits for DATA still on its way */
	uint64_t held;                  /* messages that waited for one sent before them */
};

#endif
