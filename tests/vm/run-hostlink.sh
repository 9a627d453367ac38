#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Host-to-guest live migration over TCP with TLS 1.3 (PSK): the host migrates a fake mtty-2
# of the test double into a real mtty-2 of the QEMU guest (Linux 6.12) through a QEMU
# user-networking forward bound to 127.0.0.1, then tries again with a wrong key.
# Usage: tests/vm/run-hostlink.sh [--bin PATH] [--timeout SECONDS] [--verbose]
# Output: TAP on stdout. Exit: 0 all passed, 1 a failure, 77 if qemu cannot run.
# Environment: VFIOMIG_VM_MEM, VFIOMIG_VM_SMP, VFIOMIG_VM_APPEND, VFIOMIG_VM_KVM, VFIOMIG_CACHE_DIR
# as for run.sh; VFIOMIG_HOSTLINK_TIMEOUT (default 600, the whole run).
#
# Guest side: tests/vm/hostlink-guest.sh, run by /init (vfiomig.mode=run). The guest has
# run.sh's e1000 at 00:02.0 (bound to vfio-pci by /init) and a second e1000 at 00:03.0 that
# /init leaves alone (vfiomig.keep_nic=) and hostlink-guest.sh configures as 10.0.2.15.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=$repo/vfiomig verbose=0
timeout=${VFIOMIG_HOSTLINK_TIMEOUT:-600}
step_timeout=240 # one guest marker (boot included: TCG boots in seconds, the slack is for slow CI)
hl_mac=52:54:00:76:66:6d
hl_bdf=0000:00:03.0

die() { echo "hostlink: $*" >&2; exit 1; }
note() { echo "hostlink: $*" >&2; }

while [ $# -gt 0 ]; do
	case $1 in
	--bin) bin=${2:?}; shift 2 ;;
	--bin=*) bin=${1#--bin=}; shift ;;
	--timeout) timeout=${2:?}; shift 2 ;;
	--timeout=*) timeout=${1#--timeout=}; shift ;;
	-v|--verbose) verbose=1; shift ;;
	-h|--help) sed -n 's/^# Usage: //p' "$0" >&2; exit 2 ;;
	*) echo "hostlink: unknown argument: $1" >&2; exit 2 ;;
	esac
done
case $timeout in ''|*[!0-9]*) die "--timeout wants whole seconds, got '$timeout'" ;; esac

qemu_unusable() {
	keep_workdir=0
	cat >&2 <<EOF

hostlink: ********************************************************************
hostlink: SKIPPING THE HOST-TO-GUEST MIGRATION: qemu-system-x86_64 cannot run here.
hostlink: $1
hostlink: Install qemu-system-x86 (tests/vm/build-kernel.sh --deps-only does it).
hostlink: ********************************************************************

EOF
	printf '1..1\nok 1 # skip host-to-guest migration: qemu cannot run here\n'
	exit 77
}

command -v qemu-system-x86_64 >/dev/null || qemu_unusable "qemu-system-x86_64 is not installed."
qemu-system-x86_64 -version >/dev/null 2>&1 || qemu_unusable "qemu-system-x86_64 -version failed"
bin=$(realpath -e "$bin" 2>/dev/null) || die "vfiomig binary not found (build it with 'make', or pass --bin PATH)"

# make_fake_root and the fake devices' names
# shellcheck source=../bats/helper.bash
source "$repo/tests/bats/helper.bash"
[ -f "$DOUBLE_LIB" ] && [ -x "$FAKEDEV" ] || die "test double not built: $DOUBLE_LIB (make double)"

kernel=$("$here/build-kernel.sh" | tail -n1)
[ -s "$kernel" ] || die "kernel build did not produce a bzImage"

workdir=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-hostlink.XXXXXX")
console=$workdir/console.log
qemu_pid=
keep_workdir=1
cleanup() {
	if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
		kill "$qemu_pid" 2>/dev/null
		wait "$qemu_pid" 2>/dev/null
	fi
	if [ "$keep_workdir" = 1 ]; then note "work directory kept: $workdir"; else rm -rf "$workdir"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# Keys: the guest gets psk inside its initramfs; wrong.psk never leaves the host.
(umask 077; head -c 32 /dev/urandom >"$workdir/psk"; head -c 32 /dev/urandom >"$workdir/wrong.psk")

# The host's fake mtty-2 A carries a real mtty migration blob (samples/vfio-mdev/mtty.c,
# struct mtty_data: 24-byte header, two 36-byte struct serial_port) whose port 0 FIFO holds
# "hostlink", so the bytes can be read back from the guest's real UART.
root=$workdir/root
make_fake_root "$root" >/dev/null
mtty_port() { # FIFO-TEXT (at most 16 bytes)
	local text=$1 n=${#1} i
	printf '\0\0\0\0\0\0\0\0'                     # uart_reg[8]
	printf '%s' "$text"                            # rxtx.fifo[16]
	for ((i = n; i < 16; i++)); do printf '\0'; done
	printf "\\x$(printf %02x $((n % 16)))\\0\\x$(printf %02x "$n")" # head, tail, count
	printf '\0\0\0\0\0'                            # dlab, overrun, pad, divisor
	printf '\0\x10\x01\0'                          # fcr, max_fifo_size 16, trigger level 1, pad
}
{
	printf '\x4e\x2c\x3e\x8c\x89\x09\x9d\x7e' # MTTY_MAGIC, little-endian
	printf '\x01\0\0\0\0\0\0\0\x02\0\0\0\0\0\0\0' # major 1, minor 0, nr_ports 2, flags 0
	mtty_port hostlink
	mtty_port ''
} >"$workdir/mtty-blob"
[ "$(stat -c %s "$workdir/mtty-blob")" = 96 ] || die "mtty blob is not 96 bytes"
"$FAKEDEV" knob "$root" "$DOUBLE_MTTY2_A" "blob=$workdir/mtty-blob"

host_vfiomig() {
	VFIOMIG_SYSROOT=$root LD_PRELOAD=$DOUBLE_LIB "$bin" "$@"
}
host_state() { host_vfiomig state "$1" 2>&1; }

initrd=$(VFIOMIG_VM_EXTRA_FILES="$here/hostlink-guest.sh:/repo/tests/vm/hostlink-guest.sh $workdir/psk:/etc/vfiomig-hostlink.psk" \
	"$here/mkinitramfs.sh" --bin "$bin" --out "$workdir/initramfs.cpio.gz" | tail -n1)

# A free loopback port for the forward (qemu refuses to start if it is taken; then retry).
pick_port() {
	local p i
	for i in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		[ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return; }
	done
	die "no free TCP port found on 127.0.0.1"
}

accel=(-accel tcg)
if [ -w /dev/kvm ] && [ "${VFIOMIG_VM_KVM:-0}" = 1 ]; then
	accel=(-accel kvm -accel tcg)
fi

start=$(date +%s)
deadline=$((start + timeout))
boot_qemu() {
	hport=$(pick_port)
	# shellcheck disable=SC2054 # commas belong to qemu options
	qemu=(qemu-system-x86_64 -M q35 "${accel[@]}" -cpu qemu64,+rdrand -m "${VFIOMIG_VM_MEM:-1G}" -smp "${VFIOMIG_VM_SMP:-1}"
		-nodefaults -display none -vga none -no-reboot
		-kernel "$kernel" -initrd "$initrd"
		-append "console=ttyS0 loglevel=5 panic=-1 norandmaps vfiomig.mode=run vfiomig.run=/repo/tests/vm/hostlink-guest.sh vfiomig.keep_nic=$hl_bdf vfiomig.hostlink_mac=$hl_mac ${VFIOMIG_VM_APPEND:-}"
		-netdev user,id=net0,restrict=on -device e1000,netdev=net0,addr=0x2
		-netdev "user,id=hl,restrict=on,hostfwd=tcp:127.0.0.1:$hport-:7070"
		-device "e1000,netdev=hl,addr=0x3,mac=$hl_mac"
		-serial stdio)
	: >"$console"
	timeout --kill-after=10 "$timeout" "${qemu[@]}" </dev/null >"$console" 2>&1 &
	qemu_pid=$!
	if [ "$verbose" = 1 ]; then
		tail -f --pid="$qemu_pid" "$console" | sed 's/^/hostlink: | /' >&2 &
	fi
}

# wait_marker PATTERN SECONDS: 0 when the console has a line matching PATTERN; 1 on timeout
# or when qemu exited without it.
wait_marker() {
	local until=$(($(date +%s) + $2))
	[ "$until" -gt "$deadline" ] && until=$deadline
	while :; do
		tr -d '\r' <"$console" | grep -qE "$1" && return 0
		kill -0 "$qemu_pid" 2>/dev/null || { tr -d '\r' <"$console" | grep -qE "$1"; return; }
		[ "$(date +%s)" -ge "$until" ] && return 1
		sleep 0.2
	done
}
marker() { # PATTERN: the first matching line, \r removed
	tr -d '\r' <"$console" | grep -m1 -E "$1" || true
}

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)) failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	local l
	for l in "$@"; do echo "# $l"; done
}
check() { # DESCRIPTION ACTUAL EXPECTED
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "expected: $3" "actual:   $2"; fi
}
bail() { # REASON
	not_ok "$1"
	echo "1..$n"
	note "FAILED: $1 after $(($(date +%s) - start))s; last console lines:"
	tr -d '\r' <"$console" | tail -n 30 | sed 's/^/hostlink: | /' >&2
	exit 1
}

note "booting $(basename "$(dirname "$kernel")") with $(basename "$bin"), forward 127.0.0.1:PORT -> guest :7070 (timeout ${timeout}s)"
for attempt in 1 2 3; do
	boot_qemu
	wait_marker '@@VFIOMIG-GUEST-READY@@|@@HOSTLINK-LISTENING-1@@' "$step_timeout" && break
	if ! kill -0 "$qemu_pid" 2>/dev/null; then
		qemu_status=0
		wait "$qemu_pid" || qemu_status=$?
		qemu_pid=
		if grep -qi 'forward' "$console" && [ "$attempt" -lt 3 ]; then
			note "port $hport taken, retrying: $(grep -m1 -i forward "$console")"
			continue
		fi
		case $qemu_status in 0 | 124 | 137) ;; *)
			grep -q '@@VFIOMIG-GUEST-READY@@' "$console" ||
				qemu_unusable "qemu exited with status $qemu_status: $(grep -m3 -i 'qemu' "$console" | tr '\n' ' ')" ;;
		esac
		bail "guest did not boot (qemu exited with status $qemu_status)"
	fi
	bail "guest did not boot within ${step_timeout}s"
done
note "guest up after $(($(date +%s) - start))s, forward 127.0.0.1:$hport"

# 1. A good key: the state crosses, the host's device stops, the guest's runs with the bytes.
wait_marker '@@HOSTLINK-LISTENING-1@@|@@HOSTLINK-ERROR' "$step_timeout" || bail "guest receiver did not listen"
[ -n "$(marker '@@HOSTLINK-LISTENING-1@@')" ] || bail "guest receiver failed: $(marker '@@HOSTLINK-ERROR')"
ok "the guest listens on its host link (TLS-PSK receiver on 0.0.0.0:7070)"
check "the host's fake mtty-2 runs before the migration" "$(host_state "$DOUBLE_MTTY2_A")" RUNNING

set +e
out=$(timeout 180 env VFIOMIG_SYSROOT="$root" LD_PRELOAD="$DOUBLE_LIB" \
	"$bin" migrate "$DOUBLE_MTTY2_A" --to "127.0.0.1:$hport" --psk-file "$workdir/psk" --timeout 90 2>&1)
status=$?
set -e
note "migrate (good key): exit $status: $out"
check "host -> guest migrate over TCP with TLS-PSK exits 0" "$status" 0
check "the host's fake mtty-2 ends STOP (the guest committed)" "$(host_state "$DOUBLE_MTTY2_A")" STOP

wait_marker '@@HOSTLINK-RESULT-1 ' "$step_timeout" || bail "guest did not report the first receive"
r1=$(marker '@@HOSTLINK-RESULT-1 ')
note "guest: $r1"
tr -d '\r' <"$console" | sed -n '/@@HOSTLINK-LISTENING-1@@/,/@@HOSTLINK-RESULT-1 /s/^hostlink-guest: /hostlink: guest: /p' >&2
check "the guest's receiver exits 0" "$(sed -n 's/.* status=\([0-9]*\) .*/\1/p' <<<"$r1")" 0
if tr -d '\r' <"$console" | grep -q '^hostlink-guest: vfiomig: received .*committed'; then
	ok "the guest's receiver reports the commit"
else
	not_ok "the guest's receiver reports the commit" "no 'committed' line from the guest's receiver"
fi
check "the guest's real mtty-2 is RUNNING afterwards" "$(sed -n 's/.* state=\([^ ]*\) .*/\1/p' <<<"$r1")" RUNNING
check "the FIFO bytes cross from the host's device to the guest's UART" \
	"$(sed -n 's/.* fifo=\(.*\)@@$/\1/p' <<<"$r1")" hostlink

# 2. A wrong key: refused in the handshake, the host's device keeps running.
wait_marker '@@HOSTLINK-LISTENING-2@@|@@HOSTLINK-ERROR' "$step_timeout" || bail "guest receiver 2 did not listen"
[ -n "$(marker '@@HOSTLINK-LISTENING-2@@')" ] || bail "guest receiver 2 failed: $(marker '@@HOSTLINK-ERROR')"
check "the host's other fake mtty-2 runs before the second migration" "$(host_state "$DOUBLE_MTTY2_B")" RUNNING
set +e
out=$(timeout 180 env VFIOMIG_SYSROOT="$root" LD_PRELOAD="$DOUBLE_LIB" \
	"$bin" migrate "$DOUBLE_MTTY2_B" --to "127.0.0.1:$hport" --psk-file "$workdir/wrong.psk" --timeout 90 2>&1)
status=$?
set -e
note "migrate (wrong key): exit $status: $out"
check "a wrong pre-shared key: migrate exits 6" "$status" 6
case $out in
*"pre-shared key"*) ok "the refusal names the pre-shared key" ;;
*) not_ok "the refusal names the pre-shared key" "output: $out" ;;
esac
check "a wrong pre-shared key: the host's fake mtty-2 stays RUNNING" "$(host_state "$DOUBLE_MTTY2_B")" RUNNING

wait_marker '@@HOSTLINK-RESULT-2 ' "$step_timeout" || bail "guest did not report the second receive"
r2=$(marker '@@HOSTLINK-RESULT-2 ')
note "guest: $r2"
check "a wrong pre-shared key: the guest's receiver exits 6" "$(sed -n 's/.* status=\([0-9]*\) .*/\1/p' <<<"$r2")" 6
check "a wrong pre-shared key: the guest's mtty-2 stays RUNNING" "$(sed -n 's/.* state=\([^ ]*\) .*/\1/p' <<<"$r2")" RUNNING

# The guest powers itself off after reporting.
wait_marker '@@VFIOMIG-EXIT=' 60 || true
check "the guest script finishes with exit 0" "$(marker '@@VFIOMIG-EXIT=' | sed -n 's/^@@VFIOMIG-EXIT=\([0-9]*\)@@$/\1/p')" 0
for _ in $(seq 300); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.1; done
qemu_status=0
if kill -0 "$qemu_pid" 2>/dev/null; then
	qemu_status=timeout
else
	wait "$qemu_pid" || qemu_status=$?
fi
qemu_pid=
check "the guest powers off" "$qemu_status" 0

echo "1..$n"
note "$((n - failed))/$n passed in $(($(date +%s) - start))s"
if [ "$failed" != 0 ]; then
	note "full console log: $console"
	exit 1
fi
keep_workdir=0
exit 0
