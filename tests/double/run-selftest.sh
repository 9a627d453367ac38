#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the double and its selftest, makes a fake root and runs the selftest (TAP on stdout).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
set --
for src in "$here"/*.c; do
	[ "$src" = "$here/selftest.c" ] || set -- "$@" "$src"
done
$cc -O2 -g -Wall -Wextra -fPIC -shared -o "$here/libvfio-double.so" "$@" -ldl
$cc -O2 -g -Wall -Wextra -o "$here/selftest" "$here/selftest.c"
root=$(mktemp -d "${TMPDIR:-/tmp}/vfio-double-selftest.XXXXXX")
trap 'rm -rf "$root"' EXIT
"$here/fakedev" init "$root"
"$here/fakedev" add "$root" --kind mdev --name 11111111-2222-3333-4444-555555555555 --type mtty-2 --group 4 --cdev vfio0
"$here/fakedev" add "$root" --kind pci --name 0000:00:05.0 --flags 7 --size 96 --group 5 --cdev vfio1
"$here/fakedev" add "$root" --kind pci --name 0000:00:03.0 --flags none --group 6 --cdev vfio2
VFIOMIG_SYSROOT=$root LD_PRELOAD=$here/libvfio-double.so \
SELFTEST_MDEV=11111111-2222-3333-4444-555555555555 SELFTEST_MDEV_CDEV=vfio0 SELFTEST_MDEV_GROUP=4 \
SELFTEST_PCIMIG=0000:00:05.0 SELFTEST_PCIMIG_CDEV=vfio1 SELFTEST_NOMIG_CDEV=vfio2 \
	"$here/selftest"
