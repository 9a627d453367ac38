#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs the C unit test binaries given as arguments; their TAP goes to stdout.
status=0
for t in "$@"; do
	echo "# $t"
	"$t" || status=1
done
exit $status
