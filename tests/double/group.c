/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Container, iommufd and group ioctls (the legacy group + container path). */
#include "double.h"

/* ---- container, iommufd and group ioctls ---- */
int container_ioctl(struct dfd *e, unsigned long cmd, void *arg)
{
	unsigned long ext = (unsigned long)arg;
	int i, noiommu = 0;

	for (i = 0; i < FD_TABLE; i++)
		if (fdtab[i] && fdtab[i]->kind == FK_GROUP && fdtab[i]->container_fd >= 0 &&
		    fdtab[fdtab[i]->container_fd] == e)
			noiommu |= fdtab[i]->noiommu;
	switch (cmd) {
	case D_GET_API_VERSION:
		return 0;
	case D_CHECK_EXTENSION:
		if (ext == D_TYPE1_IOMMU || ext == D_TYPE1v2_IOMMU)
			return 1;
		if (ext == D_NOIOMMU_IOMMU) {
			char path[PATH_MAX];
			struct stat st;

			snprintf(path, sizeof(path), "%s/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", root);
			return stat(path, &st) == 0;
		}
		return 0;
	case D_SET_IOMMU:
		if (!e->ngroups)
			return -EINVAL;
		if (e->iommu_type)
			return -EBUSY;
		/* 6.12: a type the container's groups cannot use is ENODEV */
		if (noiommu ? ext != D_NOIOMMU_IOMMU : (ext != D_TYPE1v2_IOMMU && ext != D_TYPE1_IOMMU))
			return -ENODEV;
		e->iommu_type = (int)ext;
		return 0;
	case D_IOMMU_GET_INFO: {
		/* type1: argsz flags iova_pgsizes(2) cap_offset pad, then the migration
		 * capability (id 2, version 1) that type1 always builds; no-IOMMU has none. */
		uint32_t *info = arg;
		uint32_t cap[8] = { 2 | (1u << 16), 0, 0, 0, 4096, 0, 0, 0 };
		uint64_t pgsizes = 4096;

		if (!e->iommu_type)
			return -EINVAL;
		if (e->iommu_type == D_NOIOMMU_IOMMU)
			return -ENOTTY;
		if (info[0] < 24)
			return -EINVAL;
		info[1] = 1 | 2;        /* PGSIZES | CAPS */
		memcpy(&info[2], &pgsizes, 8);
		info[4] = 0;
		if (info[0] < 24 + sizeof(cap)) {
			info[0] = 24 + sizeof(cap);
		} else {
			memcpy(info + 6, cap, sizeof(cap));
			info[4] = 24;
		}
		return 0;
	}
	default:
		return -ENOTTY;
	}
}

int group_viable(int group)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int viable = 1;

	snprintf(path, sizeof(path), "%s/double", root);
	d = opendir(path);
	if (!d)
		return 1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && dev_exists(de->d_name) &&
		    knob_int(de->d_name, "group", -1) == group &&
		    !knob_int(de->d_name, "group_viable", 1))
			viable = 0;
	closedir(d);
	return viable;
}

int group_ioctl(struct dfd *e, int fd, unsigned long cmd, void *arg)
{
	struct dfd *c = NULL;
	char name[128];
	int newfd, tmp;

	if (e->container_fd >= 0) {
		c = lookup(e->container_fd);
		if (!c || c->kind != FK_CONTAINER) {
			e->container_fd = -1;
			c = NULL;
		}
	}
	switch (cmd) {
	case D_GROUP_GET_STATUS: {
		uint32_t *st = arg;

		if (st[0] < 8)
			return -EINVAL;
		st[1] = 0;
		if (c && c->iommu_type)
			st[1] = 3;          /* VIABLE | CONTAINER_SET */
		else if (group_viable(e->group))
			st[1] = 1;
		return 0;
	}
	case D_GROUP_SET_CONTAINER: {
		struct dfd *target;

		memcpy(&tmp, arg, sizeof(tmp));
		if (fcntl(tmp, F_GETFD) < 0)
			return -EBADF;
		if (c && c->iommu_type)
			return -EINVAL;
		if (c)
			return -EINVAL;
		target = lookup(tmp);
		if (!target || target->kind != FK_CONTAINER)
			return -EBADFD;
		if (!group_viable(e->group))
			return -EPERM;
		e->container_fd = tmp;
		target->ngroups++;
		return 0;
	}
	case D_GROUP_UNSET_CONTAINER:
		if (!c)
			return -EINVAL;
		if (--c->ngroups == 0)
			c->iommu_type = 0;
		e->container_fd = -1;
		return 0;
	case D_GROUP_GET_DEVICE_FD: {
		struct dfd *d;

		snprintf(name, sizeof(name), "%s", (const char *)arg);
		if (!dev_exists(name) || knob_int(name, "group", -1) != e->group ||
		    !knob_int(name, "vfio", 1))
			return -ENODEV;
		if (!c || !c->iommu_type)
			return -EINVAL;
		newfd = new_memfd("dev", name, 0);
		if (newfd < 0)
			return -errno;
		d = track(newfd, FK_DEVICE, name);
		if (!d) {
			real_close(newfd);
			return -ENOMEM;
		}
		d->bound = d->via_group = d->holder = 1;
		holder_add(name, newfd);
		return newfd;
	}
	default:
		(void)fd;
		return -ENOTTY;
	}
}
