#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds vfio_migtest.ko against the kernel tree that tests/vm/build-kernel.sh built, and prints
# its path. Cached by the sources' and the kernel's hash next to that kernel.
# Usage: tests/kmod/build.sh BZIMAGE      (BZIMAGE: <cache>/kernel-<key>/bzImage)
#        tests/kmod/build.sh --kdir DIR   (any configured, built kernel tree, e.g. on a real host)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

die() { echo "kmod: $*" >&2; exit 1; }

case ${1:-} in
--kdir) kdir=${2:?--kdir needs a directory} out_dir='' ;;
'' | -h | --help) sed -n 's/^# Usage: //p; s/^#        //p' "$0" >&2; exit 2 ;;
*)
	bzimage=$1
	[ -s "$bzimage" ] || die "$bzimage: no such kernel"
	key=$(basename "$(dirname "$bzimage")")
	key=${key#kernel-}
	kdir=$(dirname "$(dirname "$bzimage")")/build-$key
	out_dir=$(dirname "$(dirname "$bzimage")")
	;;
esac
[ -f "$kdir/Module.symvers" ] || die "$kdir has no Module.symvers (build the kernel with 'modules'; rm the cached kernel to rebuild)"
grep -qx 'CONFIG_MODULES=y' "$kdir/.config" || die "$kdir: kernel built without CONFIG_MODULES"

sum=$( { cat "$here"/Kbuild "$here"/*.[ch]; sha256sum "$kdir/Module.symvers"; } | sha256sum | cut -c1-16)
if [ -n "$out_dir" ] && [ -s "$out_dir/kmod-$sum/vfio_migtest.ko" ]; then
	echo "$out_dir/kmod-$sum/vfio_migtest.ko"
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-kmod.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$here"/Kbuild "$here"/*.[ch] "$work/"
log=$work/build.log
if ! make -C "$kdir" M="$work" -j"$(nproc)" modules >"$log" 2>&1; then
	cat "$log" >&2
	die "module build failed"
fi
grep -E 'warning:|error:' "$log" >&2 || true
if [ -z "$out_dir" ]; then
	cp "$work/vfio_migtest.ko" "$here/vfio_migtest.ko"
	echo "$here/vfio_migtest.ko"
	exit 0
fi
mkdir -p "$out_dir/kmod-$sum"
cp "$work/vfio_migtest.ko" "$out_dir/kmod-$sum/vfio_migtest.ko.tmp"
mv "$out_dir/kmod-$sum/vfio_migtest.ko.tmp" "$out_dir/kmod-$sum/vfio_migtest.ko"
echo "$out_dir/kmod-$sum/vfio_migtest.ko"
