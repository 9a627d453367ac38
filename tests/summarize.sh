#!/bin/bash
# Counts TAP results over the files given and prints "N passed, N failed, N skipped".
# A file named with a ".status" twin holding a non-zero status, but no "not ok" line,
# counts as one failure: a runner that died must not look green.
passed=0 failed=0 skipped=0
for tap in "$@"; do
	[ -f "$tap" ] || continue
	p=$(grep -cE '^ok [0-9]+' "$tap" | tr -d ' ')
	s=$(grep -cE '^ok [0-9]+.*# ?(skip|SKIP)' "$tap" | tr -d ' ')
	f=$(grep -cE '^not ok [0-9]+' "$tap" | tr -d ' ')
	status=0
	[ -f "$tap.status" ] && status=$(cat "$tap.status")
	if [ "$status" != 0 ] && [ "$status" != 77 ] && [ "$f" = 0 ]; then
		echo "# $tap: runner exited $status without a failing test: counted as a failure"
		f=1
	fi
	passed=$((passed + p - s))
	skipped=$((skipped + s))
	failed=$((failed + f))
done
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
