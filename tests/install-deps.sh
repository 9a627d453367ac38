#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs what building and testing vfiomig needs on Debian 12 (run as root).
# The real-kernel suite's own needs (kernel source, qemu) are installed by
# tests/vm/build-kernel.sh when it first runs.
# Usage: tests/install-deps.sh [--bench]
#   --bench  also what only the benchmarks use: pv (bench/pipeline.sh) and
#            hyperfine (bench/stream.sh, in the default set too). The build and
#            the tests do without them, so CI need not pay for pv.
set -eu
bench=
for arg in "$@"; do
	case $arg in
	--bench) bench="pv hyperfine" ;;
	-h|--help)
		sed -n 's/^# \{0,1\}//; 3,9p' "$0"
		exit 0
		;;
	*)
		echo "install-deps.sh: unknown option '$arg' (--bench, --help)" >&2
		exit 2
		;;
	esac
done
packages="build-essential pkg-config libpci-dev libzstd-dev libssl-dev pci.ids
	bats jq gojq autoconf bash-completion zsh mandoc time clang libclang-rt-14-dev
	hyperfine socat zstd openssl python3 iproute2 dpkg-dev debhelper lintian fakeroot
	qemu-system-x86 busybox-static bash-static cpio flex bison bc libelf-dev xz-utils
	$bench"
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
