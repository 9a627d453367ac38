// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_migtest: a mediated device whose only function is VFIO migration. Its state is a
 * buffer of configurable size that tests fill and read back through sysfs; it streams that
 * state through the VFIO v2 migration uAPI, dirties it while running, and carries fault
 * knobs that make it misbehave like a buggy driver. Parent "migtest", types migtest-1/-2.
 */
#include <linux/bitmap.h>
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/file.h>
#include <linux/mdev.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>
#include <linux/vmalloc.h>

#include "migtest.h"

#define MGT_NAME		"migtest"
#define MGT_INSTANCES	16

/* The mdev core names a type's directory "<parent>-<sysfs_name>": migtest-1, migtest-2. */
struct mgt_type {
	struct mdev_type type;
	u32 id;
	const char *name;
};

struct mgt_device {
	struct vfio_device vdev;
	struct mgt_core *core;
};

static struct mgt_type mgt_types[] = {
	{ .type = { .sysfs_name = "1", .pretty_name = "Migration test device" },
	  .id = 1, .name = MGT_NAME "-1" },
	{ .type = { .sysfs_name = "2", .pretty_name = "Migration test device, other type" },
	  .id = 2, .name = MGT_NAME "-2" },
};

static struct mdev_type *mgt_type_list[] = { &mgt_types[0].type, &mgt_types[1].type };

static struct {
	struct device dev;
	struct class *class;
	struct mdev_parent parent;
} mgt_parent;

static struct mgt_core *mgt_core_of_vdev(struct vfio_device *vdev)
{
	return container_of(vdev, struct mgt_device, vdev)->core;
}

u64 mgt_block_len(const struct mgt_core *core, u64 block)
{
	return min_t(u64, MGT_BLOCK_SIZE, core->size - block * MGT_BLOCK_SIZE);
}

void mgt_core_get(struct mgt_core *core)
{
	kref_get(&core->ref);
}

static void mgt_core_free(struct kref *ref)
{
	struct mgt_core *core = container_of(ref, struct mgt_core, ref);

	vfree(core->buf);
	kvfree(core->dirty);
	kvfree(core->pending);
	mutex_destroy(&core->lock);
	kfree(core);
}

void mgt_core_put(struct mgt_core *core)
{
	kref_put(&core->ref, mgt_core_free);
}

/* The device behind an mdev's sysfs directory, or NULL before probe and after remove. */
static struct mgt_device *mgt_device_of(struct device *dev)
{
	return dev_get_drvdata(dev);
}

struct mgt_core *mgt_core_of(struct device *dev)
{
	struct mgt_device *mt = mgt_device_of(dev);

	return mt ? mt->core : NULL;
}

/* The knobs p2p and pre_copy become the flags VFIO_DEVICE_FEATURE_MIGRATION reports. */
void mgt_apply_flags(struct device *dev)
{
	struct mgt_device *mt = mgt_device_of(dev);

	mt->vdev.migration_flags = VFIO_MIGRATION_STOP_COPY |
		(mt->core->knobs.p2p ? VFIO_MIGRATION_P2P : 0) |
		(mt->core->knobs.pre_copy ? VFIO_MIGRATION_PRE_COPY : 0);
}

static bool mgt_arc_is(const struct mgt_arc *arc, u32 from, u32 to)
{
	return arc->from && arc->from == from && arc->to == to;
}

static bool mgt_is(u32 cur, u32 next, u32 from, u32 to)
{
	return cur == from && next == to;
}

/* One arc of the state machine; the only place data fds begin and end. */
static struct file *mgt_step(struct mgt_core *core, u32 next, unsigned int *delay_ms)
{
	const struct mgt_knobs *k = &core->knobs;
	u32 cur = core->state;
	int ret;

	if (mgt_arc_is(&k->fail_arc, cur, next)) {
		if (k->fail_to_error) {
			core->state = VFIO_DEVICE_STATE_ERROR;
			mgt_files_disable(core);
		}
		return ERR_PTR(-(k->fail_errno ? k->fail_errno : EIO));
	}
	if (mgt_arc_is(&k->delay_arc, cur, next))
		*delay_ms += k->arc_delay_ms;

	if (mgt_is(cur, next, VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_STOP_COPY))
		return mgt_save_open(core, true);
	if (mgt_is(cur, next, VFIO_DEVICE_STATE_RUNNING, VFIO_DEVICE_STATE_PRE_COPY) ||
	    mgt_is(cur, next, VFIO_DEVICE_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_PRE_COPY_P2P))
		return mgt_save_open(core, false);
	if (mgt_is(cur, next, VFIO_DEVICE_STATE_PRE_COPY, VFIO_DEVICE_STATE_STOP_COPY) ||
	    mgt_is(cur, next, VFIO_DEVICE_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_STOP_COPY))
		return mgt_save_to_stop_copy(core);
	if (mgt_is(cur, next, VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_RESUMING))
		return mgt_resume_open(core);
	if (mgt_is(cur, next, VFIO_DEVICE_STATE_RESUMING, VFIO_DEVICE_STATE_STOP)) {
		ret = mgt_resume_finish(core);
		if (ret)
			return ERR_PTR(ret);
		mgt_files_disable(core);
		return NULL;
	}
	if (mgt_is(cur, next, VFIO_DEVICE_STATE_PRE_COPY, VFIO_DEVICE_STATE_RUNNING) ||
	    mgt_is(cur, next, VFIO_DEVICE_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    mgt_is(cur, next, VFIO_DEVICE_STATE_STOP_COPY, VFIO_DEVICE_STATE_STOP))
		mgt_files_disable(core);
	/* RUNNING <-> RUNNING_P2P <-> STOP, RUNNING <-> STOP, PRE_COPY <-> PRE_COPY_P2P */
	return NULL;
}

static struct file *mgt_set_state(struct vfio_device *vdev, enum vfio_device_mig_state target)
{
	struct mgt_core *core = mgt_core_of_vdev(vdev);
	const struct mgt_knobs *k = &core->knobs;
	struct file *filp = NULL;
	unsigned int delay_ms = 0;
	u32 last;

	mutex_lock(&core->lock);
	last = core->state;
	mgt_dirty_apply(core);
	core->report_target = false;
	while (core->state != target) {
		enum vfio_device_mig_state next;
		int ret = vfio_mig_get_next_state(vdev, core->state, target, &next);

		if (ret) {
			if (ret == -EINVAL && k->refuse_errno)
				ret = -k->refuse_errno;
			filp = ERR_PTR(ret);
			break;
		}
		last = core->state;
		filp = mgt_step(core, next, &delay_ms);
		if (IS_ERR(filp))
			break;
		core->state = next;
		mgt_dirty_apply(core);
		if (filp && next != target) {
			fput(filp);
			filp = ERR_PTR(-EINVAL);
			break;
		}
	}
	if (!filp && core->state == target && mgt_arc_is(&k->extra_fd, last, target))
		filp = mgt_stray_open(core);
	if (IS_ERR(filp) && k->get_reports_target) {
		core->report_target = true;
		core->reported = target;
	}
	mutex_unlock(&core->lock);
	if (delay_ms)
		msleep(delay_ms);
	return filp;
}

static int mgt_get_state(struct vfio_device *vdev, enum vfio_device_mig_state *state)
{
	struct mgt_core *core = mgt_core_of_vdev(vdev);

	mutex_lock(&core->lock);
	*state = core->report_target ? core->reported : core->state;
	mutex_unlock(&core->lock);
	return 0;
}

static int mgt_get_data_size(struct vfio_device *vdev, unsigned long *stop_copy_length)
{
	struct mgt_core *core = mgt_core_of_vdev(vdev);

	int ret = 0;

	mutex_lock(&core->lock);
	/* data_size_errno: a driver whose estimate fails (or has none: the core says ENOTTY) */
	if (core->knobs.data_size_errno)
		ret = -(int)core->knobs.data_size_errno;
	else
		*stop_copy_length = mgt_stop_copy_length(core);
	mutex_unlock(&core->lock);
	return ret;
}

static const struct vfio_migration_ops mgt_migration_ops = {
	.migration_set_state = mgt_set_state,
	.migration_get_state = mgt_get_state,
	.migration_get_data_size = mgt_get_data_size,
};

/* The device does no DMA: logging answers consistently and never reports a dirty page.
 * Knobs: log_restart (a second START's errno, EBUSY; 0 takes it, as mtty's stub does),
 * log_page_size (the page size START answers instead of the hint), log_stop_keeps (STOP
 * answers 0 but the logging goes on). */
static int mgt_log_start(struct vfio_device *vdev, struct rb_root_cached *ranges, u32 nnodes,
			u64 *page_size)
{
	struct mgt_core *core = mgt_core_of_vdev(vdev);
	int ret = 0;

	mutex_lock(&core->lock);
	if (core->log_active && core->knobs.log_restart)
		ret = -(int)core->knobs.log_restart;
	else
		core->log_active = true;
	if (!ret && core->knobs.log_page_size)
		*page_size = core->knobs.log_page_size;
	mutex_unlock(&core->lock);
	return ret;
}

static int mgt_log_stop(struct vfio_device *vdev)
{
	struct mgt_core *core = mgt_core_of_vdev(vdev);

	mutex_lock(&core->lock);
	if (!core->knobs.log_stop_keeps)
		core->log_active = false;
	mutex_unlock(&core->lock);
	return 0;
}

static int mgt_log_read_and_clear(struct vfio_device *vdev, unsigned long iova,
				 unsigned long length, struct iova_bitmap *dirty)
{
	struct mgt_core *core = mgt_core_of_vdev(vdev);
	int ret;

	mutex_lock(&core->lock);
	ret = core->log_active ? 0 : -EINVAL;
	mutex_unlock(&core->lock);
	return ret;
}

static const struct vfio_log_ops mgt_log_ops = {
	.log_start = mgt_log_start,
	.log_stop = mgt_log_stop,
	.log_read_and_clear = mgt_log_read_and_clear,
};

/* Gives the core a zeroed buffer of size bytes (the old one goes). */
int mgt_core_resize(struct mgt_core *core, u64 size)
{
	u64 nblocks = DIV_ROUND_UP_ULL(size, MGT_BLOCK_SIZE);
	size_t longs = max_t(size_t, BITS_TO_LONGS(nblocks), 1);
	unsigned long *dirty, *pending;
	u8 *buf = NULL;

	if (size > MGT_MAX_SIZE)
		return -EINVAL;
	if (size) {
		buf = vzalloc(size);
		if (!buf)
			return -ENOMEM;
	}
	dirty = kvcalloc(longs, sizeof(unsigned long), GFP_KERNEL);
	pending = kvcalloc(longs, sizeof(unsigned long), GFP_KERNEL);
	if (!dirty || !pending) {
		kvfree(dirty);
		kvfree(pending);
		vfree(buf);
		return -ENOMEM;
	}
	vfree(core->buf);
	kvfree(core->dirty);
	kvfree(core->pending);
	core->buf = buf;
	core->dirty = dirty;
	core->pending = pending;
	core->size = size;
	core->nblocks = nblocks;
	core->dirty_cursor = 0;
	return 0;
}

static int mgt_init_dev(struct vfio_device *vdev)
{
	struct mgt_device *mt = container_of(vdev, struct mgt_device, vdev);
	struct mdev_device *mdev = to_mdev_device(vdev->dev);
	struct mgt_type *type = container_of(mdev->type, struct mgt_type, type);
	struct mgt_core *core;
	int ret;

	core = kzalloc(sizeof(*core), GFP_KERNEL);
	if (!core)
		return -ENOMEM;
	kref_init(&core->ref);
	mutex_init(&core->lock);
	snprintf(core->name, sizeof(core->name), "%pUl", &mdev->uuid);
	core->type_id = type->id;
	core->type_name = type->name;
	core->state = VFIO_DEVICE_STATE_RUNNING;
	core->dirty_stamp = ktime_get();
	core->knobs.p2p = 1;
	core->knobs.pre_copy = 1;
	core->knobs.precopy_end = ENOMSG;
	core->knobs.log_restart = EBUSY;
	core->knobs.read_fail_after = U64_MAX;
	core->knobs.write_fail_after = U64_MAX;
	ret = mgt_core_resize(core, MGT_DEFAULT_SIZE);
	if (ret) {
		mgt_core_put(core);
		return ret;
	}
	mt->core = core;
	vdev->mig_ops = &mgt_migration_ops;
	vdev->log_ops = &mgt_log_ops;
	vdev->migration_flags = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
				VFIO_MIGRATION_PRE_COPY;
	return 0;
}

static void mgt_release_dev(struct vfio_device *vdev)
{
	mgt_core_put(mgt_core_of_vdev(vdev));
}

static int mgt_open_device(struct vfio_device *vdev)
{
	struct mgt_core *core = mgt_core_of_vdev(vdev);

	mutex_lock(&core->lock);
	core->open = true;
	mutex_unlock(&core->lock);
	return 0;
}

/* Like mtty, the state outlives the last close; only the data fds end. */
static void mgt_close_device(struct vfio_device *vdev)
{
	struct mgt_core *core = mgt_core_of_vdev(vdev);

	mutex_lock(&core->lock);
	mgt_files_disable(core);
	core->open = false;
	core->log_active = false;
	mutex_unlock(&core->lock);
}

static int mgt_reset(struct mgt_core *core)
{
	mutex_lock(&core->lock);
	mgt_dirty_apply(core);
	if (!(core->state == VFIO_DEVICE_STATE_ERROR && core->knobs.reset_keeps_error))
		core->state = VFIO_DEVICE_STATE_RUNNING;
	core->report_target = false;
	mgt_files_disable(core);
	mutex_unlock(&core->lock);
	return 0;
}

static long mgt_ioctl(struct vfio_device *vdev, unsigned int cmd, unsigned long arg)
{
	unsigned long minsz = offsetofend(struct vfio_device_info, num_irqs);
	struct vfio_device_info info;

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO:
		if (copy_from_user(&info, (void __user *)arg, minsz))
			return -EFAULT;
		if (info.argsz < minsz)
			return -EINVAL;
		info.flags = VFIO_DEVICE_FLAGS_RESET;
		info.num_regions = 0;
		info.num_irqs = 0;
		return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
	case VFIO_DEVICE_RESET:
		return mgt_reset(mgt_core_of_vdev(vdev));
	}
	return -ENOTTY;
}

static const struct vfio_device_ops mgt_dev_ops = {
	.name = "vfio-migtest",
	.init = mgt_init_dev,
	.release = mgt_release_dev,
	.open_device = mgt_open_device,
	.close_device = mgt_close_device,
	.ioctl = mgt_ioctl,
	.bind_iommufd = vfio_iommufd_emulated_bind,
	.unbind_iommufd = vfio_iommufd_emulated_unbind,
	.attach_ioas = vfio_iommufd_emulated_attach_ioas,
	.detach_ioas = vfio_iommufd_emulated_detach_ioas,
};

static int mgt_probe(struct mdev_device *mdev)
{
	struct mgt_device *mt;
	int ret;

	mt = vfio_alloc_device(mgt_device, vdev, &mdev->dev, &mgt_dev_ops);
	if (IS_ERR(mt))
		return PTR_ERR(mt);
	ret = vfio_register_emulated_iommu_dev(&mt->vdev);
	if (ret) {
		vfio_put_device(&mt->vdev);
		return ret;
	}
	dev_set_drvdata(&mdev->dev, mt);
	return 0;
}

static void mgt_remove(struct mdev_device *mdev)
{
	struct mgt_device *mt = dev_get_drvdata(&mdev->dev);

	vfio_unregister_group_dev(&mt->vdev);
	dev_set_drvdata(&mdev->dev, NULL);
	vfio_put_device(&mt->vdev);
}

static struct mdev_driver mgt_driver = {
	.device_api = VFIO_DEVICE_API_PCI_STRING,
	.max_instances = MGT_INSTANCES,
	.driver = {
		.name = MGT_NAME,
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
		.dev_groups = mgt_dev_groups,
	},
	.probe = mgt_probe,
	.remove = mgt_remove,
};

static void mgt_parent_release(struct device *dev)
{
}

static int __init mgt_init(void)
{
	int ret;

	ret = mdev_register_driver(&mgt_driver);
	if (ret)
		return ret;
	mgt_parent.class = class_create(MGT_NAME);
	if (IS_ERR(mgt_parent.class)) {
		ret = PTR_ERR(mgt_parent.class);
		goto out_driver;
	}
	mgt_parent.dev.class = mgt_parent.class;
	mgt_parent.dev.release = mgt_parent_release;
	dev_set_name(&mgt_parent.dev, MGT_NAME);
	ret = device_register(&mgt_parent.dev);
	if (ret)
		goto out_put;
	ret = mdev_register_parent(&mgt_parent.parent, &mgt_parent.dev, &mgt_driver, mgt_type_list,
				   ARRAY_SIZE(mgt_type_list));
	if (ret)
		goto out_device;
	return 0;

out_device:
	device_del(&mgt_parent.dev);
out_put:
	put_device(&mgt_parent.dev);
	class_destroy(mgt_parent.class);
out_driver:
	mdev_unregister_driver(&mgt_driver);
	return ret;
}

static void __exit mgt_exit(void)
{
	mdev_unregister_parent(&mgt_parent.parent);
	device_unregister(&mgt_parent.dev);
	class_destroy(mgt_parent.class);
	mdev_unregister_driver(&mgt_driver);
}

module_init(mgt_init);
module_exit(mgt_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("VFIO migration test driver: large state, dirty rate, fault knobs");
/* Gives the module /sys/module/vfio_migtest/version and (modpost adds it with a version)
 * srcversion, which vfiomig's build identity reads. */
MODULE_VERSION("1.0");
