#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Measures vfiomig save | vfiomig restore against the baselines a user has, all on
# the same bytes and in the same run, and prints ratios (no assertion is made):
#   raw     a plain uncompressed copy through a pipe (cat | cat)
#   shell   what a user would script instead: sha256 + zstd -1 over loopback TCP
#           (socat), decompressed and hashed again on the receiving end
#   vfiomig save | restore through the kernel test double (pipe), and the same
#           carried over loopback TCP by socat
# It also reports peak RSS of save and restore at 1 GiB and 8 GiB of state.
# Usage: bench/stream.sh [SIZE_BYTES] (default 1 GiB); needs hyperfine, socat, zstd.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1073741824}
big=${BENCH_BIG:-8589934592}
work=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

for tool in hyperfine socat zstd openssl jq; do
	command -v $tool >/dev/null || { echo "bench: $tool is missing (apt-get install $tool)"; exit 2; }
done
make -s vfiomig double
cc -O2 -Itests/double -o "$work/gencontent" bench/gencontent.c

# Fake root with two devices serving the generated content.
make_root() { # SIZE
	rm -rf "$work/root"
	tests/double/fakedev init "$work/root"
	for n in 1 2; do
		tests/double/fakedev add "$work/root" --kind mdev --name "bbbbbbbb-0000-0000-0000-00000000000$n" \
			--type mtty-2 --size "$1" --precopy-bytes 0 --knob content=generated
	done
}
make_root "$size"
"$work/gencontent" "$size" >"$work/state.bin"
port=$((20000 + RANDOM % 20000))
export VFIOMIG_SYSROOT=$work/root
dbl=$PWD/tests/double/libvfio-double.so
V="env LD_PRELOAD=$dbl $PWD/vfiomig -q"
A=bbbbbbbb-0000-0000-0000-000000000001
B=bbbbbbbb-0000-0000-0000-000000000002

cat >"$work/raw.sh" <<EOS
cat "$work/state.bin" | cat >/dev/null
EOS
cat >"$work/shell.sh" <<EOS
socat -u TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr - | zstd -d -q | openssl dgst -sha256 >/dev/null &
sleep 0.2
openssl dgst -sha256 "$work/state.bin" >/dev/null
zstd -1 -q -c "$work/state.bin" | socat -u - TCP:127.0.0.1:$port
wait
EOS
cat >"$work/vfiomig.sh" <<EOS
$V save $A --resume | $V restore $B
EOS
cat >"$work/vfiomig-tcp.sh" <<EOS
socat -u TCP-LISTEN:$((port + 1)),bind=127.0.0.1,reuseaddr - | $V restore $B &
sleep 0.2
$V save $A --resume | socat -u - TCP:127.0.0.1:$((port + 1))
wait
EOS

echo "bench: $(numfmt --to=iec "$size") of mixed state (zeros, random, structured), $(nproc) CPUs"
hyperfine --warmup 1 --runs "${BENCH_RUNS:-5}" --export-json "$work/h.json" \
	-n raw "bash $work/raw.sh" -n shell "bash $work/shell.sh" \
	-n vfiomig "bash $work/vfiomig.sh" -n vfiomig-tcp "bash $work/vfiomig-tcp.sh" >&2
mean() { jq -r ".results[] | select(.command == \"$1\") | .mean" "$work/h.json"; }
raw=$(mean raw) shell=$(mean shell) vm=$(mean vfiomig) vt=$(mean vfiomig-tcp)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "mean seconds: raw $raw, shell $shell, vfiomig $vm, vfiomig over tcp $vt"
echo "ratio vfiomig/raw:           $(ratio "$vm" "$raw")   (target <= 1.00)"
echo "ratio vfiomig/shell:         $(ratio "$vm" "$shell")   (target <= 0.30)"
echo "ratio vfiomig-tcp/shell:     $(ratio "$vt" "$shell")"

peak() { # SIZE
	make_root "$1"
	local s r
	s=$( { /usr/bin/time -f %M env LD_PRELOAD=$dbl ./vfiomig -q save $A --resume |
		/usr/bin/time -f %M env LD_PRELOAD=$dbl ./vfiomig -q restore $B 2>"$work/r"; } 2>&1)
	r=$(cat "$work/r")
	echo "peak RSS at $(numfmt --to=iec "$1"): save $((s / 1024)) MiB, restore $((r / 1024)) MiB (bound 64 MiB)"
}
peak 1073741824
peak "$big"
