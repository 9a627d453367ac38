/* Device identity from sysfs: resolving a user's device name to a sysfs directory,
 * reading ids, driver, group and cdev, and enumerating VFIO devices. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "pci_names.h"
#include "base/sysfs.h"

static const char bind_hint[] =
	"bind it to vfio-pci: echo vfio-pci > /sys/bus/pci/devices/%s/driver_override; "
	"echo %s > /sys/bus/pci/devices/%s/driver/unbind; echo %s > /sys/bus/pci/drivers_probe";

bool vdev_driver_is_vfio(const char *driver)
{
	return strstr(driver, "vfio") != NULL;
}

static bool kernel_has_vfio(void)
{
	char path[PATH_MAX];

	if (sysfs_path(path, sizeof(path), "/dev/vfio") == 0 && sysfs_exists(path))
		return true;
	return sysfs_path(path, sizeof(path), "/sys/module/vfio") == 0 && sysfs_exists(path);
}

static void read_pci_ids(struct vdev_ident *id)
{
	unsigned long v;

	if (sysfs_read_hex(id->sysfs, "vendor", &v) < 0)
		return;
	id->vendor = (uint16_t)v;
	if (sysfs_read_hex(id->sysfs, "device", &v) == 0)
		id->device = (uint16_t)v;
	if (sysfs_read_hex(id->sysfs, "subsystem_vendor", &v) == 0)
		id->subsystem_vendor = (uint16_t)v;
	if (sysfs_read_hex(id->sysfs, "subsystem_device", &v) == 0)
		id->subsystem_device = (uint16_t)v;
	if (sysfs_read_hex(id->sysfs, "class", &v) == 0)
		id->class_code = (uint32_t)v;
	if (sysfs_read_hex(id->sysfs, "revision", &v) == 0)
		id->revision = (uint8_t)v;
	id->have_pci_ids = true;
	pci_names_lookup(id->vendor, id->device, id->vendor_name, sizeof(id->vendor_name),
			 id->device_name, sizeof(id->device_name));
}

static void read_mdev_type(struct vdev_ident *id)
{
	char path[PATH_MAX], real[PATH_MAX], *slash;

	if (sysfs_link_name(id->sysfs, "mdev_type", id->mdev_type, sizeof(id->mdev_type)) == 0)
		sysfs_read_attr(id->sysfs, "mdev_type/name", id->mdev_type_name,
				sizeof(id->mdev_type_name));
	snprintf(path, sizeof(path), "%s", id->sysfs);
	if (!realpath(path, real))
		return;
	slash = strrchr(real, '/');
	if (!slash)
		return;
	*slash = '\0';
	slash = strrchr(real, '/');
	slash = slash ? slash + 1 : real;
	if (strlen(slash) < sizeof(id->parent))
		strcpy(id->parent, slash);
}

int vdev_compat_parse(const char *raw, size_t len, struct vdev_compat *out)
{
	out->value[0] = out->problem[0] = '\0';
	while (len && raw[len - 1] && strchr(" \t\n\r\v\f", raw[len - 1]))
		len--;
	if (len > VDEV_COMPAT_MAX) {
		snprintf(out->problem, sizeof(out->problem),
			 "%zu bytes long, more than the %d vfiomig compares", len, VDEV_COMPAT_MAX);
		return -EMSGSIZE;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)raw[i];

		if (c < 0x20 || c > 0x7e) {
			snprintf(out->problem, sizeof(out->problem),
				 "byte %zu is 0x%02x, not printable ASCII", i, c);
			return -EILSEQ;
		}
	}
	memcpy(out->value, raw, len);
	out->value[len] = '\0';
	return 0;
}

/* The driver's compatibility string: on the device, else (mdev) on its type. A file
 * that is there but unusable is reported, never cut down to something usable. */
static void read_compat(struct vdev_ident *id)
{
	static const char *const files[] = { VDEV_COMPAT_ATTR, "mdev_type/" VDEV_COMPAT_ATTR };
	unsigned count = id->kind == VDEV_KIND_MDEV ? 2 : 1;
	char raw[4096];                 /* a sysfs attribute is at most a page */
	struct vdev_compat *c = &id->compat;

	for (unsigned i = 0; i < count; i++) {
		ssize_t n = sysfs_read_bytes(id->sysfs, files[i], raw, sizeof(raw));

		if (n == -ENOENT)
			continue;
		snprintf(c->file, sizeof(c->file), "%s", files[i]);
		if (n < 0)
			snprintf(c->problem, sizeof(c->problem), "cannot be read: %s",
				 strerror((int)-n));
		else if ((size_t)n == sizeof(raw))
			snprintf(c->problem, sizeof(c->problem), "%zu bytes long or more, more "
				 "than the %d vfiomig compares", sizeof(raw), VDEV_COMPAT_MAX);
		else if (vdev_compat_parse(raw, (size_t)n, c) == 0 && !c->value[0])
			c->file[0] = '\0';     /* empty: the driver says nothing */
		return;
	}
}

/* Fills everything sysfs tells about the device in id->sysfs. */
static void read_identity(struct vdev_ident *id)
{
	char path[PATH_MAX];

	sysfs_link_name(id->sysfs, "driver", id->driver, sizeof(id->driver));
	sysfs_link_name(id->sysfs, "iommu_group", id->group, sizeof(id->group));
	/* No-IOMMU devices have a vfio-dev/ entry but no cdev node (6.12 skips it). */
	if (sysfs_first_entry(id->sysfs, "vfio-dev", id->cdev, sizeof(id->cdev)) == 0 &&
	    (sysfs_path(path, sizeof(path), "/dev/vfio/devices/%s", id->cdev) < 0 ||
	     !sysfs_exists(path)))
		id->cdev[0] = '\0';
	if (id->group[0] &&
	    sysfs_path(path, sizeof(path), "/dev/vfio/noiommu-%s", id->group) == 0)
		id->noiommu = sysfs_exists(path);
	if (id->kind == VDEV_KIND_PCI) {
		read_pci_ids(id);
		sysfs_link_name(id->sysfs, "physfn", id->physfn, sizeof(id->physfn));
	} else {
		read_mdev_type(id);
	}
	read_compat(id);
	vdev_read_build(id);
}

static int sysfs_dir_for(enum vdev_kind kind, const char *name, char *dir, size_t size)
{
	return sysfs_path(dir, size, "/sys/bus/%s/devices/%s",
			  kind == VDEV_KIND_PCI ? "pci" : "mdev", name);
}

/* Finds the device whose vfio-dev/ holds the cdev name. */
static int find_by_cdev(const char *cdev, struct vdev_ident *id)
{
	static const enum vdev_kind kinds[] = { VDEV_KIND_PCI, VDEV_KIND_MDEV };

	for (unsigned k = 0; k < 2; k++) {
		char dir[PATH_MAX], probe[PATH_MAX + 300];
		struct dirent *de;
		DIR *d;

		if (sysfs_path(dir, sizeof(dir), "/sys/bus/%s/devices",
			       kinds[k] == VDEV_KIND_PCI ? "pci" : "mdev") < 0)
			continue;
		d = opendir(dir);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(probe, sizeof(probe), "%s/%s/vfio-dev/%s", dir, de->d_name, cdev);
			if (sysfs_exists(probe) && strlen(de->d_name) < sizeof(id->name)) {
				id->kind = kinds[k];
				strcpy(id->name, de->d_name);
				closedir(d);
				return 0;
			}
		}
		closedir(d);
	}
	return -ENODEV;
}

/* fd:N: the fd is the caller's; sysfs identity only when it is a cdev we can name. */
static int identify_fd(const struct vdev_name *name, const char *text, struct vdev_ident *id,
		       struct verr *err)
{
	char link[64], target[PATH_MAX];
	const char *base;
	ssize_t len;

	if (fcntl(name->fd, F_GETFD) < 0)
		return verr_set(err, VERR_UNAVAILABLE, errno, text, "pass an open VFIO device fd",
				"inherited file descriptor %d", name->fd);
	id->fd = name->fd;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", name->fd);
	len = readlink(link, target, sizeof(target) - 1);
	if (len < 0)
		return 0;
	target[len] = '\0';
	base = strrchr(target, '/');
	if (!base || !strstr(target, "/dev/vfio/devices/vfio") || find_by_cdev(base + 1, id) < 0) {
		id->kind = VDEV_KIND_FD;
		snprintf(id->name, sizeof(id->name), "fd:%d", name->fd);
		vdev_read_build(id);    /* the kernel release, at least */
		return 0;
	}
	if (sysfs_dir_for(id->kind, id->name, id->sysfs, sizeof(id->sysfs)) == 0)
		read_identity(id);
	return 0;
}

static int check_vfio_bound(const char *text, struct vdev_ident *id, struct verr *err)
{
	char hint[512];

	if (id->kind == VDEV_KIND_MDEV && id->driver[0])
		return 0;
	if (vdev_driver_is_vfio(id->driver) || id->cdev[0])
		return 0;
	if (!kernel_has_vfio())
		return verr_set(err, VERR_UNAVAILABLE, 0, text,
				"load it with 'modprobe vfio-pci' or use a kernel built with CONFIG_VFIO",
				"the kernel has no VFIO support");
	if (id->kind == VDEV_KIND_MDEV)
		return verr_set(err, VERR_UNAVAILABLE, 0, text,
				"load vfio_mdev and probe the mdev again",
				"mdev is not bound to a VFIO driver");
	snprintf(hint, sizeof(hint), bind_hint, id->name, id->name, id->name, id->name);
	if (!id->driver[0])
		return verr_set(err, VERR_UNAVAILABLE, 0, text, hint,
				"not bound to any driver");
	return verr_set(err, VERR_UNAVAILABLE, 0, text, hint,
			"bound to %s, not to a VFIO driver", id->driver);
}

int vdev_identify(const char *text, struct vdev_ident *id, struct verr *err)
{
	struct vdev_name name;

	memset(id, 0, sizeof(*id));
	id->fd = -1;
	if (vdev_name_parse(text, &name) < 0)
		return verr_set(err, VERR_USAGE, 0, text,
				"name it as 0000:3b:00.1, an mdev UUID, /sys/bus/.../DEVICE, "
				"/dev/vfio/devices/vfioN or fd:N",
				"not a device name");
	if (name.form == VDEV_NAME_FD)
		return identify_fd(&name, text, id, err);
	if (name.form == VDEV_NAME_CDEV) {
		if (find_by_cdev(name.id, id) < 0) {
			if (!kernel_has_vfio())
				return verr_set(err, VERR_UNAVAILABLE, 0, text,
						"load it with 'modprobe vfio-pci'",
						"the kernel has no VFIO support");
			return verr_set(err, VERR_UNAVAILABLE, ENODEV, text,
					"see 'vfiomig list' for the VFIO devices on this host",
					"no device owns this VFIO cdev");
		}
	} else {
		id->kind = name.kind;
		snprintf(id->name, sizeof(id->name), "%s", name.id);
	}
	if (sysfs_dir_for(id->kind, id->name, id->sysfs, sizeof(id->sysfs)) < 0 ||
	    !sysfs_exists(id->sysfs))
		return verr_set(err, VERR_UNAVAILABLE, ENODEV, text,
				"see 'vfiomig list' for the VFIO devices on this host",
				"look up in /sys/bus/%s/devices", id->kind == VDEV_KIND_PCI ? "pci" : "mdev");
	read_identity(id);
	return check_vfio_bound(text, id, err);
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int enumerate_kind(enum vdev_kind kind, int (*fn)(const struct vdev_ident *, void *),
			  void *arg)
{
	char dir[PATH_MAX];
	char **names = NULL;
	size_t count = 0, cap = 0;
	struct dirent *de;
	int ret = 0;
	DIR *d;

	if (sysfs_path(dir, sizeof(dir), "/sys/bus/%s/devices",
		       kind == VDEV_KIND_PCI ? "pci" : "mdev") < 0)
		return 0;
	d = opendir(dir);
	if (!d)
		return 0;       /* no such bus here: nothing to list */
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (count == cap) {
			char **grown = realloc(names, (cap ? cap * 2 : 32) * sizeof(*names));

			if (!grown) {
				ret = -ENOMEM;
				break;
			}
			names = grown;
			cap = cap ? cap * 2 : 32;
		}
		names[count] = strdup(de->d_name);
		if (!names[count]) {
			ret = -ENOMEM;
			break;
		}
		count++;
	}
	closedir(d);
	if (count)
		qsort(names, count, sizeof(*names), compare_names);
	for (size_t i = 0; i < count && ret == 0; i++) {
		struct vdev_ident id = { .kind = kind, .fd = -1 };

		if (strlen(names[i]) >= sizeof(id.name))
			continue;
		strcpy(id.name, names[i]);
		if (sysfs_dir_for(kind, id.name, id.sysfs, sizeof(id.sysfs)) < 0)
			continue;
		sysfs_link_name(id.sysfs, "driver", id.driver, sizeof(id.driver));
		if (kind == VDEV_KIND_PCI && !vdev_driver_is_vfio(id.driver) &&
		    sysfs_first_entry(id.sysfs, "vfio-dev", id.cdev, sizeof(id.cdev)) < 0)
			continue;
		read_identity(&id);
		ret = fn(&id, arg);
	}
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return ret;
}

int vdev_enumerate(int (*fn)(const struct vdev_ident *id, void *arg), void *arg,
		   struct verr *err)
{
	int ret = enumerate_kind(VDEV_KIND_PCI, fn, arg);

	if (ret == 0)
		ret = enumerate_kind(VDEV_KIND_MDEV, fn, arg);
	if (ret == -ENOMEM)
		return verr_set(err, VERR_FAILED, ENOMEM, "sysfs", NULL, "list devices");
	return ret;
}
