#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs vfiomig's test suites and ends with one closing line for all of them:
# "N passed, N failed[, N skipped]". Usage: tests/check.sh host|vm|all
# host: C unit tests, the test double's self-test, completion tests, the fuzzers, the test
#       harness's own tests, and the bats suites against the test double, once with the
#       normal binary and once with the ASan+UBSan one. vm: the same bats suites plus
#       kernel-only cases inside a QEMU guest on Linux 6.12 with mtty (tests/vm/run.sh),
#       and a host-to-guest migration over TCP with TLS (tests/vm/run-hostlink.sh).
# Every runner of the mode is expected: one that did not run, died, or wrote short TAP
# counts as a failure (tests/summarize.sh), and the exit status is non-zero on any failure.
# Environment: VFIOMIG_CHECK_OUT (default tests/out): where the TAP, logs and the closing
# line (summary) go.
set -u
cd "$(dirname "$0")/.." || exit 1
mode=${1:-all}
case $mode in host | vm | all) ;; *) echo "usage: tests/check.sh host|vm|all" >&2; exit 2 ;; esac
out=${VFIOMIG_CHECK_OUT:-tests/out}
rm -rf "$out"
mkdir -p "$out"
expected=()

# The double is preloaded ahead of the ASan runtime; ASan copes with that.
export ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# run NAME COMMAND...: TAP to $out/NAME.tap, stderr to $out/NAME.log, status beside.
run() {
	local name=$1
	shift
	echo "== $name: $*"
	"$@" >"$out/$name.tap" 2>"$out/$name.log"
	local status=$?
	echo "$status" >"$out/$name.tap.status"
	cat "$out/$name.tap"
	if [ "$status" != 0 ]; then
		echo "== $name exited $status; its stderr ($out/$name.log) ends with:"
		tail -n 20 "$out/$name.log"
	fi
}

if [ "$mode" = host ] || [ "$mode" = all ]; then
	expected+=(unit layers old-headers double-selftest completions fuzz-stream fuzz-protocol harness
		bats-host bats-host-asan bats-host-tsan)
	units=()
	for src in tests/unit/test_*.c; do units+=("${src%.c}"); done
	run unit tests/run-unit.sh "${units[@]}"
	# the layers bottom up, as the Makefile lists them
	run layers tests/check-layers $(sed -n 's/^LAYERS *= *//p' Makefile)
	run old-headers tests/check-old-headers.sh
	run double-selftest tests/double/run-selftest.sh
	run completions tests/completions/test-bash-completion.sh
	# Short fuzz runs on the kept corpora (longer runs: tests/fuzz/run.sh N). Without clang
	# (tests/install-deps.sh installs it) they fail: they are part of the suite.
	run fuzz-stream tests/fuzz/run.sh "${VFIOMIG_FUZZ_SECONDS:-20}"
	run fuzz-protocol tests/fuzz/run-protocol.sh "${VFIOMIG_FUZZ_SECONDS:-20}"
	run harness bats --tap tests/harness
	VFIOMIG_TEST_BACKEND=double VFIOMIG_TEST_BIN="$PWD/vfiomig" \
		run bats-host bats --tap tests/bats
	VFIOMIG_TEST_BACKEND=double VFIOMIG_TEST_BIN="$PWD/vfiomig-asan" \
		run bats-host-asan bats --tap tests/bats
	# The suites whose work runs on several threads (device readers and writers, the
	# pipelines, connections, keepalive, signals) under ThreadSanitizer: a race report on
	# stderr fails its test, and halt_on_error makes the program exit at the first one.
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 VFIOMIG_TEST_BACKEND=double \
		VFIOMIG_TEST_BIN="$PWD/vfiomig-tsan" run bats-host-tsan bats --tap \
		tests/bats/{devices,migrate,connections,fault-matrix-connections,signals,large-state,precopy,handover,events}.bats
fi

if [ "$mode" = vm ] || [ "$mode" = all ]; then
	expected+=(vm vm-hostlink)
	# Both runners need the kernel: build it (and install its packages) once, here, before
	# they start. Its failure is theirs to report: they call build-kernel.sh again.
	echo "== vm-kernel: tests/vm/build-kernel.sh (log: $out/vm-kernel.log)"
	if ! tests/vm/build-kernel.sh >"$out/vm-kernel.log" 2>&1; then
		echo "== vm-kernel: building the test kernel failed; its log ends with:"
		tail -n 20 "$out/vm-kernel.log"
	fi
	# One host-to-guest migration over TCP with TLS (host: the double; guest: real mtty). It
	# boots a guest of its own, so it runs beside the suites' guests; its output follows theirs.
	run vm-hostlink tests/vm/run-hostlink.sh --bin "$PWD/vfiomig" >"$out/vm-hostlink.out" 2>&1 &
	hostlink_pid=$!
	echo "== vm: tests/vm/run.sh"
	tests/vm/run.sh --tap "$out/vm.tap" --times "$out/vm-times.txt" --bin "$PWD/vfiomig" 2>&1 | tee "$out/vm.log" |
		grep -vE '^(ok|not ok|#)' | tail -n 40
	status=${PIPESTATUS[0]}
	echo "$status" >"$out/vm.tap.status"
	if [ "$status" = 77 ]; then
		echo "!!"
		echo "!! THE REAL-KERNEL SUITE WAS SKIPPED: qemu cannot run on this machine."
		echo "!! Nothing here was proven on a real kernel. See $out/vm.log."
		echo "!!"
	fi
	if [ -f "$out/vm.tap" ]; then
		cat "$out/vm.tap"
	else
		echo "== vm exited $status and wrote no TAP; see $out/vm.log"
	fi
	wait "$hostlink_pid"
	cat "$out/vm-hostlink.out"
fi

# The closing line is the last line of output; a copy stays in $out/summary (.ci/run).
tests/summarize.sh "$out" "${expected[@]}" | tee "$out/summary"
exit "${PIPESTATUS[0]}"
