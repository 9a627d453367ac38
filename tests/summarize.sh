#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Counts the TAP results of the runners check.sh started and prints the closing line,
# "N passed, N failed[, N skipped]", as its last line; exits 1 if anything failed.
# Usage: tests/summarize.sh DIR NAME...
# Each NAME is a runner that was expected to run: DIR/NAME.tap holds its TAP (maybe none)
# and DIR/NAME.tap.status its exit status. A runner that died must not look green, so each
# of these counts as one failure, beside the runner's own "not ok" lines:
# - no status file (the runner never ran or never finished) or a status that is not a number;
# - a non-zero status other than 77 without a TAP file, or with no "not ok" line in it;
# - a TAP file without a plan, or whose plans (1..N, summed) differ from its results (bats
#   or a unit test killed mid-way).
# Status 77 is the one skip of a whole runner: qemu cannot run here. It counts its TAP's
# results, or one skip when it wrote none, and is named loudly above the closing line.
# Skipped tests are listed (the first ten of each runner) so that no skip goes unseen.
set -u
dir=${1:?usage: summarize.sh DIR NAME...}
shift
passed=0 failed=0 skipped=0
skipped_runners=()

# count TAP: sets p (ok, skips included), s (skips), f (not ok), r (results), plan (sum, or '').
count() {
	local tap=$1
	p=0 s=0 f=0 r=0 plan=''
	[ -f "$tap" ] || return 0
	read -r p s f plan < <(awk '
		/^ok [0-9]+/ { p++; if (/# ?(skip|SKIP)/) s++ }
		/^not ok [0-9]+/ { f++ }
		/^1\.\.[0-9]+/ { n = substr($1, 4); plan += n; planned = 1 }
		END { printf "%d %d %d %s\n", p, s, f, planned ? plan : "-" }' "$tap")
	[ "$plan" != - ] || plan=''
	r=$((p + f))
}

for name in "$@"; do
	tap=$dir/$name.tap
	count "$tap"
	why=''
	if [ ! -f "$tap.status" ]; then
		why="it left no exit status: it never ran or did not finish"
	else
		status=$(cat "$tap.status")
		case $status in
		'' | *[!0-9]*) why="its exit status '$status' is not a number" ;;
		77)
			skipped_runners+=("$name")
			[ "$r" != 0 ] || s=1 p=1 ;;
		0)
			if [ ! -f "$tap" ]; then
				why="it wrote no TAP file"
			elif [ -z "$plan" ]; then
				why="its TAP has no plan (1..N)"
			elif [ "$plan" != "$r" ]; then
				why="its TAP plans $plan tests but has $r results"
			fi ;;
		*)
			if [ ! -f "$tap" ]; then
				why="it exited $status and wrote no TAP file"
			elif [ -z "$plan" ] || [ "$plan" != "$r" ]; then
				why="it exited $status; its TAP plans ${plan:-no} tests and has $r results"
			elif [ "$f" = 0 ]; then
				why="it exited $status without a failing test"
			fi ;;
		esac
	fi
	if [ -n "$why" ]; then
		echo "# $name: $why: counted as a failure"
		f=$((f + 1))
	fi
	if [ "$s" != 0 ] && [ -f "$tap" ]; then
		echo "# $name: $s skipped:"
		grep -E '^ok [0-9]+.*# ?(skip|SKIP)' "$tap" | head -n 10 | sed 's/^/#   /'
	fi
	passed=$((passed + p - s))
	skipped=$((skipped + s))
	failed=$((failed + f))
done

for name in "${skipped_runners[@]}"; do
	echo "!! $name WAS SKIPPED (exit 77: qemu cannot run here): nothing in it was proven"
done
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
