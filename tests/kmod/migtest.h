/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vfio_migtest: a VFIO migration test driver. Shared definitions of its parts:
 * migtest_main.c (mdev and vfio glue, the state machine), migtest_stream.c (the saving data
 * fd), migtest_resume.c (the resuming one) and migtest_sysfs.c (knobs, content interface).
 */
#ifndef MIGTEST_H
#define MIGTEST_H

#include <linux/kref.h>
#include <linux/ktime.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/vfio.h>

/* Granule of dirty tracking and of the stream's records. */
#define MGT_BLOCK_SIZE		(64 * 1024)
#define MGT_MAX_SIZE		(16ULL << 30)
#define MGT_DEFAULT_SIZE		(1 << 20)

/* The stream: a header, then records (a block, or the end), little-endian. */
#define MGT_STREAM_MAGIC		0x5453455447494d56ULL	/* "VMIGTEST" */
#define MGT_STREAM_VERSION	1
#define MGT_REC_BLOCK		0x4b4c4221		/* "!BLK" */
#define MGT_REC_END		0x444e4521		/* "!END" */

struct mgt_stream_header {
	__le64 magic;
	__le32 version;
	__le32 type_id;
	__le64 state_size;
	__le32 block_size;
	__le32 reserved;
};

struct mgt_record {
	__le64 offset;
	__le32 length;
	__le32 tag;
};

#define MGT_HEADER_SIZE	((u32)sizeof(struct mgt_stream_header))
#define MGT_RECORD_SIZE	((u32)sizeof(struct mgt_record))

/* One arc of the state machine, for the fault knobs; from == 0 (ERROR) means unset. */
struct mgt_arc {
	u32 from;
	u32 to;
};

/* Per-device behaviour; every field is a sysfs attribute (migtest_sysfs.c). */
struct mgt_knobs {
	u64 p2p;
	u64 pre_copy;
	u64 dirty_rate;			/* bytes re-dirtied per second while running */
	u64 max_read;			/* 0: no limit */
	u64 max_write;
	u64 data_size;			/* 0: honest MIG_DATA_SIZE, else this */
	u64 data_size_errno;		/* MIG_DATA_SIZE fails with it (a driver without one) */
	u64 precopy_batch;		/* the first pass sends at most so many blocks a round */
	u64 precopy_end;		/* errno of PRE_COPY's "no more for now"; 0: read() = 0 */
	u64 stopcopy_end;		/* errno at STOP_COPY's end instead of read() = 0 */
	u64 refuse_errno;		/* errno for targets the flags rule out, instead of EINVAL */
	u64 precopy_new_fd;
	u64 get_reports_target;
	u64 precopy_info_anywhere;
	u64 precopy_initial_fixed;
	u64 reset_keeps_error;
	u64 read_fail_after;		/* U64_MAX: never */
	u64 read_fail_errno;
	u64 write_fail_after;
	u64 write_fail_errno;
	struct mgt_arc fail_arc;
	u64 fail_errno;
	u64 fail_to_error;
	struct mgt_arc delay_arc;
	u64 arc_delay_ms;
	u64 delay_ms;			/* sleep per data-fd read() or write(): a slow device */
	struct mgt_arc extra_fd;
	u64 log_restart;		/* errno of a second DMA logging START; 0: take it */
	u64 log_page_size;		/* page size START answers; 0: the hint */
	u64 log_stop_keeps;		/* STOP answers 0 and leaves the logging on */
};

enum mgt_rec_kind { MGT_REC_INITIAL, MGT_REC_DIRTY, MGT_REC_FINAL };

struct mgt_file {
	struct mgt_core *core;
	struct file *filp;
	bool disabled;
	u64 pos;			/* bytes read or written through this fd */

	/* the record in flight: header bytes in rec, then rec_data bytes of a block */
	u8 rec[MGT_HEADER_SIZE];
	u32 rec_len;
	u32 rec_fill;			/* resuming: header bytes received */
	u64 rec_block;
	u64 rec_data;
	u64 rec_pos;
	bool rec_busy;
	enum mgt_rec_kind rec_kind;

	/* saving */
	bool stop_copy;
	bool header_done;
	bool end_done;
	bool round_due;			/* the next read() takes the dirty blocks as a round */
	u64 first_pass;			/* next block of the first pass */
	u64 round_blocks;		/* first-pass blocks sent in this round (precopy_batch) */
	u64 scan;			/* where the search for dirty blocks goes on */

	/* resuming */
	bool broken;
	u8 *stage;			/* the state being received; core->dirty marks its blocks */
};

/*
 * The device's state and everything its data fds touch. Reference-counted: a data fd may
 * outlive the vfio device, so it holds the core, not the device. One lock guards it all.
 */
struct mgt_core {
	struct kref ref;
	struct mutex lock;
	char name[40];
	u32 type_id;
	const char *type_name;

	u8 *buf;
	u64 size;
	u64 nblocks;
	unsigned long *dirty;		/* blocks dirtied since the saving fd sent them */
	unsigned long *pending;		/* dirtied blocks this pre-copy round sends again */

	enum vfio_device_mig_state state;
	enum vfio_device_mig_state reported;	/* get_reports_target: what GET says */
	bool report_target;
	bool open;
	struct mgt_file *saving;
	struct mgt_file *resuming;

	ktime_t dirty_stamp;
	u64 dirty_debt;			/* bytes dirtied, less than a block */
	u64 dirty_cursor;		/* next block to dirty */
	u64 dirtied;			/* blocks dirtied in all */
	u64 saved_bytes;
	u64 saved_reads;		/* read() calls that gave data */
	u64 resumed_bytes;
	u64 resumed_writes;
	bool log_active;

	struct mgt_knobs knobs;
};

/* stream */
void mgt_dirty_apply(struct mgt_core *core);
struct file *mgt_save_open(struct mgt_core *core, bool stop_copy);
struct file *mgt_save_to_stop_copy(struct mgt_core *core);
struct file *mgt_resume_open(struct mgt_core *core);
struct file *mgt_stray_open(struct mgt_core *core);
int mgt_resume_finish(struct mgt_core *core);
void mgt_files_disable(struct mgt_core *core);
u64 mgt_stop_copy_length(struct mgt_core *core);
struct mgt_file *mgt_file_new(struct mgt_core *core, const struct file_operations *fops,
			      int flags);
int mgt_file_release(struct inode *inode, struct file *filp);
ssize_t mgt_budget(u64 pos, size_t len, u64 max, u64 fail_after, u64 fail_errno);

/* core */
void mgt_core_put(struct mgt_core *core);
void mgt_core_get(struct mgt_core *core);
u64 mgt_block_len(const struct mgt_core *core, u64 block);
void mgt_apply_flags(struct device *dev);
int mgt_core_resize(struct mgt_core *core, u64 size);

/* sysfs */
extern const struct attribute_group *mgt_dev_groups[];
struct mgt_core *mgt_core_of(struct device *dev);
const char *mgt_state_name(u32 state);

#endif /* MIGTEST_H */
