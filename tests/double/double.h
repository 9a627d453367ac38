/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the files of the VFIO test double share: uAPI numbers, device
 * configuration and state, the fd table, and the functions each file offers. */
#ifndef VFIO_DOUBLE_H
#define VFIO_DOUBLE_H

/* LD_PRELOAD test double of the Linux 6.12 VFIO interface (device cdev + iommufd, group +
 * container, migration uAPI v2) serving the fake root at $VFIOMIG_SYSROOT; see README.md.
 * Device state lives in files under $VFIOMIG_SYSROOT/double/<device>/ so it outlives a
 * process, as the kernel's does. Written from the documented uAPI and kernel behaviour. */

#undef _FORTIFY_SOURCE
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ---- uAPI numbers (include/uapi/linux/vfio.h, 6.12); own names so no header clash ---- */
#define D_IO(nr)                 ((unsigned long)((';' << 8) | (100 + (nr))))
#define D_GET_API_VERSION        D_IO(0)
#define D_CHECK_EXTENSION        D_IO(1)
#define D_SET_IOMMU              D_IO(2)
#define D_GROUP_GET_STATUS       D_IO(3)
#define D_GROUP_SET_CONTAINER    D_IO(4)
#define D_GROUP_UNSET_CONTAINER  D_IO(5)
#define D_GROUP_GET_DEVICE_FD    D_IO(6)
#define D_DEVICE_GET_INFO        D_IO(7)
#define D_DEVICE_GET_REGION_INFO D_IO(8)
#define D_DEVICE_RESET           D_IO(11)
#define D_DEVICE_FEATURE         D_IO(17)
#define D_DEVICE_BIND_IOMMUFD    D_IO(18)
#define D_MIG_GET_PRECOPY_INFO   D_IO(21)
#define D_IOMMU_GET_INFO         D_IO(12)
#define D_IOMMUFD_GET_HW_INFO    ((unsigned long)((';' << 8) | 0x8a))

#define D_TYPE1_IOMMU   1
#define D_TYPE1v2_IOMMU 3
#define D_NOIOMMU_IOMMU 8

#define D_FEATURE_MASK  0xffffu
#define D_FEATURE_GET   (1u << 16)
#define D_FEATURE_SET   (1u << 17)
#define D_FEATURE_PROBE (1u << 18)
enum { F_MIGRATION = 1, F_MIG_DEVICE_STATE = 2, F_LOG_START = 6, F_LOG_STOP = 7,
       F_LOG_REPORT = 8, F_MIG_DATA_SIZE = 9, F_MIG_PRECOPY_INFOv2 = 12 };
#define PRECOPY_INFO_REINIT 1u   /* struct vfio_precopy_info flags bit 0 (Linux 7.1) */

#define MIG_STOP_COPY 1u
#define MIG_P2P       2u
#define MIG_PRE_COPY  4u

enum { S_ERROR, S_STOP, S_RUNNING, S_STOP_COPY, S_RESUMING, S_RUNNING_P2P, S_PRE_COPY,
       S_PRE_COPY_P2P, S_NR };

#define MTTY_MAGIC     0x7e9d09898c3e2c4eULL
#define MTTY_HDR       24
#define MTTY_PORT_SIZE 36

/* ---- device configuration ---- */
struct devcfg {
	int is_pci;
	int has_mig;
	uint32_t flags;
	long long nr_ports;
	long long size;
	long long precopy_bytes;
	long long data_size;
	int header_check;
	int dma_logging;
	int reset_on_close;
	int generated;          /* content=generated: bytes from content.h, resume discards */
	int cycled;             /* content=cycled: the same, its first CONTENT_CYCLE bytes repeated */
};

/* ---- persistent device state ---- */
#define MAX_HOLDERS 64
struct devstate {
	int state;
	unsigned long next_stream;
	unsigned long save_stream;     /* 0: no saving stream */
	long long save_pos, save_filled;
	unsigned long resume_stream;   /* 0: no resuming stream */
	long long resume_len;
	int reported;                  /* get_reports_target: state+1 GET reports, 0: none */
	int precopy_v2;                /* PRECOPY_INFOv2 opted in (until the last close) */
	int reinit;                    /* precopy_reinit_at: 1 once this session reported it */
	int log_active;                /* DMA logging started (until STOP or the last close) */
	int nholders;
	struct { int pid, fd; } holders[MAX_HOLDERS];
};

/* ---- per-process fd table ---- */
enum fd_kind { FK_NONE, FK_DEVICE, FK_GROUP, FK_CONTAINER, FK_IOMMUFD, FK_SAVE, FK_RESUME };

struct dfd {
	enum fd_kind kind;
	dev_t st_dev;
	ino_t st_ino;
	char dev[128];
	int bound, holder, via_group;
	int group, noiommu;
	int container_fd;            /* group: the container it is attached to, or -1 */
	int iommu_type, ngroups;     /* container */
	unsigned long stream;        /* data fds */
	long long paused_at;         /* precopy_batch: the last pause, as a save position + 1 */
	int fd;
};

#define FD_TABLE 4096

/* Nothing below is exported from the library: only the interposers are. */
#pragma GCC visibility push(hidden)

/* root.c */
extern int (*real_open)(const char *, int, ...);
extern int (*real_openat)(int, const char *, int, ...);
extern int (*real_ioctl)(int, unsigned long, ...);
extern ssize_t (*real_read)(int, void *, size_t);
extern ssize_t (*real_write)(int, const void *, size_t);
extern ssize_t (*real_pread)(int, void *, size_t, off_t);
extern ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
extern int (*real_close)(int);
extern char root[1024];
extern size_t root_len;
extern pthread_mutex_t big_lock;
void ensure_init(void);
ssize_t file_read(const char *path, void *buf, size_t size);
int file_write(const char *path, const void *buf, size_t size);
void dev_path(char *out, size_t size, const char *dev, const char *file);

/* knobs.c */
int knob_str(const char *dev, const char *name, char *buf, size_t size);
long long knob_int(const char *dev, const char *name, long long dflt);
int parse_errno(const char *text, int dflt);
int knob_errno(const char *dev, const char *name);
int parse_state(const char *text);
void load_cfg(const char *dev, struct devcfg *c);
int arc_fault(const char *dev, int from, int to, int *to_error);
int arc_listed(const char *dev, const char *name, int from, int to);
long long arc_delay(const char *dev, int from, int to);
int fail_after(const char *dev, const char *knob, long long *limit);

/* state.c */
int dev_exists(const char *dev);
int lock_dev(const char *dev);
void unlock_dev(int fd);
void disable_streams(struct devstate *s);
void load_state(const char *dev, struct devstate *s);
void save_state(const char *dev, const struct devstate *s);
int held_by_other_process(const char *dev);
void holder_add(const char *dev, int fd);
void holder_drop(const char *dev, int fd);
int open_count(const char *dev);

/* fds.c */
extern struct dfd *fdtab[FD_TABLE];
struct dfd *track(int fd, enum fd_kind kind, const char *dev);
struct dfd *lookup(int fd);
int new_memfd(const char *kind, const char *dev, unsigned long id);

/* group.c */
int container_ioctl(struct dfd *e, unsigned long cmd, void *arg);

/* ioctl.c */
int check_feature(uint32_t flags, size_t argsz, uint32_t ops, size_t minsz);
int iommufd_ioctl(struct dfd *e, unsigned long cmd, void *arg);

/* dmalog.c */
int dma_log_feature(const char *dev, const struct devcfg *c, uint32_t flags,
		    unsigned char *data, size_t payload);
int group_viable(int group);
int group_ioctl(struct dfd *e, int fd, unsigned long cmd, void *arg);

/* migration.c */
extern const char *const state_names[S_NR];
extern __thread long long pending_delay_ms;
void sleep_ms(long long ms);
void trace_arc(const char *dev, int from, int to);
int set_state(const char *dev, const struct devcfg *c, struct devstate *s, int target,
	      int *data_fd);

#pragma GCC visibility pop

#endif
