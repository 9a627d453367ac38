/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Parsing of device names: every accepted form and the refusals. */
#include <string.h>

#include "device/device.h"
#include "unit.h"

static void accepts(const char *text, enum vdev_name_form form, enum vdev_kind kind,
		    const char *id)
{
	struct vdev_name name;
	int ret = vdev_name_parse(text, &name);

	CHECK(ret == 0 && name.form == form && name.kind == kind && strcmp(name.id, id) == 0,
	      "'%s' names %s '%s' (got ret %d, id '%s')", text, vdev_kind_name(kind), id, ret,
	      ret == 0 ? name.id : "");
}

static void refuses(const char *text)
{
	struct vdev_name name;

	CHECK(vdev_name_parse(text, &name) < 0, "'%s' is refused", text);
}

int main(void)
{
	struct vdev_name name;

	accepts("0000:3b:00.1", VDEV_NAME_PCI, VDEV_KIND_PCI, "0000:3b:00.1");
	accepts("3b:00.1", VDEV_NAME_PCI, VDEV_KIND_PCI, "0000:3b:00.1");
	accepts("0000:3B:1F.7", VDEV_NAME_PCI, VDEV_KIND_PCI, "0000:3b:1f.7");
	accepts("10000:3b:00.1" + 1, VDEV_NAME_PCI, VDEV_KIND_PCI, "0000:3b:00.1");
	accepts("83b38f8c-3c2d-4a5e-9c1b-0d4e5f6a7b8c", VDEV_NAME_MDEV, VDEV_KIND_MDEV,
		"83b38f8c-3c2d-4a5e-9c1b-0d4e5f6a7b8c");
	accepts("83B38F8C-3C2D-4A5E-9C1B-0D4E5F6A7B8C", VDEV_NAME_MDEV, VDEV_KIND_MDEV,
		"83b38f8c-3c2d-4a5e-9c1b-0d4e5f6a7b8c");
	accepts("/sys/bus/pci/devices/0000:3b:00.1", VDEV_NAME_SYSFS, VDEV_KIND_PCI, "0000:3b:00.1");
	accepts("/sys/bus/pci/devices/0000:3b:00.1/", VDEV_NAME_SYSFS, VDEV_KIND_PCI, "0000:3b:00.1");
	accepts("/sys/devices/pci0000:00/0000:00:03.0", VDEV_NAME_SYSFS, VDEV_KIND_PCI, "0000:00:03.0");
	accepts("/sys/bus/mdev/devices/83b38f8c-3c2d-4a5e-9c1b-0d4e5f6a7b8c", VDEV_NAME_SYSFS,
		VDEV_KIND_MDEV, "83b38f8c-3c2d-4a5e-9c1b-0d4e5f6a7b8c");
	accepts("/dev/vfio/devices/vfio12", VDEV_NAME_CDEV, VDEV_KIND_PCI, "vfio12");

	CHECK(vdev_name_parse("fd:7", &name) == 0 && name.form == VDEV_NAME_FD && name.fd == 7,
	      "'fd:7' names inherited fd 7");
	refuses("fd:");
	refuses("fd:-1");
	refuses("fd:7x");
	refuses("fd:99999999");
	refuses("");
	refuses("3b:00");
	refuses("3b:20.0");              /* slot beyond 0x1f */
	refuses("3b:00.8");              /* function beyond 7 */
	refuses("zz:00.0");
	refuses("0000:3b:00.1x");
	refuses("83b38f8c-3c2d-4a5e-9c1b-0d4e5f6a7b8");
	refuses("83b38f8c_3c2d-4a5e-9c1b-0d4e5f6a7b8c");
	refuses("/dev/vfio/devices/vfio");
	refuses("/dev/vfio/devices/vfio1/x");
	refuses("/dev/vfio/7");
	refuses("/sys/bus/pci/devices/eth0");
	refuses("mtty");

	enum vdev_open_via via;
	CHECK(vdev_open_via_parse("group", &via) == 0 && via == VDEV_VIA_GROUP, "--open-via group");
	CHECK(vdev_open_via_parse("cdev", &via) == 0 && via == VDEV_VIA_CDEV, "--open-via cdev");
	CHECK(vdev_open_via_parse("fd", &via) < 0 && vdev_open_via_parse("x", &via) < 0,
	      "--open-via refuses other words");
	return unit_done();
}
