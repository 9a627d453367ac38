/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The destination's connections of a migration over several, in the data phase: a
 * reader per connection reads and decrypts into a short queue of its own, and the
 * main thread takes from the queues' heads the message it can use next
 * (docs/protocol.md §8). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lanes_internal.h"
#include "base/clock.h"

#define READER_QUEUE 4          /* messages a reader holds for the main thread */
#define READ_BUF (1 << 16)
#define WAIT_SLICE_MS 100
/* A source that gives up sends ABORT on the primary and closes the others: an extra
 * connection's end waits this long for the primary to say why. */
#define PRIMARY_GRACE_MS 1000

static void timed_wait(pthread_cond_t *cond, pthread_mutex_t *lock, int ms)
{
	struct timespec ts;

	vclock_deadline(CLOCK_MONOTONIC, ms, &ts);
	pthread_cond_timedwait(cond, lock, &ts);
}

/* Reading */

/* A PING on an extra connection, if it takes it at once: the source's writes there
 * see a live peer that is busy, not a silent one. */
static void ping_source(struct lane_in *lane)
{
	struct proto_msg ping = { .type = PROTO_PING, .device = PROTO_NO_DEVICE };
	uint8_t buf[PROTO_HEAD_LEN + 8];
	struct verr quiet = { 0 };
	size_t len;

	ping.u.ping = ++lane->pings;
	if (proto_encode(&ping, buf, sizeof(buf), &len, &quiet) == 0)
		xport_conn_write_now(lane->conn, buf, len, &quiet);
}

/* Under l->lock: a lane's message for the main thread, once its queue has room. An
 * extra lane pings its source while it waits, as its source hears nothing else. */
static int push(struct lane_in *lane, struct eng_lane_msg *m)
{
	struct eng_lanes_in *l = lane->l;
	int64_t last = vclock_now_ms();

	while (lane->count >= READER_QUEUE && !l->quit) {
		timed_wait(&l->room, &l->lock, WAIT_SLICE_MS);
		if (lane->index > 0 && l->keepalive_ms > 0 &&
		    vclock_now_ms() - last >= l->keepalive_ms) {
			last = vclock_now_ms();
			ping_source(lane);
		}
	}
	if (l->quit) {
		free(m);
		return -1;
	}
	m->next = NULL;
	if (lane->tail)
		lane->tail->next = m;
	else
		lane->head = m;
	lane->tail = m;
	lane->count++;
	pthread_cond_broadcast(&l->more);
	return 0;
}

static struct eng_lane_msg *copy_msg(unsigned lane, const struct proto_msg *msg)
{
	struct eng_lane_msg *m = malloc(sizeof(*m) + msg->len);

	if (!m)
		return NULL;
	m->lane = lane;
	m->held = false;
	m->msg = *msg;
	if (msg->len)
		memcpy(m->bytes, msg->payload, msg->len);
	m->msg.payload = m->bytes;
	return m;
}

/* The lane ended; a failure unless the main thread stopped it. */
static void lane_end(struct lane_in *lane, const struct verr *err)
{
	struct eng_lanes_in *l = lane->l;

	pthread_mutex_lock(&l->lock);
	lane->done = true;
	if (err && !l->quit) {
		lane->failed = true;
		lane->failed_ms = vclock_now_ms();
		lane->err = *err;
	}
	pthread_cond_broadcast(&l->more);
	pthread_mutex_unlock(&l->lock);
}

static int take(struct lane_in *lane, const struct proto_msg *msg, struct verr *err)
{
	struct eng_lane_msg *m = copy_msg(lane->index, msg);
	int rc;

	if (!m)
		return verr_set(err, VERR_FAILED, ENOMEM, NULL, NULL, "connection %u",
				lane->index + 1);
	pthread_mutex_lock(&lane->l->lock);
	rc = push(lane, m);
	pthread_mutex_unlock(&lane->l->lock);
	return rc;
}

/* The primary: the peer's own reader (session order, PINGs, ABORT), until the last
 * DEVICE_END; after a SYNC it waits for the echo, which goes out on this connection. */
static void *primary_main(void *arg)
{
	struct lane_in *lane = arg;
	struct eng_lanes_in *l = lane->l;
	unsigned ended = 0;

	for (;;) {
		struct proto_msg msg;
		struct verr err = { 0 };

		if (eng_peer_recv(l->peer, &msg, &err) < 0) {
			lane_end(lane, &err);
			return NULL;
		}
		if (msg.type == PROTO_SYNC) {
			pthread_mutex_lock(&l->lock);
			l->paused = true;
			pthread_mutex_unlock(&l->lock);
		}
		if (take(lane, &msg, &err) < 0)
			break;
		if (msg.type == PROTO_DEVICE_END && ++ended == l->devices)
			break;
		if (msg.type == PROTO_SYNC) {
			pthread_mutex_lock(&l->lock);
			while (l->paused && !l->quit)
				timed_wait(&l->room, &l->lock, WAIT_SLICE_MS);
			pthread_mutex_unlock(&l->lock);
		}
	}
	lane_end(lane, NULL);
	return NULL;
}

/* An extra connection carries DATA for the devices, and nothing else. */
static int check_extra(struct lane_in *lane, const struct proto_msg *msg, struct verr *err)
{
	if (msg->type != PROTO_DATA)
		return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(lane->conn), NULL,
				"connection %u carries DATA only, not %s", lane->index + 1,
				proto_type_name(msg->type) ? proto_type_name(msg->type) : "?");
	if (msg->device >= lane->l->devices)
		return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(lane->conn), NULL,
				"DATA for device %u of %u on connection %u", msg->device,
				lane->l->devices, lane->index + 1);
	return 0;
}

static void *extra_main(void *arg)
{
	struct lane_in *lane = arg;
	struct eng_lanes_in *l = lane->l;
	uint8_t *buf = malloc(READ_BUF);
	struct verr err = { 0 };

	if (!buf) {
		verr_set(&err, VERR_FAILED, ENOMEM, NULL, NULL, "connection %u", lane->index + 1);
		lane_end(lane, &err);
		return NULL;
	}
	while (!l->quit) {
		ssize_t n = xport_conn_read(lane->conn, buf, READ_BUF, &err);
		size_t pos = 0;

		if (n == 0)
			verr_set(&err, VERR_PEER, ECONNRESET, xport_conn_name(lane->conn),
				 "see the other side's messages for why it stopped",
				 "the peer closed connection %u", lane->index + 1);
		if (n <= 0)
			break;
		atomic_fetch_add(&lane->bytes, (uint64_t)n);
		while (pos < (size_t)n) {
			struct proto_msg msg;
			size_t used = 0;

			if (proto_parser_feed(lane->parser, buf + pos, (size_t)n - pos, &used, &msg,
					      &err) < 0)
				goto out;
			pos += used;
			if (msg.type == PROTO_NONE)
				continue;
			if (check_extra(lane, &msg, &err) < 0)
				goto out;
			if (take(lane, &msg, &err) < 0)
				goto out;
		}
	}
out:
	free(buf);
	lane_end(lane, err.set ? &err : NULL);
	return NULL;
}

static int start_reader(struct lane_in *lane, struct verr *err)
{
	sigset_t block, old;
	int rc;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	rc = pthread_create(&lane->thread, NULL, lane->index ? extra_main : primary_main, lane);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return verr_set(err, VERR_FAILED, rc, xport_conn_name(lane->conn), NULL,
				"start the reader of connection %u", lane->index + 1);
	lane->running = true;
	return 0;
}

int eng_lanes_in_start(struct eng_lanes_in *l, unsigned devices, vstop_t *stop,
		       struct verr *err)
{
	int idle = xport_conn_idle(l->peer->conn);

	l->devices = devices;
	l->stop = stop;
	l->idle_ms = idle > 0 ? idle : 60000;
	l->keepalive_ms = idle > 0 ? (idle / 3 < 500 ? idle / 3 : 500) : 0;
	/* The readers stop on our flag; the main thread watches the signals. */
	l->primary_stop = stop;
	l->stop_swapped = true;
	xport_conn_set_stop(l->peer->conn, &l->quit);
	for (unsigned i = 1; i < l->n; i++) {
		struct lane_in *lane = &l->lane[i];

		/* Silence on an extra connection is no failure: the source pings on the
		 * primary, and a message that waits for DATA has its own deadline. */
		xport_conn_set_idle(lane->conn, 0);
		xport_conn_set_stop(lane->conn, &l->quit);
		if (proto_parser_new(PROTO_ROLE_DESTINATION, xport_conn_name(lane->conn),
				     &lane->parser, err) < 0)
			return -EIO;
	}
	for (unsigned i = 0; i < l->n; i++)
		if (start_reader(&l->lane[i], err) < 0)
			return -EIO;
	return 0;
}

/* Taking messages in order */

enum use { USE_NOW, USE_LATER, USE_NEVER };

static enum use data_use(struct eng_lanes_in *l, const struct proto_msg *msg, struct verr *err)
{
	unsigned d = msg->device;
	uint64_t seq = msg->u.record.seq, want = l->expected[d];

	if (l->ended[d])
		return verr_set(err, VERR_PEER, EPROTO, NULL, NULL, "DATA for device %u after "
				"its DEVICE_END", d), USE_NEVER;
	if (seq < want)
		return verr_set(err, VERR_PEER, EPROTO, NULL, NULL, "DATA %llu of device %u "
				"came twice", (unsigned long long)seq, d), USE_NEVER;
	if (seq - want >= PROTO_REORDER_MAX)
		return verr_set(err, VERR_PEER, EPROTO, NULL, NULL, "DATA %llu of device %u is "
				"%llu ahead of the next one it needs, more than %llu",
				(unsigned long long)seq, d, (unsigned long long)(seq - want),
				(unsigned long long)PROTO_REORDER_MAX), USE_NEVER;
	return seq == want ? USE_NOW : USE_LATER;
}

/* DEVICE_END and RECORDS count the DATA before them: usable once all came. */
static enum use count_use(uint64_t have, uint64_t count, unsigned d, const char *what,
			  struct verr *err)
{
	if (have > count)
		return verr_set(err, VERR_PEER, EPROTO, NULL, NULL, "device %u had %llu DATA, "
				"more than the %llu its %s counts", d, (unsigned long long)have,
				(unsigned long long)count, what), USE_NEVER;
	return have == count ? USE_NOW : USE_LATER;
}

static enum use msg_use(struct eng_lanes_in *l, const struct proto_msg *msg, struct verr *err)
{
	enum use use = USE_NOW;

	switch (msg->type) {
	case PROTO_DATA:
		return data_use(l, msg, err);
	case PROTO_DEVICE_END:
		return count_use(l->expected[msg->device], msg->u.record.seq, msg->device,
				 "DEVICE_END", err);
	case PROTO_RECORDS:
		for (unsigned i = 0; i < l->devices && use != USE_NEVER; i++) {
			enum use one = count_use(l->expected[i], msg->u.records.sent[i], i,
						 "RECORDS", err);

			if (one != USE_NOW)
				use = one;
		}
		return use;
	default:
		return USE_NOW;
	}
}

/* Under l->lock: the index of a lane whose head can be used, -1 if none yet, -2
 * (err set) when the peer broke the rules or a lane failed. */
static int pick(struct eng_lanes_in *l, bool *owed, struct verr *err)
{
	bool stalled = true;

	*owed = false;
	for (unsigned i = 0; i < l->n; i++) {
		const struct lane_in *lane = &l->lane[i];

		if (!lane->failed)
			continue;
		if (i > 0 && !l->lane[0].done &&
		    vclock_now_ms() - lane->failed_ms < PRIMARY_GRACE_MS)
			return -1;      /* the primary may yet bring the ABORT that says why */
		*err = lane->err;
		return -2;
	}
	for (unsigned i = 0; i < l->n; i++) {
		struct lane_in *lane = &l->lane[i];
		enum use use;

		if (!lane->head) {
			stalled = stalled && lane->done;
			continue;
		}
		use = msg_use(l, &lane->head->msg, err);
		if (use == USE_NEVER)
			return -2;
		if (use == USE_NOW)
			return (int)i;
		lane->head->held = true;
		*owed = true;
	}
	if (stalled)
		return verr_set(err, VERR_PEER, EPROTO, NULL, NULL, "every connection holds a "
				"message that waits for DATA none of them will bring"), -2;
	return -1;
}

int eng_lanes_in_next(struct eng_lanes_in *l, struct eng_lane_msg **out, struct verr *err)
{
	int ret = 0;

	*out = NULL;
	pthread_mutex_lock(&l->lock);
	for (;;) {
		bool owed;
		int i = pick(l, &owed, err);

		if (i >= 0) {
			struct lane_in *lane = &l->lane[i];

			*out = lane->head;
			lane->head = lane->head->next;
			if (!lane->head)
				lane->tail = NULL;
			lane->count--;
			pthread_cond_broadcast(&l->room);
			l->owed_since = 0;
			break;
		}
		if (i == -2) {
			ret = -EPROTO;
			break;
		}
		if (eng_stopped(l->stop, NULL, err) < 0) {
			ret = -EINTR;
			break;
		}
		if (!owed) {
			l->owed_since = 0;
		} else if (!l->owed_since) {
			l->owed_since = vclock_now_ms();
		} else if (vclock_now_ms() - l->owed_since > l->idle_ms) {
			ret = verr_set(err, VERR_PEER, ETIMEDOUT, NULL, "check the network, or raise "
				       "--timeout", "DATA sent before a message on another "
				       "connection did not come within %d ms", l->idle_ms);
			break;
		}
		timed_wait(&l->more, &l->lock, WAIT_SLICE_MS);
	}
	pthread_mutex_unlock(&l->lock);
	if (*out) {
		struct proto_msg *msg = &(*out)->msg;

		l->held += (*out)->held;
		if (msg->type == PROTO_DATA)
			l->expected[msg->device]++;
		else if (msg->type == PROTO_DEVICE_END)
			l->ended[msg->device] = true;
	}
	return ret;
}

void eng_lanes_in_resume(struct eng_lanes_in *l)
{
	pthread_mutex_lock(&l->lock);
	l->paused = false;
	pthread_cond_broadcast(&l->room);
	pthread_mutex_unlock(&l->lock);
}

uint64_t eng_lanes_in_bytes(const struct eng_lanes_in *l)
{
	uint64_t sum = 0;

	for (unsigned i = 1; l && i < l->n; i++)
		sum += atomic_load(&((struct eng_lanes_in *)l)->lane[i].bytes);
	return sum;
}

void eng_lanes_in_close(struct eng_lanes_in *l)
{
	if (!l)
		return;
	if (l->devices)
		eng_debug("%llu message%s came before one sent ahead of %s on another connection, "
			  "and waited for it", (unsigned long long)l->held, l->held == 1 ? "" : "s",
			  l->held == 1 ? "it" : "them");
	pthread_mutex_lock(&l->lock);
	l->quit = 1;
	pthread_cond_broadcast(&l->room);
	pthread_mutex_unlock(&l->lock);
	for (unsigned i = 0; i < l->n; i++) {
		struct lane_in *lane = &l->lane[i];

		if (lane->running)
			pthread_join(lane->thread, NULL);
		while (lane->head) {
			struct eng_lane_msg *m = lane->head;

			lane->head = m->next;
			free(m);
		}
		if (i == 0)
			continue;
		proto_parser_free(lane->parser);
		xport_conn_abort(lane->conn);
	}
	if (l->stop_swapped)
		xport_conn_set_stop(l->peer->conn, l->primary_stop);
	pthread_cond_destroy(&l->more);
	pthread_cond_destroy(&l->room);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
