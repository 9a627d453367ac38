#!/bin/bash
# Builds the stream reader's libFuzzer target with clang and fuzzes it for SECONDS
# (default 30) on a copy of tests/fuzz/corpus in FUZZ_OUT (default: a new temporary
# directory, kept for its log and crash inputs); prints one TAP line, non-zero on a crash.
# Usage: tests/fuzz/run.sh [SECONDS]
set -u
seconds=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${FUZZ_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-fuzz.XXXXXX")}
clang=${CLANG:-clang}
command -v "$clang" >/dev/null || clang=clang-14

mkdir -p "$out"
rm -rf "$out/corpus" && cp -r "$here/corpus" "$out/corpus"
pkgs=$(pkg-config --cflags --libs libzstd libcrypto)
# shellcheck disable=SC2086
if ! "$clang" -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -I"$top/src" -o "$out/fuzz_stream" \
	"$here/fuzz_stream.c" "$top"/src/stream*.c "$top/src/verr.c" $pkgs \
	2>"$out/build.log"; then
	cat "$out/build.log" >&2
	echo "not ok 1 - stream reader fuzz target did not build"
	exit 1
fi
cd "$out" || exit 1
./fuzz_stream -max_total_time="$seconds" -max_len=70000 -print_final_stats=1 \
	-artifact_prefix="$out/" corpus >"$out/fuzz.log" 2>&1
status=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz.log")
if [ $status -ne 0 ]; then
	grep -E "ERROR|SUMMARY|artifact" "$out/fuzz.log" | head -20 >&2
	echo "not ok 1 - stream reader fuzzing failed after ${execs:-?} execs (see $out/fuzz.log)"
	exit 1
fi
echo "ok 1 - stream reader fuzzed for $seconds s, ${execs:-?} execs"
