// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_migtest's per-device sysfs directory, /sys/bus/mdev/devices/UUID/migtest/: the knobs
 * (one table), the state size, and the content interface tests use to prove bytes arrived
 * (content: the raw bytes; fill: a seeded pattern; checksum: a hash of the whole state).
 */
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include "migtest.h"

static const char *const mgt_states[] = {
	"ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P", "PRE_COPY",
	"PRE_COPY_P2P",
};

static const struct { const char *name; u64 value; } mgt_errnos[] = {
	{ "EIO", EIO }, { "EINVAL", EINVAL }, { "ENOMSG", ENOMSG }, { "EOPNOTSUPP", EOPNOTSUPP },
	{ "EBUSY", EBUSY }, { "EFAULT", EFAULT }, { "ENODEV", ENODEV }, { "ENOSPC", ENOSPC },
	{ "ENOMEM", ENOMEM }, { "EAGAIN", EAGAIN }, { "ETIMEDOUT", ETIMEDOUT },
	{ "EPROTO", EPROTO }, { "ENOTTY", ENOTTY },
};

const char *mgt_state_name(u32 state)
{
	return state < ARRAY_SIZE(mgt_states) ? mgt_states[state] : "?";
}

static int mgt_parse_errno(const char *s, u64 *value)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(mgt_errnos); i++) {
		if (sysfs_streq(s, mgt_errnos[i].name)) {
			*value = mgt_errnos[i].value;
			return 0;
		}
	}
	return kstrtou64(s, 0, value) ?: (*value < 4096 ? 0 : -ERANGE);
}

static int mgt_show_errno(char *buf, u64 value)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(mgt_errnos); i++)
		if (mgt_errnos[i].value == value)
			return sysfs_emit(buf, "%s\n", mgt_errnos[i].name);
	return sysfs_emit(buf, "%llu\n", value);
}

enum {
	MGT_CLOSED = 1,		/* only while no one has the device open */
	MGT_FLAGS = 2,		/* changes the migration flags */
	MGT_ERRNO = 4,		/* an errno, by name or number */
};

struct mgt_attr {
	struct device_attribute attr;
	size_t offset;
	u64 max;
	unsigned int flags;
};

static u64 *mgt_field(struct mgt_core *core, const struct device_attribute *attr)
{
	return (u64 *)((u8 *)&core->knobs + container_of(attr, struct mgt_attr, attr)->offset);
}

static ssize_t mgt_knob_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	const struct mgt_attr *a = container_of(attr, struct mgt_attr, attr);
	struct mgt_core *core = mgt_core_of(dev);
	u64 value;

	if (!core)
		return -ENODEV;
	mutex_lock(&core->lock);
	value = *mgt_field(core, attr);
	mutex_unlock(&core->lock);
	return a->flags & MGT_ERRNO ? mgt_show_errno(buf, value) : sysfs_emit(buf, "%llu\n", value);
}

static ssize_t mgt_knob_store(struct device *dev, struct device_attribute *attr, const char *buf,
			     size_t count)
{
	const struct mgt_attr *a = container_of(attr, struct mgt_attr, attr);
	struct mgt_core *core = mgt_core_of(dev);
	char word[32];
	u64 value;
	int ret;

	if (!core)
		return -ENODEV;
	strscpy(word, buf, sizeof(word));
	strim(word);
	ret = a->flags & MGT_ERRNO ? mgt_parse_errno(word, &value) : kstrtou64(word, 0, &value);
	if (ret)
		return ret;
	if (value > a->max)
		return -ERANGE;
	mutex_lock(&core->lock);
	if ((a->flags & MGT_CLOSED) && core->open)
		ret = -EBUSY;
	else if ((a->flags & MGT_FLAGS) && core->state != VFIO_DEVICE_STATE_RUNNING &&
		 core->state != VFIO_DEVICE_STATE_STOP)
		ret = -EBUSY;
	if (!ret) {
		mgt_dirty_apply(core);
		*mgt_field(core, attr) = value;
		if (a->flags & MGT_FLAGS)
			mgt_apply_flags(dev);
	}
	mutex_unlock(&core->lock);
	return ret ?: count;
}

#define MGT_KNOB(_name, _max, _flags)						\
	static struct mgt_attr mgt_knob_##_name = {				\
		.attr = __ATTR(_name, 0644, mgt_knob_show, mgt_knob_store),	\
		.offset = offsetof(struct mgt_knobs, _name),			\
		.max = _max,							\
		.flags = _flags,						\
	}

MGT_KNOB(p2p, 1, MGT_CLOSED | MGT_FLAGS);
MGT_KNOB(pre_copy, 1, MGT_CLOSED | MGT_FLAGS);
MGT_KNOB(dirty_rate, U64_MAX, 0);
MGT_KNOB(max_read, U64_MAX, 0);
MGT_KNOB(max_write, U64_MAX, 0);
MGT_KNOB(data_size, U64_MAX, 0);
MGT_KNOB(data_size_errno, 4095, MGT_ERRNO);
MGT_KNOB(precopy_batch, U64_MAX, 0);
MGT_KNOB(precopy_end, 4095, MGT_ERRNO);
MGT_KNOB(stopcopy_end, 4095, MGT_ERRNO);
MGT_KNOB(refuse_errno, 4095, MGT_ERRNO);
MGT_KNOB(precopy_new_fd, 1, 0);
MGT_KNOB(get_reports_target, 1, 0);
MGT_KNOB(precopy_info_anywhere, 1, 0);
MGT_KNOB(precopy_initial_fixed, 1, 0);
MGT_KNOB(reset_keeps_error, 1, 0);
MGT_KNOB(delay_ms, 600000, 0);
MGT_KNOB(log_restart, 4095, MGT_ERRNO);
MGT_KNOB(log_page_size, 1ull << 40, 0);
MGT_KNOB(log_stop_keeps, 1, 0);

/* FROM>TO, by state names; "none" or an empty line clears it. */
static int mgt_parse_arc(char **s, struct mgt_arc *arc)
{
	char *word = strsep(s, " \t"), *to;
	u32 from_state, to_state;

	if (!word || !*word || sysfs_streq(word, "none")) {
		arc->from = arc->to = 0;
		return 1;
	}
	to = strchr(word, '>');
	if (!to)
		return -EINVAL;
	*to++ = '\0';
	for (from_state = 1; from_state < ARRAY_SIZE(mgt_states); from_state++)
		if (!strcasecmp(word, mgt_states[from_state]))
			break;
	for (to_state = 1; to_state < ARRAY_SIZE(mgt_states); to_state++)
		if (!strcasecmp(to, mgt_states[to_state]))
			break;
	if (from_state == ARRAY_SIZE(mgt_states) || to_state == ARRAY_SIZE(mgt_states))
		return -EINVAL;
	arc->from = from_state;
	arc->to = to_state;
	return 0;
}

static int mgt_show_arc(char *buf, const struct mgt_arc *arc, const char *rest)
{
	if (!arc->from)
		return sysfs_emit(buf, "none\n");
	return sysfs_emit(buf, "%s>%s%s\n", mgt_state_name(arc->from), mgt_state_name(arc->to), rest);
}

/* Parses a line of up to three words under the core's lock through parse(). */
static ssize_t mgt_store_line(struct device *dev, const char *buf, size_t count,
			     int (*parse)(struct mgt_knobs *k, char *line))
{
	struct mgt_core *core = mgt_core_of(dev);
	struct mgt_knobs knobs;
	char line[96];
	int ret;

	if (!core)
		return -ENODEV;
	strscpy(line, buf, sizeof(line));
	mutex_lock(&core->lock);
	knobs = core->knobs;
	ret = parse(&knobs, strim(line));
	if (!ret)
		core->knobs = knobs;
	mutex_unlock(&core->lock);
	return ret ?: count;
}

/* fail_arc: "FROM>TO [ERRNO] [error]": that arc fails; with "error" the device lands in ERROR. */
static int mgt_parse_fail_arc(struct mgt_knobs *k, char *line)
{
	char *word;
	int ret = mgt_parse_arc(&line, &k->fail_arc);

	k->fail_errno = EIO;
	k->fail_to_error = 0;
	if (ret)
		return ret < 0 ? ret : 0;
	while ((word = strsep(&line, " \t"))) {
		if (!*word)
			continue;
		if (sysfs_streq(word, "error"))
			k->fail_to_error = 1;
		else if (mgt_parse_errno(word, &k->fail_errno))
			return -EINVAL;
	}
	return 0;
}

static ssize_t fail_arc_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct mgt_core *core = mgt_core_of(dev);
	char rest[32];

	if (!core)
		return -ENODEV;
	snprintf(rest, sizeof(rest), " %llu%s", core->knobs.fail_errno,
		 core->knobs.fail_to_error ? " error" : "");
	return mgt_show_arc(buf, &core->knobs.fail_arc, rest);
}

static ssize_t fail_arc_store(struct device *dev, struct device_attribute *attr, const char *buf,
			      size_t count)
{
	return mgt_store_line(dev, buf, count, mgt_parse_fail_arc);
}
static DEVICE_ATTR_RW(fail_arc);

/* arc_delay: "FROM>TO MS": a SET that takes that arc returns MS later. */
static int mgt_parse_arc_delay(struct mgt_knobs *k, char *line)
{
	char *word;
	int ret = mgt_parse_arc(&line, &k->delay_arc);

	k->arc_delay_ms = 0;
	if (ret)
		return ret < 0 ? ret : 0;
	word = strsep(&line, " \t");
	if (!word || kstrtou64(word, 0, &k->arc_delay_ms) || k->arc_delay_ms > 600000)
		return -EINVAL;
	return 0;
}

static ssize_t arc_delay_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct mgt_core *core = mgt_core_of(dev);
	char rest[32];

	if (!core)
		return -ENODEV;
	snprintf(rest, sizeof(rest), " %llu", core->knobs.arc_delay_ms);
	return mgt_show_arc(buf, &core->knobs.delay_arc, rest);
}

static ssize_t arc_delay_store(struct device *dev, struct device_attribute *attr,
			       const char *buf, size_t count)
{
	return mgt_store_line(dev, buf, count, mgt_parse_arc_delay);
}
static DEVICE_ATTR_RW(arc_delay);

/* extra_fd: "FROM>TO": a SET whose last arc is that one also returns a stray fd. */
static int mgt_parse_extra_fd(struct mgt_knobs *k, char *line)
{
	int ret = mgt_parse_arc(&line, &k->extra_fd);

	return ret < 0 ? ret : 0;
}

static ssize_t extra_fd_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct mgt_core *core = mgt_core_of(dev);

	return core ? mgt_show_arc(buf, &core->knobs.extra_fd, "") : -ENODEV;
}

static ssize_t extra_fd_store(struct device *dev, struct device_attribute *attr,
			      const char *buf, size_t count)
{
	return mgt_store_line(dev, buf, count, mgt_parse_extra_fd);
}
static DEVICE_ATTR_RW(extra_fd);

/* read_fail_after / write_fail_after: "N [ERRNO]": the data fd stops at byte N, then fails. */
static int mgt_parse_fail_after(char *line, u64 *after, u64 *err)
{
	char *word = strsep(&line, " \t");

	*after = U64_MAX;
	*err = EIO;
	if (!word || !*word || sysfs_streq(word, "none"))
		return 0;
	if (kstrtou64(word, 0, after))
		return -EINVAL;
	word = strsep(&line, " \t");
	if (word && *word && mgt_parse_errno(word, err))
		return -EINVAL;
	return 0;
}

static int mgt_parse_read_fail(struct mgt_knobs *k, char *line)
{
	return mgt_parse_fail_after(line, &k->read_fail_after, &k->read_fail_errno);
}

static int mgt_parse_write_fail(struct mgt_knobs *k, char *line)
{
	return mgt_parse_fail_after(line, &k->write_fail_after, &k->write_fail_errno);
}

static ssize_t mgt_fail_after_show(char *buf, u64 after, u64 err)
{
	if (after == U64_MAX)
		return sysfs_emit(buf, "none\n");
	return sysfs_emit(buf, "%llu %llu\n", after, err);
}

static ssize_t read_fail_after_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct mgt_core *core = mgt_core_of(dev);

	return core ? mgt_fail_after_show(buf, core->knobs.read_fail_after,
					 core->knobs.read_fail_errno) : -ENODEV;
}

static ssize_t read_fail_after_store(struct device *dev, struct device_attribute *attr,
				     const char *buf, size_t count)
{
	return mgt_store_line(dev, buf, count, mgt_parse_read_fail);
}
static DEVICE_ATTR_RW(read_fail_after);

static ssize_t write_fail_after_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct mgt_core *core = mgt_core_of(dev);

	return core ? mgt_fail_after_show(buf, core->knobs.write_fail_after,
					 core->knobs.write_fail_errno) : -ENODEV;
}

static ssize_t write_fail_after_store(struct device *dev, struct device_attribute *attr,
				      const char *buf, size_t count)
{
	return mgt_store_line(dev, buf, count, mgt_parse_write_fail);
}
static DEVICE_ATTR_RW(write_fail_after);

/* size: bytes of state, 0 to 16 GiB; changing it zeroes the state (device closed only). */
static ssize_t size_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct mgt_core *core = mgt_core_of(dev);

	return core ? sysfs_emit(buf, "%llu\n", core->size) : -ENODEV;
}

static ssize_t size_store(struct device *dev, struct device_attribute *attr, const char *buf,
			  size_t count)
{
	struct mgt_core *core = mgt_core_of(dev);
	u64 size;
	int ret;

	if (!core)
		return -ENODEV;
	ret = kstrtou64(buf, 0, &size);
	if (ret)
		return ret;
	mutex_lock(&core->lock);
	ret = core->open ? -EBUSY : mgt_core_resize(core, size);
	mutex_unlock(&core->lock);
	return ret ?: count;
}
static DEVICE_ATTR_RW(size);

/* Read-only counters: blocks dirtied, bytes read from and written into data fds. */
static ssize_t mgt_counter(struct device *dev, char *buf, size_t offset)
{
	struct mgt_core *core = mgt_core_of(dev);
	u64 value;

	if (!core)
		return -ENODEV;
	mutex_lock(&core->lock);
	mgt_dirty_apply(core);
	value = *(u64 *)((u8 *)core + offset);
	mutex_unlock(&core->lock);
	return sysfs_emit(buf, "%llu\n", value);
}

#define MGT_COUNTER(_name)								\
	static ssize_t _name##_show(struct device *dev, struct device_attribute *attr,	\
				    char *buf)						\
	{										\
		return mgt_counter(dev, buf, offsetof(struct mgt_core, _name));		\
	}										\
	static DEVICE_ATTR_RO(_name)

MGT_COUNTER(dirtied);
MGT_COUNTER(saved_bytes);
MGT_COUNTER(resumed_bytes);
MGT_COUNTER(saved_reads);
MGT_COUNTER(resumed_writes);

static ssize_t state_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct mgt_core *core = mgt_core_of(dev);

	return core ? sysfs_emit(buf, "%s\n", mgt_state_name(core->state)) : -ENODEV;
}
static DEVICE_ATTR_RO(state);

static u64 mgt_mix(u64 x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* fill: SEED: every 8 bytes of the state become a function of SEED and their offset. */
static ssize_t fill_store(struct device *dev, struct device_attribute *attr, const char *buf,
			  size_t count)
{
	struct mgt_core *core = mgt_core_of(dev);
	u64 seed, i, word;
	int ret;

	if (!core)
		return -ENODEV;
	ret = kstrtou64(buf, 0, &seed);
	if (ret)
		return ret;
	mutex_lock(&core->lock);
	mgt_dirty_apply(core);
	for (i = 0; i < core->size; i += sizeof(word)) {
		word = mgt_mix(seed + i);
		memcpy(core->buf + i, &word, min_t(u64, sizeof(word), core->size - i));
		if (!(i & ((1 << 20) - 1)))
			cond_resched();
	}
	mutex_unlock(&core->lock);
	return count;
}
static DEVICE_ATTR_WO(fill);

/* checksum: a 64-bit hash of the whole state, in hex. */
static ssize_t checksum_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct mgt_core *core = mgt_core_of(dev);
	u64 hash, i, word;

	if (!core)
		return -ENODEV;
	mutex_lock(&core->lock);
	mgt_dirty_apply(core);
	hash = core->size;
	for (i = 0; i < core->size; i += sizeof(word)) {
		word = 0;
		memcpy(&word, core->buf + i, min_t(u64, sizeof(word), core->size - i));
		hash = mgt_mix(hash ^ word);
		if (!(i & ((1 << 20) - 1)))
			cond_resched();
	}
	mutex_unlock(&core->lock);
	return sysfs_emit(buf, "%016llx\n", hash);
}
static DEVICE_ATTR_RO(checksum);

/* content: the state's bytes, read and written at any offset below size. */
static ssize_t mgt_content_io(struct kobject *kobj, char *buf, loff_t off, size_t count,
			     bool write)
{
	struct mgt_core *core = mgt_core_of(kobj_to_dev(kobj));
	ssize_t ret;

	if (!core)
		return -ENODEV;
	mutex_lock(&core->lock);
	mgt_dirty_apply(core);
	if (off >= core->size) {
		ret = write && count ? -ENOSPC : 0;
	} else {
		ret = min_t(u64, count, core->size - off);
		if (write)
			memcpy(core->buf + off, buf, ret);
		else
			memcpy(buf, core->buf + off, ret);
	}
	mutex_unlock(&core->lock);
	return ret;
}

static ssize_t content_read(struct file *filp, struct kobject *kobj, struct bin_attribute *attr,
			    char *buf, loff_t off, size_t count)
{
	return mgt_content_io(kobj, buf, off, count, false);
}

static ssize_t content_write(struct file *filp, struct kobject *kobj, struct bin_attribute *attr,
			     char *buf, loff_t off, size_t count)
{
	return mgt_content_io(kobj, buf, off, count, true);
}
static BIN_ATTR_RW(content, 0);

static struct attribute *mgt_attrs[] = {
	&mgt_knob_p2p.attr.attr, &mgt_knob_pre_copy.attr.attr, &mgt_knob_dirty_rate.attr.attr,
	&mgt_knob_max_read.attr.attr, &mgt_knob_max_write.attr.attr, &mgt_knob_data_size.attr.attr,
	&mgt_knob_data_size_errno.attr.attr, &mgt_knob_precopy_batch.attr.attr,
	&mgt_knob_precopy_end.attr.attr, &mgt_knob_stopcopy_end.attr.attr,
	&mgt_knob_refuse_errno.attr.attr, &mgt_knob_precopy_new_fd.attr.attr,
	&mgt_knob_get_reports_target.attr.attr, &mgt_knob_precopy_info_anywhere.attr.attr,
	&mgt_knob_precopy_initial_fixed.attr.attr, &mgt_knob_reset_keeps_error.attr.attr,
	&mgt_knob_delay_ms.attr.attr, &mgt_knob_log_restart.attr.attr,
	&mgt_knob_log_page_size.attr.attr, &mgt_knob_log_stop_keeps.attr.attr,
	&dev_attr_fail_arc.attr, &dev_attr_arc_delay.attr, &dev_attr_extra_fd.attr,
	&dev_attr_read_fail_after.attr, &dev_attr_write_fail_after.attr, &dev_attr_size.attr,
	&dev_attr_dirtied.attr, &dev_attr_saved_bytes.attr, &dev_attr_resumed_bytes.attr,
	&dev_attr_saved_reads.attr, &dev_attr_resumed_writes.attr,
	&dev_attr_state.attr, &dev_attr_fill.attr, &dev_attr_checksum.attr,
	NULL,
};

static struct bin_attribute *mgt_bin_attrs[] = {
	&bin_attr_content,
	NULL,
};

static const struct attribute_group mgt_group = {
	.name = "migtest",
	.attrs = mgt_attrs,
	.bin_attrs = mgt_bin_attrs,
};

const struct attribute_group *mgt_dev_groups[] = {
	&mgt_group,
	NULL,
};
