#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The Debian package: `dpkg-buildpackage -us -uc -b` in a copy of the tree (the .deb lands
# beside it) builds vfiomig_VERSION_ARCH.deb with the binary, the man pages, the bash and
# zsh completions and the docs, and lintian finds nothing to say about it.

load tree

setup_file() {
	export B=$BATS_FILE_TMPDIR
	export V=$(cat "$REPO/VERSION")
	export ARCH=$(dpkg --print-architecture 2>/dev/null)
	copy_tree "$B/vfiomig-$V"
	(cd "$B/vfiomig-$V" && DEB_BUILD_OPTIONS=parallel=$JOBS dpkg-buildpackage -us -uc -b) \
		>"$B/build.log" 2>&1 || true
}

setup() {
	DEB=$B/vfiomig_${V}_$ARCH.deb
	[ -f "$DEB" ] || { echo "no $DEB; the build's log ends with:"; tail -n 30 "$B/build.log"; false; }
}

@test "dpkg-buildpackage builds vfiomig_VERSION_ARCH.deb with the build flags of dpkg-buildflags" {
	dpkg-deb -f "$DEB" Package Version Architecture >"$B/fields"
	diff <(printf 'Package: vfiomig\nVersion: %s\nArchitecture: %s\n' "$V" "$ARCH") "$B/fields"
	dpkg-deb -f "$DEB" Depends | grep -q 'libzstd1'
	dpkg-deb -f "$DEB" Depends | grep -q 'libssl3'
	# the Makefile took dpkg-buildflags' flags (V=1 shows the compiler's command lines)
	grep -q -- '-ffile-prefix-map=' "$B/build.log"
	grep -q -- '-Wl,-z,relro' "$B/build.log"
}

@test "the package holds the binary, every man page, both completions and the docs" {
	dpkg -c "$DEB" | awk '{print $1, $NF}' >"$B/contents"
	cat "$B/contents"
	grep -q '^-rwxr-xr-x ./usr/bin/vfiomig$' "$B/contents"
	for m in "$REPO"/man/*.1; do
		grep -q "^-rw-r--r-- ./usr/share/man/man1/${m##*/}.gz$" "$B/contents"
	done
	grep -q '^-rw-r--r-- ./usr/share/bash-completion/completions/vfiomig$' "$B/contents"
	grep -q '^-rw-r--r-- ./usr/share/zsh/vendor-completions/_vfiomig$' "$B/contents"
	grep -q ' ./usr/share/doc/vfiomig/copyright$' "$B/contents"
	grep -q ' ./usr/share/doc/vfiomig/NEWS.gz$' "$B/contents"
	grep -q ' ./usr/share/doc/vfiomig/changelog.gz$' "$B/contents"
	! grep -q ' ./usr/local/' "$B/contents"
}

@test "the packaged vfiomig runs and its man page carries the version" {
	dpkg-deb -x "$DEB" "$B/root"
	run "$B/root/usr/bin/vfiomig" --version
	[ "${lines[0]}" = "vfiomig $V" ]
	zcat "$B/root/usr/share/man/man1/vfiomig.1.gz" | grep -q "^\.TH VFIOMIG 1 .*\"vfiomig $V\""
}

@test "lintian has nothing to say about the package" {
	command -v lintian >/dev/null || { echo "lintian is not installed (tests/install-deps.sh)"; false; }
	run lintian --pedantic -I -E "$DEB"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$(grep -v '^running with root privileges is not recommended' <<<"$output")" ]
}
