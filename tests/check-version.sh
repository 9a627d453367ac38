#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The version lives in VERSION; the Makefile and configure.ac read it there. The places
# that must say it too are checked here: NEWS's first heading ("vfiomig X.Y.Z ..."),
# debian/changelog's top entry, and every man page's .TH line ("vfiomig X.Y.Z", which
# make install rewrites anyway). Prints each place that differs, and exits 1.
# Usage: tests/check-version.sh [-C DIR]
set -u
if [ "${1:-}" = -C ]; then
	cd "$2" || exit 2
fi
bad=0
complain() { echo "$*"; bad=1; }

version=$(cat VERSION 2>/dev/null)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "VERSION: '$version' is not X.Y.Z"; exit 1; }

news=$(head -n 1 NEWS)
[[ $news == "vfiomig $version "* || $news == "vfiomig $version" ]] ||
	complain "NEWS: first heading is '$news', VERSION says $version"

if [ -f debian/changelog ]; then
	deb=$(sed -n '1s/^vfiomig (\([^)]*\)).*/\1/p' debian/changelog)
	[ "$deb" = "$version" ] ||
		complain "debian/changelog: top entry is '$deb', VERSION says $version (dch -v $version)"
fi

for m in man/*.1; do
	th=$(grep -m1 '^\.TH ' "$m")
	[[ $th == *"\"vfiomig $version\""* ]] || complain "$m: .TH says '$th', VERSION says $version"
done

grep -q 'm4_esyscmd_s(\[cat VERSION\])' configure.ac ||
	complain "configure.ac: AC_INIT does not read VERSION"
grep -q '^VERSION *:= *$(shell cat VERSION' Makefile ||
	complain "Makefile: VERSION is not read from the VERSION file"
exit "$bad"
