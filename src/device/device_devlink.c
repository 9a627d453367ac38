/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A PF's running firmware versions from devlink info (DEVLINK_CMD_INFO_GET over generic
 * netlink), with plain socket calls: the family id from the generic netlink
 * controller, then one request for the device, then its nested running versions. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/devlink.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "device.h"

#define NL_BUF 32768

struct nl_request {
	struct nlmsghdr nh;
	struct genlmsghdr gh;
	uint8_t attrs[256];
};

/* Appends a string attribute (NUL included, as the kernel's NLA_NUL_STRING wants). */
static int put_string(struct nl_request *req, uint16_t type, const char *value)
{
	size_t vlen = strlen(value) + 1, at = req->nh.nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
	struct nlattr nla = { .nla_len = (uint16_t)(NLA_HDRLEN + vlen), .nla_type = type };

	if (at + NLA_ALIGN(nla.nla_len) > sizeof(req->attrs))
		return -ENAMETOOLONG;
	memset(req->attrs + at, 0, NLA_ALIGN(nla.nla_len));
	memcpy(req->attrs + at, &nla, sizeof(nla));
	memcpy(req->attrs + at + NLA_HDRLEN, value, vlen);
	req->nh.nlmsg_len += NLA_ALIGN(nla.nla_len);
	return 0;
}

static void request_init(struct nl_request *req, uint16_t family, uint8_t cmd, uint8_t version,
			 uint32_t seq)
{
	memset(req, 0, sizeof(*req));
	req->nh.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	req->nh.nlmsg_type = family;
	req->nh.nlmsg_flags = NLM_F_REQUEST;
	req->nh.nlmsg_seq = seq;
	req->gh.cmd = cmd;
	req->gh.version = version;
}

/* Sends req and reads its answer into buf: the reply message's length, or -errno
 * (an NLMSG_ERROR's own code included). */
static ssize_t transact(int fd, const struct nl_request *req, uint8_t *buf, size_t cap)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	ssize_t n;

	do
		n = sendto(fd, req, req->nh.nlmsg_len, 0, (struct sockaddr *)&kernel,
			   sizeof(kernel));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (;;) {
		const struct nlmsghdr *nh = (const void *)buf;

		do
			n = recv(fd, buf, cap, 0);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (!NLMSG_OK(nh, (size_t)n))
			return -EBADMSG;
		if (nh->nlmsg_seq != req->nh.nlmsg_seq)
			continue;       /* an answer to an earlier request that timed out */
		if (nh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(nh);

			if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				return -EBADMSG;
			return e->error ? e->error : -ENODATA;
		}
		return (ssize_t)nh->nlmsg_len;
	}
}

/* Walks the attributes at p[0..len): calls fn for each one, type without flags. */
static int walk_attrs(const uint8_t *p, size_t len,
		      int (*fn)(uint16_t type, const uint8_t *v, size_t vlen, void *arg), void *arg)
{
	while (len >= NLA_HDRLEN) {
		struct nlattr nla;
		size_t step;
		int rc;

		memcpy(&nla, p, sizeof(nla));
		if (nla.nla_len < NLA_HDRLEN || nla.nla_len > len)
			return -EBADMSG;
		rc = fn(nla.nla_type & NLA_TYPE_MASK, p + NLA_HDRLEN, nla.nla_len - NLA_HDRLEN, arg);
		if (rc)
			return rc;
		step = NLA_ALIGN(nla.nla_len);
		if (step >= len)
			break;
		p += step;
		len -= step;
	}
	return 0;
}

/* A string attribute's value: NUL-terminated within its length. */
static const char *attr_string(const uint8_t *v, size_t vlen)
{
	return vlen && memchr(v, '\0', vlen) ? (const char *)v : NULL;
}

static int family_attr(uint16_t type, const uint8_t *v, size_t vlen, void *arg)
{
	if (type == CTRL_ATTR_FAMILY_ID && vlen >= 2)
		memcpy(arg, v, 2);
	return 0;
}

struct version_pair {
	const char *name, *value;
};

static int version_attr(uint16_t type, const uint8_t *v, size_t vlen, void *arg)
{
	struct version_pair *pair = arg;

	if (type == DEVLINK_ATTR_INFO_VERSION_NAME)
		pair->name = attr_string(v, vlen);
	else if (type == DEVLINK_ATTR_INFO_VERSION_VALUE)
		pair->value = attr_string(v, vlen);
	return 0;
}

struct joined {
	char *out;
	size_t size, used;
};

static int info_attr(uint16_t type, const uint8_t *v, size_t vlen, void *arg)
{
	struct joined *j = arg;
	struct version_pair pair = { 0 };
	int n;

	if (type != DEVLINK_ATTR_INFO_VERSION_RUNNING)
		return 0;
	if (walk_attrs(v, vlen, version_attr, &pair) < 0 || !pair.name || !pair.value)
		return -EBADMSG;
	n = snprintf(j->out + j->used, j->size - j->used, "%s%s=%s", j->used ? " " : "",
		     pair.name, pair.value);
	if (n < 0 || (size_t)n >= j->size - j->used)
		return -EMSGSIZE;
	j->used += (size_t)n;
	return 0;
}

int vdev_devlink_parse_info(const void *msg, size_t len, char *out, size_t size)
{
	const struct nlmsghdr *nh = msg;
	struct joined j = { out, size, 0 };
	size_t head = NLMSG_LENGTH(GENL_HDRLEN);
	int rc;

	if (size == 0)
		return -EINVAL;
	out[0] = '\0';
	if (len < head || !NLMSG_OK(nh, len) || nh->nlmsg_len < head)
		return -EBADMSG;
	rc = walk_attrs((const uint8_t *)msg + head, nh->nlmsg_len - head, info_attr, &j);
	if (rc < 0)
		out[0] = '\0';
	return rc;
}

static int family_id(int fd, uint16_t *id, uint8_t *buf)
{
	struct nl_request req;
	ssize_t n;
	int rc;

	request_init(&req, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, 1);
	rc = put_string(&req, CTRL_ATTR_FAMILY_NAME, DEVLINK_GENL_NAME);
	if (rc < 0)
		return rc;
	n = transact(fd, &req, buf, NL_BUF);
	if (n < 0)
		return (int)n;  /* -ENOENT: a kernel without devlink */
	*id = 0;
	if ((size_t)n < NLMSG_LENGTH(GENL_HDRLEN))
		return -EBADMSG;
	rc = walk_attrs(buf + NLMSG_LENGTH(GENL_HDRLEN), (size_t)n - NLMSG_LENGTH(GENL_HDRLEN),
			family_attr, id);
	return rc < 0 ? rc : *id ? 0 : -EBADMSG;
}

int vdev_devlink_firmware(const char *bus, const char *name, char *out, size_t size)
{
	struct timeval wait = { .tv_sec = 2 };
	struct nl_request req;
	uint16_t family = 0;
	ssize_t n;
	int fd, rc;

	uint8_t *buf;

	out[0] = '\0';
	buf = malloc(NL_BUF);
	if (!buf)
		return -ENOMEM;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0) {
		rc = -errno;
		free(buf);
		return rc;
	}
	/* The kernel answers at once; a bound wait keeps a wedged driver from hanging us. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
	rc = family_id(fd, &family, buf);
	if (rc == 0) {
		request_init(&req, family, DEVLINK_CMD_INFO_GET, DEVLINK_GENL_VERSION, 2);
		rc = put_string(&req, DEVLINK_ATTR_BUS_NAME, bus);
		if (rc == 0)
			rc = put_string(&req, DEVLINK_ATTR_DEV_NAME, name);
	}
	if (rc == 0) {
		n = transact(fd, &req, buf, NL_BUF);
		rc = n < 0 ? (int)n : vdev_devlink_parse_info(buf, (size_t)n, out, size);
	}
	close(fd);
	free(buf);
	return rc;
}
