#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# make dist writes vfiomig-VERSION.tar.gz: every file git tracks and MANIFEST, their list.
# Unpacked elsewhere it builds with -Werror, and its vfiomig passes two host bats files on
# its own test double. (The whole `make check-host` in an unpacked tarball is a manual
# step, README "Releases".) Needs a git checkout: skipped in an unpacked tarball.

load tree

setup_file() {
	[ -e "$REPO/.git" ] || return 0
	export D=$BATS_FILE_TMPDIR
	export V=$(cat "$REPO/VERSION")
	make -C "$REPO" -s dist DIST_DIR="$D" >"$D/dist.log" 2>&1 || return 0
	tar -C "$D" -xzf "$D/vfiomig-$V.tar.gz"
	export U=$D/vfiomig-$V
}

setup() {
	[ -e "$REPO/.git" ] || skip "not a git checkout (an unpacked tarball): make dist needs git"
	[ -f "$D/vfiomig-$V.tar.gz" ] || { cat "$D/dist.log"; false; }
}

@test "the tarball holds what git tracks, MANIFEST, and nothing else" {
	tar -tzf "$D/vfiomig-$V.tar.gz" | grep -v '/$' | sed "s|^vfiomig-$V/||" | LC_ALL=C sort >"$D/listed"
	{ git -C "$REPO" ls-files; echo MANIFEST; } | LC_ALL=C sort >"$D/want"
	diff "$D/want" "$D/listed"
	diff "$D/want" "$U/MANIFEST"
	# owned by root, modes kept
	tar -tzvf "$D/vfiomig-$V.tar.gz" | grep -q "^-rwxr-xr-x 0/0 .* vfiomig-$V/tests/check.sh$"
}

@test "the unpacked tree carries its license lines and agrees on its version" {
	[ ! -e "$U/.git" ]
	"$REPO/tests/check-spdx.sh" -C "$U"
	"$U/tests/check-spdx.sh" -C "$U"
	"$U/tests/check-version.sh" -C "$U"
}

@test "the unpacked tree builds with -Werror, and its vfiomig says its version" {
	run make -C "$U" -j"$JOBS" WERROR=1 vfiomig double
	[ "$status" -eq 0 ] || { echo "$output" | tail -n 30; false; }
	run "$U/vfiomig" --version
	echo "$output"
	[ "${lines[0]}" = "vfiomig $V" ]
	[[ $output == *"build: libpci yes, static no, asan no"* ]]
}

@test "the unpacked vfiomig passes list.bats and info.bats on the test double" {
	[ -x "$U/vfiomig" ] || { echo "the build above failed"; false; }
	VFIOMIG_TEST_BACKEND=double VFIOMIG_TEST_BIN="$U/vfiomig" \
		run bats --tap "$U/tests/bats/list.bats" "$U/tests/bats/info.bats"
	echo "$output" | grep -v '^ok' || true
	[ "$status" -eq 0 ]
	[[ $output != *"not ok"* ]]
}
