/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The source's connections of a migration over several: the pipeline's writer
 * deals DATA out to them, writing the primary's share itself and queueing the
 * others' to their sender threads, which encrypt and write in parallel. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lanes.h"
#include "base/clock.h"
#include "base/queue.h"

#define SENDER_QUEUE 4          /* records a sender holds beyond the one it writes */

struct item {
	size_t len;
	uint8_t bytes[];        /* the message: header and payload */
};

struct lane_out {
	struct eng_lanes_out *l;
	unsigned index;
	struct xport_conn *conn;
	struct vqueue q;
	pthread_t thread;
	bool running, queue_ready;
	struct verr err;        /* the sender's failure, once failed is set */
	atomic_bool failed;
	_Atomic uint64_t records, bytes;
};

struct eng_lanes_out {
	struct eng_peer *peer;
	unsigned n;
	struct lane_out lane[PROTO_CONNECTIONS_MAX];
	vstop_t quit;     /* every extra connection's stop flag */
	vstop_t *stop;    /* the signal flag */
	uint64_t turn;
	unsigned seed;
	bool random;
	uint64_t sent[PROTO_MAX_DEVICES];
	unsigned drop_lane;             /* test: VFIOMIG_TEST_DROP_LANE=K:M */
	uint64_t drop_after;
	unsigned delay_lane, delay_ms;  /* test: VFIOMIG_TEST_LANE_DELAY=K:MS */
	struct xport_conn *strangers[2];        /* test: VFIOMIG_TEST_STRANGERS */
};

/* The test knobs: records dealt at random, and a lane that drops its connection. */
static void test_knobs(struct eng_lanes_out *l)
{
	const char *order = getenv("VFIOMIG_TEST_LANES");
	const char *drop = getenv("VFIOMIG_TEST_DROP_LANE");
	const char *delay = getenv("VFIOMIG_TEST_LANE_DELAY");
	unsigned lane;
	unsigned long long after;

	l->random = order && strcmp(order, "random") == 0;
	l->seed = (unsigned)vclock_now_ms();
	if (drop && sscanf(drop, "%u:%llu", &lane, &after) == 2 && lane > 0 && lane < l->n) {
		l->drop_lane = lane;
		l->drop_after = after;
	}
	if (delay && sscanf(delay, "%u:%llu", &lane, &after) == 2 && lane > 0 && lane < l->n &&
	    after < 10000) {
		l->delay_lane = lane;
		l->delay_ms = (unsigned)after;
	}
}

static void lane_fail(struct lane_out *lane, const struct verr *err)
{
	if (atomic_load(&lane->failed))
		return;
	lane->err = *err;
	atomic_store(&lane->failed, true);
	vqueue_cancel(&lane->q);        /* the writer's next hand-over fails */
}

static void *sender_main(void *arg)
{
	struct lane_out *lane = arg;
	struct eng_lanes_out *l = lane->l;
	void *p;

	while (vqueue_pop(&lane->q, &p) == 0) {
		struct item *it = p;
		struct verr err = { 0 };
		int rc;

		if (lane->index == l->delay_lane) {
			struct timespec pause = { l->delay_ms / 1000,
						  (long)(l->delay_ms % 1000) * 1000000 };

			nanosleep(&pause, NULL);
		}
		rc = xport_conn_write(lane->conn, it->bytes, it->len, &err);

		atomic_fetch_add(&lane->bytes, it->len);
		free(it);
		if (rc < 0) {
			lane_fail(lane, &err);
			break;
		}
		if (lane->index == l->drop_lane && atomic_fetch_add(&lane->records, 1) + 1 ==
		    l->drop_after) {
			verr_set(&err, VERR_PEER, ECONNRESET, xport_conn_name(lane->conn), NULL,
				 "connection %u dropped after %llu records "
				 "(VFIOMIG_TEST_DROP_LANE)", lane->index,
				 (unsigned long long)l->drop_after);
			xport_conn_abort(lane->conn);
			lane->conn = NULL;
			lane_fail(lane, &err);
			break;
		}
	}
	return NULL;
}

static int send_join(struct xport_conn *conn, unsigned index, const uint8_t *token,
		     struct verr *err)
{
	struct proto_msg join = { .type = PROTO_JOIN, .device = PROTO_NO_DEVICE };
	uint8_t buf[PROTO_HEAD_LEN + 8 + PROTO_TOKEN_LEN];
	size_t len;

	join.u.join.index = (uint16_t)index;
	memcpy(join.u.join.token, token, PROTO_TOKEN_LEN);
	if (proto_encode(&join, buf, sizeof(buf), &len, err) < 0)
		return -EIO;
	return xport_conn_write(conn, buf, len, err);
}

/* Senders inherit the caller's blocked signals: they belong to the main thread. */
static int start_sender(struct lane_out *lane, struct verr *err)
{
	sigset_t block, old;
	int rc;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	rc = pthread_create(&lane->thread, NULL, sender_main, lane);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return verr_set(err, VERR_FAILED, rc, xport_conn_name(lane->conn), NULL,
				"start the sender of connection %u", lane->index);
	lane->running = true;
	return 0;
}

static int open_lane(struct eng_lanes_out *l, unsigned i, const uint8_t *token,
		     const struct eng_connector *connect, vstop_t *stop,
		     struct verr *err)
{
	struct lane_out *lane = &l->lane[i];

	lane->l = l;
	lane->index = i;
	if (vqueue_init(&lane->q, SENDER_QUEUE) < 0)
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "connection %u", i);
	lane->queue_ready = true;
	vqueue_set_stop(&lane->q, stop);
	if (connect->connect(connect->ctx, &lane->conn, err) < 0)
		return -EIO;
	/* Our own flag ends its waits when we stop; the primary watches the signals. */
	xport_conn_set_stop(lane->conn, &l->quit);
	if (send_join(lane->conn, i, token, err) < 0)
		return -EIO;
	eng_debug("%s: connection %u of %u joined", xport_conn_name(lane->conn), i + 1, l->n);
	return start_sender(lane, err);
}

/* Test: before the real ones, connections the destination must turn away without
 * harm, authenticated like them: "wrong-token" JOINs with a token one bit off,
 * "silent" sends nothing. They stay open until the lanes close. */
static int strangers(struct eng_lanes_out *l, const uint8_t *token,
		     const struct eng_connector *connect, struct verr *err)
{
	const char *list = getenv("VFIOMIG_TEST_STRANGERS");
	unsigned k = 0;

	if (!list)
		return 0;
	if (strstr(list, "silent") && connect->connect(connect->ctx, &l->strangers[k++], err) < 0)
		return -EIO;
	if (strstr(list, "wrong-token")) {
		uint8_t wrong[PROTO_TOKEN_LEN];

		memcpy(wrong, token, sizeof(wrong));
		wrong[PROTO_TOKEN_LEN / 2] ^= 1;
		if (connect->connect(connect->ctx, &l->strangers[k++], err) < 0 ||
		    send_join(l->strangers[k - 1], 1, wrong, err) < 0)
			return -EIO;
	}
	return 0;
}

/* CONNECTIONS out, TOKEN back: the token every extra connection joins with. */
static int ask(struct eng_peer *peer, unsigned n, uint8_t *token, struct verr *err)
{
	struct proto_msg msg = { .type = PROTO_CONNECTIONS, .device = PROTO_NO_DEVICE };

	msg.u.join.count = (uint16_t)n;
	if (eng_peer_send(peer, &msg, err) < 0 || eng_peer_recv(peer, &msg, err) < 0)
		return -EIO;
	if (msg.type != PROTO_TOKEN)
		return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(peer->conn), NULL,
				"expected TOKEN, got %s", proto_type_name(msg.type));
	memcpy(token, msg.u.join.token, PROTO_TOKEN_LEN);
	return 0;
}

int eng_lanes_out_open(struct eng_peer *peer, unsigned n, const struct eng_connector *connect,
		       vstop_t *stop, struct eng_lanes_out **out, struct verr *err)
{
	struct eng_lanes_out *l = calloc(1, sizeof(*l));
	uint8_t token[PROTO_TOKEN_LEN];
	int ret = 0;

	*out = l;
	if (!l)
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "connections");
	l->peer = peer;
	l->n = n;
	l->stop = stop;
	test_knobs(l);
	if (ask(peer, n, token, err) < 0 || strangers(l, token, connect, err) < 0)
		ret = -EIO;
	for (unsigned i = 1; i < n && !ret; i++)
		if (open_lane(l, i, token, connect, stop, err) < 0)
			ret = -EIO;
	explicit_bzero(token, sizeof(token));
	if (!ret)
		eng_debug("the data goes over %u connections", n);
	return ret;
}

static unsigned next_lane(struct eng_lanes_out *l)
{
	if (l->random)
		return (unsigned)rand_r(&l->seed) % l->n;
	return (unsigned)(l->turn++ % l->n);
}

int eng_lanes_out_check(struct eng_lanes_out *l, struct verr *err)
{
	for (unsigned i = 1; l && i < l->n; i++)
		if (atomic_load(&l->lane[i].failed)) {
			*err = l->lane[i].err;
			return -EIO;
		}
	return 0;
}

int eng_lanes_out_data(struct eng_lanes_out *l, uint16_t device, const uint8_t *payload,
		       size_t len, struct verr *err)
{
	unsigned i = next_lane(l);
	struct lane_out *lane = &l->lane[i];
	struct item *it;
	int rc;

	if (eng_lanes_out_check(l, err) < 0)
		return -EIO;
	l->sent[device]++;
	if (i == 0)
		return eng_peer_send_payload(l->peer, PROTO_DATA, device, payload, len, err);
	it = malloc(sizeof(*it) + PROTO_HEAD_LEN + len);
	if (!it)
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "queue a record for "
				"connection %u", i);
	if (proto_encode_head(PROTO_DATA, device, len, it->bytes, err) < 0) {
		free(it);
		return -EIO;
	}
	memcpy(it->bytes + PROTO_HEAD_LEN, payload, len);
	it->len = PROTO_HEAD_LEN + len;
	rc = vqueue_push(&lane->q, it);
	if (rc == 0)
		return 0;
	free(it);
	if (rc == -EINTR && eng_stopped(l->stop, NULL, err) < 0)
		return -EINTR;
	if (eng_lanes_out_check(l, err) < 0)
		return -EIO;
	return verr_set(err, VERR_FAILED, -rc, NULL, NULL, "connection %u is closed", i);
}

int eng_lanes_out_records(struct eng_lanes_out *l, unsigned devices, struct verr *err)
{
	struct proto_msg msg = { .type = PROTO_RECORDS, .device = PROTO_NO_DEVICE };

	if (eng_lanes_out_check(l, err) < 0)
		return -EIO;
	msg.u.records.devices = (uint16_t)devices;
	memcpy(msg.u.records.sent, l->sent, devices * sizeof(l->sent[0]));
	return eng_peer_send(l->peer, &msg, err);
}

uint64_t eng_lanes_out_bytes(const struct eng_lanes_out *l)
{
	uint64_t sum = 0;

	for (unsigned i = 1; l && i < l->n; i++)
		sum += atomic_load(&((struct eng_lanes_out *)l)->lane[i].bytes);
	return sum;
}

int eng_lanes_out_close(struct eng_lanes_out *l, bool orderly, struct verr *err)
{
	int ret = 0;

	if (!l)
		return 0;
	if (!orderly)
		l->quit = 1;
	for (unsigned i = 1; i < l->n; i++) {
		struct lane_out *lane = &l->lane[i];

		if (!lane->queue_ready)
			continue;
		if (orderly)
			vqueue_close(&lane->q);
		else
			vqueue_cancel(&lane->q);
		if (lane->running)
			pthread_join(lane->thread, NULL);
	}
	if (orderly)
		ret = eng_lanes_out_check(l, err);
	for (unsigned i = 1; i < l->n; i++) {
		struct lane_out *lane = &l->lane[i];
		struct verr quiet = { 0 };

		if (lane->conn && orderly && ret == 0)
			xport_conn_close(lane->conn, &quiet);
		else
			xport_conn_abort(lane->conn);
		if (!lane->queue_ready)
			continue;
		/* what a cancelled queue still holds */
		for (size_t k = 0; k < lane->q.count; k++)
			free(lane->q.items[(lane->q.head + k) % lane->q.capacity]);
		vqueue_destroy(&lane->q);
	}
	for (unsigned k = 0; k < 2; k++)
		xport_conn_abort(l->strangers[k]);
	free(l);
	return ret;
}
