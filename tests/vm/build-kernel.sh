#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds (once) the small x86-64 kernel the real-kernel suite boots, and prints its bzImage path.
# Usage: tests/vm/build-kernel.sh [--deps-only]
# Cache: ${VFIOMIG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vfiomig}/kernel-<key>/bzImage,
# key = hash of tests/vm/kernel.config + the linux-source package version. Build log: <cache>/build-<key>.log.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
fragment=$here/kernel.config
source_pkg=linux-source-6.12
source_suite=bookworm-backports
host_pkgs=(qemu-system-x86 busybox-static bash-static cpio flex bison bc libelf-dev libssl-dev bats pci.ids make gcc xz-utils jq gojq)
cache=${VFIOMIG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vfiomig}

die() { echo "build-kernel: $*" >&2; exit 1; }
note() { echo "build-kernel: $*" >&2; }

pkg_installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"
	else die "need root to run: $*"; fi
}

# The backports suite is added with the same archive URI the system already uses for Debian.
ensure_backports_source() {
	if grep -rqsE "(^|[[:space:]])$source_suite([[:space:]]|$)" /etc/apt/sources.list /etc/apt/sources.list.d/; then
		return 1
	fi
	local uri
	uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
		| awk '{print $2}' | grep -v -- '-security' | grep '/debian/\?$' | head -n1 || true)
	if [ -z "$uri" ]; then
		uri=$(grep -hsE '^deb[[:space:]]' /etc/apt/sources.list 2>/dev/null \
			| awk '{for (i = 2; i <= NF; i++) if ($i !~ /^\[/) {print $i; exit}}' \
			| grep -v -- '-security' | head -n1 || true)
	fi
	[ -n "$uri" ] || die "cannot find the Debian archive URI in /etc/apt/sources.list*; add $source_suite by hand"
	note "adding $source_suite ($uri) to /etc/apt/sources.list.d/vfiomig-backports.sources"
	as_root tee /etc/apt/sources.list.d/vfiomig-backports.sources >/dev/null <<EOF
Types: deb
URIs: $uri
Suites: $source_suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	return 0
}

ensure_packages() {
	local missing=() p need_update=0
	for p in "${host_pkgs[@]}"; do pkg_installed "$p" || missing+=("$p"); done
	if ! pkg_installed "$source_pkg"; then
		ensure_backports_source && need_update=1
		missing+=("$source_pkg/$source_suite")
	fi
	[ ${#missing[@]} -eq 0 ] && return 0
	note "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# apt waits for another apt or unattended-upgrades to let go of the dpkg lock.
	local apt=(apt-get -o DPkg::Lock::Timeout=600)
	if [ "$need_update" = 1 ] || ! as_root "${apt[@]}" install -y --no-install-recommends "${missing[@]}"; then
		as_root "${apt[@]}" update
		as_root "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
	fi
}

# Every CONFIG_X=y of the fragment must be =y in the final .config.
check_config() {
	local config=$1 bad=0 opt
	while read -r opt; do
		grep -qx "$opt=y" "$config" || { echo "build-kernel: $opt=y was dropped by olddefconfig (unmet dependency?)" >&2; bad=1; }
	done < <(sed -n 's/^\(CONFIG_[A-Za-z0-9_]*\)=y$/\1/p' "$fragment")
	[ "$bad" = 0 ] || die "kernel configuration does not satisfy $fragment"
}

main() {
	ensure_packages
	[ "${1:-}" = --deps-only ] && return 0

	local version key out tarball srcdir builddir log
	version=$(dpkg-query -W -f='${Version}' "$source_pkg")
	# the license line does not change the kernel: it stays out of the key
	key=$( { grep -v '^# SPDX-License-Identifier' "$fragment"; echo "$source_pkg $version"; } |
		sha256sum | cut -c1-16)
	out=$cache/kernel-$key
	if [ -s "$out/bzImage" ]; then
		echo "$out/bzImage"
		return 0
	fi

	tarball=/usr/src/$source_pkg.tar.xz
	[ -r "$tarball" ] || die "$tarball missing although $source_pkg is installed"
	mkdir -p "$cache"
	srcdir=$cache/src-$version
	if [ ! -f "$srcdir/.extracted" ]; then
		note "extracting $tarball into $srcdir"
		rm -rf "$srcdir"
		mkdir -p "$srcdir"
		tar -xJf "$tarball" -C "$srcdir" --strip-components=1
		touch "$srcdir/.extracted"
	fi

	builddir=$cache/build-$key
	log=$cache/build-$key.log
	mkdir -p "$builddir"
	note "configuring in $builddir (log: $log)"
	{
		make -C "$srcdir" O="$builddir" ARCH=x86_64 KCONFIG_ALLCONFIG="$fragment" allnoconfig
		make -C "$srcdir" O="$builddir" ARCH=x86_64 olddefconfig
	} >"$log" 2>&1 || die "configuration failed; see $log"
	check_config "$builddir/.config"

	note "building bzImage with -j$(nproc) (several minutes; log: $log)"
	# "modules" writes Module.symvers, which tests/kmod/build.sh needs to build against this tree
	make -C "$srcdir" O="$builddir" ARCH=x86_64 -j"$(nproc)" bzImage modules >>"$log" 2>&1 \
		|| { tail -n 30 "$log" >&2; die "kernel build failed; see $log"; }

	mkdir -p "$out"
	cp "$builddir/.config" "$out/config"
	cp "$builddir/arch/x86/boot/bzImage" "$out/bzImage.tmp"
	mv "$out/bzImage.tmp" "$out/bzImage"
	note "built $out/bzImage"
	echo "$out/bzImage"
}

# Runs "$@" holding $cache/lock: of several runs at once (check.sh's VM runners), one
# installs and builds, the others wait and then find its bzImage in the cache.
with_cache_lock() {
	local lock=$cache/lock fd
	mkdir -p "$cache" 2>/dev/null || die "cannot create the cache directory $cache (VFIOMIG_CACHE_DIR)"
	touch "$lock" 2>/dev/null || die "cannot write the lock file $lock"
	exec {fd}>>"$lock"
	if ! flock -n "$fd"; then
		note "waiting for another build-kernel.sh to finish (lock: $lock)"
		flock "$fd"
	fi
	"$@"
}

# Sourced (tests/harness), it only defines its functions.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	with_cache_lock main "$@"
fi
