/* SPDX-License-Identifier: GPL-2.0-or-later */
/* migrate's pairing rule: whether a destination device may take a source device's
 * state (vfiomig-migrate(1), Pairing rule), and a device whose compatibility string
 * cannot be compared at all. */
#include <stdio.h>

#include "peer.h"
#include "base/sysfs.h"

/* The vendor part of the pairing rule: 1 with why and a hint when the drivers'
 * compatibility strings forbid the pair (vfiomig-migrate(1), Pairing rule). */
static int compat_mismatch(const struct vdev_ident *mine, const struct proto_device_identity *dst,
			   char *why, size_t size, const char **hint)
{
	const char *dst_name = dst->id.device_name[0] ? dst->id.device_name : "?";

	switch (proto_compat_compare(mine->compat.value, dst->compat)) {
	case PROTO_COMPAT_DIFFERENT:
		snprintf(why, size, "the drivers' " VDEV_COMPAT_ATTR " strings differ: source %s has "
			 "\"%s\", destination %s has \"%s\"", mine->name, mine->compat.value,
			 dst_name, dst->compat);
		*hint = "the drivers say the states do not interchange; pair devices whose "
			"drivers agree, or use --force";
		return 1;
	case PROTO_COMPAT_SOURCE_ONLY:
		snprintf(why, size, "source %s has " VDEV_COMPAT_ATTR " \"%s\", destination %s "
			 "has none", mine->name, mine->compat.value, dst_name);
		*hint = "the destination's driver cannot confirm that it reads this state; use "
			"the same driver on both hosts, or --force";
		return 1;
	case PROTO_COMPAT_DESTINATION_ONLY:
		snprintf(why, size, "destination %s has " VDEV_COMPAT_ATTR " \"%s\", source %s "
			 "has none", dst_name, dst->compat, mine->name);
		*hint = "the source's driver cannot confirm what its state is; use the same "
			"driver on both hosts, or --force";
		return 1;
	default:
		return 0;
	}
}

int eng_pair_mismatch(struct vdev *dev, uint64_t flags, const struct proto_device_identity *dst,
		      enum eng_compat policy, char *why, size_t size, const char **hint)
{
	const struct vdev_ident *id = vdev_ident(dev);
	struct vstream_identity mine;
	uint64_t estimate = 0;
	struct verr quiet = { 0 };
	char source[96], destination[96];
	const char *const labels[2] = { source, destination };

	vdev_stop_copy_size(dev, &estimate, &quiet);
	eng_identity_from_device(id, flags, estimate, &mine);
	*hint = "pair devices of the same kind, or use --force";
	if (eng_identity_compare(&mine, &dst->id, why, size) ||
	    compat_mismatch(id, dst, why, size, hint))
		return 1;
	snprintf(source, sizeof(source), "source %s", id->name);
	snprintf(destination, sizeof(destination), "destination %s",
		 dst->id.device_name[0] ? dst->id.device_name : "?");
	return eng_build_compare(&mine, &dst->id, policy, labels, id->name, why, size, hint);
}
