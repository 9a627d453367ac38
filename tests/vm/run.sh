#!/bin/bash
# Runs the bats suites on a real kernel: boots the cached test kernel with an initramfs holding
# vfiomig, bats and the suites under qemu-system-x86_64, and brings the guest's TAP back.
# Usage: tests/vm/run.sh [--tap FILE] [--bin PATH] [--timeout SECONDS] [--files 'F...'] [--shell] [--verbose]
# Exit: the guest's bats status; 1 on boot failure, missing markers or timeout; 77 if qemu cannot run.
# Environment: VFIOMIG_VM_TIMEOUT (default 900), VFIOMIG_VM_MEM (default 1G), VFIOMIG_VM_SMP (default 2),
# VFIOMIG_VM_APPEND (extra kernel arguments), VFIOMIG_VM_KVM=1 (use KVM), VFIOMIG_CACHE_DIR (kernel cache),
# VFIOMIG_VM_FILES (like --files: run only these bats files, paths relative to the repo).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tap_file='' bin=$repo/vfiomig mode=tests verbose=0 files=${VFIOMIG_VM_FILES:-}
timeout=${VFIOMIG_VM_TIMEOUT:-900}

die() { echo "vm: $*" >&2; exit 1; }

usage() {
	sed -n 's/^# Usage: //p' "$0" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--tap) tap_file=${2:?}; shift 2 ;;
	--tap=*) tap_file=${1#--tap=}; shift ;;
	--bin) bin=${2:?}; shift 2 ;;
	--bin=*) bin=${1#--bin=}; shift ;;
	--timeout) timeout=${2:?}; shift 2 ;;
	--timeout=*) timeout=${1#--timeout=}; shift ;;
	--files) files=${2?}; shift 2 ;;
	--files=*) files=${1#--files=}; shift ;;
	--shell) mode=shell; shift ;;
	--mode=*) mode=${1#--mode=}; shift ;;
	-v|--verbose) verbose=1; shift ;;
	-h|--help) usage ;;
	*) echo "vm: unknown argument: $1" >&2; usage ;;
	esac
done
files_arg=
for f in $files; do
	case $f in tests/bats/*.bats|tests/vm/*.bats) ;; *) die "--files: '$f' is not tests/bats/*.bats or tests/vm/*.bats" ;; esac
	[ -f "$repo/$f" ] || die "--files: $f does not exist"
	files_arg=${files_arg:+$files_arg,}$f
done
case $timeout in ''|*[!0-9]*) die "--timeout wants whole seconds, got '$timeout'" ;; esac

qemu_unusable() {
	cat >&2 <<EOF

vm: ********************************************************************
vm: SKIPPING THE REAL-KERNEL SUITE: qemu-system-x86_64 cannot run here.
vm: $1
vm: Install qemu-system-x86 (tests/vm/build-kernel.sh --deps-only does it).
vm: ********************************************************************

EOF
	exit 77
}

if ! command -v qemu-system-x86_64 >/dev/null; then
	"$here/build-kernel.sh" --deps-only >&2 || true
fi
command -v qemu-system-x86_64 >/dev/null || qemu_unusable "qemu-system-x86_64 is not installed."
qemu_version=$(qemu-system-x86_64 -version 2>&1 | head -n1) || qemu_unusable "qemu-system-x86_64 -version failed: $qemu_version"
bin=$(realpath -e "$bin" 2>/dev/null) || die "vfiomig binary not found (build it with 'make', or pass --bin PATH)"

kernel=$("$here/build-kernel.sh" | tail -n1)
[ -s "$kernel" ] || die "kernel build did not produce a bzImage"

workdir=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-vm.XXXXXX")
console=$workdir/console.log
keep_workdir=1
cleanup() { [ "$keep_workdir" = 1 ] || rm -rf "$workdir"; }
trap cleanup EXIT

initrd=$("$here/mkinitramfs.sh" --bin "$bin" --out "$workdir/initramfs.cpio.gz" | tail -n1)

accel=(${VFIOMIG_VM_ACCEL:--accel tcg})
# TCG by default: nested KVM is often unusable on CI hosts (it stops the guest, not qemu).
if [ -w /dev/kvm ] && [ "${VFIOMIG_VM_KVM:-0}" = 1 ]; then
	accel=(-accel kvm -accel tcg)
fi
# shellcheck disable=SC2054 # commas belong to qemu options
qemu=(qemu-system-x86_64 -M q35 "${accel[@]}" -m "${VFIOMIG_VM_MEM:-1G}" -smp "${VFIOMIG_VM_SMP:-2}"
	-nodefaults -display none -vga none -no-reboot
	-kernel "$kernel" -initrd "$initrd"
	-append "console=ttyS0 loglevel=5 panic=-1 vfiomig.mode=$mode${files_arg:+ vfiomig.files=$files_arg} ${VFIOMIG_VM_APPEND:-}"
	-netdev user,id=net0,restrict=on -device e1000,netdev=net0 ${VFIOMIG_VM_QEMU_ARGS:-})

if [ "$mode" = shell ]; then
	keep_workdir=0
	"${qemu[@]}" -serial mon:stdio
	exit
fi

echo "vm: booting $(basename "$(dirname "$kernel")") with $(basename "$bin") (timeout ${timeout}s)" >&2
start=$(date +%s)
set +e
if [ "$verbose" = 1 ]; then
	timeout --kill-after=10 "$timeout" "${qemu[@]}" -serial stdio </dev/null 2>&1 | tee "$console" >&2
	qemu_status=${PIPESTATUS[0]}
else
	timeout --kill-after=10 "$timeout" "${qemu[@]}" -serial stdio </dev/null >"$console" 2>&1
	qemu_status=$?
fi
set -e
elapsed=$(( $(date +%s) - start ))

tap=$(tr -d '\r' <"$console" | sed -n '/^@@VFIOMIG-TAP-BEGIN@@$/,/^@@VFIOMIG-TAP-END@@$/p' | sed '1d;$d')
guest_status=$(tr -d '\r' <"$console" | sed -n 's/^@@VFIOMIG-EXIT=\([0-9]*\)@@$/\1/p' | tail -n1)

failure=
if [ "$qemu_status" = 124 ] || [ "$qemu_status" = 137 ]; then
	failure="guest did not finish within ${timeout}s and was killed"
elif [ "$qemu_status" != 0 ] && ! grep -q '@@VFIOMIG-GUEST-READY@@' "$console"; then
	# The guest leaves through reboot -f or panic=-1, both exit status 0: qemu itself failed.
	qemu_unusable "qemu exited with status $qemu_status: $(grep -m3 'qemu' "$console" | tr '\n' ' ')"
elif ! grep -q '@@VFIOMIG-GUEST-READY@@' "$console"; then
	failure="guest did not reach /init's setup (kernel panic or boot failure)"
elif [ -z "$guest_status" ] || { [ "$mode" = tests ] && ! grep -q '@@VFIOMIG-TAP-END@@' "$console"; }; then
	failure="guest output lacks the TAP markers (crash or panic?)"
fi
if grep -q '@@VFIOMIG-SETUP-ERROR@@' "$console"; then
	tr -d '\r' <"$console" | sed -n 's/^@@VFIOMIG-SETUP-ERROR@@ /vm: guest setup: /p' >&2
fi

if [ -n "$tap" ]; then
	printf '%s\n' "$tap"
	if [ -n "$tap_file" ]; then
		mkdir -p "$(dirname "$tap_file")"
		printf '%s\n' "$tap" >"$tap_file"
	fi
elif [ -n "$tap_file" ]; then
	mkdir -p "$(dirname "$tap_file")"
	printf '1..1\nnot ok 1 real-kernel suite: %s\n' "${failure:-no TAP}" >"$tap_file"
fi

if [ -n "$failure" ]; then
	echo "vm: FAILED: $failure after ${elapsed}s" >&2
	echo "vm: last console lines:" >&2
	tr -d '\r' <"$console" | grep -v '^@@' | tail -n 25 | sed 's/^/vm: | /' >&2
	echo "vm: full console log: $console" >&2
	exit 1
fi
echo "vm: guest finished in ${elapsed}s, bats exit status $guest_status" >&2
if [ "$guest_status" != 0 ]; then
	echo "vm: full console log (with dmesg): $console" >&2
	exit "$guest_status"
fi
keep_workdir=0
exit 0
