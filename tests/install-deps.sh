#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs what building and testing vfiomig needs on Debian 12 (run as root).
# The real-kernel suite's own needs (kernel source, qemu) are installed by
# tests/vm/build-kernel.sh when it first runs.
set -eu
packages="build-essential pkg-config libpci-dev libzstd-dev libssl-dev pci.ids
	bats jq gojq autoconf bash-completion zsh mandoc time clang libclang-rt-14-dev
	hyperfine socat zstd openssl python3 dpkg-dev debhelper lintian fakeroot
	qemu-system-x86 busybox-static bash-static cpio flex bison bc libelf-dev xz-utils"
missing=
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	export DEBIAN_FRONTEND=noninteractive
	# Wait for another apt (build-kernel.sh, unattended-upgrades) to let go of the dpkg lock.
	apt-get -o DPkg::Lock::Timeout=600 update -q
	apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $missing
fi
