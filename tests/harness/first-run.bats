#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# A first run without the build dependencies: make and make demo stop before compiling
# anything, naming the missing pkg-config modules and the Debian packages that provide
# them (not a compiler error about pci/pci.h). A pkg-config wrapper fakes the absence.

load tree

setup() {
	T=$BATS_TEST_TMPDIR
	copy_tree "$T/src"
	# pkg-config that knows every module but the ones in $HIDE
	cat >"$T/pkg-config" <<'EOS'
#!/bin/sh
for a; do
	for h in $HIDE; do [ "$a" = "$h" ] && exit 1; done
done
exec pkg-config "$@"
EOS
	chmod +x "$T/pkg-config"
}

@test "make without libpci's headers names libpci and libpci-dev, and compiles nothing" {
	HIDE=libpci run make -C "$T/src" PKG_CONFIG="$T/pkg-config"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"missing libpci "* ]]
	[[ $output == *"sudo apt-get install libpci-dev"* ]]
	[[ $output == *"tests/install-deps.sh"* ]]
	[[ $output == *"make WITH_LIBPCI=0"* ]]
	[[ $output != *"pci/pci.h"* ]]
	[ ! -e "$T/src/build/src" ]
	[ ! -e "$T/src/vfiomig" ]
}

@test "make demo without zstd and OpenSSL names each package once" {
	HIDE="libzstd libcrypto libssl" run make -C "$T/src" PKG_CONFIG="$T/pkg-config" demo
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"missing libzstd libcrypto libssl "* ]]
	[[ $output == *"sudo apt-get install libzstd-dev libssl-dev"$'\n'* ]]
	[ ! -e "$T/src/build/src" ]
}

@test "make without pkg-config itself names pkg-config" {
	run make -C "$T/src" PKG_CONFIG="$T/no-such-pkg-config"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"missing pkg-config "* ]]
	[[ $output == *"sudo apt-get install pkg-config libzstd-dev libssl-dev libpci-dev"* ]]
}

@test "make WITH_LIBPCI=0 does not ask for libpci" {
	HIDE="libpci libzstd" run make -C "$T/src" PKG_CONFIG="$T/pkg-config" WITH_LIBPCI=0
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"missing libzstd "* ]]
	[[ $output != *libpci* ]]
}
