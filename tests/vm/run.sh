#!/bin/bash
# Runs the bats suites on a real kernel: boots the cached test kernel with an initramfs holding
# vfiomig, bats and the suites under qemu-system-x86_64, and brings the guest's TAP back.
# Usage: tests/vm/run.sh [--tap FILE] [--times FILE] [--bin PATH] [--timeout SECONDS] [--files 'F...'] [--jobs N] [--shell] [--verbose]
# --times FILE: each test's guest time (ms, file, name), slowest first; the per-file sums are
# printed for the table below.
# Exit: the guest's bats status; 1 on boot failure, missing markers or timeout; 77 if qemu cannot run.
# Environment: VFIOMIG_VM_TIMEOUT (default 900), VFIOMIG_VM_MEM (default 1G), VFIOMIG_VM_SMP (default 1:
# two single-CPU guests on two cores beat two with two CPUs each by ~25%),
# VFIOMIG_VM_APPEND (extra kernel arguments), VFIOMIG_VM_KVM=1 (use KVM), VFIOMIG_CACHE_DIR (kernel cache),
# VFIOMIG_VM_FILES (like --files: run only these bats files, paths relative to the repo),
# VFIOMIG_VM_JOBS (like --jobs: guests booted side by side, each with its own devices; default 2
# when the host has two CPUs or more).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tap_file='' times_file='' bin=$repo/vfiomig mode=tests verbose=0 files=${VFIOMIG_VM_FILES:-}
jobs=${VFIOMIG_VM_JOBS:-$(( $(nproc) >= 2 ? 2 : 1 ))}
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
	--times) times_file=${2:?}; shift 2 ;;
	--times=*) times_file=${1#--times=}; shift ;;
	--bin) bin=${2:?}; shift 2 ;;
	--bin=*) bin=${1#--bin=}; shift ;;
	--timeout) timeout=${2:?}; shift 2 ;;
	--timeout=*) timeout=${1#--timeout=}; shift ;;
	--files) files=${2?}; shift 2 ;;
	--files=*) files=${1#--files=}; shift ;;
	--jobs) jobs=${2?}; shift 2 ;;
	--jobs=*) jobs=${1#--jobs=}; shift ;;
	--shell) mode=shell; shift ;;
	--mode=*) mode=${1#--mode=}; shift ;;
	-v|--verbose) verbose=1; shift ;;
	-h|--help) usage ;;
	*) echo "vm: unknown argument: $1" >&2; usage ;;
	esac
done
for f in $files; do
	case $f in tests/bats/*.bats|tests/vm/*.bats) ;; *) die "--files: '$f' is not tests/bats/*.bats or tests/vm/*.bats" ;; esac
	[ -f "$repo/$f" ] || die "--files: $f does not exist"
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
keep_workdir=1
cleanup() { [ "$keep_workdir" = 1 ] || rm -rf "$workdir"; }
trap cleanup EXIT

# tests/kmod's migration test driver, built against that kernel, loaded by the guest's /init
kmod=$("$repo/tests/kmod/build.sh" "$kernel" | tail -n1)
[ -s "$kmod" ] || die "tests/kmod/build.sh did not produce vfio_migtest.ko"
initrd=$(VFIOMIG_VM_EXTRA_FILES="${VFIOMIG_VM_EXTRA_FILES:-} $kmod:/usr/lib/modules/vfio_migtest.ko" \
	"$here/mkinitramfs.sh" --bin "$bin" --out "$workdir/initramfs.cpio.gz" | tail -n1)

# The files each guest runs: every suite by default, split over the guests so that each gets
# about as many tests (each guest has its own devices, so they cannot disturb each other).
if [ -z "$files" ]; then
	files=$(cd "$repo" && ls tests/bats/*.bats tests/vm/*.bats)
fi
case $jobs in ''|*[!0-9]*|0) die "--jobs wants a positive number, got '$jobs'" ;; esac
[ "$mode" = tests ] || jobs=1
declare -a shard_files
for ((i = 0; i < jobs; i++)); do shard_files[i]=''; done
# Longest first onto the lightest guest, then moves and swaps that even the guests out. A file
# weighs what it took in a guest (tenths of a second under TCG, the mean of three runs of two
# single-CPU guests side by side on two CPUs, 2026-11-23, as run.sh prints them; runs vary by
# ~15%); a file not listed weighs 0.5 s a test.
# Tests that only the double can run are left out of the guest (mkinitramfs.sh).
declare -A measured=(
	[tests/bats/stream.bats]=145 [tests/bats/migrate.bats]=90 [tests/vm/kernel.bats]=88
	[tests/bats/state.bats]=85 [tests/bats/check.bats]=58 [tests/vm/migrate-e2e.bats]=53
	[tests/bats/errors-and-exit-codes.bats]=46 [tests/bats/device-names.bats]=45
	[tests/bats/migrate-liveness.bats]=45 [tests/bats/compat.bats]=28 [tests/bats/info.bats]=27
	[tests/bats/list.bats]=24 [tests/vm/check-kernel.bats]=22 [tests/vm/migtest.bats]=384
	[tests/vm/handover-kernel.bats]=105 [tests/vm/precopy-kernel.bats]=40 [tests/bats/large-state.bats]=70
	[tests/vm/devices-kernel.bats]=71 [tests/vm/rehearse-kernel.bats]=42
	[tests/bats/events.bats]=87 [tests/bats/rehearse.bats]=36
	[tests/vm/dma-logging-kernel.bats]=97 [tests/bats/dma-logging.bats]=113
	[tests/vm/compat-kernel.bats]=33
)
# shard_of WEIGHT FILE lines -> GUEST FILE lines: longest first onto the lightest guest, then
# single moves and swaps between the heaviest and the lightest guest while they even it out.
shard_of() { # JOBS
	awk -v jobs="$1" '
	{ w[NR] = $1; f[NR] = $2; n = NR }
	function spread(  i, j, hi, lo) {
		for (j = 0; j < jobs; j++) load[j] = 0
		for (i = 1; i <= n; i++) {
			lo = 0
			for (j = 1; j < jobs; j++) if (load[j] < load[lo]) lo = j
			g[i] = lo; load[lo] += w[i]
		}
	}
	function better(  i, k, hi, lo, gap, best, bi, bk, d) {
		hi = 0; lo = 0
		for (j = 1; j < jobs; j++) { if (load[j] > load[hi]) hi = j; if (load[j] < load[lo]) lo = j }
		gap = load[hi] - load[lo]; best = gap; bi = 0; bk = 0
		for (i = 1; i <= n; i++) {
			if (g[i] != hi) continue
			d = w[i]; if (d < gap && (gap - 2 * d < 0 ? 2 * d - gap : gap - 2 * d) < best) {
				best = (gap - 2 * d < 0 ? 2 * d - gap : gap - 2 * d); bi = i; bk = 0 }
			for (k = 1; k <= n; k++) {
				if (g[k] != lo) continue
				d = w[i] - w[k]; if (d <= 0 || d >= gap) continue
				if ((gap - 2 * d < 0 ? 2 * d - gap : gap - 2 * d) < best) {
					best = (gap - 2 * d < 0 ? 2 * d - gap : gap - 2 * d); bi = i; bk = k }
			}
		}
		if (!bi) return 0
		g[bi] = lo; load[hi] -= w[bi]; load[lo] += w[bi]
		if (bk) { g[bk] = hi; load[lo] -= w[bk]; load[hi] += w[bk] }
		return 1
	}
	END { spread(); for (t = 0; t < 100 && better(); t++); for (i = 1; i <= n; i++) print g[i], f[i] }'
}
while read -r guest f; do
	shard_files[guest]=${shard_files[guest]:+${shard_files[guest]},}$f
done < <(for f in $files; do
		if [ -n "${measured[$f]:-}" ]; then
			echo "${measured[$f]} $f"
			continue
		fi
		# a file whose setup() calls double_only is not in the guest at all (mkinitramfs.sh)
		if awk '/^setup\(\)/ { s = 1 } s && /^[ \t]+double_only([ \t]|$)/ { found = 1 }
			s && /^}/ { s = 0 } END { exit !found }' "$repo/$f"; then
			echo "0 $f"
			continue
		fi
		tests=$(grep -c '^@test ' "$repo/$f" || true)
		double=$(grep -cE '^[[:space:]]+double_only([[:space:]]|$)' "$repo/$f" || true)
		echo "$((5 * (tests - double) + 1)) $f"
	done | sort -rn | shard_of "$jobs")

accel=(-accel tcg)
# TCG by default: nested KVM is often unusable on CI hosts (it stops the guest, not qemu).
if [ -w /dev/kvm ] && [ "${VFIOMIG_VM_KVM:-0}" = 1 ]; then
	accel=(-accel kvm -accel tcg)
fi

# Boots guest I on its share of the files; its console goes to $workdir/console.I.log.
# norandmaps: QEMU's TCG finds code it has translated by virtual address, so with address space
# randomisation every dynamically linked process translates ld.so and libc afresh (vfiomig
# started in ~50 ms; without randomisation ~13 ms). The suites do not depend on the layout.
# RDRAND (emulated) lets the kernel seed its random pool at boot: without it the first
# getrandom() of a guest waited ~1 s for jitter entropy.
boot_guest() { # I
	local files_arg=${shard_files[$1]}
	# shellcheck disable=SC2054 # commas belong to qemu options
	local qemu=(qemu-system-x86_64 -M q35 "${accel[@]}" -cpu qemu64,+rdrand -m "${VFIOMIG_VM_MEM:-1G}"
		-smp "${VFIOMIG_VM_SMP:-1}" -nodefaults -display none -vga none -no-reboot
		-kernel "$kernel" -initrd "$initrd"
		-append "console=ttyS0 loglevel=5 panic=-1 norandmaps vfiomig.mode=$mode${files_arg:+ vfiomig.files=$files_arg} ${VFIOMIG_VM_APPEND:-}"
		-netdev user,id=net0,restrict=on -device e1000,netdev=net0)
	if [ "$mode" = shell ]; then
		"${qemu[@]}" -serial mon:stdio
	elif [ "$verbose" = 1 ] && [ "$jobs" = 1 ]; then
		timeout --kill-after=10 "$timeout" "${qemu[@]}" -serial stdio </dev/null 2>&1 |
			tee "$workdir/console.$1.log" >&2
		return "${PIPESTATUS[0]}"
	else
		timeout --kill-after=10 "$timeout" "${qemu[@]}" -serial stdio </dev/null 2>&1 |
			stamp_console "$1"
		return "${PIPESTATUS[0]}"
	fi
}

# Console lines to console.I.log; the guest's live TAP result lines, with the time each
# arrived, to times.I.log (the framed copy at the end is not timed).
stamp_console() { # I
	local line live=1
	while IFS= read -r line || [ -n "$line" ]; do
		printf '%s\n' "$line" >&3
		line=${line%$'\r'}
		case $live$line in
		1@@VFIOMIG-GUEST-READY@@*|1'ok '*|1'not ok '*|11..*) printf '%s %s\n' "$EPOCHREALTIME" "$line" >&4 ;;
		1@@VFIOMIG-TAP-BEGIN@@) live=0 ;;
		esac
	done 3>"$workdir/console.$1.log" 4>"$workdir/times.$1.log"
}

# times.I.log lines -> "MS FILE NAME" per test: the time since the previous line (bats prints
# its plan once it has read every file: the first test starts there), its file found by its
# name among the guest's files.
test_times() { # I
	awk -v files="${shard_files[$1]//,/ }" -v repo="$repo" '
	BEGIN {
		n = split(files, fs, " ")
		for (i = 1; i <= n; i++) {
			path = repo "/" fs[i]
			while ((getline l < path) > 0)
				if (match(l, /^@test "(.*)" \{/)) { name = substr(l, 8, RLENGTH - 10); file[name] = fs[i] }
			close(path)
		}
	}
	{
		t = $1
		if (prev != "" && $2 != "1.." && $2 !~ /^1\.\./) {
			line = $0; sub(/^[^ ]+ (not )?ok [0-9]+ (- )?/, "", line); sub(/ # skip.*$/, "", line)
			printf "%d %s %s\n", (t - prev) * 1000, (line in file ? file[line] : "?"), line
		}
		prev = t
	}' "$workdir/times.$1.log"
}

if [ "$mode" = shell ]; then
	keep_workdir=0
	boot_guest 0
	exit
fi

echo "vm: booting $jobs guest(s) of $(basename "$(dirname "$kernel")") with $(basename "$bin") (timeout ${timeout}s)" >&2
start=$(date +%s)
declare -a pids
for ((i = 0; i < jobs; i++)); do
	[ "$jobs" = 1 ] || echo "vm: guest $i runs ${shard_files[i]//,/ }" >&2
	boot_guest "$i" &
	pids[i]=$!
done

# Checks guest I's console; prints its TAP (tests numbered from 1) and sets failure/guest_status.
collect() { # I QEMU_STATUS
	local console=$workdir/console.$1.log qemu_status=$2
	failure='' guest_status=''
	tap=$(tr -d '\r' <"$console" | sed -n '/^@@VFIOMIG-TAP-BEGIN@@$/,/^@@VFIOMIG-TAP-END@@$/p' | sed '1d;$d')
	guest_status=$(tr -d '\r' <"$console" | sed -n 's/^@@VFIOMIG-EXIT=\([0-9]*\)@@$/\1/p' | tail -n1)
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
}

# One TAP stream of all guests: their tests numbered on, one plan line.
all_tap='' count=0 status=0 failures=''
for ((i = 0; i < jobs; i++)); do
	qemu_status=0
	wait "${pids[i]}" || qemu_status=$?
	collect "$i" "$qemu_status"
	[ "$jobs" = 1 ] || echo "vm: guest $i done after $(( $(stat -c %Y "$workdir/console.$i.log") - start ))s" >&2
	while IFS= read -r line; do
		case $line in
		1..*) ;;
		'ok '*|'not ok '*)
			count=$((count + 1))
			line=$(sed -E "s/^(not )?ok [0-9]+/\\1ok $count/" <<<"$line")
			all_tap+=$line$'\n' ;;
		*) all_tap+=$line$'\n' ;;
		esac
	done <<<"$tap"
	if [ -n "$failure" ]; then
		count=$((count + 1))
		all_tap+="not ok $count real-kernel guest $i: $failure"$'\n'
		failures+="guest $i: $failure"$'\n'
		echo "vm: FAILED: guest $i: $failure" >&2
		echo "vm: last console lines of guest $i:" >&2
		tr -d '\r' <"$workdir/console.$i.log" | grep -v '^@@' | tail -n 25 | sed 's/^/vm: | /' >&2
		echo "vm: full console log: $workdir/console.$i.log" >&2
		status=1
	elif [ "$guest_status" != 0 ]; then
		echo "vm: guest $i: bats exit status $guest_status; full console log (with dmesg): $workdir/console.$i.log" >&2
		[ "$status" != 0 ] || status=$guest_status
	fi
done
elapsed=$(( $(date +%s) - start ))

# Where the guests' time went, per file, in the table's unit (tenths of a second).
if [ "$mode" = tests ]; then
	for ((i = 0; i < jobs; i++)); do [ -s "$workdir/times.$i.log" ] && test_times "$i"; done |
		sort -rn >"$workdir/times"
	echo "vm: guest time per file (tenths of a second): $(awk '{ t[$2] += $1 } END {
		for (f in t) printf "%d [%s]=%d\n", t[f], f, (t[f] + 50) / 100 }' "$workdir/times" |
		sort -rn | cut -d' ' -f2 | tr '\n' ' ')" >&2
	if [ -n "$times_file" ]; then
		mkdir -p "$(dirname "$times_file")"
		cp "$workdir/times" "$times_file"
	fi
fi

tap_text="1..$count"$'\n'"$all_tap"
printf '%s' "$tap_text"
if [ -n "$tap_file" ]; then
	mkdir -p "$(dirname "$tap_file")"
	printf '%s' "$tap_text" >"$tap_file"
fi
if [ "$status" != 0 ]; then
	echo "vm: FAILED after ${elapsed}s" >&2
	exit "$status"
fi
echo "vm: $jobs guest(s) finished in ${elapsed}s, $count tests, bats exit status 0" >&2
keep_workdir=0
exit 0
