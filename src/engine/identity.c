/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Device identities in streams: what a device's stream header says about it, and the
 * rules that decide whether a state may go into a device (restore and receive) and
 * whether two devices pair up (migrate). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

static void build_from_device(const struct vdev_build *b, struct vstream_identity *out)
{
#define COPY(member) snprintf(out->member, sizeof(out->member), "%s", b->member)
	COPY(module);
	COPY(module_version);
	COPY(srcversion);
	COPY(kernel_release);
	COPY(pf_driver);
	COPY(pf_module_version);
	COPY(pf_srcversion);
	COPY(pf_firmware);
#undef COPY
	out->build_recorded = true;
}

void eng_identity_from_device(const struct vdev_ident *id, uint64_t flags, uint64_t estimate,
			      struct vstream_identity *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = id->kind == VDEV_KIND_MDEV ? VSTREAM_KIND_MDEV : VSTREAM_KIND_PCI;
	snprintf(out->device_name, sizeof(out->device_name), "%s", id->name);
	if (id->have_pci_ids) {
		out->vendor = id->vendor;
		out->device = id->device;
		out->subsystem_vendor = id->subsystem_vendor;
		out->subsystem_device = id->subsystem_device;
		out->class_code = id->class_code;
		out->revision = id->revision;
	}
	snprintf(out->mdev_type, sizeof(out->mdev_type), "%s", id->mdev_type);
	snprintf(out->driver, sizeof(out->driver), "%s", id->driver);
	out->migration_flags = flags;
	out->stop_copy_estimate = estimate;
	snprintf(out->vfiomig_version, sizeof(out->vfiomig_version), "%s", VFIOMIG_VERSION);
	if (gethostname(out->host_name, sizeof(out->host_name) - 1) < 0)
		out->host_name[0] = '\0';
	out->created = (uint64_t)time(NULL);
	build_from_device(&id->build, out);
}

/* Each mismatch that makes a saved state meaningless on this device. */
int eng_identity_mismatch(const struct vstream_identity *saved, const struct vdev_ident *id,
			  char *why, size_t size)
{
	enum vstream_kind kind = id->kind == VDEV_KIND_MDEV ? VSTREAM_KIND_MDEV : VSTREAM_KIND_PCI;

	why[0] = '\0';
	if (id->kind == VDEV_KIND_FD)
		return 0;       /* nothing known to compare against */
	if (saved->kind != kind)
		snprintf(why, size, "the stream is from a %s device, this is a %s device",
			 vstream_kind_name(saved->kind) ? vstream_kind_name(saved->kind) : "?",
			 vdev_kind_name(id->kind));
	else if (kind == VSTREAM_KIND_MDEV && strcmp(saved->mdev_type, id->mdev_type) != 0)
		snprintf(why, size, "the stream is from mdev type %s, this device is %s",
			 saved->mdev_type, id->mdev_type);
	else if (kind == VSTREAM_KIND_PCI &&
		 (saved->vendor != id->vendor || saved->device != id->device))
		snprintf(why, size, "the stream is from PCI device %04x:%04x, this is %04x:%04x",
			 saved->vendor, saved->device, id->vendor, id->device);
	else if (kind == VSTREAM_KIND_PCI &&
		 (saved->subsystem_vendor != id->subsystem_vendor ||
		  saved->subsystem_device != id->subsystem_device || saved->revision != id->revision))
		snprintf(why, size, "the stream is from subsystem %04x:%04x revision %02x, this is "
			 "%04x:%04x revision %02x", saved->subsystem_vendor, saved->subsystem_device,
			 saved->revision, id->subsystem_vendor, id->subsystem_device, id->revision);
	else if (saved->driver[0] && id->driver[0] && strcmp(saved->driver, id->driver) != 0)
		snprintf(why, size, "the stream was saved through driver %s, this device uses %s",
			 saved->driver, id->driver);
	return why[0] != '\0';
}

int eng_check_stream_identity(const struct vstream_header *hdr, const struct vdev_ident *id,
			      enum eng_compat policy, bool force, const char *command,
			      struct verr *err)
{
	const char *const labels[2] = {
		strcmp(command, "restore") == 0 ? "the stream" : "the source", "this device"
	};
	const char *hint = "use a device of the same kind, or --force";
	struct vstream_identity mine;
	char why[1400];

	if (!eng_identity_mismatch(&hdr->id, id, why, sizeof(why))) {
		if (id->kind == VDEV_KIND_FD)
			return 0;
		eng_identity_from_device(id, 0, 0, &mine);
		if (!eng_build_compare(&hdr->id, &mine, policy, labels, id->name, why,
				       sizeof(why), &hint))
			return 0;
	}
	if (force) {
		/* "restore" -> "restoring", "receive" -> "receiving" */
		eng_note("%s: warning: %s; %.*sing anyway (--force)", id->name, why,
			 (int)strlen(command) - 1, command);
		return 0;
	}
	return verr_set(err, VERR_PEER, 0, id->name, hint, "refusing the stream: %s", why);
}

/* The source's devices against the destination's, as migrate pairs them. */
int eng_identity_compare(const struct vstream_identity *src, const struct vstream_identity *dst,
			 char *why, size_t size)
{
	why[0] = '\0';
	if (src->kind != dst->kind)
		snprintf(why, size, "a %s device cannot take the state of a %s device",
			 vstream_kind_name(dst->kind) ? vstream_kind_name(dst->kind) : "?",
			 vstream_kind_name(src->kind) ? vstream_kind_name(src->kind) : "?");
	else if (src->kind == VSTREAM_KIND_MDEV && strcmp(src->mdev_type, dst->mdev_type) != 0)
		snprintf(why, size, "mdev type %s cannot take the state of %s", dst->mdev_type,
			 src->mdev_type);
	else if (src->kind == VSTREAM_KIND_PCI &&
		 (src->vendor != dst->vendor || src->device != dst->device ||
		  src->subsystem_vendor != dst->subsystem_vendor ||
		  src->subsystem_device != dst->subsystem_device || src->revision != dst->revision))
		snprintf(why, size, "PCI %04x:%04x (%04x:%04x rev %02x) cannot take the state of "
			 "%04x:%04x (%04x:%04x rev %02x)", dst->vendor, dst->device,
			 dst->subsystem_vendor, dst->subsystem_device, dst->revision, src->vendor,
			 src->device, src->subsystem_vendor, src->subsystem_device, src->revision);
	else if (strcmp(src->driver, dst->driver) != 0)
		snprintf(why, size, "driver %s cannot take the state of driver %s", dst->driver,
			 src->driver);
	else if (src->migration_flags != dst->migration_flags)
		snprintf(why, size, "migration flags 0x%llx differ from the source's 0x%llx",
			 (unsigned long long)dst->migration_flags,
			 (unsigned long long)src->migration_flags);
	return why[0] != '\0';
}

int eng_open_device(const char *name, enum vdev_open_via via, struct vdev **dev,
		    struct verr *err)
{
	struct vdev_ident id;

	*dev = NULL;
	if (vdev_identify(name, &id, err) < 0 || vdev_open(&id, via, dev, err) < 0)
		return -ENODEV;
	eng_debug("%s: opened via %s", id.name, vdev_open_via_name(vdev_opened_via(*dev)));
	return 0;
}

int eng_recover_abandoned(struct vdev *dev, enum vmig_state *state, struct verr *err)
{
	if (vdev_get_state(dev, state, err) < 0)
		return -EIO;
	if (*state != VMIG_RESUMING)
		return 0;
	/* We hold the device alone, so whoever left it resuming is gone (killed while
	 * restoring): its partial state is worthless, and only a reset leaves RESUMING. */
	eng_note("%s: found in RESUMING, abandoned by an earlier restore; resetting it",
		 vdev_ident(dev)->name);
	if (vdev_reset(dev, err) < 0)
		return -EIO;
	return vdev_get_state(dev, state, err);
}
