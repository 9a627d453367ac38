/* Opening a VFIO device (cdev + iommufd, or group + container, or an inherited
 * fd), its feature ioctls, and the one function that changes its migration state. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "base/sysfs.h"
#include "device_internal.h"
#include "vfio_uapi.h"


static const char *open_hint(int errnum, const char *node)
{
	switch (errnum) {
	case EACCES:
	case EPERM:
		return "run as root, or give your user access to the VFIO device nodes";
	case EBUSY:
		return "another process holds the device or its group (a VMM?); "
		       "find it with 'fuser -v /dev/vfio/*'";
	case ENOENT:
	case ENODEV:
		return "the device node is missing: is the device bound to a VFIO driver?";
	default:
		return NULL;
	}
	(void)node;
}

static int open_node(struct vdev *dev, const char *node, int *fd, struct verr *err)
{
	char path[PATH_MAX];

	if (sysfs_path(path, sizeof(path), "%s", node) < 0)
		return verr_set(err, VERR_FAILED, ENAMETOOLONG, dev->id.name, NULL, "open %s", node);
	*fd = open(path, O_RDWR | O_CLOEXEC);
	if (*fd < 0) {
		int e = errno;

		return verr_set(err, VERR_UNAVAILABLE, e, dev->id.name, open_hint(e, node),
				"open %s", node);
	}
	return 0;
}

static int open_cdev(struct vdev *dev, struct verr *err)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	char node[96];
	int ret;

	snprintf(node, sizeof(node), "/dev/vfio/devices/%s", dev->id.cdev);
	ret = open_node(dev, node, &dev->device_fd, err);
	if (ret < 0)
		return ret;
	ret = open_node(dev, "/dev/iommu", &dev->iommufd, err);
	if (ret < 0)
		return ret;
	bind.iommufd = dev->iommufd;
	if (ioctl(dev->device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0) {
		int e = errno;
		/* The cdev path cannot share a device: a second bind gets EINVAL. */
		const char *hint = e == EINVAL || e == EBUSY
			? "the device is already open in another process (a VMM?); "
			  "find it with 'fuser -v /dev/vfio/devices/* /dev/vfio/*'"
			: open_hint(e, node);

		return verr_set(err, VERR_UNAVAILABLE, e, dev->id.name, hint,
				"bind %s to iommufd", node);
	}
	dev->iommufd_devid = bind.out_devid;
	dev->via = VDEV_VIA_CDEV;
	return 0;
}

static int open_group(struct vdev *dev, struct verr *err)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char node[96];
	int iommu_type = dev->id.noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU;
	int ret;

	if (!dev->id.group[0])
		return verr_set(err, VERR_UNAVAILABLE, 0, dev->id.name,
				"enable an IOMMU (intel_iommu=on / amd_iommu=on) or vfio's noiommu mode",
				"the device has no IOMMU group");
	ret = open_node(dev, "/dev/vfio/vfio", &dev->container_fd, err);
	if (ret < 0)
		return ret;
	if (ioctl(dev->container_fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		return verr_set(err, VERR_UNAVAILABLE, 0, dev->id.name, NULL,
				"/dev/vfio/vfio speaks an unknown VFIO API version");
	snprintf(node, sizeof(node), "/dev/vfio/%s%s", dev->id.noiommu ? "noiommu-" : "",
		 dev->id.group);
	ret = open_node(dev, node, &dev->group_fd, err);
	if (ret < 0)
		return ret;
	if (ioctl(dev->group_fd, VFIO_GROUP_GET_STATUS, &status) < 0)
		return verr_set(err, VERR_FAILED, errno, dev->id.name, NULL,
				"get status of %s", node);
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		return verr_set(err, VERR_UNAVAILABLE, 0, dev->id.name,
				"bind every device listed in /sys/kernel/iommu_groups/<group>/devices "
				"to vfio-pci, or unbind it",
				"IOMMU group %s is not viable", dev->id.group);
	if (!(status.flags & VFIO_GROUP_FLAGS_CONTAINER_SET)) {
		if (ioctl(dev->group_fd, VFIO_GROUP_SET_CONTAINER, &dev->container_fd) < 0)
			return verr_set(err, VERR_UNAVAILABLE, errno, dev->id.name,
					open_hint(errno, node), "attach %s to a container", node);
		if (ioctl(dev->container_fd, VFIO_SET_IOMMU, iommu_type) < 0)
			return verr_set(err, VERR_UNAVAILABLE, errno, dev->id.name,
					dev->id.noiommu ? "no-IOMMU mode needs CAP_SYS_RAWIO" : NULL,
					"set the container's IOMMU type to %s",
					dev->id.noiommu ? "no-IOMMU" : "type1v2");
	}
	dev->device_fd = ioctl(dev->group_fd, VFIO_GROUP_GET_DEVICE_FD, dev->id.name);
	if (dev->device_fd < 0) {
		int e = errno;

		dev->device_fd = -1;
		return verr_set(err, VERR_UNAVAILABLE, e, dev->id.name, open_hint(e, node),
				"get the device fd from %s", node);
	}
	dev->via = VDEV_VIA_GROUP;
	return 0;
}

static bool cdev_usable(const struct vdev *dev)
{
	char path[PATH_MAX];

	return dev->id.cdev[0] && sysfs_path(path, sizeof(path), "/dev/iommu") == 0 &&
	       sysfs_exists(path);
}

int vdev_open(const struct vdev_ident *id, enum vdev_open_via via, struct vdev **out,
	      struct verr *err)
{
	struct vdev *dev = calloc(1, sizeof(*dev));
	int ret;

	*out = NULL;
	if (!dev)
		return verr_set(err, VERR_FAILED, ENOMEM, id->name, NULL, "open");
	dev->id = *id;
	dev->device_fd = dev->iommufd = dev->group_fd = dev->container_fd = dev->data_fd = -1;
	dev->owns_device_fd = true;

	if (id->fd >= 0) {
		dev->device_fd = id->fd;
		dev->owns_device_fd = false;
		dev->via = VDEV_VIA_FD;
		ret = 0;
	} else if (via == VDEV_VIA_CDEV) {
		if (!cdev_usable(dev))
			ret = verr_set(err, VERR_UNAVAILABLE, 0, id->name,
				       "use --open-via group, or a kernel with CONFIG_VFIO_DEVICE_CDEV "
				       "and CONFIG_IOMMUFD",
				       "no VFIO device cdev (or no /dev/iommu) for this device");
		else
			ret = open_cdev(dev, err);
	} else if (via == VDEV_VIA_GROUP || !cdev_usable(dev)) {
		ret = open_group(dev, err);
	} else {
		ret = open_cdev(dev, err);
	}
	if (ret < 0) {
		vdev_close(dev);
		return ret;
	}
	*out = dev;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void vdev_close(struct vdev *dev)
{
	if (!dev)
		return;
	close_fd(&dev->data_fd);
	if (dev->owns_device_fd)
		close_fd(&dev->device_fd);
	close_fd(&dev->iommufd);
	close_fd(&dev->group_fd);
	close_fd(&dev->container_fd);
	free(dev);
}

const struct vdev_ident *vdev_ident(const struct vdev *dev)
{
	return &dev->id;
}

enum vdev_open_via vdev_opened_via(const struct vdev *dev)
{
	return dev->via;
}

int vdev_data_fd(const struct vdev *dev)
{
	return dev->data_fd;
}
