#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The version lives in VERSION: the Makefile, configure.ac and vfiomig --version take it
# from there, and NEWS, debian/changelog and the man pages agree with it
# (tests/check-version.sh). --version also names the libraries and the build's options.

load tree

@test "NEWS, debian/changelog and the man pages say VERSION's version" {
	run "$REPO/tests/check-version.sh" -C "$REPO"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "a NEWS heading, a changelog entry or a man page of another version is named" {
	T=$BATS_TEST_TMPDIR/tree
	copy_tree "$T"
	v=$(cat "$T/VERSION")
	sed -i "1s/$v/9.9.9/" "$T/NEWS"
	sed -i "1s/($v)/(9.9.8)/" "$T/debian/changelog"
	sed -i "/^\.TH /s/vfiomig $v/vfiomig 9.9.7/" "$T/man/vfiomig-list.1"
	run "$REPO/tests/check-version.sh" -C "$T"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output == *"NEWS: first heading is 'vfiomig 9.9.9"* ]]
	[[ $output == *"debian/changelog: top entry is '9.9.8'"* ]]
	[[ $output == *"man/vfiomig-list.1: .TH"* ]]
	[[ $output != *"man/vfiomig.1:"* ]]
}

@test "vfiomig --version: the version, zstd and OpenSSL at run time and build time, the options" {
	[[ -x $REPO/vfiomig ]] || { echo "build first (make)"; false; }
	v=$(cat "$REPO/VERSION")
	run "$REPO/vfiomig" --version
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "vfiomig $v" ]
	[[ ${lines[1]} =~ ^zstd\ [0-9]+\.[0-9]+\.[0-9]+\ \(built\ with\ [0-9]+\.[0-9]+\.[0-9]+\)$ ]]
	[[ ${lines[2]} =~ ^OpenSSL\ [0-9]+\.[0-9]+.*\(built\ with\ OpenSSL\ [0-9]+\.[0-9]+.*\)$ ]]
	[[ ${lines[3]} =~ ^build:\ libpci\ (yes|no),\ static\ (yes|no),\ asan\ (yes|no)$ ]]
	# a subcommand's --version is the same
	run "$REPO/vfiomig" list --version
	[ "${lines[0]}" = "vfiomig $v" ]
}

@test "make install writes VERSION into the man pages" {
	T=$BATS_TEST_TMPDIR
	copy_tree "$T/src"
	echo 7.8.9 >"$T/src/VERSION"
	touch "$T/src/vfiomig"       # make install's prerequisite; its objects are not needed
	make -C "$T/src" -o vfiomig install DESTDIR="$T/stage" PREFIX=/usr >/dev/null
	grep -q '^\.TH VFIOMIG 1 .* "vfiomig 7.8.9"' "$T/stage/usr/share/man/man1/vfiomig.1"
	grep -q '^\.TH VFIOMIG\\-STATE 1 .* "vfiomig 7.8.9"' "$T/stage/usr/share/man/man1/vfiomig-state.1"
}
