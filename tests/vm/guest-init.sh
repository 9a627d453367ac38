#!/bin/sh
# /init of the test guest (busybox sh): mounts the pseudo file systems, creates the mtty
# instances (and, when the initramfs has tests/kmod's driver, the migtest ones), binds the e1000 to vfio-pci in no-IOMMU mode, then runs the mode named on the
# kernel command line (vfiomig.mode=tests|demo|run|shell; default tests) and powers off.
# Everything the host parses is framed by @@VFIOMIG-...@@ marker lines on the console.

MTTY2_A=7d8a3c20-0c1e-4d5a-9d3b-1a2b3c4d5e01
MTTY2_B=7d8a3c20-0c1e-4d5a-9d3b-1a2b3c4d5e02
MTTY1=7d8a3c20-0c1e-4d5a-9d3b-1a2b3c4d5e03
MTTY_TYPES=/sys/class/mdev_bus/mtty/mdev_supported_types
# tests/kmod's vfio_migtest (loaded when the initramfs has it): four migtest-1 (A and B,
# C and D for migrations of several devices), one migtest-2
MIGTEST_A=5e1f0c3a-7a2b-4c1d-8e9f-0a1b2c3d4e01
MIGTEST_B=5e1f0c3a-7a2b-4c1d-8e9f-0a1b2c3d4e02
MIGTEST_OTHER=5e1f0c3a-7a2b-4c1d-8e9f-0a1b2c3d4e03
MIGTEST_C=5e1f0c3a-7a2b-4c1d-8e9f-0a1b2c3d4e04
MIGTEST_D=5e1f0c3a-7a2b-4c1d-8e9f-0a1b2c3d4e05
MIGTEST_KO=/usr/lib/modules/vfio_migtest.ko
MIGTEST_TYPES=/sys/class/mdev_bus/migtest/mdev_supported_types

export PATH=/usr/local/bin:/usr/bin:/usr/sbin
export HOME=/root TMPDIR=/tmp TERM=dumb LC_ALL=C

setup_error() {
	echo "@@VFIOMIG-SETUP-ERROR@@ $*"
}

power_off() {
	sync
	reboot -f
	sleep 10
}

mount_all() {
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev 2>/dev/null
	mount -t tmpfs tmpfs /tmp
	mount -t tmpfs tmpfs /run
	mkdir -p /dev/pts /dev/shm
	mount -t devpts devpts /dev/pts 2>/dev/null
	mount -t tmpfs tmpfs /dev/shm
	[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
	[ -e /dev/stdin ] || ln -s /proc/self/fd/0 /dev/stdin
	[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
	[ -e /dev/stderr ] || ln -s /proc/self/fd/2 /dev/stderr
	hostname vfiomig-vm
	# loopback, for migrate/receive over TCP inside the guest
	ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
}

create_mdev() {
	type=$1 uuid=$2 types=${3:-$MTTY_TYPES}
	[ -d "/sys/bus/mdev/devices/$uuid" ] && return 0
	echo "$uuid" >"$types/$type/create" || setup_error "cannot create $type mdev $uuid"
}

# Loads vfio_migtest and creates its devices; without the module nothing is exported and
# tests/vm/migtest.bats fails its setup.
setup_migtest() {
	[ -f "$MIGTEST_KO" ] || return 0
	insmod "$MIGTEST_KO" || { setup_error "insmod $MIGTEST_KO failed"; return 0; }
	create_mdev migtest-1 "$MIGTEST_A" "$MIGTEST_TYPES"
	create_mdev migtest-1 "$MIGTEST_B" "$MIGTEST_TYPES"
	create_mdev migtest-2 "$MIGTEST_OTHER" "$MIGTEST_TYPES"
	create_mdev migtest-1 "$MIGTEST_C" "$MIGTEST_TYPES"
	create_mdev migtest-1 "$MIGTEST_D" "$MIGTEST_TYPES"
	export VFIOMIG_TEST_MIGTEST_A=$MIGTEST_A VFIOMIG_TEST_MIGTEST_B=$MIGTEST_B
	export VFIOMIG_TEST_MIGTEST_OTHER=$MIGTEST_OTHER
	export VFIOMIG_TEST_MIGTEST_C=$MIGTEST_C VFIOMIG_TEST_MIGTEST_D=$MIGTEST_D
}

# The first Intel 82540EM (QEMU's e1000) goes to vfio-pci; without an IOMMU this needs noiommu.
# vfiomig.keep_nic=BDF names an e1000 that stays a network card (run-hostlink.sh's link).
bind_e1000() {
	echo Y >/sys/module/vfio/parameters/enable_unsafe_noiommu_mode \
		|| setup_error "cannot enable vfio noiommu mode"
	keep=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^vfiomig\.keep_nic=//p')
	for dev in /sys/bus/pci/devices/*; do
		[ "$(cat "$dev/vendor")" = 0x8086 ] && [ "$(cat "$dev/device")" = 0x100e ] || continue
		bdf=${dev##*/}
		[ "$bdf" = "$keep" ] && continue
		echo vfio-pci >"$dev/driver_override"
		[ -e "$dev/driver" ] && echo "$bdf" >"$dev/driver/unbind"
		echo "$bdf" >/sys/bus/pci/drivers_probe
		[ "$(basename "$(readlink "$dev/driver")")" = vfio-pci ] \
			|| setup_error "cannot bind $bdf to vfio-pci"
		NOMIG=$bdf
		return 0
	done
	setup_error "no e1000 (8086:100e) PCI device found"
}

setup_devices() {
	if [ -d "$MTTY_TYPES" ]; then
		create_mdev mtty-2 "$MTTY2_A"
		create_mdev mtty-2 "$MTTY2_B"
		create_mdev mtty-1 "$MTTY1"
	else
		setup_error "no mtty parent device ($MTTY_TYPES missing)"
	fi
	setup_migtest
	NOMIG=
	bind_e1000
	export VFIOMIG_TEST_BACKEND=kernel
	export VFIOMIG_TEST_BIN=/repo/vfiomig
	export VFIOMIG_TEST_MTTY2_A=$MTTY2_A VFIOMIG_TEST_MTTY2_B=$MTTY2_B VFIOMIG_TEST_MTTY1=$MTTY1
	export VFIOMIG_TEST_NOMIG=$NOMIG
	export VFIOMIG_TEST_TOOLS=/repo/tests/tools
}

# Runs the suites with the TAP both live and, afterwards, framed by markers with kernel
# messages silenced so that nothing interleaves with it.
run_tests() {
	cd /repo || return 1
	files=
	only=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^vfiomig\.files=//p' | tr ',' ' ')
	for f in ${only:-tests/bats/*.bats tests/vm/*.bats}; do
		[ -e "$f" ] && files="$files $f"
	done
	if [ -z "$files" ]; then
		echo "1..0 # no bats files in the initramfs" >/tmp/tap
		status=0
	else
		# Live on the console as each test ends (the host times them by it), and kept.
		# shellcheck disable=SC2086
		{
			bats --tap $files 2>&1
			echo $? >/tmp/bats-status
		} | tee /tmp/tap
		status=$(cat /tmp/bats-status)
	fi
	dmesg -n 1
	echo "@@VFIOMIG-TAP-BEGIN@@"
	cat /tmp/tap
	echo "@@VFIOMIG-TAP-END@@"
	echo "@@VFIOMIG-EXIT=$status@@"
	echo "@@VFIOMIG-DMESG-BEGIN@@"
	dmesg
	echo "@@VFIOMIG-DMESG-END@@"
}

mount_all
mode=tests
for arg in $(cat /proc/cmdline); do
	case $arg in vfiomig.mode=*) mode=${arg#vfiomig.mode=} ;; esac
done
setup_devices
echo "@@VFIOMIG-GUEST-READY@@ mode=$mode"
case $mode in
tests) run_tests ;;
demo)
	dmesg -n 1
	echo "@@VFIOMIG-DEMO-BEGIN@@"
	cd /repo && bash tests/vm/demo-guest.sh
	status=$?
	echo "@@VFIOMIG-DEMO-END@@"
	echo "@@VFIOMIG-EXIT=$status@@"
	;;
run)
	# vfiomig.run=PROGRAM (debugging hook: any program in the initramfs' PATH)
	run=
	for arg in $(cat /proc/cmdline); do
		case $arg in vfiomig.run=*) run=${arg#vfiomig.run=} ;; esac
	done
	cd /repo && "$run"
	echo "@@VFIOMIG-EXIT=$?@@"
	;;
shell)
	echo "mtty: $MTTY2_A $MTTY2_B (mtty-2), $MTTY1 (mtty-1); e1000 on vfio-pci: $NOMIG"
	[ -n "${VFIOMIG_TEST_MIGTEST_A:-}" ] &&
		echo "migtest: $MIGTEST_A $MIGTEST_B $MIGTEST_C $MIGTEST_D (migtest-1), $MIGTEST_OTHER (migtest-2)"
	cd /repo && setsid cttyhack bash -l
	;;
*) setup_error "unknown vfiomig.mode=$mode" ;;
esac
power_off
