#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# One run, the same bytes (1 GiB of mixed generated state by default), each way of
# moving them measured on loopback and through a rate-limited 1 GbE-like link
# (pv -L 119m: 119 MiB/s of payload):
#   raw      cat FILE | socat over TCP: no compression, no digest
#   shell    zstd -1 | tee >(sha256) | socat over TCP | tee >(sha256) | zstd -d:
#            what a user would script, with SHA-256 (openssl, as fast as vfiomig's)
#            of the compressed stream on each side
#   pipe     vfiomig save | vfiomig restore through the kernel test double
#   migrate  vfiomig migrate | receive over TCP with TLS 1.3 (pre-shared key)
# For each: wall time (median of BENCH_RUNS, with min and max), and CPU-seconds per
# GiB on each side (user + system, from getrusage; vfiomig's without the test
# double's own work, which the double measures itself). The floor is the CPU the
# work itself needs at the per-thread rates bench/rates.c measures in the same run:
# zstd -1 + one SHA-256 of the compressed stream on the sending side, zstd -d + one
# SHA-256 on the receiving side. The link bound is the stream's bytes over the
# link's rate (the raw copy's rate through the same pv). Ratios: vfiomig/floor on
# loopback, vfiomig/link-bound through the link. No assertion is made.
# Usage: bench/pipeline.sh [SIZE_BYTES]; BENCH_RUNS (default 3), BENCH_LINK (pv -L
# rate, default 119m). Needs: apt-get install socat zstd openssl pv jq time gcc
# libzstd-dev libssl-dev (tests/install-deps.sh has all but pv).
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1073741824}
runs=${BENCH_RUNS:-3}
link=${BENCH_LINK:-119m}
for tool in socat zstd openssl pv jq cc /usr/bin/time; do
	command -v $tool >/dev/null || {
		echo "bench: $tool is missing (apt-get install socat zstd openssl pv jq time gcc)"
		exit 2
	}
done
work=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-bench.XXXXXX")
# The double rewrites a small state file on every device read: keep it on tmpfs.
sysroot=$(mktemp -d /dev/shm/vfiomig-bench.XXXXXX 2>/dev/null || mktemp -d "$work/root.XXXXXX")
trap 'rm -rf "$work" "$sysroot"' EXIT
make -s vfiomig double
cc -O2 -Itests/double -o "$work/gencontent" bench/gencontent.c
cc -O2 -Itests/double -o "$work/rates" bench/rates.c -lzstd -lcrypto -lpthread
"$work/gencontent" "$size" >"$work/state.bin"
export VFIOMIG_SYSROOT=$sysroot/root
dbl=$PWD/tests/double/libvfio-double.so
vfiomig=$PWD/vfiomig
A=bbbbbbbb-0000-0000-0000-000000000001
B=bbbbbbbb-0000-0000-0000-000000000002
(umask 077 && head -c 32 /dev/urandom >"$work/psk")
port=$((20000 + RANDOM % 20000))

make_root() {
	rm -rf "$VFIOMIG_SYSROOT"
	tests/double/fakedev init "$VFIOMIG_SYSROOT" >/dev/null
	for n in $A $B; do
		tests/double/fakedev add "$VFIOMIG_SYSROOT" --kind mdev --name "$n" --type mtty-2 \
			--size "$size" --precopy-bytes 0 --knob content=generated
	done
}

# timed SIDE COMMAND...: runs COMMAND under getrusage into $work/SIDE.time
# ("wall user sys"); a vfiomig in it reports the double's CPU into $work/SIDE.double.
timed() {
	local side=$1
	shift
	rm -f "$work/$side.double"
	VFIOMIG_DOUBLE_CPU=$work/$side.double /usr/bin/time -f "%e %U %S" -o "$work/$side.time" "$@"
}

# The CPU-seconds of a side, less what the double spent on the device's behalf.
side_cpu() {
	local d=0
	[[ -s $work/$1.double ]] && d=$(awk '{ s += $2 } END { print s / 1e9 }' "$work/$1.double")
	awk -v d="$d" '{ print $2 + $3 - d }' "$work/$1.time"
}

# The wall time of a run: from the sending side's start to the receiving side's end.
start_clock() { date +%s.%N >"$work/clock"; }
stop_clock() { echo "$(cat "$work/clock") $(date +%s.%N)" | awk '{ print $2 - $1 }' >"$work/wall"; }

# Waits for a socat listener on $1 (no output of its own to wait for).
await_port() {
	local i
	for i in $(seq 100); do
		ss -Hltn "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
	echo "bench: nothing listens on port $1" >&2
	return 1
}

# The sending side's way into the network, in $to: straight to the receiver's port,
# or through a relay whose forward direction goes through pv at the link's rate.
relay_pid=
relay_start() { # LINKED TARGET_PORT
	to=$2
	[[ $1 == no ]] && return
	to=$((port + 7))
	socat TCP-LISTEN:$to,bind=127.0.0.1,reuseaddr \
		SYSTEM:"pv -q -L $link | socat - TCP\:127.0.0.1\:$2" &
	relay_pid=$!
	await_port $to
}

relay_stop() {
	[[ -n $relay_pid ]] && wait $relay_pid
	relay_pid=
}

run_raw() { # LINKED
	timed dst socat -u TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr OPEN:/dev/null &
	local pid=$!
	await_port $port
	relay_start "$1" $port
	start_clock
	timed src bash -c "cat '$work/state.bin' | socat -u - TCP:127.0.0.1:$to"
	wait $pid
	stop_clock
	relay_stop
}

run_shell() { # LINKED
	rm -f "$work/f.src" "$work/f.dst"
	mkfifo "$work/f.src" "$work/f.dst"
	timed dst bash -c "openssl dgst -sha256 <'$work/f.dst' >'$work/sum.dst' &
		socat -u TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr - | tee '$work/f.dst' |
			zstd -d -q -c >/dev/null; wait" &
	local pid=$!
	await_port $port
	relay_start "$1" $port
	start_clock
	timed src bash -c "openssl dgst -sha256 <'$work/f.src' >'$work/sum.src' &
		zstd -1 -q -c '$work/state.bin' | tee '$work/f.src' | socat -u - TCP:127.0.0.1:$to; wait"
	wait $pid
	stop_clock
	relay_stop
	cmp -s <(cut -d' ' -f2 "$work/sum.src") <(cut -d' ' -f2 "$work/sum.dst") ||
		{ echo "bench: the shell pipeline's digests differ" >&2; return 1; }
}

run_pipe() { # LINKED
	local limit=cat
	[[ $1 == no ]] || limit="pv -q -L $link"
	make_root
	start_clock
	timed src env LD_PRELOAD="$dbl" "$vfiomig" -q save $A --resume |
		$limit | timed dst env LD_PRELOAD="$dbl" "$vfiomig" -q restore $B
	stop_clock
}

run_migrate() { # LINKED
	local pid lport=
	make_root
	timed dst env LD_PRELOAD="$dbl" "$vfiomig" -q receive $B --listen 127.0.0.1:0 \
		--psk-file "$work/psk" 2>"$work/recv.err" &
	pid=$!
	while [[ -z $lport ]]; do
		sleep 0.05
		kill -0 $pid 2>/dev/null || { cat "$work/recv.err" >&2; return 1; }
		lport=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/recv.err")
	done
	relay_start "$1" "$lport"
	start_clock
	timed src env LD_PRELOAD="$dbl" "$vfiomig" -q migrate $A --to "127.0.0.1:$to" \
		--psk-file "$work/psk" --no-precopy --no-progress >/dev/null
	wait $pid
	stop_clock
	relay_stop
}

# One round: the per-thread rates (bench/rates.c), then every way once, so that the
# machine's other load falls on all of them alike; BENCH_RUNS rounds. Each way's
# file gets a line "wall src_cpu dst_cpu" a round.
make_root
stream=$(env LD_PRELOAD="$dbl" "$vfiomig" -q save $A --resume | wc -c)
zst=$(zstd -1 -q -c "$work/state.bin" | wc -c)
echo "bench: $(numfmt --to=iec "$size") of mixed state (zeros, random, text), $(nproc) CPUs," \
	"$runs rounds; the vfiomig stream is $stream bytes, zstd -1 of the file $zst"
for ((i = 0; i < runs; i++)); do
	"$work/rates" 256 >>"$work/rates.all"
	for linked in no yes; do
		for way in raw shell pipe migrate; do
			"run_$way" "$linked" >/dev/null
			echo "$(cat "$work/wall") $(side_cpu src) $(side_cpu dst)" >>"$work/m.$way.$linked"
		done
	done
done
# The median over the rounds of a rate (MB/s per CPU-second) whose line starts with $1.
rate() {
	awk -v w="$1" 'index($0, w) == 1 { print $(NF - 3) }' "$work/rates.all" | sort -g |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
echo "per-thread rates, median of $runs (bench/rates.c, 1 MiB chunks, MB/s per CPU-second):" \
	"zstd -1 $(rate 'zstd -1'), zstd -d $(rate 'zstd decompress'), SHA-256 $(rate 'SHA-256')," \
	"HMAC-SHA-256 $(rate 'HMAC-SHA-256'), memcpy $(rate memcpy)"

gib=$(awk -v s="$size" 'BEGIN { print s / 1073741824 }')
floor_src=$(awk -v s="$size" -v z="$stream" -v c="$(rate 'zstd -1 compress')" \
	-v h="$(rate 'SHA-256')" 'BEGIN { print (s / c + z / h) / 1e6 }')
floor_dst=$(awk -v s="$size" -v z="$stream" -v d="$(rate 'zstd decompress')" \
	-v h="$(rate 'SHA-256')" 'BEGIN { print (s / d + z / h) / 1e6 }')
# The link's real rate: the raw copy's bytes over its median time.
stat() { # FILE COLUMN -> "median min max"
	cut -d' ' -f"$2" "$1" | sort -g | awk '{ v[NR] = $1 } END {
		printf "%.3f %.3f %.3f\n", v[int((NR + 1) / 2)], v[1], v[NR] }'
}
link_rate=$(awk -v s="$size" -v t="$(stat "$work/m.raw.yes" 1 | cut -d' ' -f1)" 'BEGIN { print s / t }')
printf '\n%-8s %-9s %-24s %-22s %-22s %s\n' way link "wall s: median (min-max)" \
	"src CPU-s/GiB" "dst CPU-s/GiB" "(src+dst)/floor"
for linked in no yes; do
	for way in raw shell pipe migrate; do
		f=$work/m.$way.$linked
		read -r w wmin wmax <<<"$(stat "$f" 1)"
		read -r s smin smax <<<"$(stat "$f" 2)"
		read -r d dmin dmax <<<"$(stat "$f" 3)"
		l=loopback raw=0
		[[ $linked == no ]] || l=$link/s
		[[ $way != raw ]] || raw=1
		awk -v way=$way -v l="$l" \
			-v w="$w" -v wmin="$wmin" -v wmax="$wmax" -v s="$s" -v smin="$smin" -v smax="$smax" \
			-v d="$d" -v dmin="$dmin" -v dmax="$dmax" -v g="$gib" -v fs="$floor_src" \
			-v fd="$floor_dst" -v raw=$raw 'BEGIN {
			printf "%-8s %-9s %6.2f (%5.2f-%5.2f)     %5.2f (%4.2f-%4.2f)      %5.2f (%4.2f-%4.2f)      %s\n",
				way, l, w, wmin, wmax, s / g, smin / g, smax / g, d / g, dmin / g, dmax / g,
				raw ? "-" : sprintf("%.2f", (s + d) / (fs + fd)) }'
	done
done
awk -v fs="$floor_src" -v fd="$floor_dst" -v g="$gib" 'BEGIN {
	printf "floor: %.2f CPU-s/GiB sending (zstd -1 + SHA-256), %.2f receiving (zstd -d + SHA-256)\n",
		fs / g, fd / g }'
echo
for way in pipe migrate; do
	for linked in no yes; do
		read -r s _ <<<"$(stat "$work/m.$way.$linked" 2)"
		read -r d _ <<<"$(stat "$work/m.$way.$linked" 3)"
		read -r w _ <<<"$(stat "$work/m.$way.$linked" 1)"
		read -r sw _ <<<"$(stat "$work/m.shell.$linked" 1)"
		if [[ $linked == no ]]; then
			awk -v way=$way -v s="$s" -v d="$d" -v fs="$floor_src" -v fd="$floor_dst" \
				-v w="$w" -v sw="$sw" 'BEGIN {
				printf "%-8s loopback: vfiomig/floor %.2f x sending, %.2f x receiving, %.2f x both;" \
					" wall %.2f x the shell pipeline'"'"'s\n", way, s / fs, d / fd, (s + d) / (fs + fd), w / sw }'
		else
			awk -v way=$way -v w="$w" -v z="$stream" -v r="$link_rate" -v sw="$sw" 'BEGIN {
				printf "%-8s %s/s: vfiomig/link-bound %.2f x (%.2f s for %.0f MB at the raw copy'"'"'s" \
					" %.1f MB/s); wall %.2f x the shell pipeline'"'"'s\n", way, "'"$link"'", w / (z / r),
					z / r, z / 1e6, r / 1e6, w / sw }'
		fi
	done
done
