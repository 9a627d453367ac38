/* The device layer: names a VFIO device, finds it in sysfs, opens it through the
 * cdev/iommufd or group/container path, and drives its migration state machine.
 * It is the only layer that issues VFIO ioctls. */
#ifndef VFIOMIG_DEVICE_H
#define VFIOMIG_DEVICE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "migstate.h"
#include "base/verr.h"

enum vdev_kind { VDEV_KIND_PCI, VDEV_KIND_MDEV, VDEV_KIND_FD };
enum vdev_open_via { VDEV_VIA_AUTO, VDEV_VIA_CDEV, VDEV_VIA_GROUP, VDEV_VIA_FD };

/* How the user named the device; parsed without touching the system. */
enum vdev_name_form {
	VDEV_NAME_PCI,          /* 0000:3b:00.1 or 3b:00.1 */
	VDEV_NAME_MDEV,         /* a UUID */
	VDEV_NAME_SYSFS,        /* /sys/bus/{pci,mdev}/devices/X or /sys/devices/.../X */
	VDEV_NAME_CDEV,         /* /dev/vfio/devices/vfioN */
	VDEV_NAME_FD,           /* fd:N */
};

struct vdev_name {
	enum vdev_name_form form;
	enum vdev_kind kind;    /* PCI or MDEV once known; FD for fd:N */
	char id[64];            /* normalized BDF or lower-case UUID; cdev node name; "" */
	int fd;                 /* fd:N */
};

/* A vendor compatibility string ("migration_version", proposed on the kvm list in
 * 2019-2020, never merged upstream): what a driver publishes in sysfs so that two
 * devices whose strings are equal take each other's state. */
#define VDEV_COMPAT_MAX 255             /* bytes; the protocol carries as many */
#define VDEV_COMPAT_ATTR "migration_version"

struct vdev_compat {
	char file[32];                  /* relative to the device's sysfs dir: "migration_version"
					 * or "mdev_type/migration_version"; "" when none */
	char value[VDEV_COMPAT_MAX + 1];  /* trailing whitespace trimmed; "" when none */
	char problem[96];               /* why the file cannot be used; "" when it can */
};

/* What decides in practice whether two hosts' drivers read each other's state, as far
 * as sysfs, procfs and devlink tell it (vfiomig-info(1), Build). Strings are printable
 * ASCII ("" when the kernel does not expose the value). */
#define VDEV_FIRMWARE_MAX 511
struct vdev_build {
	char module[64];                /* the driver's module: driver/module, "" built in */
	char module_version[64];        /* /sys/module/M/version (MODULE_VERSION) */
	char srcversion[64];            /* /sys/module/M/srcversion (loadable modules) */
	char kernel_release[65];        /* /proc/sys/kernel/osrelease, else uname(2) */
	char pf_driver[64];             /* a VF's PF: physfn/driver */
	char pf_module_version[64];
	char pf_srcversion[64];
	char pf_firmware[VDEV_FIRMWARE_MAX + 1];
	char pf_firmware_source[96];    /* "devlink", "infiniband/mlx5_0/fw_ver", ... */
};

struct vdev_ident {
	enum vdev_kind kind;
	char name[64];                  /* BDF, UUID or "fd:N" */
	char sysfs[PATH_MAX];           /* rooted sysfs directory, "" when unknown */
	char driver[64];                /* "" when unbound */
	char group[32];                 /* iommu group number, "" when none */
	bool noiommu;                   /* the group is a vfio no-IOMMU group */
	char cdev[32];                  /* "vfio0", "" when the kernel has no cdev */
	bool have_pci_ids;
	uint16_t vendor, device, subsystem_vendor, subsystem_device;
	uint32_t class_code;
	uint8_t revision;
	char vendor_name[128], device_name[160];
	char physfn[64];                /* PF of a VF, "" otherwise */
	char mdev_type[64], mdev_type_name[128], parent[64];
	struct vdev_compat compat;
	struct vdev_build build;
	int fd;                         /* inherited fd for fd:N, else -1 */
};

struct vdev;

/* device_name.c — pure */
int vdev_name_parse(const char *text, struct vdev_name *name);
bool vdev_is_bdf(const char *text, char *normalized, unsigned size);
bool vdev_is_uuid(const char *text, char *normalized, unsigned size);
const char *vdev_kind_name(enum vdev_kind kind);
int vdev_open_via_parse(const char *text, enum vdev_open_via *via);
const char *vdev_open_via_name(enum vdev_open_via via);

/* device_info.c — sysfs identity, no device access */
int vdev_identify(const char *text, struct vdev_ident *id, struct verr *err);
bool vdev_driver_is_vfio(const char *driver);
/* Calls fn for every VFIO device on the host, PCI first, each sorted by name. */
int vdev_enumerate(int (*fn)(const struct vdev_ident *id, void *arg), void *arg,
		   struct verr *err);
/* Pure: the len bytes of a compatibility attribute into out->value, trailing
 * whitespace trimmed; -EMSGSIZE (longer than VDEV_COMPAT_MAX) or -EILSEQ (a byte
 * that is not printable ASCII) with out->problem saying so. Empty is "none". */
int vdev_compat_parse(const char *raw, size_t len, struct vdev_compat *out);

/* device_build.c — module, kernel and PF firmware facts; no device access */
void vdev_read_build(struct vdev_ident *id);
/* device_devlink.c: the PF's running firmware versions from devlink info over generic
 * netlink, "name=value" joined by spaces; -errno (-ENODEV: no devlink instance). */
int vdev_devlink_firmware(const char *bus, const char *name, char *out, size_t size);
/* Pure: the running versions of one DEVLINK_CMD_INFO_GET reply (a netlink message). */
int vdev_devlink_parse_info(const void *msg, size_t len, char *out, size_t size);

/* device.c — open and close */
int vdev_open(const struct vdev_ident *id, enum vdev_open_via via, struct vdev **out,
	      struct verr *err);
void vdev_close(struct vdev *dev);
const struct vdev_ident *vdev_ident(const struct vdev *dev);
enum vdev_open_via vdev_opened_via(const struct vdev *dev);
int vdev_data_fd(const struct vdev *dev);        /* -1 when none */

/* device_state.c — features, state changes, sizes, reset */
/* -ENOTTY when the device has no migration support (recorded as VERR_UNSUPPORTED). */
int vdev_migration_flags(struct vdev *dev, uint64_t *flags, struct verr *err);
int vdev_get_state(struct vdev *dev, enum vmig_state *state, struct verr *err);
/*
 * Moves the device to target (the kernel walks combination paths). On failure
 * it learns the real state with a GET, moves the device to recovery (VMIG_ERROR:
 * leave it where it is, unless that is ERROR or RESUMING), and resets the device
 * as a last resort. The error says where the device ended.
 */
int vdev_set_state(struct vdev *dev, enum vmig_state target, enum vmig_state recovery,
		   struct verr *err);
/* Told of every change of a device's state that vdev_set_state, its recovery or a
 * reset made, once it happened: from where the device was to where it went (a walk
 * the kernel makes through states between is one change). One observer per process,
 * called in the thread that changed the state; NULL: none. */
typedef void vdev_state_observer(void *ctx, const struct vdev *dev, enum vmig_state from,
				 enum vmig_state to);
void vdev_observe_states(vdev_state_observer *fn, void *ctx);
int vdev_stop_copy_size(struct vdev *dev, uint64_t *bytes, struct verr *err);
int vdev_precopy_info(struct vdev *dev, uint64_t *initial, uint64_t *dirty, struct verr *err);

/* VFIO_MIG_GET_PRECOPY_INFO's answer. flags is the driver's only after the
 * PRECOPY_INFOv2 opt-in (the field was reserved, and drivers echoed it); 0 before. */
struct vdev_precopy_info {
	uint64_t initial, dirty;
	uint32_t flags;
	bool reinit;                    /* VFIO_PRECOPY_INFO_REINIT: new initial data */
};
#define VDEV_PRECOPY_INFO_DEFINED_FLAGS 0x1u    /* the flag bits the uAPI defines */
int vdev_precopy_info2(struct vdev *dev, struct vdev_precopy_info *info, struct verr *err);
/* Whether the driver offers PRECOPY_INFOv2 (feature 12, Linux 7.1): a PROBE, no change.
 * Kernels without it answer ENOTTY (or EINVAL): not offered, not an error. */
int vdev_precopy_v2_supported(struct vdev *dev, bool *supported);
/* Opts in to PRECOPY_INFOv2 when offered (probe, then SET); *enabled false when it
 * is not offered (no error). A failing SET on a driver that offers it is an error. */
int vdev_precopy_v2_enable(struct vdev *dev, bool *enabled, struct verr *err);
int vdev_has_v1_region(struct vdev *dev, bool *present);
int vdev_reset(struct vdev *dev, struct verr *err);

/* device_dirty.c — dirty page tracking: the device's DMA logging, the IOMMU's. The
 * logging calls return 0 or the kernel's -errno as it came (check judges them). */
struct vdev_dma_range {
	uint64_t iova, length;
};
int vdev_dma_logging_supported(struct vdev *dev, bool *supported);
/* DMA_LOGGING_START: *page_size is the hint going in and the driver's choice coming back. */
int vdev_dma_log_start(struct vdev *dev, uint64_t *page_size,
		       const struct vdev_dma_range *ranges, uint32_t nranges);
int vdev_dma_log_stop(struct vdev *dev);
/* DMA_LOGGING_REPORT: sets a bit of bitmap per dirty page_size unit from iova. */
int vdev_dma_log_report(struct vdev *dev, uint64_t iova, uint64_t length, uint64_t page_size,
			uint64_t *bitmap);

enum vdev_iommu_dirty { VDEV_IOMMU_DIRTY_UNKNOWN, VDEV_IOMMU_DIRTY_YES, VDEV_IOMMU_DIRTY_NO };
struct vdev_iommu_dirty_info {
	enum vdev_iommu_dirty answer;
	char how[160];                  /* where the answer comes from, or why none */
};
/* Whether the IOMMU the device sits behind can track dirty pages for it: iommufd's
 * IOMMU_GET_HW_INFO on the cdev path, the type1 container's migration capability on
 * the group path; unknown for an inherited fd. Never fails: info->how says why. */
void vdev_iommu_dirty_tracking(struct vdev *dev, struct vdev_iommu_dirty_info *info);

/* device_data.c — the data fd. read returns bytes, or 0 with *end set at the end of
 * STOP_COPY data, or 0 with *end clear when PRE_COPY has nothing more for now. */
ssize_t vdev_read_data(struct vdev *dev, void *buf, size_t len, bool *end, struct verr *err);
int vdev_write_data(struct vdev *dev, const void *buf, size_t len, struct verr *err);

#endif
