#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The build identity on the real kernel: tests/kmod's vfio_migtest is a loadable module with
# a MODULE_VERSION, so sysfs has its version and srcversion; mtty is built in: a version, no
# srcversion.
# A save | restore between two migtest devices passes the strictest --compat policy.

load '../bats/helper'

MT_SYS=/sys/bus/mdev/devices

setup() {
	kernel_only
	common_setup
	MT_A=${VFIOMIG_TEST_MIGTEST_A:?the guest did not load vfio_migtest (tests/kmod)}
	MT_B=${VFIOMIG_TEST_MIGTEST_B:?VFIOMIG_TEST_MIGTEST_B not set}
	S=$BATS_TEST_TMPDIR/state.vfm
	"$VFIOMIG" -q state --reset "$MT_A" "$MT_B" >/dev/null 2>&1 || true
}

mt_set() { # DEVICE KNOB VALUE
	echo "$3" >"$MT_SYS/$1/migtest/$2"
}

mt_get() { # DEVICE KNOB
	local v
	read -r v <"$MT_SYS/$1/migtest/$2"
	echo "$v"
}

@test "info shows migtest's module version and srcversion and the kernel release" {
	local src release
	read -r src </sys/module/vfio_migtest/srcversion
	release=$(uname -r)
	[[ -n $src ]]
	run vfiomig info "$MT_A" --json
	assert_status 0
	json_is .build.module vfio_migtest .build.module_version 1.0 .build.srcversion "$src" \
		.build.kernel_release "$release" .build.pf null
	run vfiomig info "$MT_A"
	assert_status 0
	assert_output_contains "module:       vfio_migtest  version 1.0  srcversion $src"
	assert_output_contains "kernel:       $release"
}

@test "a built-in driver (mtty) has its MODULE_VERSION but never a srcversion" {
	# built in, the kernel still makes /sys/module/mtty/version (version_sysfs_builtin),
	# but srcversion exists for loadable modules only
	[[ ! -e /sys/module/mtty/srcversion ]]
	run vfiomig info "$MTTY2_A" --json
	assert_status 0
	json_is .build.module mtty .build.module_version "$(cat /sys/module/mtty/version)" \
		.build.srcversion null .build.kernel_release "$(uname -r)"
}

@test "save | restore between two migtest devices passes --compat strict, without a warning" {
	[[ $(mt_get "$MT_A" size) == "$(mt_get "$MT_B" size)" ]] || mt_set "$MT_B" size "$(mt_get "$MT_A" size)"
	mt_set "$MT_A" fill 3
	mt_set "$MT_B" fill 4
	local sum
	sum=$(mt_get "$MT_A" checksum)
	[[ $sum != "$(mt_get "$MT_B" checksum)" ]]
	run vfiomig save "$MT_A" --resume -o "$S"
	assert_status 0
	run vfiomig restore --compat strict -i "$S" "$MT_B"
	assert_status 0
	refute_output_contains warning
	assert_equal "$(mt_get "$MT_B" checksum)" "$sum"
	run vfiomig inspect --json "$S"
	json_is .header.device.build.module vfio_migtest .header.device.build.module_version 1.0 \
		.header.device.build.recorded true
}
