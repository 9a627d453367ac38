#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the protocol parser's libFuzzer target (make fuzzers, with clang), makes its seed corpus,
# and fuzzes it for SECONDS (default 30) in FUZZ_OUT (default: a new temporary
# directory, kept for its log and crash inputs); prints TAP, non-zero on a crash.
# Usage: tests/fuzz/run-protocol.sh [SECONDS]
set -u
seconds=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${FUZZ_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-fuzz-protocol.XXXXXX")}
clang=${CLANG:-clang}
command -v "$clang" >/dev/null || clang=clang-14

echo "1..1"
if ! command -v "$clang" >/dev/null; then
	# the fuzzers are part of the suite: without clang they fail, they are not skipped
	echo "clang is not installed (tests/install-deps.sh installs it)" >&2
	echo "not ok 1 - no clang to build the fuzz target"
	exit 1
fi

mkdir -p "$out/corpus"
# The targets are built by the Makefile (make fuzzers), with this clang.
if ! make -s -C "$top" CLANG="$clang" build/fuzz/fuzz_protocol build/fuzz/make_corpus \
	>"$out/build.log" 2>&1 ||
   ! cp "$top/build/fuzz/fuzz_protocol" "$out/fuzz_protocol" ||
   ! "$top/build/fuzz/make_corpus" "$out/corpus" 2>>"$out/build.log"; then
	cat "$out/build.log" >&2
	echo "not ok 1 - protocol fuzz target did not build"
	exit 1
fi
cd "$out" || exit 1
./fuzz_protocol -max_total_time="$seconds" -max_len=70000 -print_final_stats=1 \
	-artifact_prefix="$out/" corpus >"$out/fuzz.log" 2>&1
status=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz.log")
if [ $status -ne 0 ]; then
	grep -E "ERROR|SUMMARY|artifact" "$out/fuzz.log" | head -20 >&2
	echo "not ok 1 - protocol parser fuzzing failed after ${execs:-?} execs (see $out/fuzz.log)"
	exit 1
fi
echo "ok 1 - protocol parser fuzzed for $seconds s, ${execs:-?} execs"
