/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What decides in practice whether two hosts' drivers read each other's state: the
 * driver module's version and srcversion, the kernel release and, for a VF, its PF's
 * driver and firmware. Read from sysfs, procfs and devlink, never from the device. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "device.h"
#include "base/sysfs.h"

/* Values end up in messages, streams and JSON: bytes outside printable ASCII become '?'
 * rather than reaching a terminal or making two different values look alike. */
static void make_printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

static void read_text(const char *dir, const char *attr, char *buf, size_t size)
{
	if (sysfs_read_attr(dir, attr, buf, size) < 0)
		buf[0] = '\0';
	make_printable(buf);
}

/*
 * The module behind the driver bound at dev: the driver's module link, which loadable
 * modules and built-in PCI drivers have. Without it, a built-in driver's /sys/module
 * entry (it exists when the module has parameters or a MODULE_VERSION) under the
 * driver's name with '-' as '_', the kernel's own spelling of module names.
 */
static void driver_module(const char *dev, const char *driver, char *mod, size_t size)
{
	char path[PATH_MAX];

	mod[0] = '\0';
	if (sysfs_link_name(dev, "driver/module", mod, size) == 0 || !driver[0] ||
	    strlen(driver) >= size)
		return;
	strcpy(mod, driver);
	for (char *c = mod; *c; c++)
		if (*c == '-')
			*c = '_';
	if (sysfs_path(path, sizeof(path), "/sys/module/%s", mod) < 0 || !sysfs_exists(path))
		mod[0] = '\0';
}

/* version exists only with MODULE_VERSION; srcversion only for loadable modules
 * that have one (or every module under CONFIG_MODULE_SRCVERSION_ALL). */
static void module_versions(const char *mod, char *version, size_t vsize, char *src,
			    size_t ssize)
{
	char dir[PATH_MAX];

	if (!mod[0] || sysfs_path(dir, sizeof(dir), "/sys/module/%s", mod) < 0)
		return;
	read_text(dir, "version", version, vsize);
	read_text(dir, "srcversion", src, ssize);
}

/* uname -r, through the (fake) root first so that tests can set it. */
static void kernel_release(char *buf, size_t size)
{
	char dir[PATH_MAX];
	struct utsname u;

	if (sysfs_path(dir, sizeof(dir), "/proc/sys/kernel") == 0) {
		read_text(dir, "osrelease", buf, size);
		if (buf[0])
			return;
	}
	if (uname(&u) == 0)
		snprintf(buf, size, "%s", u.release);
	make_printable(buf);
}

/* Firmware files that PF drivers publish in sysfs, below the PF's directory. */
static const struct {
	const char *dir, *attr;
} firmware_files[] = {
	{ "infiniband", "fw_ver" },     /* mlx5 and other RDMA drivers */
	{ "nvme", "firmware_rev" },     /* an NVMe controller */
};

static void pf_firmware(const char *pf_dir, const char *pf, struct vdev_build *b)
{
	/* devlink is the kernel's own registry, so the fake test root cannot answer it:
	 * it is asked on the real root only. */
	if (!sysfs_root()[0] &&
	    vdev_devlink_firmware("pci", pf, b->pf_firmware, sizeof(b->pf_firmware)) == 0 &&
	    b->pf_firmware[0]) {
		make_printable(b->pf_firmware);
		snprintf(b->pf_firmware_source, sizeof(b->pf_firmware_source), "devlink");
		return;
	}
	for (size_t i = 0; i < sizeof(firmware_files) / sizeof(firmware_files[0]); i++) {
		char sub[64], dir[PATH_MAX];

		if (sysfs_first_entry(pf_dir, firmware_files[i].dir, sub, sizeof(sub)) < 0 ||
		    snprintf(dir, sizeof(dir), "%s/%s/%s", pf_dir, firmware_files[i].dir, sub) >=
		    (int)sizeof(dir))
			continue;
		read_text(dir, firmware_files[i].attr, b->pf_firmware, sizeof(b->pf_firmware));
		if (!b->pf_firmware[0])
			continue;
		if (snprintf(b->pf_firmware_source, sizeof(b->pf_firmware_source), "%s/%s/%s",
			     firmware_files[i].dir, sub, firmware_files[i].attr) >=
		    (int)sizeof(b->pf_firmware_source))
			snprintf(b->pf_firmware_source, sizeof(b->pf_firmware_source), "%s",
				 firmware_files[i].attr);
		return;
	}
}

static void pf_facts(const struct vdev_ident *id, struct vdev_build *b)
{
	char pf_dir[PATH_MAX], mod[64];

	if (snprintf(pf_dir, sizeof(pf_dir), "%s/physfn", id->sysfs) >= (int)sizeof(pf_dir))
		return;
	sysfs_link_name(id->sysfs, "physfn/driver", b->pf_driver, sizeof(b->pf_driver));
	driver_module(pf_dir, b->pf_driver, mod, sizeof(mod));
	module_versions(mod, b->pf_module_version, sizeof(b->pf_module_version),
			b->pf_srcversion, sizeof(b->pf_srcversion));
	pf_firmware(pf_dir, id->physfn, b);
}

void vdev_read_build(struct vdev_ident *id)
{
	struct vdev_build *b = &id->build;

	memset(b, 0, sizeof(*b));
	kernel_release(b->kernel_release, sizeof(b->kernel_release));
	if (!id->sysfs[0])
		return;
	driver_module(id->sysfs, id->driver, b->module, sizeof(b->module));
	module_versions(b->module, b->module_version, sizeof(b->module_version), b->srcversion,
			sizeof(b->srcversion));
	if (id->physfn[0])
		pf_facts(id, b);
}
