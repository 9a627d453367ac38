#!/bin/bash
# Builds the stream reader's libFuzzer target with clang and fuzzes it for SECONDS
# (default 30) on a copy of tests/fuzz/corpus in FUZZ_OUT (default: a new temporary
# directory, kept for its log and crash inputs); prints TAP, non-zero on a crash.
# Usage: tests/fuzz/run.sh [SECONDS]
set -u
seconds=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${FUZZ_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-fuzz.XXXXXX")}
clang=${CLANG:-clang}
command -v "$clang" >/dev/null || clang=clang-14

echo "1..2"
if ! command -v "$clang" >/dev/null; then
	# the fuzzers are part of the suite: without clang they fail, they are not skipped
	echo "clang is not installed (tests/install-deps.sh installs it)" >&2
	echo "not ok 1 - no clang to build fuzz_stream"
	echo "not ok 2 - no clang to build fuzz_stream_deep"
	exit 1
fi

mkdir -p "$out"
rm -rf "$out/corpus" && cp -r "$here/corpus" "$out/corpus"
pkgs=$(pkg-config --cflags --libs libzstd libcrypto)
half=$(( seconds / 2 > 0 ? seconds / 2 : 1 ))
status_all=0

# fuzz N NAME EXTRA_CFLAGS: builds one variant of the target, fuzzes it for $half s.
fuzz() {
	local n=$1 name=$2 extra=$3 status execs
	# shellcheck disable=SC2086
	if ! "$clang" -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined $extra -I"$top/src" -o "$out/$name" \
		"$here/fuzz_stream.c" "$top"/src/stream/*.c "$top/src/base/verr.c" $pkgs \
		2>"$out/$name.build.log"; then
		cat "$out/$name.build.log" >&2
		echo "not ok $n - $name: the fuzz target did not build"
		status_all=1
		return
	fi
	rm -rf "$out/$name.corpus" && cp -r "$out/corpus" "$out/$name.corpus"
	(cd "$out" && "./$name" -max_total_time="$half" -max_len=70000 -print_final_stats=1 \
		-artifact_prefix="$out/$name-" "$name.corpus" >"$out/$name.log" 2>&1)
	status=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log")
	if [ $status -ne 0 ]; then
		grep -E "ERROR|SUMMARY|artifact" "$out/$name.log" | head -20 >&2
		echo "not ok $n - $name: fuzzing failed after ${execs:-?} execs (see $out/$name.log)"
		status_all=1
		return
	fi
	echo "ok $n - $name: fuzzed for $half s, ${execs:-?} execs"
}

# The reader as shipped, and a build whose digests always match, so that mutated
# inputs get past them into decompression, totals and trailer parsing.
fuzz 1 fuzz_stream ""
fuzz 2 fuzz_stream_deep "-DVFIOMIG_FUZZ_ACCEPT_ANY_DIGEST"
exit $status_all
