#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The save pipeline's throttle (encoders give way to busy device readers) against a
# build without it: vfiomig save of one device to /dev/null through the test double,
# every configuration once per round, rounds interleaved, so that the machine's
# other load falls on all alike. Three devices: reads that cost CPU
# (content=generated, about 1 CPU-s/GiB in the double), reads that are a copy
# (content=cycled), and reads that are a copy after sleeping 1 ms in the driver
# (content=cycled, delay_ms=1). Prints per configuration the median wall time
# (min-max), the median CPU (user + system, the double's included) and the wall
# ratio to the first configuration of its device: the ratio of the medians, and the
# median of each round's ratio, which the load's drift disturbs less. No assertion
# is made.
# Usage: BASE=/path/to/old/vfiomig bench/throttle.sh [SIZE_BYTES] [ROUNDS]
#   BENCH_CONFIGS: lines "NAME BINARY DEVICE ARGS..." to run instead of the default
#   (BINARY: base, new, or the path of another build; DEVICE: expensive, cheap or
#   sleeping).
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1073741824}
rounds=${2:-9}
base=${BASE:?BASE=/path/to/the vfiomig to compare with}
[[ -x $base ]] || { echo "bench: $base is not executable"; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "bench: apt-get install time"; exit 2; }
make -s vfiomig double
work=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-throttle.XXXXXX")
# The double rewrites a small state file on every device read: keep it on tmpfs.
root=$(mktemp -d /dev/shm/vfiomig-throttle.XXXXXX 2>/dev/null || mktemp -d "$work/root.XXXXXX")
trap 'rm -rf "$work" "$root"' EXIT
declare -A uuid=([expensive]=bbbbbbbb-0000-0000-0000-0000000000e1
	[cheap]=bbbbbbbb-0000-0000-0000-0000000000c1 [sleeping]=bbbbbbbb-0000-0000-0000-0000000000d1)
tests/double/fakedev init "$root/root" >/dev/null
add() {
	tests/double/fakedev add "$root/root" --kind mdev --name "$1" --type mtty-2 --size "$size" \
		--precopy-bytes 0 "${@:2}"
}
add "${uuid[expensive]}" --knob content=generated
add "${uuid[cheap]}" --knob content=cycled
add "${uuid[sleeping]}" --knob content=cycled --knob delay_ms=1

configs=${BENCH_CONFIGS:-"expensive-T1-base base expensive -T 1
expensive-T2-base base expensive -T 2
expensive-T2-new new expensive -T 2
expensive-T1-new new expensive -T 1
cheap-T2-base base cheap -T 2
cheap-T2-new new cheap -T 2
cheap-T1-base base cheap -T 1
sleeping-T2-base base sleeping -T 2
sleeping-T2-new new sleeping -T 2"}

run() {
	local name=$1 bin=$2 dev=$3
	shift 3
	case $bin in
	base) bin=$base ;;
	new) bin=$PWD/vfiomig ;;
	esac
	dev=${uuid[$dev]}
	VFIOMIG_SYSROOT=$root/root LD_PRELOAD=$PWD/tests/double/libvfio-double.so \
		/usr/bin/time -f "$name %e %U %S" -a -o "$work/times" \
		"$bin" -q save "$dev" --resume -o /dev/null "$@"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; r++)); do
	while read -r line; do
		# shellcheck disable=SC2086
		run $line
	done <<<"$configs"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-20s %22s %8s %8s %8s\n' configuration "wall s, median (min-max)" "CPU s" ratio \
	"by round"
declare -A ref refname
while read -r name _ dev _; do
	awk -v n="$name" '$1 == n { print $2, $3 + $4 }' "$work/times" | sort -n >"$work/one"
	cpu=$(cut -d' ' -f2 "$work/one" | sort -n |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	read -r med lo hi < <(cut -d' ' -f1 "$work/one" |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)], v[1], v[NR] }')
	[[ -n ${ref[$dev]:-} ]] || { ref[$dev]=$med; refname[$dev]=$name; }
	paired=$(awk -v n="$name" -v b="${refname[$dev]}" '
		$1 == n { a[++i] = $2 } $1 == b { r[++j] = $2 }
		END { for (k = 1; k <= i; k++) print a[k] / r[k] }' "$work/times" |
		sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	printf '%-20s %8.2f (%.2f-%.2f) %8.2f %8.2f %8.2f\n' "$name" "$med" "$lo" "$hi" "$cpu" \
		"$(awk -v a="$med" -v b="${ref[$dev]}" 'BEGIN { print a / b }')" "$paired"
done <<<"$configs"
