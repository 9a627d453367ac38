/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The vendor compatibility string: reading a sysfs attribute's bytes into one, the
 * pairing rule over two of them, and the IDENTITY field that carries one. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "protocol/protocol.h"
#include "unit.h"

static void parses(const char *raw, size_t len, const char *want, const char *label)
{
	struct vdev_compat c;
	int ret = vdev_compat_parse(raw, len, &c);

	CHECK(ret == 0 && strcmp(c.value, want) == 0 && !c.problem[0],
	      "%s gives \"%s\" (got %d, \"%s\", \"%s\")", label, want, ret, c.value, c.problem);
}

static void refuses(const char *raw, size_t len, int want, const char *words, const char *label)
{
	struct vdev_compat c;
	int ret = vdev_compat_parse(raw, len, &c);

	CHECK(ret == want && !c.value[0] && strstr(c.problem, words),
	      "%s is refused: %s", label, c.problem);
}

static void test_parse(void)
{
	char big[VDEV_COMPAT_MAX + 2];

	parses("mlx5 fw=28.39\n", 14, "mlx5 fw=28.39", "a newline");
	parses("v1 \t\r\n\n", 7, "v1", "trailing blanks of every kind");
	parses("  v1", 4, "  v1", "leading blanks, kept byte for byte");
	parses("", 0, "", "an empty file (no string)");
	parses("\n", 1, "", "a lone newline (no string)");
	memset(big, 'x', sizeof(big));
	refuses(big, VDEV_COMPAT_MAX + 1, -EMSGSIZE, "256 bytes", "256 bytes");
	refuses("a\tb\n", 4, -EILSEQ, "byte 1 is 0x09", "a tab inside");
	refuses("v1\0v2", 5, -EILSEQ, "byte 2 is 0x00", "a NUL inside");
	refuses("caf\xc3\xa9", 5, -EILSEQ, "byte 3 is 0xc3", "UTF-8");
	refuses("v1\0\n", 4, -EILSEQ, "0x00", "a NUL before the newline");
}

static void test_parse_longest(void)
{
	char big[VDEV_COMPAT_MAX + 1];
	struct vdev_compat c;

	memset(big, 'x', VDEV_COMPAT_MAX);
	big[VDEV_COMPAT_MAX] = '\n';
	CHECK(vdev_compat_parse(big, sizeof(big), &c) == 0 && strlen(c.value) == VDEV_COMPAT_MAX,
	      "255 bytes and a newline are kept whole");
}

static void test_rule(void)
{
	CHECK(proto_compat_compare("", "") == PROTO_COMPAT_NONE, "neither side: nothing to compare");
	CHECK(proto_compat_compare("v1", "v1") == PROTO_COMPAT_EQUAL, "equal strings pair");
	CHECK(proto_compat_compare("v1", "v1 ") == PROTO_COMPAT_DIFFERENT &&
	      proto_compat_compare("V1", "v1") == PROTO_COMPAT_DIFFERENT,
	      "strings are compared byte for byte");
	CHECK(proto_compat_compare("v1", "") == PROTO_COMPAT_SOURCE_ONLY,
	      "a string on the source only");
	CHECK(proto_compat_compare("", "v1") == PROTO_COMPAT_DESTINATION_ONLY,
	      "a string on the destination only");
}

static size_t encode_identity(const char *compat, uint8_t *buf, struct verr *err)
{
	static struct proto_identity ids;
	struct proto_msg m = { .type = PROTO_IDENTITY, .device = PROTO_NO_DEVICE };
	size_t len = 0;

	memset(&ids, 0, sizeof(ids));
	ids.count = 1;
	ids.dev[0].id.kind = VSTREAM_KIND_MDEV;
	strcpy(ids.dev[0].id.mdev_type, "mtty-2");
	snprintf(ids.dev[0].compat, sizeof(ids.dev[0].compat), "%s", compat);
	m.u.identity = &ids;
	return proto_encode(&m, buf, PROTO_CONTROL_MAX, &len, err) < 0 ? 0 : len;
}

static void test_identity_field(void)
{
	uint8_t *buf = malloc(PROTO_CONTROL_MAX);
	static struct proto_identity got;
	struct proto_msg m;
	struct verr err = { 0 };
	size_t len, used;
	uint8_t *at;

	len = encode_identity("mtty v1", buf, &err);
	CHECK(len && proto_decode(buf, len, PROTO_ROLE_DESTINATION, &m, &got, &used, &err) == 0 &&
	      strcmp(got.dev[0].compat, "mtty v1") == 0, "IDENTITY carries the string");
	at = memmem(buf, len, "mtty v1", 7);
	if (at)
		at[4] = 0x1b;           /* an escape: a terminal control sequence from a peer */
	verr_clear(&err);
	CHECK(at && proto_decode(buf, len, PROTO_ROLE_DESTINATION, &m, &got, &used, &err) ==
	      -EBADMSG && strstr(err.what, "compatibility string"),
	      "a string that is not printable ASCII is refused from a peer: %s", err.what);
	verr_clear(&err);
	CHECK(encode_identity("mtty\tv1", buf, &err) == 0,
	      "nor is one that is not printable ASCII sent");
	free(buf);
}

int main(void)
{
	test_parse();
	test_parse_longest();
	test_rule();
	test_identity_field();
	return unit_done();
}
