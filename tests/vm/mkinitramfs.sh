#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the test guest's initramfs: busybox, bash, bats, vfiomig and its libraries, the repo's
# bats suites, the test tools and an /init that sets up mtty and vfio-pci devices, then runs the
# suites (or the demo, or a shell) and powers the guest off.
# Usage: tests/vm/mkinitramfs.sh --bin PATH --out FILE.cpio.gz
# Extra host programs to include: VFIOMIG_VM_EXTRA_PROGRAMS="prog ..." (jq, as gojq where
# present, and script are included if present).
# Extra host files: VFIOMIG_VM_EXTRA_FILES="SRC:DST ..." (DST absolute in the guest; no spaces).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin='' out=''

die() { echo "mkinitramfs: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--bin) bin=${2:?--bin needs a path}; shift 2 ;;
	--bin=*) bin=${1#--bin=}; shift ;;
	--out) out=${2:?--out needs a path}; shift 2 ;;
	--out=*) out=${1#--out=}; shift ;;
	*) die "unknown argument: $1 (usage: mkinitramfs.sh --bin PATH --out FILE)" ;;
	esac
done
[ -n "$bin" ] && [ -n "$out" ] || die "usage: mkinitramfs.sh --bin PATH --out FILE"
[ -x "$bin" ] || die "$bin: not an executable (build vfiomig with 'make' first)"
[ -x /bin/busybox ] || die "/bin/busybox missing (apt-get install busybox-static)"
ldd /bin/busybox >/dev/null 2>&1 && die "/bin/busybox is dynamically linked; install busybox-static"

stage=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# Merged-/usr layout like the host, so paths from ldd and dpkg -L work unchanged.
mkdir -p "$stage"/{usr/bin,usr/sbin,usr/lib,usr/lib64,usr/local/bin,proc,sys,dev,tmp,root,etc,run,repo}
ln -s usr/bin "$stage/bin"
ln -s usr/sbin "$stage/sbin"
ln -s usr/lib "$stage/lib"
ln -s usr/lib64 "$stage/lib64"

# Copies a host file to the same path in the guest, resolving symlinks.
copy_file() {
	local src=$1 dst=${2:-$1}
	mkdir -p "$stage$(dirname "$dst")"
	cp -L "$src" "$stage$dst"
}

# Copies a program and every shared object it needs (ldd lists the loader too).
copy_program() {
	local prog=$1 dst=${2:-$1} lib
	[ "$prog" -ef "$stage$dst" ] || copy_file "$prog" "$dst"
	while read -r lib; do
		[ -e "$stage$lib" ] || copy_file "$lib"
	done < <(ldd "$prog" 2>/dev/null | grep -o '/[^ ]*' || true)
}

cp /bin/busybox "$stage/usr/bin/busybox"
while read -r applet; do
	[ -e "$stage/$applet" ] || [ -L "$stage/$applet" ] || ln -s /usr/bin/busybox "$stage/$applet"
done < <(/bin/busybox --list-full)

# A static bash starts about seven times faster than the dynamic one under TCG (10 vs 67 ms),
# and bats starts several bash processes per test.
if [ -x /bin/bash-static ]; then
	cp /bin/bash-static "$stage/usr/bin/bash"
else
	echo "mkinitramfs: /bin/bash-static missing (apt-get install bash-static); the guest suite will be slower" >&2
	copy_program /bin/bash /usr/bin/bash
fi

dpkg -L bats >/dev/null 2>&1 || die "bats is not installed (apt-get install bats)"
while read -r f; do
	case $f in /usr/share/*) continue ;; esac
	[ -f "$f" ] && copy_file "$f"
done < <(dpkg -L bats)

pci_ids=$(dpkg -L pci.ids 2>/dev/null | grep -E '^/usr/share/(misc|hwdata)/pci\.ids(\.gz)?$' | head -n1 || true)
[ -n "$pci_ids" ] || pci_ids=$(ls /usr/share/misc/pci.ids /usr/share/hwdata/pci.ids 2>/dev/null | head -n1 || true)
[ -n "$pci_ids" ] && copy_file "$pci_ids"

copy_program "$bin" /repo/vfiomig
ln -s /repo/vfiomig "$stage/usr/local/bin/vfiomig"

# The guest's jq is gojq where the host has it: jq 1.6 compiles its builtins on every start,
# ~0.5 s under TCG, gojq ~15 ms. The suites run with jq 1.6 on the host, so a filter that the
# two read differently shows up as a failure on one side.
if command -v gojq >/dev/null; then
	copy_program "$(command -v gojq)" /usr/local/bin/jq
else
	echo "mkinitramfs: gojq missing (apt-get install gojq); the guest's jq will be jq 1.6, ~0.5 s a run" >&2
fi
for prog in jq script ${VFIOMIG_VM_EXTRA_PROGRAMS:-}; do
	[ "$prog" = jq ] && [ -e "$stage/usr/local/bin/jq" ] && continue
	path=$(command -v "$prog" || true)
	[ -n "$path" ] && copy_program "$path" "/usr/local/bin/${path##*/}"
done

for pair in ${VFIOMIG_VM_EXTRA_FILES:-}; do
	src=${pair%%:*} dst=${pair#*:}
	[ -f "$src" ] && [ "${dst#/}" != "$dst" ] || die "VFIOMIG_VM_EXTRA_FILES: bad entry '$pair' (SRC:/DST)"
	copy_file "$src" "$dst"
done

# The repo's suites and the test tools, under /repo as in a checkout.
mkdir -p "$stage/repo/tests/bats" "$stage/repo/tests/vm" "$stage/repo/tests/tools"
# Tests that call double_only would only skip in the guest (about 0.4 s each under TCG): leave
# them out there, and files whose setup() calls it altogether; they run on the host.
dropped=0
for f in "$repo"/tests/bats/*; do
	case $f in
	*.bats)
		if awk '/^setup\(\)/ { s = 1 } s && /^[ \t]+double_only([ \t]|$)/ { found = 1 } s && /^}/ { s = 0 }
			END { exit !found }' "$f"; then
			dropped=$((dropped + $(grep -c '^@test ' "$f")))
			continue
		fi
		# a left-out test becomes as many empty lines, so that a failure's line number in
		# the guest is the line in the repo
		n=$(awk -v out="$stage/repo/tests/bats/${f##*/}" '
			/^@test / { t = 1; buf = ""; blank = ""; drop = 0 }
			t { buf = buf $0 "\n"; blank = blank "\n"
			    if ($0 ~ /^[ \t]+double_only([ \t]|$)/) drop = 1
			    if ($0 ~ /^}/) { t = 0; if (drop) n++; printf "%s", (drop ? blank : buf) > out }
			    next }
			{ print > out }
			END { print n + 0 }' "$f")
		dropped=$((dropped + n))
		;;
	*) cp -a "$f" "$stage/repo/tests/bats/" ;;
	esac
done
echo "mkinitramfs: $dropped double-only tests left out of the guest (they run on the host)" >&2
for f in "$here"/*.bats "$here/demo-guest.sh"; do
	[ -e "$f" ] && cp "$f" "$stage/repo/tests/vm/"
done
for src in "$repo"/tests/tools/*.c; do
	[ -e "$src" ] || continue
	tool=$(basename "$src" .c)
	cc -O2 -Wall -Wextra -o "$stage/repo/tests/tools/$tool" "$src" || die "cannot build $src"
	copy_program "$stage/repo/tests/tools/$tool" "/repo/tests/tools/$tool"
	ln -s "/repo/tests/tools/$tool" "$stage/usr/local/bin/$tool"
done

echo "root:x:0:0:root:/root:/bin/bash" >"$stage/etc/passwd"
echo "root:x:0:" >"$stage/etc/group"
cp "$here/guest-init.sh" "$stage/init"
chmod 755 "$stage/init"

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -print0 | LC_ALL=C sort -z \
	| cpio --null -o -H newc --owner=0:0 --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
