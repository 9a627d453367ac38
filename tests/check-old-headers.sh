#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds every source against Debian 12's own 6.1 uAPI headers (linux-libc-dev
# 6.1.x), which lack the iommufd cdev, PRECOPY_INFO and MIG_DATA_SIZE ABI that
# src/vfio_uapi.h defines itself. Hosts that installed a newer linux-libc-dev
# (bookworm-backports does) would otherwise never notice a missing guard. TAP out.
set -u
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-headers.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "1..1"
version=$(apt-cache madison linux-libc-dev 2>/dev/null | awk '$3 ~ /^6\.1\./ { print $3; exit }')
if [ -z "$version" ] || ! (cd "$work" && apt-get download -q "linux-libc-dev=$version" >/dev/null 2>&1); then
	echo "ok 1 # skip no 6.1 linux-libc-dev package to download here"
	exit 0
fi
dpkg-deb -x "$work"/linux-libc-dev_*.deb "$work/root"
if grep -q VFIO_DEVICE_BIND_IOMMUFD "$work/root/usr/include/linux/vfio.h"; then
	echo "not ok 1 - the downloaded $version headers unexpectedly have the 6.2+ ABI"
	exit 1
fi
gccinc=$(gcc -print-file-name=include)
failed=0
for f in src/*/*.c; do
	if ! gcc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Werror -fsyntax-only -nostdinc \
		-isystem "$work/root/usr/include" -isystem /usr/include/x86_64-linux-gnu \
		-isystem "$gccinc" -isystem /usr/include -Isrc -DHAVE_LIBPCI=1 \
		-DVFIOMIG_VERSION='"test"' $(pkg-config --cflags libzstd libcrypto) "$f" 2>"$work/err"; then
		echo "# $f:"
		sed 's/^/#   /' "$work/err" | head -20
		failed=1
	fi
done
if [ $failed = 0 ]; then
	echo "ok 1 - every source builds against linux-libc-dev $version"
else
	echo "not ok 1 - some sources do not build against linux-libc-dev $version"
fi
exit $failed
