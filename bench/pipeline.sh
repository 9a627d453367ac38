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
#   tcp      vfiomig migrate | receive over plain TCP (--insecure): the same
#            channel as the shell pipeline's socat
#   migrate  vfiomig migrate | receive over TCP with TLS 1.3 (pre-shared key)
# For each: wall time (median of BENCH_RUNS, with min and max), and CPU-seconds per
# GiB on each side (user + system, from getrusage; vfiomig's without the test
# double's own work, which the double measures itself). The floor is the CPU the
# work itself needs at the per-thread rates bench/rates.c measures just before each
# run: zstd -1 + one SHA-256 of the compressed stream on the sending side, zstd -d +
# one SHA-256 on the receiving side. Measured that close because on shared vCPUs
# zstd's rate moves by a third from one minute to the next (SHA-256's does not), so
# every ratio is a run's CPU over its own floor, and the median and range of those
# ratios over the rounds are printed. The channel is the least CPU that moving the
# stream's bytes through the same kind of channel costs, which the floor leaves
# out: a pipe grown to 1 MiB for save | restore, one TCP connection for tcp, one
# TLS 1.3 connection for migrate (bench/tlsrate.c, also just before the run). The link bound is the stream's bytes
# over the link's rate (the raw copy's rate through the same pv). Ratios:
# vfiomig/floor and vfiomig/(floor + channel) on loopback, vfiomig/link-bound
# through the link. No assertion is made.
# Usage: bench/pipeline.sh [SIZE_BYTES]; BENCH_RUNS (default 5), BENCH_LINK (pv -L
# rate, default 119m). Needs: apt-get install socat zstd openssl pv jq time gcc
# libzstd-dev libssl-dev (tests/install-deps.sh --bench has them all).
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1073741824}
runs=${BENCH_RUNS:-5}
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
cc -O2 -o "$work/tlsrate" bench/tlsrate.c -lssl -lcrypto -lpthread
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

run_migrate() { # LINKED [SECURITY...]
	local pid lport= linked=$1
	shift
	local security=("${@:---psk-file=$work/psk}")
	make_root
	timed dst env LD_PRELOAD="$dbl" "$vfiomig" -q receive $B --listen 127.0.0.1:0 \
		"${security[@]}" 2>"$work/recv.err" &
	pid=$!
	while [[ -z $lport ]]; do
		sleep 0.05
		kill -0 $pid 2>/dev/null || { cat "$work/recv.err" >&2; return 1; }
		lport=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/recv.err")
	done
	relay_start "$linked" "$lport"
	start_clock
	timed src env LD_PRELOAD="$dbl" "$vfiomig" -q migrate $A --to "127.0.0.1:$to" \
		"${security[@]}" --no-precopy --no-progress >/dev/null
	wait $pid
	stop_clock
	relay_stop
}

run_tcp() { # LINKED
	run_migrate "$1" --insecure
}

# floors WAY: the work's floor (bench/rates.c) and the channel's cost for the stream,
# measured now, as "floor_src floor_dst channel_src channel_dst" in CPU-seconds.
floors() {
	local r c=0 d=0 h=0 cs=0 cd=0 mib=$(((stream + 1048575) / 1048576))
	r=$("$work/rates" 128)
	c=$(awk '/^zstd -1 compress/ { print $(NF - 3) }' <<<"$r")
	d=$(awk '/^zstd decompress/ { print $(NF - 3) }' <<<"$r")
	h=$(awk '/^SHA-256/ { print $(NF - 3) }' <<<"$r")
	case $1 in
	pipe) r=$("$work/tlsrate" $mib pipe) ;;
	tcp) r=$("$work/tlsrate" $mib tcp) ;;
	migrate) r=$("$work/tlsrate" $mib TLS_AES_256_GCM_SHA384 vfiomig) ;;
	*) r="sender 0 CPU-s/GiB, receiver 0 CPU-s/GiB" ;;
	esac
	cs=$(sed -n 's/.*sender \([0-9.]*\) CPU-s.*/\1/p' <<<"$r")
	cd=$(sed -n 's/.*receiver \([0-9.]*\) CPU-s.*/\1/p' <<<"$r")
	awk -v s="$size" -v z="$stream" -v c="$c" -v d="$d" -v h="$h" -v cs="$cs" -v cd="$cd" \
		'BEGIN { printf "%.4f %.4f %.4f %.4f\n", (s / c + z / h) / 1e6, (s / d + z / h) / 1e6,
			cs * z / 1073741824, cd * z / 1073741824 }'
}

# BENCH_RUNS rounds; in each, every way once (so that the machine's other load falls
# on all of them alike), each after its own floors. Each way's file gets a line a
# round: "wall src_cpu dst_cpu floor_src floor_dst channel_src channel_dst".
make_root
stream=$(env LD_PRELOAD="$dbl" "$vfiomig" -q save $A --resume | wc -c)
zst=$(zstd -1 -q -c "$work/state.bin" | wc -c)
echo "bench: $(numfmt --to=iec "$size") of mixed state (zeros, random, text), $(nproc) CPUs," \
	"$runs rounds; the vfiomig stream is $stream bytes, zstd -1 of the file $zst"
for ((i = 0; i < runs; i++)); do
	for linked in no yes; do
		for way in raw shell pipe tcp migrate; do
			f=$(floors $way)
			"run_$way" "$linked" >/dev/null
			echo "$(cat "$work/wall") $(side_cpu src) $(side_cpu dst) $f" >>"$work/m.$way.$linked"
		done
	done
done

# stat FILE AWK_EXPR: "median min max" over the lines of FILE of an expression of
# their columns ($1 wall, $2 src, $3 dst, $4-$5 floors, $6-$7 channel).
stat() {
	awk "{ print $2 }" "$1" | sort -g | awk '{ v[NR] = $1 } END {
		printf "%.3f %.3f %.3f\n", v[int((NR + 1) / 2)], v[1], v[NR] }'
}
# fmt "median min max" [SCALE]: "m (min-max)", each divided by SCALE.
fmt() {
	awk -v v="$1" -v k="${2:-1}" 'BEGIN { split(v, a, " ");
		printf "%.2f (%.2f-%.2f)", a[1] / k, a[2] / k, a[3] / k }'
}
gib=$(awk -v s="$size" 'BEGIN { print s / 1073741824 }')
# The link's real rate: the raw copy's bytes over its median time.
link_rate=$(awk -v s="$size" -v t="$(stat "$work/m.raw.yes" '$1' | cut -d' ' -f1)" \
	'BEGIN { print s / t }')
printf '\n%-8s %-9s %-20s %-18s %-18s %s\n' way link "wall s" "src CPU-s/GiB" "dst CPU-s/GiB" \
	"(src+dst)/floor"
for linked in no yes; do
	for way in raw shell pipe tcp migrate; do
		f=$work/m.$way.$linked l=loopback both=-
		[[ $linked == no ]] || l=$link/s
		[[ $way == raw ]] || both=$(fmt "$(stat "$f" '($2 + $3) / ($4 + $5)')")
		printf '%-8s %-9s %-20s %-18s %-18s %s\n' $way "$l" "$(fmt "$(stat "$f" '$1')")" \
			"$(fmt "$(stat "$f" '$2')" "$gib")" "$(fmt "$(stat "$f" '$3')" "$gib")" "$both"
	done
done
echo "floor, CPU-s/GiB: $(fmt "$(stat "$work/m.pipe.no" '$4')" "$gib") sending (zstd -1 + SHA-256)," \
	"$(fmt "$(stat "$work/m.pipe.no" '$5')" "$gib") receiving (zstd -d + SHA-256)"
echo "channel, CPU-s/GiB: pipe $(fmt "$(stat "$work/m.pipe.no" '$6')" "$gib") sending," \
	"$(fmt "$(stat "$work/m.pipe.no" '$7')" "$gib") receiving;" \
	"TCP $(fmt "$(stat "$work/m.tcp.no" '$6')" "$gib") sending," \
	"$(fmt "$(stat "$work/m.tcp.no" '$7')" "$gib") receiving;" \
	"TLS $(fmt "$(stat "$work/m.migrate.no" '$6')" "$gib") sending," \
	"$(fmt "$(stat "$work/m.migrate.no" '$7')" "$gib") receiving"
echo
for way in pipe tcp migrate; do
	f=$work/m.$way.no
	echo "$way loopback, median (min-max) of the rounds' ratios:"
	echo "  vfiomig/floor:             $(fmt "$(stat "$f" '$2 / $4')") sending," \
		"$(fmt "$(stat "$f" '$3 / $5')") receiving, $(fmt "$(stat "$f" '($2 + $3) / ($4 + $5)')") both"
	echo "  vfiomig/(floor + channel): $(fmt "$(stat "$f" '$2 / ($4 + $6)')") sending," \
		"$(fmt "$(stat "$f" '$3 / ($5 + $7)')") receiving," \
		"$(fmt "$(stat "$f" '($2 + $3) / ($4 + $5 + $6 + $7)')") both"
	echo "  wall: $(fmt "$(paste -d' ' "$f" "$work/m.shell.no" | stat /dev/stdin '$1 / $8')")" \
		"x the shell pipeline's"
	f=$work/m.$way.yes
	awk -v z="$stream" -v r="$link_rate" -v w="$(stat "$f" '$1')" -v l="$link" \
		-v sw="$(paste -d' ' "$f" "$work/m.shell.yes" | stat /dev/stdin '$1 / $8' | cut -d' ' -f1)" \
		'BEGIN { split(w, a, " "); b = z / r;
		printf "  %s/s: vfiomig/link-bound %.2f (%.2f-%.2f) (%.2f s for %.0f MB at the raw" \
			" copy'"'"'s %.1f MB/s); wall %.2f x the shell pipeline'"'"'s\n",
			l, a[1] / b, a[2] / b, a[3] / b, b, z / 1e6, r / 1e6, sw }'
done
