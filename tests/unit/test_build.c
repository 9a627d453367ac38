/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The build identity: devlink info replies into a firmware string, stream format 1.1's
 * fields 11-18 (and a 1.0 stream that lacks them), and the --compat policy over them. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <linux/devlink.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "device/device.h"
#include "engine/engine.h"
#include "stream/stream.h"
#include "unit.h"

struct msg {
	uint8_t buf[1024];
	size_t len;
};

static void msg_init(struct msg *m)
{
	struct nlmsghdr nh = { .nlmsg_type = 0x20 };
	struct genlmsghdr gh = { .cmd = DEVLINK_CMD_INFO_GET, .version = DEVLINK_GENL_VERSION };

	memset(m, 0, sizeof(*m));
	memcpy(m->buf, &nh, sizeof(nh));
	memcpy(m->buf + NLMSG_HDRLEN, &gh, sizeof(gh));
	m->len = NLMSG_LENGTH(GENL_HDRLEN);
}

static void msg_done(struct msg *m)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)(void *)m->buf;

	nh->nlmsg_len = (uint32_t)m->len;
}

/* Appends an attribute; returns its offset (to close a nest with nest_end). */
static size_t attr(struct msg *m, uint16_t type, const void *value, size_t len)
{
	struct nlattr nla = { .nla_len = (uint16_t)(NLA_HDRLEN + len), .nla_type = type };
	size_t at = m->len;

	memcpy(m->buf + at, &nla, sizeof(nla));
	if (len)
		memcpy(m->buf + at + NLA_HDRLEN, value, len);
	m->len += NLA_ALIGN(nla.nla_len);
	return at;
}

static void nest_end(struct msg *m, size_t at)
{
	uint16_t len = (uint16_t)(m->len - at);

	memcpy(m->buf + at, &len, 2);
}

static void version(struct msg *m, uint16_t kind, const char *name, const char *value)
{
	size_t at = attr(m, kind | NLA_F_NESTED, NULL, 0);

	if (name)
		attr(m, DEVLINK_ATTR_INFO_VERSION_NAME, name, strlen(name) + 1);
	if (value)
		attr(m, DEVLINK_ATTR_INFO_VERSION_VALUE, value, strlen(value) + 1);
	nest_end(m, at);
}

static void test_devlink(void)
{
	struct msg m;
	char out[64];
	int rc;

	msg_init(&m);
	attr(&m, DEVLINK_ATTR_BUS_NAME, "pci", 4);
	attr(&m, DEVLINK_ATTR_DEV_NAME, "0000:3b:00.0", 13);
	attr(&m, DEVLINK_ATTR_INFO_DRIVER_NAME, "mlx5_core", 10);
	version(&m, DEVLINK_ATTR_INFO_VERSION_FIXED, "fw.psid", "MT_0000000008");
	version(&m, DEVLINK_ATTR_INFO_VERSION_RUNNING, "fw.version", "16.35.2000");
	version(&m, DEVLINK_ATTR_INFO_VERSION_STORED, "fw.version", "16.36.1000");
	version(&m, DEVLINK_ATTR_INFO_VERSION_RUNNING, "fw", "16.35.2000");
	msg_done(&m);
	rc = vdev_devlink_parse_info(m.buf, m.len, out, sizeof(out));
	CHECK(rc == 0 && strcmp(out, "fw.version=16.35.2000 fw=16.35.2000") == 0,
	      "the running versions, in order, fixed and stored ones left out: %d \"%s\"", rc, out);

	rc = vdev_devlink_parse_info(m.buf, m.len, out, 20);
	CHECK(rc == -EMSGSIZE && !out[0], "versions that do not fit are refused, not cut: %d", rc);

	msg_init(&m);
	version(&m, DEVLINK_ATTR_INFO_VERSION_RUNNING, "fw", NULL);
	msg_done(&m);
	CHECK(vdev_devlink_parse_info(m.buf, m.len, out, sizeof(out)) == -EBADMSG,
	      "a running version without a value is malformed");

	msg_init(&m);
	attr(&m, DEVLINK_ATTR_INFO_VERSION_RUNNING | NLA_F_NESTED, NULL, 0);
	memcpy(m.buf + m.len - NLA_HDRLEN, &(uint16_t){ 200 }, 2);  /* longer than the message */
	msg_done(&m);
	CHECK(vdev_devlink_parse_info(m.buf, m.len, out, sizeof(out)) == -EBADMSG,
	      "an attribute longer than the message is malformed");

	msg_init(&m);
	msg_done(&m);
	CHECK(vdev_devlink_parse_info(m.buf, m.len, out, sizeof(out)) == 0 && !out[0],
	      "a device without running versions gives an empty string");
	CHECK(vdev_devlink_parse_info(m.buf, 8, out, sizeof(out)) == -EBADMSG,
	      "a reply shorter than its headers is malformed");
}

static void build_identity(struct vstream_identity *id)
{
	memset(id, 0, sizeof(*id));
	id->kind = VSTREAM_KIND_PCI;
	strcpy(id->module, "mlx5_vfio_pci");
	strcpy(id->srcversion, "ABCDEF0123456789ABCDEF0");
	strcpy(id->kernel_release, "6.12.0");
	strcpy(id->pf_driver, "mlx5_core");
	strcpy(id->pf_firmware, "fw.version=16.35.2000");
	id->build_recorded = true;
}

static size_t encode(const struct vstream_identity *id, uint16_t minor, uint8_t *out)
{
	struct vstream_header hdr;
	size_t len = 0;

	vstream_header_init(&hdr, NULL);
	hdr.minor = minor;
	hdr.id = *id;
	return vstream_header_encode(&hdr, NULL, out, VSTREAM_HEADER_MAX, &len, NULL) == 0 ? len
											     : 0;
}

static void test_stream_fields(void)
{
	static uint8_t buf[VSTREAM_HEADER_MAX];
	struct vstream_identity id;
	struct vstream_header got;
	size_t len, used;

	build_identity(&id);
	len = encode(&id, VSTREAM_VERSION_MINOR, buf);
	CHECK(len && vstream_header_decode(buf, len, NULL, &got, &used, NULL) == 0 &&
	      got.minor == 1 && got.id.build_recorded && !got.unknown_fields &&
	      strcmp(got.id.module, "mlx5_vfio_pci") == 0 &&
	      strcmp(got.id.srcversion, id.srcversion) == 0 &&
	      strcmp(got.id.kernel_release, "6.12.0") == 0 &&
	      strcmp(got.id.pf_driver, "mlx5_core") == 0 &&
	      strcmp(got.id.pf_firmware, id.pf_firmware) == 0 && !got.id.module_version[0],
	      "format 1.1 carries module, srcversion, kernel, PF driver and firmware");
	memset(&id, 0, sizeof(id));
	id.kind = VSTREAM_KIND_MDEV;
	len = encode(&id, 0, buf);
	CHECK(len && vstream_header_decode(buf, len, NULL, &got, &used, NULL) == 0 &&
	      !got.id.build_recorded, "a 1.0 header says its build identity is not recorded");
	strcpy(id.kernel_release, "6.12\033[2J");
	len = encode(&id, 1, buf);
	{
		struct verr err = { 0 };

		CHECK(len && vstream_header_decode(buf, len, NULL, &got, &used, &err) == -EBADMSG &&
		      strstr(err.what, "identity field 14 (kernel release) is malformed"),
		      "a build field with a byte that is not printable ASCII is refused: %s",
		      err.what);
	}
	id.kernel_release[0] = '\0';
	memset(id.pf_firmware, 'x', sizeof(id.pf_firmware) - 1);
	len = encode(&id, 1, buf);
	CHECK(len && vstream_header_decode(buf, len, NULL, &got, &used, NULL) == 0 &&
	      strlen(got.id.pf_firmware) == sizeof(id.pf_firmware) - 1,
	      "the longest firmware string fits the identity area");
}

static int compare(const struct vstream_identity *a, const struct vstream_identity *b,
		   enum eng_compat policy, char *why, size_t size)
{
	static const char *const labels[2] = { "the stream", "this device" };
	const char *hint;

	return eng_build_compare(a, b, policy, labels, "dev", why, size, &hint);
}

static void test_policy(void)
{
	struct vstream_identity a, b;
	char why[600];
	enum eng_compat p;

	CHECK(eng_compat_parse("strict", &p) == 0 && p == ENG_COMPAT_STRICT &&
	      eng_compat_parse("ids", &p) == 0 && p == ENG_COMPAT_IDS &&
	      eng_compat_parse("Driver", &p) == -EINVAL && ENG_COMPAT_DEFAULT == ENG_COMPAT_DRIVER,
	      "policies parse by their exact names; the default is driver");
	build_identity(&a);
	b = a;
	CHECK(!compare(&a, &b, ENG_COMPAT_STRICT, why, sizeof(why)),
	      "equal build identities pass the strictest policy");
	strcpy(b.kernel_release, "6.13.0");
	CHECK(compare(&a, &b, ENG_COMPAT_STRICT, why, sizeof(why)) &&
	      strstr(why, "kernel release differs: the stream has \"6.12.0\", this device has "
		     "\"6.13.0\""), "strict refuses another kernel: %s", why);
	CHECK(!compare(&a, &b, ENG_COMPAT_DRIVER, why, sizeof(why)),
	      "driver lets another kernel pass");
	b = a;
	b.srcversion[0] = '\0';
	CHECK(compare(&a, &b, ENG_COMPAT_DRIVER, why, sizeof(why)) &&
	      strstr(why, "this device has \"none\""),
	      "driver refuses a srcversion on one side only: %s", why);
	CHECK(!compare(&a, &b, ENG_COMPAT_IDS, why, sizeof(why)), "ids lets it pass");
	b = a;
	a.build_recorded = false;
	CHECK(compare(&a, &b, ENG_COMPAT_STRICT, why, sizeof(why)) &&
	      strstr(why, "the stream records no driver build"),
	      "strict refuses a stream that predates the build identity: %s", why);
	CHECK(!compare(&a, &b, ENG_COMPAT_DRIVER, why, sizeof(why)),
	      "driver accepts it with a warning");
}

int main(void)
{
	test_devlink();
	test_stream_fields();
	test_policy();
	return unit_done();
}
