#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Live-migration downtime with pre-copy against stop-copy only, for a large state
# with a small tail left for stop-copy, through the test double over loopback TCP.
# Prints both downtimes and, for comparison, stop-copy bytes / measured throughput,
# and the throughput of the default encoder threads against one (-T 1).
# Usage: bench/migrate.sh [SIZE_BYTES [TAIL_BYTES]] (default 1 GiB and 16 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1073741824}
tail=${2:-16777216}
work=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
command -v jq >/dev/null || { echo "bench: jq is missing"; exit 2; }
make -s vfiomig double
export VFIOMIG_SYSROOT=$work/root
dbl=$PWD/tests/double/libvfio-double.so
A=bbbbbbbb-0000-0000-0000-000000000001
B=bbbbbbbb-0000-0000-0000-000000000002

run() { # EXTRA_ARGS... -> the migrate --json summary
	rm -rf "$work/root"
	tests/double/fakedev init "$work/root" >/dev/null
	for n in $A $B; do
		tests/double/fakedev add "$work/root" --kind mdev --name "$n" --type mtty-2 \
			--size "$size" --precopy-bytes $((size - tail)) --knob content=generated
	done
	LD_PRELOAD=$dbl ./vfiomig -q receive "$B" --listen 127.0.0.1:0 --insecure 2>"$work/recv" &
	local pid=$! port=
	while [ -z "$port" ]; do
		sleep 0.1
		port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/recv")
	done
	LD_PRELOAD=$dbl ./vfiomig migrate "$A" --to "127.0.0.1:$port" --insecure --json "$@"
	wait "$pid"
}
pre=$(run)
stop=$(run --no-precopy)
one=$(run --no-precopy -T 1)
echo "bench: $(numfmt --to=iec "$size") of state, $(numfmt --to=iec "$tail") left for stop-copy"
for name in pre stop one; do
	j=${!name}
	rate=$(jq .throughput_bytes_per_s <<<"$j")
	case $name in
	pre) label="with pre-copy:" ;;
	stop) label="stop-copy only:" ;;
	one) label="stop-copy, -T 1:" ;;
	esac
	printf '%-22s downtime %6s ms, total %6s ms, %s pre-copy rounds, %s MiB/s\n' "$label" \
		"$(jq .downtime_ms <<<"$j")" "$(jq .total_ms <<<"$j")" "$(jq .precopy_rounds <<<"$j")" \
		"$((rate / 1048576))"
done
awk -v t="$(jq .throughput_bytes_per_s <<<"$stop")" -v o="$(jq .throughput_bytes_per_s <<<"$one")" \
	'BEGIN { printf "throughput: %.0f bytes/s with the default threads, %.2f x one encoder\n", t, t / o }' 
rate=$(jq .throughput_bytes_per_s <<<"$pre")
awk -v t="$tail" -v r="$rate" -v s="$size" 'BEGIN {
	printf "expected downtime: tail / throughput = %.0f ms with pre-copy, size / throughput = %.0f ms without\n", t / r * 1000, s / r * 1000 }'
