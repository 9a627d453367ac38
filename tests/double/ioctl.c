/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Device ioctls: BIND_IOMMUFD, GET_INFO, GET_REGION_INFO, DEVICE_FEATURE, RESET,
 * the precopy info of a data fd, and the ioctl() interposer. */
#include "double.h"

/* vfio_check_feature(): 1 = go on, 0 = probe answered, <0 = error. */
int check_feature(uint32_t flags, size_t argsz, uint32_t ops, size_t minsz)
{
	if ((flags & (D_FEATURE_GET | D_FEATURE_SET)) & ~ops)
		return -EINVAL;
	if (flags & D_FEATURE_PROBE)
		return 0;
	if (!(flags & (D_FEATURE_GET | D_FEATURE_SET)))
		return -EINVAL;
	if (argsz < minsz)
		return -EINVAL;
	return 1;
}

/* PRECOPY_INFOv2 (Linux 7.1): SET only, no payload; kernels before it say ENOTTY.
 * The opt-in lasts until the device's last close; each one is also appended to
 * ROOT/double/<dev>/precopy_v2_set, which outlives the process, for the tests. */
static int precopy_v2_opt_in(struct dfd *e, const struct devcfg *c, uint32_t flags,
			     size_t payload)
{
	struct devstate s;
	char path[PATH_MAX];
	int ret, lk, fd;

	if (!c->has_mig || !knob_int(e->dev, "precopy_v2", 0))
		return -ENOTTY;
	ret = check_feature(flags, payload, D_FEATURE_SET, 0);
	if (ret != 1)
		return ret;
	ret = knob_errno(e->dev, "precopy_v2_set_errno");
	if (ret)
		return -ret;
	lk = lock_dev(e->dev);
	load_state(e->dev, &s);
	s.precopy_v2 = 1;
	save_state(e->dev, &s);
	unlock_dev(lk);
	dev_path(path, sizeof(path), e->dev, "precopy_v2_set");
	fd = real_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)!real_write(fd, "SET\n", 4);
		real_close(fd);
	}
	return 0;
}

static int feature_ioctl(struct dfd *e, void *arg)
{
	uint32_t argsz, flags;
	unsigned char *data = (unsigned char *)arg + 8;
	struct devcfg c;
	struct devstate s;
	size_t payload;
	int ret, lk;

	memcpy(&argsz, arg, 4);
	memcpy(&flags, (char *)arg + 4, 4);
	if (argsz < 8)
		return -EINVAL;
	if (flags & ~(D_FEATURE_MASK | D_FEATURE_GET | D_FEATURE_SET | D_FEATURE_PROBE))
		return -EINVAL;
	if (!(flags & D_FEATURE_PROBE) && (flags & D_FEATURE_SET) && (flags & D_FEATURE_GET))
		return -EINVAL;
	payload = argsz - 8;
	load_cfg(e->dev, &c);
	switch (flags & D_FEATURE_MASK) {
	case F_MIGRATION: {
		uint64_t f = c.flags;

		if (!c.has_mig)
			return -ENOTTY;
		ret = check_feature(flags, payload, D_FEATURE_GET, 8);
		if (ret != 1)
			return ret;
		memcpy(data, &f, 8);
		return 0;
	}
	case F_MIG_DEVICE_STATE: {
		uint32_t want;
		int32_t fd;
		int data_fd;

		if (!c.has_mig)
			return -ENOTTY;
		ret = check_feature(flags, payload, D_FEATURE_GET | D_FEATURE_SET, 8);
		if (ret != 1)
			return ret;
		lk = lock_dev(e->dev);
		load_state(e->dev, &s);
		if (flags & D_FEATURE_GET) {
			ret = knob_errno(e->dev, "get_errno");
			want = (uint32_t)(s.reported ? s.reported - 1 : s.state);
			ret = -ret;
			data_fd = -1;
		} else {
			memcpy(&want, data, 4);
			ret = set_state(e->dev, &c, &s, want >= S_NR ? -1 : (int)want, &data_fd);
			/* get_reports_target=1: a driver that records the new state before the
			 * arc runs, so GET after a failed SET reports the requested state. */
			s.reported = ret && want < S_NR && knob_int(e->dev, "get_reports_target", 0)
				     ? (int)want + 1 : 0;
			save_state(e->dev, &s);
		}
		unlock_dev(lk);
		if (ret && (flags & D_FEATURE_GET))
			return ret;
		fd = data_fd;
		memcpy(data, &want, 4);
		memcpy(data + 4, &fd, 4);
		return ret;
	}
	case F_LOG_START:
	case F_LOG_STOP:
	case F_LOG_REPORT:
		return dma_log_feature(e->dev, &c, flags, data, payload);
	case F_MIG_DATA_SIZE: {
		uint64_t len = (uint64_t)c.data_size;

		if (!c.has_mig)
			return -ENOTTY;
		ret = check_feature(flags, payload, D_FEATURE_GET, 8);
		if (ret != 1)
			return ret;
		/* a driver without migration_get_data_size: the core answers ENOTTY */
		ret = knob_errno(e->dev, "data_size_errno");
		if (ret)
			return -ret;
		memcpy(data, &len, 8);
		return 0;
	}
	case F_MIG_PRECOPY_INFOv2:
		return precopy_v2_opt_in(e, &c, flags, payload);
	default:
		return -ENOTTY;
	}
}

/* IOMMU_GET_HW_INFO on an iommufd: dev_id is the one BIND_IOMMUFD gave (1). An mdev
 * is bound as an "access", not a device: ENOENT, as 6.12 says. Knobs of the device:
 * iommu_hw_info_errno (default ENOENT for an mdev, 0 for PCI), iommu_dirty_tracking=1
 * (IOMMU_HW_CAP_DIRTY_TRACKING). */
int iommufd_ioctl(struct dfd *e, unsigned long cmd, void *arg)
{
	uint32_t *hw = arg;             /* size flags dev_id data_len data_uptr(2) type resv caps(2) */
	struct devcfg c;
	uint64_t caps;
	char buf[32];
	int err;

	if (cmd != D_IOMMUFD_GET_HW_INFO)
		return -ENOTTY;
	if (hw[0] < 32)
		return -EINVAL;
	if (hw[1] || hw[7])
		return -EOPNOTSUPP;
	if (hw[2] != 1 || !e->dev[0])
		return -ENOENT;
	load_cfg(e->dev, &c);
	err = knob_str(e->dev, "iommu_hw_info_errno", buf, sizeof(buf))
		? knob_errno(e->dev, "iommu_hw_info_errno") : c.is_pci ? 0 : ENOENT;
	if (err)
		return -err;
	caps = knob_int(e->dev, "iommu_dirty_tracking", 0) ? 1 : 0;
	hw[3] = 0;
	hw[6] = c.is_pci ? 1 : 0;       /* IOMMU_HW_INFO_TYPE_INTEL_VTD */
	memcpy(&hw[8], &caps, 8);
	return 0;
}

/* ---- device ioctls ---- */
static int bind_iommufd(struct dfd *e, void *arg)
{
	uint32_t b[4];
	int32_t iommufd;
	struct dfd *i;
	int err;

	memcpy(b, arg, 16);
	memcpy(&iommufd, &b[2], 4);
	if (b[0] < 16 || b[1] || iommufd < 0)
		return -EINVAL;
	if (e->via_group)
		return -EINVAL;
	err = knob_errno(e->dev, "bind_errno");
	if (err)
		return -err;
	if (e->bound)
		return -EINVAL;
	i = lookup(iommufd);
	if (!i || i->kind != FK_IOMMUFD)
		return fcntl(iommufd, F_GETFD) < 0 ? -EBADF : -EBADFD;
	if (!group_viable((int)knob_int(e->dev, "group", -1)))
		return -EPERM;
	if (open_count(e->dev))         /* vfio_df_open(): the cdev path opens a device once */
		return -EINVAL;
	e->bound = 1;
	e->holder = 1;
	snprintf(i->dev, sizeof(i->dev), "%s", e->dev);  /* for IOMMU_GET_HW_INFO */
	holder_add(e->dev, e->fd);
	b[3] = 1;   /* out_devid */
	memcpy((char *)arg + 12, &b[3], 4);
	return 0;
}

static int region_size(const struct devcfg *c, uint32_t index)
{
	static const int pci_sizes[9] = { 0x20000, 0, 0, 0, 0, 0, 0, 0x1000, 0 };
	static const int mtty_sizes[9] = { 8, 8, 0, 0, 0, 0, 0, 0x100, 0 };

	if (index >= 9)
		return 0x1000;
	if (c->is_pci)
		return pci_sizes[index];
	return (index == 1 && c->nr_ports < 2) ? 0 : mtty_sizes[index];
}

static int device_ioctl(struct dfd *e, unsigned long cmd, void *arg)
{
	struct devcfg c;

	if (cmd == D_DEVICE_BIND_IOMMUFD)
		return bind_iommufd(e, arg);
	if (!e->bound)
		return -EINVAL;
	load_cfg(e->dev, &c);
	switch (cmd) {
	case D_DEVICE_GET_INFO: {
		uint32_t *info = arg;
		int v1 = (int)knob_int(e->dev, "v1_region", 0);

		if (info[0] < 16)
			return -EINVAL;
		info[1] = (uint32_t)knob_int(e->dev, "device_flags", c.is_pci ? 3 : 2);
		info[2] = (uint32_t)knob_int(e->dev, "num_regions", 9) + (v1 ? 1 : 0);
		info[3] = 5;
		return 0;
	}
	case D_DEVICE_GET_REGION_INFO: {
		uint32_t *ri = arg;      /* argsz flags index cap_offset size(u64) offset(u64) */
		uint32_t nreg = (uint32_t)knob_int(e->dev, "num_regions", 9);
		int v1 = (int)knob_int(e->dev, "v1_region", 0);
		uint64_t size, offset;

		if (ri[0] < 32)
			return -EINVAL;
		if (ri[2] >= nreg + (v1 ? 1 : 0))
			return -EINVAL;
		size = (uint64_t)region_size(&c, ri[2]);
		offset = (uint64_t)ri[2] << 40;
		ri[1] = 3;      /* READ | WRITE */
		memcpy(&ri[4], &size, 8);
		memcpy(&ri[6], &offset, 8);
		if (v1 && ri[2] == nreg) {
			/* the removed v1 migration region: a TYPE capability, type 3 subtype 1 */
			uint32_t cap[4] = { 2 | (1u << 16), 0, 3, 1 };

			ri[1] |= 8;     /* CAPS */
			if (ri[0] < 32 + sizeof(cap)) {
				ri[0] = 32 + sizeof(cap);
				ri[3] = 0;
			} else {
				memcpy((char *)arg + 32, cap, sizeof(cap));
				ri[3] = 32;
			}
		}
		return 0;
	}
	case D_DEVICE_FEATURE:
		return feature_ioctl(e, arg);
	case D_DEVICE_RESET: {
		struct devstate s;
		int err = knob_errno(e->dev, "reset_errno"), lk;

		if (err)
			return -err;
		if (c.is_pci && !(knob_int(e->dev, "device_flags", 3) & 1))
			return -EINVAL;
		lk = lock_dev(e->dev);
		load_state(e->dev, &s);
		if (!(s.state == S_ERROR && knob_int(e->dev, "reset_keeps_error", 0)))
			s.state = S_RUNNING;
		s.reported = 0;
		disable_streams(&s);
		save_state(e->dev, &s);
		unlock_dev(lk);
		trace_arc(e->dev, -1, s.state);
		return 0;
	}
	default:
		return -ENOTTY;
	}
}

/* precopy_reinit_at=N: once N bytes of the session were read, the next PRECOPY_INFO
 * of an opted-in device makes precopy_reinit_bytes more bytes readable and says
 * REINIT, once a session (a driver whose device was reconfigured mid-pre-copy). */
static uint32_t precopy_reinit(const char *dev, struct devstate *s)
{
	struct devcfg c;
	long long at = knob_int(dev, "precopy_reinit_at", -1);

	if (at < 0 || s->reinit || s->save_pos < at ||
	    (s->state != S_PRE_COPY && s->state != S_PRE_COPY_P2P))
		return 0;
	load_cfg(dev, &c);
	s->save_filled += knob_int(dev, "precopy_reinit_bytes", MTTY_PORT_SIZE);
	if (s->save_filled > c.size)
		s->save_filled = c.size;
	s->reinit = 1;
	return PRECOPY_INFO_REINIT;
}

static int precopy_info(struct dfd *e, void *arg)
{
	uint32_t *info = arg;
	struct devstate s;
	uint64_t initial, zero = 0;
	int lk, ret = 0;

	if (info[0] < 24)
		return -EINVAL;
	lk = lock_dev(e->dev);
	load_state(e->dev, &s);
	if (s.state != S_PRE_COPY && s.state != S_PRE_COPY_P2P &&
	    !knob_int(e->dev, "precopy_info_anywhere", 0))
		ret = -EINVAL;
	else if (s.save_stream != e->stream)
		ret = -ENODEV;
	else if (s.save_pos > s.save_filled)
		ret = -EINVAL;
	/* Without the v2 opt-in the flags go back as they came (6.12's drivers never set
	 * them); with it the driver owns them: REINIT, plus precopy_v2_flags' bits (a
	 * driver that reports bits the uAPI does not define). */
	if (!ret && s.precopy_v2) {
		info[1] = (uint32_t)knob_int(e->dev, "precopy_v2_flags", 0) |
			  precopy_reinit(e->dev, &s);
		save_state(e->dev, &s);
	}
	unlock_dev(lk);
	if (ret)
		return ret;
	/* precopy_initial_fixed=1: initial_bytes does not fall as data is read. */
	initial = (uint64_t)(s.save_filled -
			     (knob_int(e->dev, "precopy_initial_fixed", 0) ? 0 : s.save_pos));
	memcpy(&info[2], &initial, 8);
	memcpy(&info[4], &zero, 8);
	return 0;
}

int ioctl(int fd, unsigned long cmd, ...)
{
	va_list ap;
	void *arg;
	struct dfd *e;
	int ret;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	ensure_init();
	pthread_mutex_lock(&big_lock);
	e = lookup(fd);
	if (!e) {
		pthread_mutex_unlock(&big_lock);
		return real_ioctl(fd, cmd, arg);
	}
	switch (e->kind) {
	case FK_CONTAINER:
		ret = container_ioctl(e, cmd, arg);
		break;
	case FK_GROUP:
		ret = group_ioctl(e, fd, cmd, arg);
		break;
	case FK_DEVICE:
		ret = device_ioctl(e, cmd, arg);
		break;
	case FK_IOMMUFD:
		ret = iommufd_ioctl(e, cmd, arg);
		break;
	case FK_SAVE:
		ret = cmd == D_MIG_GET_PRECOPY_INFO ? precopy_info(e, arg) : -ENOTTY;
		break;
	default:
		ret = -ENOTTY;
		break;
	}
	pthread_mutex_unlock(&big_lock);
	sleep_ms(pending_delay_ms);
	pending_delay_ms = 0;
	if (ret < 0) {
		errno = -ret;
		return -1;
	}
	return ret;
}
