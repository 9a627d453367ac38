#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# make STATIC=1: one self-contained vfiomig (Debian 12's libzstd.a, libssl.a and
# libcrypto.a; no libpci.a there, so no libpci). Built in a copy of the tree. The test
# double is an LD_PRELOAD library, which a static binary does not load, so the bats
# suites cannot drive it on the host; the real-kernel suite can (README "A static build"):
# here, what needs no device, and its name lookups with no shared library on the host.

load tree
load ../bats/helper

setup_file() {
	export S=$BATS_FILE_TMPDIR/src
	copy_tree "$S"
	make -C "$S" -j"$JOBS" STATIC=1 WERROR=1 vfiomig >"$BATS_FILE_TMPDIR/build.log" 2>&1 || true
}

setup() {
	[ -x "$S/vfiomig" ] || { tail -n 30 "$BATS_FILE_TMPDIR/build.log"; false; }
	BIN=$S/vfiomig
}

@test "make STATIC=1 links a vfiomig with no interpreter and no shared library" {
	run readelf -l -d "$BIN"
	[ "$status" -eq 0 ]
	[[ $output != *"INTERP"* ]]
	[[ $output != *"(NEEDED)"* ]]
	strip -o "$BATS_TEST_TMPDIR/stripped" "$BIN"
	echo "# static vfiomig: $(stat -c %s "$BIN") bytes, $(stat -c %s "$BATS_TEST_TMPDIR/stripped") stripped" >&3
}

@test "its --version says static, without libpci" {
	run "$BIN" --version
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "vfiomig $(cat "$S/VERSION")" ]
	[ "${lines[3]}" = "build: libpci no, static yes, asan no" ]
}

@test "it inspects and verifies a saved stream, and lists an empty host" {
	run "$BIN" verify "$REPO/tests/bats/fixtures/two-unknown-types.vfm"
	[ "$status" -eq 0 ]
	run "$BIN" inspect --json "$REPO/tests/bats/fixtures/two-unknown-types.vfm"
	[ "$status" -eq 0 ]
	[[ $output == *'"driver":"mlx5_vfio_pci"'* || $output == *'"driver": "mlx5_vfio_pci"'* ]]
	mkdir -p "$BATS_TEST_TMPDIR/empty/sys" "$BATS_TEST_TMPDIR/empty/dev"
	VFIOMIG_SYSROOT=$BATS_TEST_TMPDIR/empty run "$BIN" list
	[ "$status" -eq 0 ]
	[[ $output == *"no VFIO devices on this host"* ]]
}

# Runs the static vfiomig in a mount namespace where the host's shared libraries are
# hidden (an empty tmpfs over their directory) and /etc/nsswitch.conf says "hosts:
# files": receive --listen ADDRESS on a fake device; prints what it said.
listen_without_libraries() { # ADDRESS
	local bb libdir
	bb=$(command -v busybox) || skip "busybox (static) is not installed"
	[ "$(id -u)" = 0 ] || skip "hiding the shared libraries needs root (a mount namespace)"
	command -v unshare >/dev/null || skip "unshare is not installed"
	libdir=$(dirname "$(readlink -f "$(ldd /bin/sh | sed -n 's/.*libc\.so\.6 => \([^ ]*\).*/\1/p')")")
	make_fake_root "$BATS_TEST_TMPDIR/root" >/dev/null
	printf 'hosts: files\n' >"$BATS_TEST_TMPDIR/nsswitch.conf"
	out=$BATS_TEST_TMPDIR/listen.out
	: >"$out"
	unshare -m "$bb" sh -c '
		bb=$1 libdir=$2 bin=$3 root=$4 out=$5 addr=$6 dev=$7 nss=$8
		mount -t tmpfs none "$libdir" && mount --bind "$nss" /etc/nsswitch.conf || exit 90
		[ -e "$libdir/libc.so.6" ] && exit 91
		VFIOMIG_SYSROOT=$root "$bin" receive --listen "$addr" --insecure "$dev" >"$out" 2>&1 &
		pid=$!
		i=0
		while [ $i -lt 200 ] && ! "$bb" grep -q "listening on" "$out" && kill -0 $pid 2>/dev/null; do
			"$bb" sleep 0.05
			i=$((i + 1))
		done
		kill $pid 2>/dev/null
		wait $pid
		exit 0' sh "$bb" "$libdir" "$BIN" "$BATS_TEST_TMPDIR/root" "$out" "$1" "$DOUBLE_MTTY2_A" \
		"$BATS_TEST_TMPDIR/nsswitch.conf"
	cat "$out"
}

@test "with no shared library on the host it resolves /etc/hosts names and numeric addresses" {
	run listen_without_libraries localhost:0
	echo "$output"
	[[ $output == *"listening on 127.0.0.1:"* || $output == *"listening on [::1]:"* ]]
	run listen_without_libraries 127.0.0.1:0
	echo "$output"
	[[ $output == *"listening on 127.0.0.1:"* ]]
}

@test "a name it cannot resolve says so, and what this static build looks names up with" {
	run listen_without_libraries no-such-host.invalid:0
	echo "$output"
	[[ $output != *"listening on"* ]]
	[[ $output == *"no-such-host.invalid:0: listen on no-such-host.invalid port 0: "* ]]
	[[ $output == *"this static vfiomig resolves names through /etc/hosts and DNS only"* ]]
	grep -q "check the name, or give a numeric address: this static vfiomig" "$BIN"
}
