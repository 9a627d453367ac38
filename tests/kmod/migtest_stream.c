// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_migtest's data fds: the saving fd streams a header and one record per block (every
 * block once, then the blocks the running device dirtied again, then an end record in
 * STOP_COPY); migtest_resume.c parses it. Pre-copy goes in rounds, as mlx5's does: a round sends the blocks dirty when it began and
 * ends with ENOMSG; the next read() begins the next round. A device that dirties faster
 * than it is read still ends every round.
 */
#include <linux/anon_inodes.h>
#include <linux/bitmap.h>
#include <linux/delay.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/math64.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "migtest.h"

static bool mgt_running(enum vfio_device_mig_state state)
{
	return state == VFIO_DEVICE_STATE_RUNNING || state == VFIO_DEVICE_STATE_RUNNING_P2P ||
	       state == VFIO_DEVICE_STATE_PRE_COPY || state == VFIO_DEVICE_STATE_PRE_COPY_P2P;
}

/* A block the device changes: its first bytes take a new value. */
static void mgt_dirty_block(struct mgt_core *core, u64 block)
{
	u64 stamp = core->dirtied + 1;
	u64 len = min_t(u64, mgt_block_len(core, block), sizeof(stamp));

	memcpy(core->buf + block * MGT_BLOCK_SIZE, &stamp, len);
	core->dirtied = stamp;
	/* a block still pending goes out as it is now; one sent or in flight goes again */
	if (core->saving && block < core->saving->first_pass && !test_bit(block, core->pending))
		set_bit(block, core->dirty);
}

/*
 * The device dirties lazily: whatever looks at its state first catches up with the time
 * that passed at dirty_rate while it was running, block after block round its buffer.
 */
void mgt_dirty_apply(struct mgt_core *core)
{
	ktime_t now = ktime_get();
	u64 ns = ktime_to_ns(ktime_sub(now, core->dirty_stamp));
	u64 bytes, blocks;

	core->dirty_stamp = now;
	if (!mgt_running(core->state) || !core->knobs.dirty_rate || !core->nblocks)
		return;
	bytes = mul_u64_u64_div_u64(core->knobs.dirty_rate, ns, NSEC_PER_SEC) + core->dirty_debt;
	blocks = div64_u64(bytes, MGT_BLOCK_SIZE);
	core->dirty_debt = bytes - blocks * MGT_BLOCK_SIZE;
	if (blocks > core->nblocks) {
		blocks = core->nblocks;
		core->dirty_debt = 0;
	}
	while (blocks--) {
		mgt_dirty_block(core, core->dirty_cursor);
		if (++core->dirty_cursor == core->nblocks)
			core->dirty_cursor = 0;
	}
}

static void mgt_file_disable(struct mgt_file **slot)
{
	struct mgt_file *migf = *slot;

	if (!migf)
		return;
	migf->disabled = true;
	vfree(migf->stage);
	migf->stage = NULL;
	*slot = NULL;
	fput(migf->filp);
}

void mgt_files_disable(struct mgt_core *core)
{
	mgt_file_disable(&core->saving);
	mgt_file_disable(&core->resuming);
}

int mgt_file_release(struct inode *inode, struct file *filp)
{
	struct mgt_file *migf = filp->private_data;

	vfree(migf->stage);
	mgt_core_put(migf->core);
	kfree(migf);
	return 0;
}

/* Bytes of the records of blocks [from, nblocks). */
static u64 mgt_records_from(const struct mgt_core *core, u64 from)
{
	if (from >= core->nblocks)
		return 0;
	return (core->nblocks - from) * MGT_RECORD_SIZE + core->size - from * MGT_BLOCK_SIZE;
}

static u64 mgt_rec_left(const struct mgt_file *migf, enum mgt_rec_kind kind)
{
	if (!migf->rec_busy || migf->rec_kind != kind)
		return 0;
	return migf->rec_len + migf->rec_data - migf->rec_pos;
}

static u64 mgt_initial_left(const struct mgt_file *migf)
{
	return (migf->header_done ? 0 : MGT_HEADER_SIZE) + mgt_rec_left(migf, MGT_REC_INITIAL) +
	       mgt_records_from(migf->core, migf->first_pass);
}

/* Bytes of the records of the blocks in a bitmap. */
static u64 mgt_records_of(const struct mgt_core *core, const unsigned long *map)
{
	u64 n = bitmap_weight(map, core->nblocks);
	u64 bytes = n * (MGT_RECORD_SIZE + MGT_BLOCK_SIZE);

	if (n && test_bit(core->nblocks - 1, map))
		bytes -= MGT_BLOCK_SIZE - mgt_block_len(core, core->nblocks - 1);
	return bytes;
}

/* dirty and pending never share a block (mgt_dirty_block, mgt_take_round). */
static u64 mgt_dirty_left(const struct mgt_file *migf)
{
	const struct mgt_core *core = migf->core;

	return mgt_records_of(core, core->dirty) + mgt_records_of(core, core->pending) +
	       mgt_rec_left(migf, MGT_REC_DIRTY);
}

/* The blocks dirtied so far become the round to send. */
static void mgt_take_round(struct mgt_core *core)
{
	bitmap_or(core->pending, core->pending, core->dirty, core->nblocks);
	bitmap_zero(core->dirty, core->nblocks);
}

/* What STOP_COPY would still read: the estimate MIG_DATA_SIZE gives. */
u64 mgt_stop_copy_length(struct mgt_core *core)
{
	struct mgt_file *migf = core->saving;

	if (core->knobs.data_size)
		return core->knobs.data_size;
	if (!migf)
		return MGT_HEADER_SIZE + mgt_records_from(core, 0) + MGT_RECORD_SIZE;
	mgt_dirty_apply(core);
	return mgt_initial_left(migf) + mgt_dirty_left(migf) + mgt_rec_left(migf, MGT_REC_FINAL) +
	       (migf->end_done ? 0 : MGT_RECORD_SIZE);
}

static void mgt_put_record(struct mgt_file *migf, u64 offset, u32 length, u32 tag)
{
	struct mgt_record rec = {
		.offset = cpu_to_le64(offset),
		.length = cpu_to_le32(length),
		.tag = cpu_to_le32(tag),
	};

	memcpy(migf->rec, &rec, sizeof(rec));
	migf->rec_len = sizeof(rec);
	migf->rec_data = 0;
	migf->rec_pos = 0;
	migf->rec_busy = true;
}

static void mgt_put_header(struct mgt_file *migf)
{
	struct mgt_core *core = migf->core;
	struct mgt_stream_header hdr = {
		.magic = cpu_to_le64(MGT_STREAM_MAGIC),
		.version = cpu_to_le32(MGT_STREAM_VERSION),
		.type_id = cpu_to_le32(core->type_id),
		.state_size = cpu_to_le64(core->size),
		.block_size = cpu_to_le32(MGT_BLOCK_SIZE),
	};

	memcpy(migf->rec, &hdr, sizeof(hdr));
	migf->rec_len = sizeof(hdr);
	migf->rec_data = 0;
	migf->rec_pos = 0;
	migf->rec_busy = true;
	migf->rec_kind = MGT_REC_INITIAL;
	migf->header_done = true;
}

static bool mgt_next_dirty(struct mgt_file *migf, u64 *block)
{
	struct mgt_core *core = migf->core;
	u64 b = find_next_bit(core->pending, core->nblocks, migf->scan);

	if (b >= core->nblocks)
		b = find_first_bit(core->pending, core->nblocks);
	if (b >= core->nblocks)
		return false;
	clear_bit(b, core->pending);
	migf->scan = b + 1;
	*block = b;
	return true;
}

/* Puts the next record in flight; false when there is nothing to send for now. */
static bool mgt_save_next(struct mgt_file *migf)
{
	struct mgt_core *core = migf->core;
	enum mgt_rec_kind kind;
	u64 block;

	if (!migf->header_done) {
		mgt_put_header(migf);
		return true;
	}
	if (migf->first_pass < core->nblocks) {
		/* precopy_batch: initial data in batches, each round ending early */
		if (!migf->stop_copy && core->knobs.precopy_batch &&
		    migf->round_blocks >= core->knobs.precopy_batch)
			return false;
		block = migf->first_pass++;
		migf->round_blocks++;
		kind = MGT_REC_INITIAL;
	} else if (mgt_next_dirty(migf, &block)) {
		kind = MGT_REC_DIRTY;
	} else if (migf->stop_copy && !migf->end_done) {
		mgt_put_record(migf, U64_MAX, 0, MGT_REC_END);
		migf->rec_kind = MGT_REC_FINAL;
		migf->end_done = true;
		return true;
	} else {
		return false;
	}
	mgt_put_record(migf, block * MGT_BLOCK_SIZE, mgt_block_len(core, block), MGT_REC_BLOCK);
	migf->rec_kind = kind;
	migf->rec_block = block;
	migf->rec_data = mgt_block_len(core, block);
	return true;
}

/* Copies out of the record in flight; the block's bytes come from the buffer as it is now. */
static ssize_t mgt_save_copy(struct mgt_file *migf, char __user *ubuf, size_t len)
{
	u64 total = migf->rec_len + migf->rec_data;
	size_t n = min_t(u64, len, total - migf->rec_pos);
	size_t head = 0;

	if (migf->rec_pos < migf->rec_len) {
		head = min_t(u64, n, migf->rec_len - migf->rec_pos);
		if (copy_to_user(ubuf, migf->rec + migf->rec_pos, head))
			return -EFAULT;
	}
	if (n > head) {
		u64 off = migf->rec_block * MGT_BLOCK_SIZE + migf->rec_pos + head - migf->rec_len;

		if (copy_to_user(ubuf + head, migf->core->buf + off, n - head))
			return -EFAULT;
	}
	migf->rec_pos += n;
	if (migf->rec_pos == total)
		migf->rec_busy = false;
	return n;
}

/* Applies max_read/max_write and read_fail_after/write_fail_after to a request of len. */
ssize_t mgt_budget(u64 pos, size_t len, u64 max, u64 fail_after, u64 fail_errno)
{
	if (max && len > max)
		len = max;
	if (fail_after != U64_MAX) {
		if (pos >= fail_after)
			return -(fail_errno ? fail_errno : EIO);
		len = min_t(u64, len, fail_after - pos);
	}
	return len;
}

static ssize_t mgt_save_read(struct file *filp, char __user *ubuf, size_t len, loff_t *ppos)
{
	struct mgt_file *migf = filp->private_data;
	struct mgt_core *core = migf->core;
	const struct mgt_knobs *k = &core->knobs;
	ssize_t budget, done = 0, ret;
	unsigned int delay_ms;

	if (ppos)
		return -ESPIPE;
	mutex_lock(&core->lock);
	delay_ms = k->delay_ms;
	if (migf->disabled) {
		ret = -ENODEV;
		goto out;
	}
	mgt_dirty_apply(core);
	if (migf->round_due || migf->stop_copy) {
		mgt_take_round(core);
		migf->round_due = false;
		migf->round_blocks = 0;
	}
	budget = mgt_budget(migf->pos, len, k->max_read, k->read_fail_after, k->read_fail_errno);
	if (budget < 0) {
		ret = budget;
		goto out;
	}
	while (done < budget) {
		if (!migf->rec_busy && !mgt_save_next(migf))
			break;
		ret = mgt_save_copy(migf, ubuf + done, budget - done);
		if (ret < 0) {
			if (!done)
				goto out;
			break;
		}
		done += ret;
	}
	migf->pos += done;
	core->saved_bytes += done;
	core->saved_reads += done > 0;
	if (done || !len) {
		ret = done;
	} else if (migf->end_done) {
		ret = -k->stopcopy_end;
	} else {
		ret = -k->precopy_end;
		migf->round_due = true;
	}
out:
	mutex_unlock(&core->lock);
	/* slow, but without holding the device: other calls go on meanwhile */
	if (delay_ms)
		msleep(delay_ms);
	return ret;
}

static long mgt_precopy_ioctl(struct file *filp, unsigned int cmd, unsigned long arg)
{
	struct mgt_file *migf = filp->private_data;
	struct mgt_core *core = migf->core;
	unsigned long minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);
	struct vfio_precopy_info info;
	long ret = 0;

	if (cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	if (copy_from_user(&info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	mutex_lock(&core->lock);
	if (core->state != VFIO_DEVICE_STATE_PRE_COPY &&
	    core->state != VFIO_DEVICE_STATE_PRE_COPY_P2P && !core->knobs.precopy_info_anywhere) {
		ret = -EINVAL;
		goto out;
	}
	if (migf->disabled) {
		ret = -ENODEV;
		goto out;
	}
	mgt_dirty_apply(core);
	info.initial_bytes = core->knobs.precopy_initial_fixed ?
			     MGT_HEADER_SIZE + mgt_records_from(core, 0) : mgt_initial_left(migf);
	info.dirty_bytes = mgt_dirty_left(migf);
out:
	mutex_unlock(&core->lock);
	if (!ret && copy_to_user((void __user *)arg, &info, minsz))
		ret = -EFAULT;
	return ret;
}

static const struct file_operations mgt_save_fops = {
	.owner = THIS_MODULE,
	.read = mgt_save_read,
	.unlocked_ioctl = mgt_precopy_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = mgt_file_release,
};


struct mgt_file *mgt_file_new(struct mgt_core *core, const struct file_operations *fops,
				   int flags)
{
	struct mgt_file *migf = kzalloc(sizeof(*migf), GFP_KERNEL_ACCOUNT);
	struct file *filp;

	if (!migf)
		return ERR_PTR(-ENOMEM);
	filp = anon_inode_getfile("vfio_migtest", fops, migf, flags);
	if (IS_ERR(filp)) {
		kfree(migf);
		return ERR_CAST(filp);
	}
	stream_open(filp->f_inode, filp);
	mgt_core_get(core);
	migf->core = core;
	migf->filp = filp;
	return migf;
}

/* A new saving session; the fd returned holds its own reference, the core keeps one. */
struct file *mgt_save_open(struct mgt_core *core, bool stop_copy)
{
	struct mgt_file *migf = mgt_file_new(core, &mgt_save_fops, O_RDONLY);

	if (IS_ERR(migf))
		return ERR_CAST(migf);
	migf->stop_copy = stop_copy;
	core->saved_bytes = 0;
	core->saved_reads = 0;
	bitmap_zero(core->dirty, core->nblocks);
	bitmap_zero(core->pending, core->nblocks);
	core->saving = migf;
	return get_file(migf->filp);
}

/* PRE_COPY(_P2P) -> STOP_COPY: the same fd streams on and ends (uAPI: no new fd). */
struct file *mgt_save_to_stop_copy(struct mgt_core *core)
{
	if (core->saving && !core->knobs.precopy_new_fd) {
		core->saving->stop_copy = true;
		return NULL;
	}
	/* closed and reopened in PRE_COPY (no fd left), or the "lost fd" bug */
	mgt_file_disable(&core->saving);
	return mgt_save_open(core, true);
}


static ssize_t mgt_stray_read(struct file *filp, char __user *ubuf, size_t len, loff_t *ppos)
{
	return -ENODEV;
}

static const struct file_operations mgt_stray_fops = {
	.owner = THIS_MODULE,
	.read = mgt_stray_read,
};

/* The extra_fd bug: an fd on an arc that starts no session. */
struct file *mgt_stray_open(struct mgt_core *core)
{
	struct file *filp = anon_inode_getfile("vfio_migtest_stray", &mgt_stray_fops, NULL, O_RDONLY);

	if (!IS_ERR(filp))
		stream_open(filp->f_inode, filp);
	return filp;
}
