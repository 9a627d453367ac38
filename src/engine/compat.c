/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The compatibility policy (--compat strict|driver|ids): which differences in what
 * decides compatibility in practice — the driver module's build, a VF's PF driver and
 * firmware, the kernel — refuse a state, and which only warn (vfiomig-restore(1)). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"

static const char *const policy_names[] = {
	[ENG_COMPAT_IDS] = "ids",
	[ENG_COMPAT_DRIVER] = "driver",
	[ENG_COMPAT_STRICT] = "strict",
};

const char *eng_compat_name(enum eng_compat policy)
{
	return (unsigned)policy < sizeof(policy_names) / sizeof(policy_names[0]) ?
	       policy_names[policy] : "?";
}

int eng_compat_parse(const char *text, enum eng_compat *policy)
{
	for (unsigned i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]); i++)
		if (strcmp(text, policy_names[i]) == 0) {
			*policy = (enum eng_compat)i;
			return 0;
		}
	return -EINVAL;
}

/* Each field with the loosest policy that refuses a difference in it: the driver
 * stack's build (what defines the state's format) from "driver" on, the kernel
 * release only under "strict" (a kernel update that keeps the driver's source, and so
 * its srcversion, should not block a migration by default). */
static const struct build_field {
	const char *name;
	size_t offset;
	enum eng_compat refused_from;
} build_fields[] = {
#define B(name, member, from) { name, offsetof(struct vstream_identity, member), from }
	B("driver module", module, ENG_COMPAT_DRIVER),
	B("module version", module_version, ENG_COMPAT_DRIVER),
	B("module srcversion", srcversion, ENG_COMPAT_DRIVER),
	B("PF driver", pf_driver, ENG_COMPAT_DRIVER),
	B("PF module version", pf_module_version, ENG_COMPAT_DRIVER),
	B("PF module srcversion", pf_srcversion, ENG_COMPAT_DRIVER),
	B("PF firmware", pf_firmware, ENG_COMPAT_DRIVER),
	B("kernel release", kernel_release, ENG_COMPAT_STRICT),
#undef B
};

static const char *const relax_hint[] = {
	[ENG_COMPAT_DRIVER] = "the driver build differs: use the same build on both sides, "
			      "--compat ids to only warn about it, or --force",
	[ENG_COMPAT_STRICT] = "use the same kernel on both sides, --compat driver to only "
			      "warn about it, or --force",
};

static const char *shown(const char *value)
{
	return value[0] ? value : "none";
}

/* A side written before format 1.1 records no build fields: nothing to compare. */
static int unrecorded(const struct vstream_identity *from, const struct vstream_identity *to,
		      enum eng_compat policy, const char *const labels[2], const char *device,
		      char *why, size_t size, const char **hint)
{
	const char *label = !from->build_recorded ? labels[0] : labels[1];

	snprintf(why, size, "%s records no driver build or kernel release (written by a "
		 "vfiomig before stream format 1.1), so they cannot be compared (--compat %s)",
		 label, eng_compat_name(policy));
	if (policy == ENG_COMPAT_STRICT) {
		*hint = "use --compat driver to accept it with a warning, or --force";
		return 1;
	}
	eng_note("%s: warning: %s", device, why);
	why[0] = '\0';
	return 0;
}

int eng_build_compare(const struct vstream_identity *from, const struct vstream_identity *to,
		      enum eng_compat policy, const char *const labels[2], const char *device,
		      char *why, size_t size, const char **hint)
{
	why[0] = '\0';
	*hint = NULL;
	if (!from->build_recorded || !to->build_recorded)
		return unrecorded(from, to, policy, labels, device, why, size, hint);
	for (size_t i = 0; i < sizeof(build_fields) / sizeof(build_fields[0]); i++) {
		const struct build_field *f = &build_fields[i];
		const char *a = (const char *)from + f->offset, *b = (const char *)to + f->offset;

		if (strcmp(a, b) == 0)
			continue;
		if (policy >= f->refused_from) {
			snprintf(why, size, "%s differs: %s has \"%s\", %s has \"%s\" "
				 "(--compat %s refuses it)", f->name, labels[0], shown(a),
				 labels[1], shown(b), eng_compat_name(policy));
			*hint = relax_hint[f->refused_from];
			return 1;
		}
		eng_note("%s: warning: %s differs: %s has \"%s\", %s has \"%s\" (--compat %s "
			 "lets it pass)", device, f->name, labels[0], shown(a), labels[1], shown(b),
			 eng_compat_name(policy));
	}
	return 0;
}
