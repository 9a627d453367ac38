/* The VFIO uAPI as vfiomig uses it: the build host's <linux/vfio.h>, plus guarded
 * definitions, written from the documented 6.x ABI, of what older headers lack. */
#ifndef VFIOMIG_VFIO_UAPI_H
#define VFIOMIG_VFIO_UAPI_H

#include <linux/types.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>

#ifndef VFIO_NOIOMMU_IOMMU
#define VFIO_NOIOMMU_IOMMU 8
#endif

#ifndef VFIO_MIGRATION_PRE_COPY
#define VFIO_MIGRATION_PRE_COPY (1 << 2)
#endif

/* enum vfio_device_mig_state gained these two in 6.2. */
#define VFIOMIG_STATE_PRE_COPY     6
#define VFIOMIG_STATE_PRE_COPY_P2P 7

#ifndef VFIO_DEVICE_BIND_IOMMUFD
struct vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags;
	__s32 iommufd;
	__u32 out_devid;
};
#define VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_TYPE, VFIO_BASE + 18)
#endif

#ifndef VFIO_DEVICE_ATTACH_IOMMUFD_PT
struct vfio_device_attach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
	__u32 pt_id;
};
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 19)
#endif

#ifndef VFIO_DEVICE_DETACH_IOMMUFD_PT
struct vfio_device_detach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
};
#define VFIO_DEVICE_DETACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 20)
#endif

#ifndef VFIO_MIG_GET_PRECOPY_INFO
struct vfio_precopy_info {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 initial_bytes;
	__aligned_u64 dirty_bytes;
};
#define VFIO_MIG_GET_PRECOPY_INFO _IO(VFIO_TYPE, VFIO_BASE + 21)
#endif

#ifndef VFIO_DEVICE_FEATURE_DMA_LOGGING_START
struct vfio_device_feature_dma_logging_control {
	__aligned_u64 page_size;
	__u32 num_ranges;
	__u32 __reserved;
	__aligned_u64 ranges;
};
struct vfio_device_feature_dma_logging_range {
	__aligned_u64 iova;
	__aligned_u64 length;
};
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_START 6
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP 7
struct vfio_device_feature_dma_logging_report {
	__aligned_u64 iova;
	__aligned_u64 length;
	__aligned_u64 page_size;
	__aligned_u64 bitmap;
};
#define VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT 8
#endif

#ifndef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
struct vfio_device_feature_mig_data_size {
	__aligned_u64 stop_copy_length;
};
#define VFIO_DEVICE_FEATURE_MIG_DATA_SIZE 9
#endif

/* PRECOPY_INFOv2 (Linux 7.1): written from the uAPI patch "vfio: Define uAPI for re-init
 * initial bytes during the PRE_COPY phase" (Yishai Hadas, kvm list, 2026-02-24), which
 * adds feature 12 and REINIT as bit 0 of struct vfio_precopy_info's flags. Before the
 * opt-in SET of feature 12 that flags field is reserved: drivers echo what userspace
 * passed in, so it means nothing. */
#ifndef VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2
#define VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 12
#endif

#ifndef VFIO_PRECOPY_INFO_REINIT
#define VFIO_PRECOPY_INFO_REINIT (1 << 0)
#endif


/* iommufd's IOMMU_GET_HW_INFO (Linux 6.6; <linux/iommufd.h> is not included): what the
 * IOMMU behind a device bound to an iommufd can do. 32 bytes; the bytes after
 * out_data_type are reserved on input and must be zero. */
struct vfiomig_iommu_hw_info {
	__u32 size;
	__u32 flags;
	__u32 dev_id;
	__u32 data_len;
	__aligned_u64 data_uptr;
	__u32 out_data_type;
	__u32 out_reserved;             /* 6.12: out_max_pasid_log2 and 3 reserved bytes */
	__aligned_u64 out_capabilities;
};
#define VFIOMIG_IOMMU_GET_HW_INFO _IO(';', 0x8a)
#define VFIOMIG_IOMMU_HW_CAP_DIRTY_TRACKING (1ull << 0)

/* The DMA logging core refuses more ranges than fit in one kernel page. */
#define VFIOMIG_DMA_LOG_RANGE_SIZE 16u

/* The v1 migration region was removed in 5.18; its type ids stay in the ABI. */
#define VFIOMIG_REGION_TYPE_MIGRATION_V1    3
#define VFIOMIG_REGION_SUBTYPE_MIGRATION_V1 1

#endif
