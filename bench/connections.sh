#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Throughput of migrate --connections 1, 2 and 4 over TLS 1.3 (PSK) on loopback,
# through the test double: SIZE of generated content (compressible like real state,
# not like zeros) on one device, stop-copy only, so the whole state crosses the
# connections while both sides' TLS threads work. It shows where one connection is
# the limit: with cores to spare more connections raise the rate; on 2 CPUs shared
# by both sides' readers, encoders, decoders and writers there is little to gain.
# Usage: bench/connections.sh [SIZE [COUNTS...]]   (default 1 GiB; 1 2 4)
# Prints one line per count (best of REPS, default 3); nothing is asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1073741824}
shift || true
counts=("${@:-1 2 4}")
read -r -a counts <<<"${counts[*]}"
reps=${REPS:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-connbench.XXXXXX")
trap 'rm -rf "$work"' EXIT
command -v jq >/dev/null || { echo "bench: jq is missing (apt-get install jq)"; exit 2; }
make -s vfiomig double
dbl=$PWD/tests/double/libvfio-double.so
export VFIOMIG_SYSROOT=$work/root
(umask 077; head -c 32 /dev/urandom >"$work/psk")
src=aaaaaaaa-0000-0000-0000-000000000001
dst=bbbbbbbb-0000-0000-0000-000000000001

# run N -> "throughput_bytes_per_s wire_bytes" of one migration over N connections
run() {
	local n=$1 port= pid
	rm -rf "$work/root"
	tests/double/fakedev init "$work/root" >/dev/null
	for u in "$src" "$dst"; do
		tests/double/fakedev add "$work/root" --kind mdev --name "$u" --type mtty-2 \
			--size "$size" --knob content=generated >/dev/null
	done
	: >"$work/recv"
	LD_PRELOAD=$dbl ./vfiomig -q receive "$dst" --listen 127.0.0.1:0 \
		--psk-file "$work/psk" 2>"$work/recv" &
	pid=$!
	while [ -z "$port" ]; do
		sleep 0.05
		port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/recv")
	done
	LD_PRELOAD=$dbl ./vfiomig migrate "$src" --to "127.0.0.1:$port" --psk-file "$work/psk" \
		--json --no-precopy --connections "$n" | jq -r '"\(.throughput_bytes_per_s) \(.wire_bytes)"'
	wait "$pid"
}

printf 'bench: %s of generated content, one device, TLS 1.3 PSK on loopback, stop-copy only,\n' \
	"$(numfmt --to=iec "$size")"
printf '       best of %s, %s online CPUs\n' "$reps" "$(nproc)"
first=
for n in "${counts[@]}"; do
	best=0 wire=0
	for ((r = 0; r < reps; r++)); do
		read -r rate w < <(run "$n")
		if ((rate > best)); then best=$rate wire=$w; fi
	done
	[[ -n $first ]] || first=$best
	printf '%2s connection%-1s %8.1f MiB/s of state   (%s on the wire)   x%.2f\n' "$n" \
		"$([ "$n" = 1 ] && echo " " || echo s)" "$(awk -v b="$best" 'BEGIN { print b / 1048576 }')" \
		"$(numfmt --to=iec "$wire")" "$(awk -v a="$best" -v b="$first" 'BEGIN { print a / b }')"
done
