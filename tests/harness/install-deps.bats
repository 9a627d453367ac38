#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# tests/install-deps.sh installs what the build and the tests need, and with --bench also
# what only the benchmarks use (pv). dpkg-query and apt-get are stubs: nothing is
# installed, every package counts as missing, and the install line is logged.

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	log=$BATS_TEST_TMPDIR/log
	stub=$BATS_TEST_TMPDIR/bin
	mkdir -p "$stub"
	printf '#!/bin/sh\nexit 1\n' >"$stub/dpkg-query"
	printf '#!/bin/sh\necho "apt-get $*" >>"%s"\n' "$log" >"$stub/apt-get"
	chmod +x "$stub/dpkg-query" "$stub/apt-get"
}

# The packages of the logged install line, one a line.
installed() {
	grep ' install ' "$log" | tr ' ' '\n' | grep -v '^-' | sed '1,/^install$/d'
}

@test "install-deps.sh installs no bench-only package by default" {
	PATH=$stub:$PATH run "$REPO/tests/install-deps.sh"
	[ "$status" -eq 0 ]
	installed | grep -qx bats
	! installed | grep -qx pv
}

@test "install-deps.sh --bench adds pv and hyperfine" {
	PATH=$stub:$PATH run "$REPO/tests/install-deps.sh" --bench
	[ "$status" -eq 0 ]
	installed | grep -qx bats
	installed | grep -qx pv
	installed | grep -qx hyperfine
}

@test "install-deps.sh refuses an unknown option and installs nothing" {
	PATH=$stub:$PATH run "$REPO/tests/install-deps.sh" --bnech
	[ "$status" -eq 2 ]
	[[ $output == *"unknown option '--bnech'"* ]]
	[ ! -e "$log" ]
}
