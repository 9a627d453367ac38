/* Protocol messages over a connection, for migrate and receive, and the keepalive
 * thread that speaks for a side busy with its devices. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_peer.h"
#include "base/json.h"
#include "transport/transport.h"
#include "base/sysfs.h"

_Static_assert(VDEV_COMPAT_MAX == PROTO_COMPAT_MAX,
	       "a device's compatibility string must fit the IDENTITY field");

#define KEEPALIVE_MAX_MS 500

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether the peer will read a PING we send now. The source, once every trailer is
 * out, only waits: a destination that ran its devices reads nothing more, and bytes
 * it left unread would make its close reset the connection, which could take its
 * COMMIT with them. */
static bool ping_welcome(const struct proto_session *s)
{
	return s->hello_sent && !proto_session_over(s) &&
	       !(s->role == PROTO_ROLE_SOURCE && s->phase >= PROTO_PHASE_LOADING);
}

/* Under peer->lock, while the caller is busy: one PING, if the channel takes it at
 * once (a channel that does not is full, so the peer is not waiting for us). */
static void send_ping(struct cli_peer *peer)
{
	struct proto_msg ping = { .type = PROTO_PING, .device = PROTO_NO_DEVICE };
	uint8_t buf[PROTO_HEAD_LEN + 8];
	struct verr quiet = { 0 };
	size_t len;
	int rc;

	peer->last_sent_ms = now_ms();
	if (!ping_welcome(&peer->session))
		return;
	ping.u.ping = peer->pings + 1;
	if (proto_encode(&ping, buf, sizeof(buf), &len, &quiet) < 0 ||
	    proto_session_sent(&peer->session, &ping, &quiet) < 0)
		return;
	rc = xport_conn_write_now(peer->conn, buf, len, &quiet);
	if (rc == 0) {
		peer->pings++;
		peer->sent += len;
	} else if (rc != -EAGAIN) {
		peer->keepalive_quit = true;    /* the caller meets the failure itself */
	}
}

static void *keepalive_main(void *arg)
{
	struct cli_peer *peer = arg;

	pthread_mutex_lock(&peer->lock);
	while (!peer->keepalive_quit) {
		int64_t due = peer->last_sent_ms + peer->keepalive_ms;
		struct timespec ts;

		if (peer->reading) {            /* the peer is the busy side; it pings us */
			pthread_cond_wait(&peer->wake, &peer->lock);
			continue;
		}
		if (now_ms() >= due) {
			send_ping(peer);
			continue;
		}
		ts.tv_sec = (time_t)(due / 1000);
		ts.tv_nsec = (long)(due % 1000) * 1000000;
		pthread_cond_timedwait(&peer->wake, &peer->lock, &ts);
	}
	pthread_mutex_unlock(&peer->lock);
	return NULL;
}

/* Signals stay with the main thread, whose waits they must interrupt. */
static int keepalive_start(struct cli_peer *peer, struct verr *err)
{
	sigset_t block, old;
	int rc;

	peer->keepalive_ms = xport_conn_idle(peer->conn) / 3;
	if (peer->keepalive_ms > KEEPALIVE_MAX_MS)
		peer->keepalive_ms = KEEPALIVE_MAX_MS;
	if (peer->keepalive_ms <= 0)
		return 0;
	peer->last_sent_ms = now_ms();
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	rc = pthread_create(&peer->keepalive, NULL, keepalive_main, peer);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return verr_set(err, VERR_FAILED, rc, xport_conn_name(peer->conn), NULL,
				"start the keepalive thread");
	peer->keepalive_running = true;
	return 0;
}

static void keepalive_stop(struct cli_peer *peer)
{
	if (!peer->keepalive_running)
		return;
	pthread_mutex_lock(&peer->lock);
	peer->keepalive_quit = true;
	pthread_cond_signal(&peer->wake);
	pthread_mutex_unlock(&peer->lock);
	pthread_join(peer->keepalive, NULL);
	peer->keepalive_running = false;
	cli_debug("%s: sent %llu PING%s while busy", xport_conn_name(peer->conn),
		  (unsigned long long)peer->pings, peer->pings == 1 ? "" : "s");
}

int cli_peer_init(struct cli_peer *peer, enum proto_role role, struct xport_conn *conn,
		  struct verr *err)
{
	pthread_condattr_t attr;

	memset(peer, 0, sizeof(*peer));
	peer->conn = conn;
	proto_session_init(&peer->session, role);
	pthread_mutex_init(&peer->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&peer->wake, &attr);
	pthread_condattr_destroy(&attr);
	peer->out = malloc(PROTO_CONTROL_MAX);
	if (!peer->out)
		verr_set(err, VERR_FAILED, ENOMEM, xport_conn_name(conn), NULL, "protocol");
	if (!peer->out || proto_parser_new(role, xport_conn_name(conn), &peer->parser, err) < 0 ||
	    keepalive_start(peer, err) < 0) {
		cli_peer_finish(peer, true, PROTO_REASON_LOCAL, NULL);
		return -ENOMEM;
	}
	/* The handshake, up to READY, has the idle timeout in all: a peer that trickles
	 * bytes does not hold a device (or a listener) for ever before it is used. */
	cli_peer_set_deadline(peer, xport_conn_idle(conn));
	return 0;
}

void cli_peer_finish(struct cli_peer *peer, bool abort_first, uint16_t code, const char *why)
{
	struct verr quiet = { 0 };

	if (!peer->conn)
		return;
	keepalive_stop(peer);
	if (abort_first && !proto_session_over(&peer->session)) {
		struct proto_msg msg = { .type = PROTO_ABORT, .device = PROTO_NO_DEVICE };

		proto_reason_set(&msg.u.reason, code, "%s", why ? why : "");
		cli_peer_send(peer, &msg, &quiet);
	}
	if (abort_first)
		xport_conn_abort(peer->conn);
	else
		xport_conn_close(peer->conn, &quiet);
	peer->conn = NULL;
	proto_parser_free(peer->parser);
	peer->parser = NULL;
	free(peer->out);
	peer->out = NULL;
	pthread_cond_destroy(&peer->wake);
	pthread_mutex_destroy(&peer->lock);
}

uint16_t cli_peer_reason(const struct verr *err)
{
	if (cli_signal || err->class == VERR_INTERRUPTED)
		return PROTO_REASON_INTERRUPTED;
	if (err->errnum == ETIMEDOUT)
		return PROTO_REASON_TIMEOUT;
	switch (err->class) {
	case VERR_DATA: return PROTO_REASON_DATA;
	case VERR_PEER: return PROTO_REASON_PROTOCOL;
	case VERR_UNSUPPORTED: return PROTO_REASON_VERSION;
	default: return PROTO_REASON_DEVICE;
	}
}

/* A message is head, then payload (NULL for none), written under the lock so that
 * no PING lands inside it. */
static int send_locked(struct cli_peer *peer, const struct proto_msg *msg, const uint8_t *head,
		       size_t head_len, const uint8_t *payload, size_t len, struct verr *err)
{
	int rc;

	pthread_mutex_lock(&peer->lock);
	rc = proto_session_sent(&peer->session, msg, err);
	if (rc == 0)
		rc = xport_conn_write(peer->conn, head, head_len, err);
	if (rc == 0 && payload)
		rc = xport_conn_write(peer->conn, payload, len, err);
	if (rc == 0)
		peer->sent += head_len + (payload ? len : 0);
	peer->last_sent_ms = now_ms();
	pthread_mutex_unlock(&peer->lock);
	return rc < 0 ? -EIO : 0;
}

int cli_peer_send(struct cli_peer *peer, const struct proto_msg *msg, struct verr *err)
{
	size_t len;

	if (proto_encode(msg, peer->out, PROTO_CONTROL_MAX, &len, err) < 0)
		return -EIO;
	return send_locked(peer, msg, peer->out, len, NULL, 0, err);
}

int cli_peer_send_payload(struct cli_peer *peer, uint16_t type, uint16_t device,
			  const uint8_t *payload, size_t len, struct verr *err)
{
	uint8_t head[PROTO_HEAD_LEN];
	struct proto_msg msg = { .type = type, .device = device, .payload = payload, .len = len };

	if (proto_encode_head(type, device, len, head, err) < 0)
		return -EIO;
	return send_locked(peer, &msg, head, sizeof(head), payload, len, err);
}

/* While we read, the keepalive keeps off the connection. */
static void set_reading(struct cli_peer *peer, bool reading)
{
	pthread_mutex_lock(&peer->lock);
	peer->reading = reading;
	pthread_cond_signal(&peer->wake);
	pthread_mutex_unlock(&peer->lock);
}

/* With a deadline, no read waits past it, whatever the peer sends meanwhile. */
static ssize_t read_some(struct cli_peer *peer, struct verr *err)
{
	int idle = xport_conn_idle(peer->conn);
	int64_t left = peer->deadline_ms - now_ms();
	ssize_t n;

	if (!peer->deadline_ms)
		return xport_conn_read(peer->conn, peer->in, sizeof(peer->in), err);
	if (left <= 0)
		return verr_set(err, VERR_PEER, ETIMEDOUT, xport_conn_name(peer->conn), NULL,
				"no answer from the peer in phase %s",
				proto_phase_name(peer->session.phase));
	xport_conn_set_idle(peer->conn, idle > 0 && idle < left ? idle : (int)left);
	n = xport_conn_read(peer->conn, peer->in, sizeof(peer->in), err);
	xport_conn_set_idle(peer->conn, idle);
	return n;
}

static int fill(struct cli_peer *peer, struct verr *err)
{
	ssize_t n;

	set_reading(peer, true);
	n = read_some(peer, err);
	set_reading(peer, false);
	if (n < 0)
		return (int)n;
	if (n == 0) {
		if (proto_parser_end(peer->parser, err) < 0)
			return -EBADMSG;
		return verr_set(err, VERR_PEER, ECONNRESET, xport_conn_name(peer->conn),
				"see the other side's messages for why it stopped",
				"the peer closed the connection in phase %s",
				proto_phase_name(peer->session.phase));
	}
	peer->in_len = (size_t)n;
	peer->in_pos = 0;
	peer->received += (uint64_t)n;
	return 0;
}

int cli_peer_recv(struct cli_peer *peer, struct proto_msg *msg, struct verr *err)
{
	for (;;) {
		size_t used = 0;
		int rc;

		if (peer->in_pos == peer->in_len && fill(peer, err) < 0)
			return -EIO;
		if (proto_parser_feed(peer->parser, peer->in + peer->in_pos,
				      peer->in_len - peer->in_pos, &used, msg, err) < 0)
			return -EBADMSG;
		peer->in_pos += used;
		if (msg->type == PROTO_NONE)
			continue;
		if (msg->type == PROTO_IDENTITY)
			peer->ids = *msg->u.identity;
		pthread_mutex_lock(&peer->lock);
		rc = proto_session_received(&peer->session, msg, err);
		pthread_mutex_unlock(&peer->lock);
		if (rc < 0)
			return -EPROTO;
		if (msg->type == PROTO_PING) {
			peer->pings_received++;
			continue;
		}
		if (msg->type == PROTO_ABORT) {
			peer->abort_received = true;
			return verr_set(err, VERR_PEER, 0, xport_conn_name(peer->conn), NULL,
					"the peer aborted (%s): %s",
					proto_reason_name(msg->u.reason.code) ?
					proto_reason_name(msg->u.reason.code) : "?",
					msg->u.reason.text);
		}
		return 0;
	}
}

int cli_compat_usable(const struct vdev_ident *id, struct verr *err)
{
	if (!id->compat.problem[0])
		return 0;
	return verr_set(err, VERR_PEER, 0, id->name,
			"the driver publishes a malformed " VDEV_COMPAT_ATTR "; fix or update it",
			"%s/%s: %s; vfiomig compares the whole string or refuses",
			sysfs_unrooted(id->sysfs), id->compat.file, id->compat.problem);
}

int cli_peer_hello(struct cli_peer *peer, enum proto_role role, unsigned devices,
		   uint64_t features, uint64_t *agreed, struct verr *err)
{
	struct proto_msg mine = { .type = PROTO_HELLO, .device = PROTO_NO_DEVICE };
	struct proto_msg theirs;
	uint16_t version;

	mine.u.hello.role = role;
	mine.u.hello.min_version = PROTO_VERSION_MIN;
	mine.u.hello.max_version = PROTO_VERSION_MAX;
	mine.u.hello.devices = (uint16_t)devices;
	mine.u.hello.features = features;
	snprintf(mine.u.hello.software, sizeof(mine.u.hello.software), "vfiomig %s",
		 VFIOMIG_VERSION);
	if (cli_peer_send(peer, &mine, err) < 0 || cli_peer_recv(peer, &theirs, err) < 0)
		return -EIO;
	if (theirs.type != PROTO_HELLO)
		return verr_set(err, VERR_PEER, EPROTO, xport_conn_name(peer->conn), NULL,
				"expected HELLO, got %s", proto_type_name(theirs.type));
	cli_debug("%s: peer speaks %s", xport_conn_name(peer->conn), theirs.u.hello.software);
	return proto_negotiate(&mine.u.hello, &theirs.u.hello, &version, agreed, err);
}

struct cli_tls_args cli_tls = { .timeout_s = 60 };

enum { OPT_PSK = 0x800, OPT_CERT, OPT_KEY, OPT_CA, OPT_INSECURE, OPT_TIMEOUT };

static const struct argp_option tls_options[] = {
	{ "psk-file", OPT_PSK, "FILE", 0, "TLS 1.3 with this pre-shared key (over --exec or "
	  "--stdio: authenticates the records)", 0 },
	{ "cert", OPT_CERT, "FILE", 0, "TLS 1.3 with this certificate (PEM)", 0 },
	{ "key", OPT_KEY, "FILE", 0, "The certificate's private key (PEM)", 0 },
	{ "ca", OPT_CA, "FILE", 0, "Accept a peer whose certificate this CA signed", 0 },
	{ "insecure", OPT_INSECURE, NULL, 0, "Plain TCP without authentication (a listener "
	  "then binds 127.0.0.1 unless given an address)", 0 },
	{ "timeout", OPT_TIMEOUT, "SECONDS", 0, "Bound connect or accept and handshake, then "
	  "the peer's silence (default 60)", 0 },
	{ 0 }
};

static error_t parse_tls(int key, char *arg, struct argp_state *state)
{
	long v;

	switch (key) {
	case OPT_PSK: cli_tls.psk_file = arg; return 0;
	case OPT_CERT: cli_tls.cert = arg; return 0;
	case OPT_KEY: cli_tls.key = arg; return 0;
	case OPT_CA: cli_tls.ca = arg; return 0;
	case OPT_INSECURE: cli_tls.insecure = true; return 0;
	case OPT_TIMEOUT:
		if (cli_parse_int(arg, 1, 86400, &v) < 0)
			argp_error(state, "--timeout takes 1 to 86400 seconds, not '%s'", arg);
		cli_tls.timeout_s = (int)v;
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

const struct argp cli_tls_argp = { tls_options, parse_tls, NULL, NULL, NULL, NULL, NULL };

int cli_tls_setup(const struct cli_tls_args *args, bool listener, struct cli_key *psk,
		  struct xport_tls *tls, struct xport_timeouts *timeouts)
{
	int ret;

	memset(tls, 0, sizeof(*tls));
	memset(psk, 0, sizeof(*psk));
	timeouts->connect_ms = args->timeout_s * 1000;
	timeouts->idle_ms = args->timeout_s * 1000;
	timeouts->stop = &cli_signal;
	if (args->psk_file && (args->cert || args->key || args->ca))
		return cli_usage_error("--psk-file and --cert/--key/--ca exclude each other");
	if (args->carried && (args->cert || args->key || args->ca || args->insecure))
		return cli_usage_error("--exec and --stdio use the command's channel: no TLS "
				       "options (a --psk-file still authenticates the records)");
	if (args->insecure && (args->psk_file || args->cert))
		return cli_usage_error("--insecure with a key or certificate makes no sense");
	if (args->psk_file) {
		ret = cli_key_load(args->psk_file, psk);
		if (ret)
			return ret;
		tls->mode = args->carried ? XPORT_INSECURE : XPORT_TLS_PSK;
		tls->psk = psk->key.data;
		tls->psk_len = psk->key.len;
	} else if (args->cert || args->key || args->ca) {
		struct verr err = { 0 };

		if (!args->cert || !args->key || !args->ca)
			return cli_usage_error("X.509 needs all of --cert, --key and --ca");
		if (xport_key_file_check(args->key, &err) < 0)
			return cli_fail(&err);
		tls->mode = XPORT_TLS_X509;
		tls->cert = args->cert;
		tls->key = args->key;
		tls->ca = args->ca;
	} else if (!args->insecure && !args->carried) {
		return cli_usage_error("%s needs --psk-file, or --cert, --key and --ca; "
				       "--insecure allows an unauthenticated peer",
				       listener ? "a listener" : "a TCP connection");
	}
	return EXIT_OK;
}

void cli_peer_set_deadline(struct cli_peer *peer, int ms)
{
	peer->deadline_ms = ms > 0 ? now_ms() + ms : 0;
}

bool cli_peer_aborted(const struct cli_peer *peer)
{
	return peer->abort_received;
}

void cli_peer_json_pings(const struct cli_peer *peer, struct json *j)
{
	json_uint(j, "pings_sent", peer->pings);
	json_uint(j, "pings_received", peer->pings_received);
}
