/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vfiomig info: a device's identity and everything its driver says about migration. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_dirty.h"
#include "base/json.h"
#include "base/sysfs.h"

struct info_args {
	const char *device;
};

enum { OPT_JSON = 0x200 };

static const struct argp_option options[] = {
	{ "json", OPT_JSON, NULL, 0, "Print a JSON object (see vfiomig-info(1))", 0 },
	{ 0 }
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct info_args *args = state->input;

	switch (key) {
	case OPT_JSON:
		cli.json = true;
		return 0;
	default:
		return cli_parse_device_operand(key, arg, state, &args->device);
	}
}

static const struct argp_child children[] = { { &cli_common_argp, 0, NULL, 0 }, { 0 } };
static const struct argp info_argp = {
	options, parse_opt, "DEVICE",
	"Show a VFIO device's identity, migration flags, supported states and arcs, "
	"current state, stop-copy size estimate, DMA logging support, the IOMMU's dirty "
	"tracking, and whether QEMU can migrate the device.\v"
	"Exits 4 after printing when the device has no migration support.",
	children, NULL, NULL
};

struct migration_facts {
	bool supported;
	const char *reason;
	uint64_t flags;
	enum vmig_state state;
	bool have_state, have_size;
	uint64_t stop_copy_bytes;
	bool dma_logging, v1_region;
	bool precopy_info_v2;           /* feature 12 offered (a PROBE; no opt-in) */
	struct cli_dirty dirty;         /* DMA logging, the IOMMU's tracking, QEMU's verdict */
};

/* The driver's compatibility string: null when it publishes none. */
static void json_compat(struct json *j, const struct vdev_ident *id)
{
	char path[PATH_MAX + 64];

	if (!id->compat.file[0]) {
		json_null(j, VDEV_COMPAT_ATTR);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", sysfs_unrooted(id->sysfs), id->compat.file);
	json_object_begin(j, VDEV_COMPAT_ATTR);
	json_string(j, "value", id->compat.problem[0] ? NULL : id->compat.value);
	json_string(j, "file", path);
	json_string(j, "problem", id->compat.problem[0] ? id->compat.problem : NULL);
	json_object_end(j);
}

static void json_text(struct json *j, const char *key, const char *value)
{
	json_string(j, key, value[0] ? value : NULL);
}

/* What decides compatibility in practice (vfiomig-info(1), Build): null where the
 * kernel exposes nothing. */
static void json_build(struct json *j, const struct vdev_ident *id)
{
	const struct vdev_build *b = &id->build;

	json_object_begin(j, "build");
	json_text(j, "module", b->module);
	json_text(j, "module_version", b->module_version);
	json_text(j, "srcversion", b->srcversion);
	json_text(j, "kernel_release", b->kernel_release);
	if (!id->physfn[0]) {
		json_null(j, "pf");
	} else {
		json_object_begin(j, "pf");
		json_string(j, "device", id->physfn);
		json_text(j, "driver", b->pf_driver);
		json_text(j, "module_version", b->pf_module_version);
		json_text(j, "srcversion", b->pf_srcversion);
		json_text(j, "firmware", b->pf_firmware);
		json_text(j, "firmware_source", b->pf_firmware_source);
		json_object_end(j);
	}
	json_object_end(j);
}

static void print_json(const struct vdev *dev, const struct migration_facts *mig)
{
	const struct vdev_ident *id = vdev_ident(dev);
	char hex[16], cdev[64];
	struct json j;

	json_init(&j, stdout);
	json_object_begin(&j, NULL);
	json_string(&j, "device", id->name);
	json_string(&j, "kind", vdev_kind_name(id->kind));
	json_string(&j, "driver", id->driver[0] ? id->driver : NULL);
	json_string(&j, "sysfs", id->sysfs[0] ? sysfs_unrooted(id->sysfs) : NULL);
#define HEX(key, fmt, val, present) \
	do { if (present) { snprintf(hex, sizeof(hex), fmt, val); json_string(&j, key, hex); } \
	     else json_null(&j, key); } while (0)
	HEX("vendor_id", "0x%04x", id->vendor, id->have_pci_ids);
	HEX("device_id", "0x%04x", id->device, id->have_pci_ids);
	HEX("subsystem_vendor_id", "0x%04x", id->subsystem_vendor, id->have_pci_ids);
	HEX("subsystem_device_id", "0x%04x", id->subsystem_device, id->have_pci_ids);
	HEX("class", "0x%06x", id->class_code, id->have_pci_ids);
	HEX("revision", "0x%02x", id->revision, id->have_pci_ids);
#undef HEX
	json_string(&j, "vendor_name", id->vendor_name[0] ? id->vendor_name : NULL);
	json_string(&j, "device_name", id->device_name[0] ? id->device_name : NULL);
	json_string(&j, "mdev_type", id->mdev_type[0] ? id->mdev_type : NULL);
	json_string(&j, "mdev_type_name", id->mdev_type_name[0] ? id->mdev_type_name : NULL);
	json_string(&j, "parent", id->parent[0] ? id->parent : NULL);
	json_string(&j, "physfn", id->physfn[0] ? id->physfn : NULL);
	json_compat(&j, id);
	json_build(&j, id);
	json_string(&j, "iommu_group", id->group[0] ? id->group : NULL);
	snprintf(cdev, sizeof(cdev), "/dev/vfio/devices/%s", id->cdev);
	json_string(&j, "cdev", id->cdev[0] ? cdev : NULL);
	json_string(&j, "opened_via", vdev_open_via_name(vdev_opened_via(dev)));

	json_object_begin(&j, "migration");
	json_bool(&j, "supported", mig->supported);
	if (!mig->supported) {
		json_string(&j, "reason", mig->reason);
	} else {
		json_array_begin(&j, "flags");
		for (unsigned bit = 0; bit < 64; bit++)
			if (mig->flags & (1ull << bit))
				json_string(&j, NULL, vmig_flag_name(bit) ? vmig_flag_name(bit) : "UNKNOWN");
		json_array_end(&j);
		json_uint(&j, "flags_value", mig->flags);
		json_array_begin(&j, "states");
		for (int s = 1; s < VMIG_NR_STATES; s++)
			if (vmig_state_supported(mig->flags, s))
				json_string(&j, NULL, vmig_state_name(s));
		json_array_end(&j);
		json_array_begin(&j, "arcs");
		for (int from = 1; from < VMIG_NR_STATES; from++)
			for (int to = 1; to < VMIG_NR_STATES; to++)
				if (vmig_arc_supported(mig->flags, from, to)) {
					json_array_begin(&j, NULL);
					json_string(&j, NULL, vmig_state_name(from));
					json_string(&j, NULL, vmig_state_name(to));
					json_array_end(&j);
				}
		json_array_end(&j);
		json_string(&j, "state", mig->have_state ? vmig_state_name(mig->state) : NULL);
		if (mig->have_size)
			json_uint(&j, "stop_copy_bytes", mig->stop_copy_bytes);
		else
			json_null(&j, "stop_copy_bytes");
		json_bool(&j, "dma_logging", mig->dma_logging);
		json_bool(&j, "precopy_info_v2", mig->precopy_info_v2);
	}
	json_bool(&j, "v1_region", mig->v1_region);
	json_object_end(&j);
	cli_dirty_json(&j, &mig->dirty);
	json_object_end(&j);
	json_finish(&j);
}

/* One line of the report: a label, then its value (escaped, as all of it may come
 * from sysfs or a driver). */
#define ROW(label, fmt, ...) cli_line("%-14s" fmt, label, ##__VA_ARGS__)

static const char *none(const char *value)
{
	return value[0] ? value : "none";
}

static void print_build(const struct vdev_ident *id)
{
	const struct vdev_build *b = &id->build;

	if (b->module[0])
		ROW("module:", "%s  version %s  srcversion %s", b->module, none(b->module_version),
		    none(b->srcversion));
	else if (id->sysfs[0])
		ROW("module:", "none (built in, no /sys/module entry)");
	if (b->kernel_release[0])
		ROW("kernel:", "%s", b->kernel_release);
	if (!id->physfn[0])
		return;
	ROW("pf driver:", "%s  version %s  srcversion %s", none(b->pf_driver),
	    none(b->pf_module_version), none(b->pf_srcversion));
	if (b->pf_firmware[0])
		ROW("pf firmware:", "%s (%s)", b->pf_firmware, b->pf_firmware_source);
	else
		ROW("pf firmware:", "not exposed (no devlink info, infiniband fw_ver or nvme "
		    "firmware_rev)");
}

static void print_identity(const struct vdev *dev)
{
	const struct vdev_ident *id = vdev_ident(dev);

	ROW("device:", "%s (%s)", id->name, vdev_kind_name(id->kind));
	if (id->kind == VDEV_KIND_MDEV && id->mdev_type[0])
		ROW("type:", "%s%s%s%s on %s", id->mdev_type, id->mdev_type_name[0] ? " (" : "",
		    id->mdev_type_name, id->mdev_type_name[0] ? ")" : "",
		    id->parent[0] ? id->parent : "?");
	if (id->have_pci_ids) {
		ROW("vendor:", "%04x %s", id->vendor, id->vendor_name);
		ROW("model:", "%04x %s", id->device, id->device_name);
		ROW("subsystem:", "%04x:%04x", id->subsystem_vendor, id->subsystem_device);
		ROW("class:", "%06x  revision %02x", id->class_code, id->revision);
	}
	if (id->physfn[0])
		ROW("physfn:", "%s", id->physfn);
	if (id->driver[0])
		ROW("driver:", "%s", id->driver);
	if (id->compat.problem[0])
		ROW("compat:", "unusable: %s: %s", id->compat.file, id->compat.problem);
	else if (id->compat.file[0])
		ROW("compat:", "\"%s\" (%s)", id->compat.value, id->compat.file);
	else if (id->sysfs[0])
		ROW("compat:", "none (no " VDEV_COMPAT_ATTR " in sysfs)");
	print_build(id);
	if (id->group[0])
		ROW("iommu group:", "%s%s", id->group, id->noiommu ? " (no-IOMMU)" : "");
	if (id->cdev[0])
		ROW("cdev:", "/dev/vfio/devices/%s", id->cdev);
	ROW("opened via:", "%s", vdev_open_via_name(vdev_opened_via(dev)));
}

static void print_human(const struct vdev *dev, const struct migration_facts *mig)
{
	char flags[64];

	print_identity(dev);
	if (!mig->supported) {
		ROW("migration:", "not supported (%s)", mig->reason);
		if (mig->v1_region)
			ROW("", "the device exposes the v1 migration region, removed in Linux 5.18; "
			    "vfiomig speaks only the v2 uAPI");
		cli_dirty_print(&mig->dirty);
		return;
	}
	vmig_flags_format(mig->flags, flags, sizeof(flags), false, " ");
	ROW("migration:", "%s (0x%llx)", flags, (unsigned long long)mig->flags);
	printf("%-14s", "states:");
	for (int s = 1, n = 0; s < VMIG_NR_STATES; s++)
		if (vmig_state_supported(mig->flags, s))
			printf(n++ ? " %s" : "%s", vmig_state_name(s));
	putchar('\n');
	for (int from = 1, first = 1; from < VMIG_NR_STATES; from++) {
		int n = 0;

		for (int to = 1; to < VMIG_NR_STATES; to++) {
			if (!vmig_arc_supported(mig->flags, from, to))
				continue;
			if (n++ == 0)
				printf("%-14s%s -> ", first ? "arcs:" : "", vmig_state_name(from));
			else
				fputs(", ", stdout);
			fputs(vmig_state_name(to), stdout);
		}
		if (n) {
			putchar('\n');
			first = 0;
		}
	}
	ROW("state:", "%s", mig->have_state ? vmig_state_name(mig->state) : "unknown");
	if (mig->have_size)
		ROW("stop-copy:", "%llu bytes (driver's estimate)",
		    (unsigned long long)mig->stop_copy_bytes);
	else
		ROW("stop-copy:", "no estimate (driver lacks MIG_DATA_SIZE)");
	ROW("dma logging:", "%s", !mig->dma_logging ? "not supported"
	    : mig->dirty.report_ret == -EOPNOTSUPP ? "supported, but reports fail with EOPNOTSUPP "
	    "(a kernel without CONFIG_IOMMUFD_DRIVER)" : "supported");
	/* the label runs into the value column: "pre-copy info v2 (REINIT): ..." */
	ROW("pre-copy info", "v2 (REINIT): %s",
	    mig->precopy_info_v2 ? "supported" : "not supported");
	if (mig->v1_region)
		ROW("v1 region:", "present (removed uAPI; ignored)");
	cli_dirty_print(&mig->dirty);
}

static int gather(struct vdev *dev, struct migration_facts *mig)
{
	struct verr err = { 0 };
	int ret = vdev_migration_flags(dev, &mig->flags, &err);

	vdev_has_v1_region(dev, &mig->v1_region);
	if (ret == -ENOTTY) {
		mig->reason = mig->v1_region ? "only the removed v1 migration region"
					     : "the driver does not implement VFIO migration";
		cli_dirty_gather(dev, false, 0, &mig->dirty);
		return EXIT_UNSUPPORTED;
	}
	if (ret < 0)
		return cli_fail(&err);
	mig->supported = true;
	if (vdev_get_state(dev, &mig->state, &err) < 0)
		return cli_fail(&err);
	mig->have_state = true;
	verr_clear(&err);
	mig->have_size = vdev_stop_copy_size(dev, &mig->stop_copy_bytes, &err) == 0;
	vdev_precopy_v2_supported(dev, &mig->precopy_info_v2);
	cli_dirty_gather(dev, true, mig->flags, &mig->dirty);
	mig->dma_logging = mig->dirty.dma_logging;
	return EXIT_OK;
}

int cmd_info(int argc, char **argv)
{
	struct info_args args = { 0 };
	struct migration_facts mig = { 0 };
	struct vdev *dev;
	int ret;

	argp_parse(&info_argp, argc, argv, 0, NULL, &args);
	ret = cli_open_device(args.device, &dev);
	if (ret)
		return ret;
	ret = gather(dev, &mig);
	if (ret == EXIT_OK || ret == EXIT_UNSUPPORTED) {
		if (cli.json)
			print_json(dev, &mig);
		else
			print_human(dev, &mig);
	}
	vdev_close(dev);
	return ret;
}
