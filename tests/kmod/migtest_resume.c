// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_migtest's resuming data fd: parses the stream migtest_stream.c writes into a buffer of
 * its own, which becomes the device's state at RESUMING -> STOP once every block and the end
 * record arrived; anything that does not fit this device is refused with EINVAL.
 */
#include <linux/bitmap.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "migtest.h"

static bool mgt_header_fits(struct mgt_file *migf)
{
	struct mgt_core *core = migf->core;
	struct mgt_stream_header hdr;

	memcpy(&hdr, migf->rec, sizeof(hdr));
	if (le64_to_cpu(hdr.magic) != MGT_STREAM_MAGIC ||
	    le32_to_cpu(hdr.version) != MGT_STREAM_VERSION ||
	    le32_to_cpu(hdr.block_size) != MGT_BLOCK_SIZE) {
		pr_warn("vfio_migtest %s: not a migtest stream (magic %016llx, version %u)\n",
			core->name, le64_to_cpu(hdr.magic), le32_to_cpu(hdr.version));
		return false;
	}
	if (le32_to_cpu(hdr.type_id) != core->type_id || le64_to_cpu(hdr.state_size) != core->size) {
		pr_warn("vfio_migtest %s: stream of a migtest-%u with %llu bytes; this is a %s with %llu\n",
			core->name, le32_to_cpu(hdr.type_id), le64_to_cpu(hdr.state_size),
			core->type_name, core->size);
		return false;
	}
	return true;
}

static bool mgt_record_fits(struct mgt_file *migf)
{
	struct mgt_core *core = migf->core;
	struct mgt_record rec;
	u64 offset;

	memcpy(&rec, migf->rec, sizeof(rec));
	offset = le64_to_cpu(rec.offset);
	if (le32_to_cpu(rec.tag) == MGT_REC_END && !rec.length && offset == U64_MAX) {
		migf->end_done = true;
		return true;
	}
	if (le32_to_cpu(rec.tag) != MGT_REC_BLOCK || offset % MGT_BLOCK_SIZE ||
	    offset / MGT_BLOCK_SIZE >= core->nblocks ||
	    le32_to_cpu(rec.length) != mgt_block_len(core, offset / MGT_BLOCK_SIZE)) {
		pr_warn("vfio_migtest %s: bad record at stream byte %llu (tag %08x, offset %llu, length %u)\n",
			core->name, migf->pos, le32_to_cpu(rec.tag), offset, le32_to_cpu(rec.length));
		return false;
	}
	migf->rec_block = offset / MGT_BLOCK_SIZE;
	set_bit(migf->rec_block, core->dirty);
	migf->rec_data = le32_to_cpu(rec.length);
	migf->rec_pos = 0;
	migf->rec_busy = true;
	return true;
}

/* Takes up to len bytes of the stream; -EINVAL once it stops making sense. */
static ssize_t mgt_resume_take(struct mgt_file *migf, const char __user *ubuf, size_t len)
{
	struct mgt_core *core = migf->core;
	u32 want = migf->header_done ? MGT_RECORD_SIZE : MGT_HEADER_SIZE;
	size_t n;

	if (migf->end_done) {
		pr_warn("vfio_migtest %s: data after the end record\n", core->name);
		return -EINVAL;
	}
	if (migf->rec_busy) {
		n = min_t(u64, len, migf->rec_data - migf->rec_pos);
		if (copy_from_user(migf->stage + migf->rec_block * MGT_BLOCK_SIZE + migf->rec_pos,
				   ubuf, n))
			return -EFAULT;
		migf->rec_pos += n;
		if (migf->rec_pos == migf->rec_data)
			migf->rec_busy = false;
		return n;
	}
	n = min_t(size_t, len, want - migf->rec_fill);
	if (copy_from_user(migf->rec + migf->rec_fill, ubuf, n))
		return -EFAULT;
	migf->rec_fill += n;
	if (migf->rec_fill < want)
		return n;
	migf->rec_fill = 0;
	if (!migf->header_done) {
		migf->header_done = true;
		return mgt_header_fits(migf) ? n : -EINVAL;
	}
	return mgt_record_fits(migf) ? n : -EINVAL;
}

static ssize_t mgt_resume_write(struct file *filp, const char __user *ubuf, size_t len,
			       loff_t *ppos)
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
	ret = -EINVAL;
	if (migf->broken)
		goto out;
	budget = mgt_budget(migf->pos, len, k->max_write, k->write_fail_after, k->write_fail_errno);
	if (budget < 0) {
		ret = budget;
		goto out;
	}
	ret = 0;
	while (done < budget) {
		ret = mgt_resume_take(migf, ubuf + done, budget - done);
		if (ret < 0)
			break;
		done += ret;
	}
	migf->pos += done;
	core->resumed_bytes += done;
	core->resumed_writes += done > 0;
	if (ret == -EINVAL)
		migf->broken = true;
	else if (done || ret >= 0)
		ret = done;
out:
	mutex_unlock(&core->lock);
	if (delay_ms)
		msleep(delay_ms);
	return ret;
}

static const struct file_operations mgt_resume_fops = {
	.owner = THIS_MODULE,
	.write = mgt_resume_write,
	.release = mgt_file_release,
};

struct file *mgt_resume_open(struct mgt_core *core)
{
	struct mgt_file *migf;
	u8 *stage = NULL;

	if (core->size) {
		stage = vzalloc(core->size);
		if (!stage)
			return ERR_PTR(-ENOMEM);
	}
	migf = mgt_file_new(core, &mgt_resume_fops, O_WRONLY);
	if (IS_ERR(migf)) {
		vfree(stage);
		return ERR_CAST(migf);
	}
	migf->stage = stage;
	core->resumed_bytes = 0;
	core->resumed_writes = 0;
	bitmap_zero(core->dirty, core->nblocks);
	core->resuming = migf;
	return get_file(migf->filp);
}

/* RESUMING -> STOP: only a whole, well-formed stream for this device loads. */
int mgt_resume_finish(struct mgt_core *core)
{
	struct mgt_file *migf = core->resuming;
	const char *why = NULL;

	if (!migf)
		why = "no resuming fd";
	else if (migf->broken)
		why = "the stream was refused";
	else if (!migf->end_done)
		why = "the stream has no end record";
	else if (!bitmap_full(core->dirty, core->nblocks))
		why = "blocks are missing";
	if (why) {
		pr_warn("vfio_migtest %s: RESUMING -> STOP refused: %s\n", core->name, why);
		return -EINVAL;
	}
	vfree(core->buf);
	core->buf = migf->stage;
	migf->stage = NULL;
	bitmap_zero(core->dirty, core->nblocks);
	return 0;
}
