#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# tests/check.sh and .ci/run cannot end green when a runner dies early: here the VM runners
# die before they write any TAP (their kernel cache cannot be made), as they did when they
# raced for the dpkg lock. No VM boots and no kernel is built: qemu is a stub and the cache
# directory lies under a regular file.

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	[ -x "$REPO/vfiomig" ] && [ -f "$REPO/tests/double/libvfio-double.so" ] # make; make double
	touch "$BATS_TEST_TMPDIR/file"
	export VFIOMIG_CACHE_DIR=$BATS_TEST_TMPDIR/file/cache
	export VFIOMIG_CHECK_OUT=$BATS_TEST_TMPDIR/out
	stub=$BATS_TEST_TMPDIR/bin
	mkdir -p "$stub"
	# a qemu that answers -version and refuses to boot anything
	cat >"$stub/qemu-system-x86_64" <<STUB
#!/bin/sh
[ "\$1" = -version ] && { echo "QEMU emulator version 7.2.0 (stub)"; exit 0; }
touch "$BATS_TEST_TMPDIR/booted"
exit 1
STUB
	chmod +x "$stub/qemu-system-x86_64"
	export PATH=$stub:$PATH
}

@test "check.sh vm ends with a failing closing line and exits non-zero when the VM runners die" {
	run "$REPO/tests/check.sh" vm
	[ "$status" -ne 0 ]
	[ "${lines[-1]}" = "0 passed, 2 failed" ]
	[[ $output == *"vm: it exited 1 and wrote no TAP file: counted as a failure"* ]]
	[[ $output == *"vm-hostlink: it exited 1;"* ]]
	[[ $output == *"cannot create the cache directory $VFIOMIG_CACHE_DIR"* ]]
	[ "$(tail -n1 "$VFIOMIG_CHECK_OUT/summary")" = "0 passed, 2 failed" ]
	[ ! -e "$BATS_TEST_TMPDIR/booted" ]
}

@test "make check-vm exits non-zero when the VM runners die" {
	run env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s -C "$REPO" check-vm
	[ "$status" -ne 0 ]
	[[ $output == *$'\n0 passed, 2 failed'* ]]
	[ ! -e "$BATS_TEST_TMPDIR/booted" ]
}

# ci_tree: a copy of .ci/run in a tree whose make builds and whose "make check" prints
# check.sh's closing line, "$1" (none if empty: check.sh never ran), then fails as make does.
ci_tree() {
	local tree=$BATS_TEST_TMPDIR/tree
	mkdir -p "$tree/.ci" "$tree/tests"
	cp "$REPO/.ci/run" "$tree/.ci/run"
	printf '#!/bin/sh\nexit 0\n' >"$tree/tests/install-deps.sh"
	chmod +x "$tree/tests/install-deps.sh"
	cat >"$tree/Makefile" <<MK
all:
clean:
check:
	@${1:+mkdir -p \$(VFIOMIG_CHECK_OUT) && echo "$1" | tee \$(VFIOMIG_CHECK_OUT)/summary && }false
MK
	echo "$tree"
}

@test ".ci/run ends with the closing line, after make's error, and exits non-zero" {
	tree=$(ci_tree "5 passed, 2 failed, 1 skipped")
	run env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS bash "$tree/.ci/run"
	[ "$status" -ne 0 ]
	[[ $output == *"make: *** "* ]]
	[ "${lines[-1]}" = "5 passed, 2 failed, 1 skipped" ]
}

@test ".ci/run counts a failed make check as a failure when check.sh's line has none" {
	tree=$(ci_tree "5 passed, 0 failed")
	run env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS bash "$tree/.ci/run"
	[ "$status" -ne 0 ]
	[ "${lines[-1]}" = "5 passed, 1 failed" ]
}

@test ".ci/run reports a failure, not an old closing line, when check.sh never ran" {
	tree=$(ci_tree "")
	mkdir -p "$VFIOMIG_CHECK_OUT"
	echo "9 passed, 0 failed" >"$VFIOMIG_CHECK_OUT/summary"
	run env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS bash "$tree/.ci/run"
	[ "$status" -ne 0 ]
	[ "${lines[-1]}" = "0 passed, 1 failed" ]
}
