#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# tests/vm/build-kernel.sh and tests/install-deps.sh are safe to run side by side: runs of
# build-kernel.sh take turns on a lock in the cache, and apt waits for the dpkg lock.
# Nothing here builds a kernel or installs a package: main and apt-get are stubs.

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	export VFIOMIG_CACHE_DIR=$BATS_TEST_TMPDIR/cache
	log=$BATS_TEST_TMPDIR/log
	# sourcing a build-kernel.sh that runs main when sourced would build a kernel here
	grep -q '^if \[ "${BASH_SOURCE\[0\]}" = "$0" \]; then$' "$REPO/tests/vm/build-kernel.sh"
}

# locked_run NAME: build-kernel.sh's lock around a stub main that logs its start and end; A
# stays inside until B said it waits (or 20 s passed, when B never waits).
locked_run() {
	bash -c '
		name=$2 log=$3
		source "$1/tests/vm/build-kernel.sh"
		main() {
			echo "start $name" >>"$log"
			if [ "$name" = A ]; then
				for ((i = 0; i < 200; i++)); do
					grep -qs "waiting for another build-kernel.sh" "$log.B.err" && break
					sleep 0.1
				done
			fi
			echo "end $name" >>"$log"
		}
		with_cache_lock main' locked_run "$REPO" "$1" "$log" 2>"$log.$1.err"
}

@test "two build-kernel.sh runs at once take turns: the second waits for the first" {
	locked_run A &
	a=$!
	for ((i = 0; i < 200; i++)); do grep -qs "start A" "$log" && break; sleep 0.05; done
	locked_run B
	wait "$a"
	grep -q "waiting for another build-kernel.sh to finish (lock: $VFIOMIG_CACHE_DIR/lock)" "$log.B.err"
	[ "$(cat "$log")" = "$(printf 'start A\nend A\nstart B\nend B')" ]
}

@test "build-kernel.sh fails at once, naming it, when the cache directory cannot be made" {
	touch "$BATS_TEST_TMPDIR/file"
	export VFIOMIG_CACHE_DIR=$BATS_TEST_TMPDIR/file/cache
	run bash -c 'source "$1/tests/vm/build-kernel.sh"; main() { echo "main ran"; }
		with_cache_lock main' x "$REPO"
	[ "$status" -eq 1 ]
	[[ $output == *"cannot create the cache directory $VFIOMIG_CACHE_DIR (VFIOMIG_CACHE_DIR)"* ]]
	[[ $output != *"main ran"* ]]
}

@test "build-kernel.sh's apt-get calls wait for the dpkg lock" {
	run bash -c 'log=$2
		source "$1/tests/vm/build-kernel.sh"
		pkg_installed() { return 1; }
		ensure_backports_source() { return 1; }
		# the first install fails, as when the package lists are stale: update, install again
		as_root() { echo "$*" >>"$log"; [ -e "$log.again" ] || { touch "$log.again"; return 1; }; }
		ensure_packages' x "$REPO" "$log"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^apt-get ' "$log")" -eq 3 ]
	[ "$(grep -c '^apt-get -o DPkg::Lock::Timeout=600 ' "$log")" -eq 3 ]
	grep -q '^apt-get -o DPkg::Lock::Timeout=600 update$' "$log"
}

@test "install-deps.sh's apt-get calls wait for the dpkg lock" {
	stub=$BATS_TEST_TMPDIR/bin
	mkdir -p "$stub"
	printf '#!/bin/sh\nexit 1\n' >"$stub/dpkg-query"
	printf '#!/bin/sh\necho "apt-get $*" >>"%s"\n' "$log" >"$stub/apt-get"
	chmod +x "$stub/dpkg-query" "$stub/apt-get"
	PATH=$stub:$PATH run "$REPO/tests/install-deps.sh"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^apt-get ' "$log")" -eq 2 ]
	[ "$(grep -c '^apt-get -o DPkg::Lock::Timeout=600 ' "$log")" -eq 2 ]
}
