#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The fuzzers are part of make check: without clang they fail with a plan and "not ok" lines,
# they do not vanish from the count.

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	# a PATH with what the scripts need before they look for clang, and no clang
	nobin=$BATS_TEST_TMPDIR/bin
	mkdir -p "$nobin"
	for tool in bash dirname mktemp; do ln -s "$(command -v "$tool")" "$nobin/$tool"; done
	export FUZZ_OUT=$BATS_TEST_TMPDIR/fuzz CLANG=no-such-clang
}

@test "the stream fuzzer fails without clang" {
	PATH=$nobin run bash "$REPO/tests/fuzz/run.sh" 1
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "1..2" ]
	[[ $output == *"clang is not installed (tests/install-deps.sh installs it)"* ]]
	[ "$(grep -c '^not ok' <<<"$output")" -eq 2 ]
}

@test "the protocol fuzzer fails without clang" {
	PATH=$nobin run bash "$REPO/tests/fuzz/run-protocol.sh" 1
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "1..1" ]
	[ "$(grep -c '^not ok' <<<"$output")" -eq 1 ]
}
