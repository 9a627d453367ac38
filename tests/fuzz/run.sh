#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the stream reader's libFuzzer targets (make fuzzers, with clang) and fuzzes them for SECONDS
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
half=$(( seconds / 2 > 0 ? seconds / 2 : 1 ))
status_all=0

# The targets are built by the Makefile (make fuzzers), with this clang.
if ! make -s -C "$top" CLANG="$clang" build/fuzz/fuzz_stream build/fuzz/fuzz_stream_deep \
	>"$out/build.log" 2>&1; then
	cat "$out/build.log" >&2
	echo "not ok 1 - fuzz_stream: the fuzz target did not build"
	echo "not ok 2 - fuzz_stream_deep: the fuzz target did not build"
	exit 1
fi

# fuzz N NAME: fuzzes one variant of the target for $half s.
fuzz() {
	local n=$1 name=$2 status execs
	cp "$top/build/fuzz/$name" "$out/$name"
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
fuzz 1 fuzz_stream
fuzz 2 fuzz_stream_deep
exit $status_all
