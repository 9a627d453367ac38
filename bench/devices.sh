#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Stop-copy downtime of N devices against one, through the test double over loopback
# TCP, for this tree and a baseline built from another revision in the same run.
#   slow reads:  every data-fd read of a device sleeps DELAY ms (knob delay_ms), the
#                bottleneck of real drivers (firmware queries, device memory reads);
#                the goal is N devices' downtime <= 1.25 x one device's.
#   CPU-bound:   no delay; the readers must not cost anything where the encoders are
#                the limit (ratio against the baseline near 1.00 or better).
# Usage: bench/devices.sh [SIZE_PER_DEVICE [DELAY_MS [BASELINE_REV]]]
#        (default 32 MiB, 40 ms a 1 MiB read, i.e. a driver giving 25 MiB/s, and the
#        revision before per-device readers: 5bda306); REPS=N runs each case N times (3).
# Prints one line per case and the ratios; nothing is asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-33554432}
delay=${2:-40}
base_rev=${3:-5bda306}
reps=${REPS:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-devbench.XXXXXX")
trap 'git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
command -v jq >/dev/null || { echo "bench: jq is missing (apt-get install jq)"; exit 2; }
make -s vfiomig double
git worktree add --detach "$work/base" "$base_rev" >/dev/null 2>&1 ||
	{ echo "bench: cannot check out baseline $base_rev"; exit 2; }
make -s -C "$work/base" vfiomig >/dev/null
dbl=$PWD/tests/double/libvfio-double.so
export VFIOMIG_SYSROOT=$work/root

src_uuid() { printf 'aaaaaaaa-0000-0000-0000-%012d' "$1"; }
dst_uuid() { printf 'bbbbbbbb-0000-0000-0000-%012d' "$1"; }

# run BIN N DELAY -> stop-copy downtime in ms of migrating N devices
run() {
	local bin=$1 n=$2 d=$3 src=() dst=() i port= pid
	rm -rf "$work/root"
	tests/double/fakedev init "$work/root" >/dev/null
	for ((i = 1; i <= n; i++)); do
		src+=("$(src_uuid "$i")")
		dst+=("$(dst_uuid "$i")")
		for u in "$(src_uuid "$i")" "$(dst_uuid "$i")"; do
			tests/double/fakedev add "$work/root" --kind mdev --name "$u" --type mtty-2 \
				--size "$size" --knob content=generated --knob "delay_ms=$d" >/dev/null
		done
	done
	: >"$work/recv"
	LD_PRELOAD=$dbl "$bin" -q receive "${dst[@]}" --listen 127.0.0.1:0 --insecure \
		2>"$work/recv" &
	pid=$!
	while [ -z "$port" ]; do
		sleep 0.05
		port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/recv")
	done
	LD_PRELOAD=$dbl "$bin" migrate "${src[@]}" --to "127.0.0.1:$port" --insecure --json \
		--no-precopy | jq .downtime_ms
	wait "$pid"
}

# best of REPS runs (the least disturbed by the rest of the machine)
best() {
	local b= v
	for ((r = 0; r < reps; r++)); do
		v=$(run "$@")
		b=$(awk -v a="$v" -v b="$b" 'BEGIN { print (b == "" || a < b) ? a : b }')
	done
	echo "$b"
}

printf 'bench: %s per device, stop-copy only, best of %s; baseline %s\n' \
	"$(numfmt --to=iec "$size")" "$reps" "$base_rev"
for case in slow cpu; do
	d=$([ "$case" = slow ] && echo "$delay" || echo 0)
	label=$([ "$case" = slow ] && echo "reads sleep $d ms" || echo "CPU-bound")
	for who in this base; do
		bin=$([ "$who" = this ] && echo "$PWD/vfiomig" || echo "$work/base/vfiomig")
		one=$(best "$bin" 1 "$d")
		four=$(best "$bin" 4 "$d")
		printf '%-18s %-9s 1 device %7.0f ms   4 devices %7.0f ms   ratio %.2f\n' \
			"$label" "$who" "$one" "$four" "$(awk -v a="$four" -v b="$one" 'BEGIN { print a / b }')"
		eval "${case}_${who}_four=$four"
	done
	awk -v a="$(eval echo "\$${case}_this_four")" -v b="$(eval echo "\$${case}_base_four")" \
		-v l="$label" 'BEGIN { printf "%-18s 4 devices: this / baseline = %.2f\n", l, a / b }'
done
