#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# tests/summarize.sh: a runner that died, never ran or was cut short counts as a failure,
# whether or not it wrote TAP, and the closing line comes last.

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	out=$BATS_TEST_TMPDIR/out
	mkdir -p "$out"
}

# runner NAME STATUS [TAP LINES...]: a runner's status, and its TAP unless STATUS is given
# as "notap:N"; STATUS "none" leaves the status file out.
runner() {
	local name=$1 status=$2
	shift 2
	case $status in
	notap:*) echo "${status#notap:}" >"$out/$name.tap.status"; return ;;
	none) ;;
	*) echo "$status" >"$out/$name.tap.status" ;;
	esac
	printf '%s\n' "$@" >"$out/$name.tap"
}

summarize() {
	run "$REPO/tests/summarize.sh" "$out" "$@"
}

@test "runners that passed give a green closing line and exit 0" {
	runner unit 0 "ok 1 - a" "1..1" "ok 1 - b" "ok 2 - c" "1..2"
	runner bats 0 "1..2" "ok 1 - d" "ok 2 - e # skip not here"
	summarize unit bats
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "4 passed, 0 failed, 1 skipped" ]
}

@test "a runner that exited non-zero without writing TAP counts as a failure" {
	runner unit 0 "1..1" "ok 1 - a"
	runner vm notap:100
	summarize unit vm
	[ "$status" -eq 1 ]
	[[ $output == *"vm: it exited 100 and wrote no TAP file"* ]]
	[ "${lines[-1]}" = "1 passed, 1 failed" ]
}

@test "a TAP file whose plan promises more results than it has counts as a failure" {
	runner bats 0 "1..5" "ok 1 - a" "ok 2 - b" "ok 3 - c"
	summarize bats
	[ "$status" -eq 1 ]
	[[ $output == *"bats: its TAP plans 5 tests but has 3 results"* ]]
	[ "${lines[-1]}" = "3 passed, 1 failed" ]
}

@test "a TAP file cut short by a killed runner counts as a failure" {
	runner bats 137 "1..5" "ok 1 - a" "ok 2 - b" "ok 3 - c"
	summarize bats
	[ "$status" -eq 1 ]
	[[ $output == *"bats: it exited 137; its TAP plans 5 tests and has 3 results"* ]]
	[ "${lines[-1]}" = "3 passed, 1 failed" ]
}

@test "a TAP file cut short after a failing test counts one more failure" {
	runner bats 1 "1..5" "ok 1 - a" "not ok 2 - b"
	summarize bats
	[ "$status" -eq 1 ]
	[[ $output == *"bats: it exited 1; its TAP plans 5 tests and has 2 results"* ]]
	[ "${lines[-1]}" = "1 passed, 2 failed" ]
}

@test "a TAP file without a plan counts as a failure" {
	runner fuzz 0 "ok 1 - fuzzed"
	summarize fuzz
	[ "$status" -eq 1 ]
	[[ $output == *"fuzz: its TAP has no plan"* ]]
	[ "${lines[-1]}" = "1 passed, 1 failed" ]
}

@test "an expected runner without a status file counts as a failure" {
	runner unit 0 "1..1" "ok 1 - a"
	runner vm-hostlink none "1..1" "ok 1 - migrated"
	summarize unit vm vm-hostlink
	[ "$status" -eq 1 ]
	[[ $output == *"vm: it left no exit status"* ]]
	[[ $output == *"vm-hostlink: it left no exit status"* ]]
	[ "${lines[-1]}" = "2 passed, 2 failed" ]
}

@test "a status that is not a number counts as a failure" {
	runner unit "" "1..1" "ok 1 - a"
	summarize unit
	[ "$status" -eq 1 ]
	[ "${lines[-1]}" = "1 passed, 1 failed" ]
}

@test "a non-zero status with all tests passing counts as a failure" {
	runner completions 2 "1..2" "ok 1 - a" "ok 2 - b"
	summarize completions
	[ "$status" -eq 1 ]
	[[ $output == *"completions: it exited 2 without a failing test"* ]]
	[ "${lines[-1]}" = "2 passed, 1 failed" ]
}

@test "failing tests count once each, with no extra failure for the runner's status" {
	runner bats 1 "1..3" "not ok 1 - a" "ok 2 - b" "not ok 3 - c"
	summarize bats
	[ "$status" -eq 1 ]
	[ "${lines[-1]}" = "1 passed, 2 failed" ]
	[[ $output != *"counted as a failure"* ]]
}

@test "exit 77 without TAP is one skip, named loudly above the closing line" {
	runner unit 0 "1..1" "ok 1 - a"
	runner vm notap:77
	summarize unit vm
	[ "$status" -eq 0 ]
	[[ ${lines[-2]} == "!! vm WAS SKIPPED (exit 77: qemu cannot run here)"* ]]
	[ "${lines[-1]}" = "1 passed, 0 failed, 1 skipped" ]
}

@test "exit 77 with a skip in its TAP counts that skip once" {
	runner vm-hostlink 77 "1..1" "ok 1 # skip host-to-guest migration: qemu cannot run here"
	summarize vm-hostlink
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "0 passed, 0 failed, 1 skipped" ]
}

@test "skipped tests are named above the closing line" {
	runner bats 0 "1..3" "ok 1 - a" "ok 2 - b # skip needs a real kernel" "ok 3 - c # SKIP no qemu"
	summarize bats
	[ "$status" -eq 0 ]
	[[ $output == *"# bats: 2 skipped:"*"#   ok 2 - b # skip needs a real kernel"*"#   ok 3 - c # SKIP no qemu"* ]]
	[ "${lines[-1]}" = "1 passed, 0 failed, 2 skipped" ]
}
