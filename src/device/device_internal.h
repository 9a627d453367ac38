/* The device object, shared by the device layer's own files only. */
#ifndef VFIOMIG_DEVICE_INTERNAL_H
#define VFIOMIG_DEVICE_INTERNAL_H

#include "device.h"

struct vdev {
	struct vdev_ident id;
	enum vdev_open_via via;
	int device_fd, iommufd, group_fd, container_fd;
	uint32_t iommufd_devid;      /* VFIO_DEVICE_BIND_IOMMUFD's out_devid */
	bool owns_device_fd;
	int data_fd;                 /* the migration data fd of the current session */
	enum vmig_state data_fd_state;
	uint64_t flags;
	bool flags_known;
	bool precopy_v2;             /* opted in to PRECOPY_INFOv2: info flags are valid */
};

int vdev_feature_ioctl(struct vdev *dev, uint32_t flags, void *payload, size_t size);

#endif
