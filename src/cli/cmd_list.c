/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vfiomig list: every VFIO device on the host, with its migration support. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "base/json.h"

struct list_args {
	bool no_probe, names;
	struct json json;
	int count;
};

enum { OPT_JSON = 0x200, OPT_NO_PROBE, OPT_NAMES };

static const struct argp_option options[] = {
	{ "json", OPT_JSON, NULL, 0, "Print a JSON object (see vfiomig-list(1))", 0 },
	{ "no-probe", OPT_NO_PROBE, NULL, 0,
	  "Do not open devices to ask for their migration flags", 0 },
	{ "names", OPT_NAMES, NULL, 0, "Print only device names, one per line", 0 },
	{ 0 }
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct list_args *args = state->input;

	switch (key) {
	case OPT_JSON:
		cli.json = true;
		return 0;
	case OPT_NO_PROBE:
		args->no_probe = true;
		return 0;
	case OPT_NAMES:
		args->names = true;
		return 0;
	case ARGP_KEY_ARG:
		argp_error(state, "list takes no arguments");
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	(void)arg;
}

static const struct argp_child children[] = { { &cli_common_argp, 0, NULL, 0 }, { 0 } };
static const struct argp list_argp = {
	options, parse_opt, NULL,
	"List the VFIO devices on this host: PCI devices bound to vfio-pci or a variant "
	"driver, and mdevs.\vOpening a device to probe its migration flags resets a PCI "
	"device that nobody else holds; --no-probe avoids that.",
	children, NULL, NULL
};

struct probe {
	bool probed, supported;
	uint64_t flags;
	int errnum;             /* why the device could not be probed, 0 if it could */
};

static void probe_device(const struct vdev_ident *id, struct probe *p)
{
	struct verr err = { 0 };
	struct vdev *dev;
	int ret;

	p->probed = true;
	if (vdev_open(id, cli.open_via, &dev, &err) < 0) {
		p->errnum = err.errnum ? err.errnum : ENODEV;
		/* A second cdev bind of a device says EINVAL: it is busy all the same. */
		if (p->errnum == EINVAL && strstr(err.what, "bind"))
			p->errnum = EBUSY;
		return;
	}
	ret = vdev_migration_flags(dev, &p->flags, &err);
	p->supported = ret == 0;
	if (ret < 0 && ret != -ENOTTY)
		p->errnum = -ret;
	vdev_close(dev);
}

/* The short word the table shows for a probe error. */
static const char *probe_word(int errnum)
{
	switch (errnum) {
	case EBUSY: return "busy";
	case EACCES:
	case EPERM: return "permission denied";
	default: return strerror(errnum);
	}
}

static const char *display_name(const struct vdev_ident *id)
{
	static char buf[320];

	if (id->kind == VDEV_KIND_MDEV)
		snprintf(buf, sizeof(buf), "%s%s%s", id->mdev_type,
			 id->mdev_type_name[0] ? ": " : "", id->mdev_type_name);
	else if (id->vendor_name[0] || id->device_name[0])
		snprintf(buf, sizeof(buf), "%s %s", id->vendor_name, id->device_name);
	else
		snprintf(buf, sizeof(buf), "%04x:%04x", id->vendor, id->device);
	return buf;
}

static void emit_json(struct list_args *args, const struct vdev_ident *id, const struct probe *p)
{
	struct json *j = &args->json;
	char hex[16], cdev[64];

	json_object_begin(j, NULL);
	json_string(j, "device", id->name);
	json_string(j, "kind", vdev_kind_name(id->kind));
	json_string(j, "driver", id->driver[0] ? id->driver : NULL);
	if (id->have_pci_ids) {
		snprintf(hex, sizeof(hex), "0x%04x", id->vendor);
		json_string(j, "vendor_id", hex);
		snprintf(hex, sizeof(hex), "0x%04x", id->device);
		json_string(j, "device_id", hex);
	} else {
		json_null(j, "vendor_id");
		json_null(j, "device_id");
	}
	json_string(j, "mdev_type", id->mdev_type[0] ? id->mdev_type : NULL);
	json_string(j, "name", display_name(id));
	json_string(j, "physfn", id->physfn[0] ? id->physfn : NULL);
	json_string(j, "iommu_group", id->group[0] ? id->group : NULL);
	snprintf(cdev, sizeof(cdev), "/dev/vfio/devices/%s", id->cdev);
	json_string(j, "cdev", id->cdev[0] ? cdev : NULL);
	if (p->probed && !p->errnum && p->supported) {
		json_object_begin(j, "migration");
		json_array_begin(j, "flags");
		for (unsigned bit = 0; bit < 64; bit++)
			if (p->flags & (1ull << bit))
				json_string(j, NULL, vmig_flag_name(bit) ? vmig_flag_name(bit) : "UNKNOWN");
		json_array_end(j);
		json_object_end(j);
	} else {
		json_null(j, "migration");
	}
	json_bool(j, "probed", p->probed);
	json_string(j, "probe_error", p->errnum ? strerror(p->errnum) : NULL);
	json_object_end(j);
}

static void emit_line(const struct vdev_ident *id, const struct probe *p)
{
	char migration[80];

	if (!p->probed)
		snprintf(migration, sizeof(migration), "-");
	else if (p->errnum)
		snprintf(migration, sizeof(migration), "? (%s)", probe_word(p->errnum));
	else if (!p->supported)
		snprintf(migration, sizeof(migration), "none");
	else
		vmig_flags_format(p->flags, migration, sizeof(migration), true, ",");
	cli_line("%-36s %-4s %-16s %-6s %-8s %-24s %s", id->name, vdev_kind_name(id->kind),
		 id->driver[0] ? id->driver : "-", id->group[0] ? id->group : "-",
		 id->cdev[0] ? id->cdev : "-", migration, display_name(id));
}

static int list_one(const struct vdev_ident *id, void *arg)
{
	struct list_args *args = arg;
	struct probe p = { 0 };

	if (args->names) {
		cli_line("%s", id->name);
		return 0;
	}
	if (!args->no_probe)
		probe_device(id, &p);
	if (cli.json) {
		emit_json(args, id, &p);
	} else {
		if (args->count == 0)
			cli_line("%-36s %-4s %-16s %-6s %-8s %-24s %s", "DEVICE", "KIND", "DRIVER",
				 "GROUP", "CDEV", "MIGRATION", "NAME");
		emit_line(id, &p);
	}
	args->count++;
	return 0;
}

int cmd_list(int argc, char **argv)
{
	struct list_args args = { 0 };
	struct verr err = { 0 };
	int ret;

	argp_parse(&list_argp, argc, argv, 0, NULL, &args);
	if (cli.json && !args.names) {
		json_init(&args.json, stdout);
		json_object_begin(&args.json, NULL);
		json_array_begin(&args.json, "devices");
	}
	ret = vdev_enumerate(list_one, &args, &err);
	if (cli.json && !args.names) {
		json_array_end(&args.json);
		json_object_end(&args.json);
		json_finish(&args.json);
	}
	if (ret < 0)
		return cli_fail(&err);
	if (args.count == 0 && !cli.json && !args.names)
		cli_note("no VFIO devices on this host (bind one to vfio-pci, or create an mdev)");
	return EXIT_OK;
}
