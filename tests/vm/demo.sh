#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `make demo`: boots the test guest and shows vfiomig driving live mtty devices on Linux 6.12.
# Usage: tests/vm/demo.sh [--bin PATH]   (same environment knobs as tests/vm/run.sh)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=$here/../../vfiomig
case ${1:-} in
--bin) bin=${2:?--bin needs a path} ;;
--bin=*) bin=${1#--bin=} ;;
'') ;;
*) echo "usage: tests/vm/demo.sh [--bin PATH]" >&2; exit 2 ;;
esac
bin=$(realpath -e "$bin" 2>/dev/null) || { echo "demo: build vfiomig first (make)" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || "$here/build-kernel.sh" --deps-only >&2

kernel=$("$here/build-kernel.sh" | tail -n1)
workdir=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-demo.XXXXXX")
trap 'rm -rf "$workdir"' EXIT
initrd=$("$here/mkinitramfs.sh" --bin "$bin" --out "$workdir/initramfs.cpio.gz" | tail -n1)

echo "demo: booting Linux 6.12 with mtty under qemu (TCG)..." >&2
set +e
timeout --kill-after=10 "${VFIOMIG_VM_TIMEOUT:-300}" \
	qemu-system-x86_64 -M q35 -accel tcg -cpu qemu64,+rdrand -m "${VFIOMIG_VM_MEM:-1G}" -smp "${VFIOMIG_VM_SMP:-1}" \
	-nodefaults -display none -vga none -no-reboot -serial stdio \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 loglevel=5 panic=-1 norandmaps vfiomig.mode=demo ${VFIOMIG_VM_APPEND:-}" \
	-netdev user,id=net0,restrict=on -device e1000,netdev=net0 </dev/null 2>&1 \
	| tee "$workdir/console.log" \
	| awk '{ sub(/\r$/, "") }
		/^@@VFIOMIG-DEMO-BEGIN@@/ { on = 1; next }
		/^@@VFIOMIG-DEMO-END@@/ { on = 0 }
		on { print; fflush() }'
set -e
status=$(tr -d '\r' <"$workdir/console.log" | sed -n 's/^@@VFIOMIG-EXIT=\([0-9]*\)@@$/\1/p' | tail -n1)
if [ "${status:-x}" != 0 ]; then
	cp "$workdir/console.log" "${TMPDIR:-/tmp}/vfiomig-demo-console.log"
	echo "demo: FAILED (guest status ${status:-none}); console: ${TMPDIR:-/tmp}/vfiomig-demo-console.log" >&2
	exit 1
fi
