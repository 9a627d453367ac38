#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Checks that every file of the source tree carries its license line: an
# "SPDX-License-Identifier: GPL-2.0-or-later" comment on its first line, or on its second
# after a "#!" or "#compdef" line; the kernel test driver's sources (tests/kmod/*.[ch],
# Kbuild) say GPL-2.0, as a module must. Prints each file that does not, and exits 1.
# Usage: tests/check-spdx.sh [-C DIR] [FILE...]
# Without FILEs: `git ls-files` in a checkout, MANIFEST (written by make dist) in a tarball.
set -u
if [ "${1:-}" = -C ]; then
	cd "$2" || exit 2
	shift 2
fi

# Files that cannot carry the line, and why:
allowed() {
	case $1 in
	COPYING) ;;                     # the license text itself, verbatim
	NEWS) ;;                        # plain text; its first line is the release heading
	tests/fuzz/corpus/*) ;;         # binary stream samples for the fuzzers
	tests/bats/fixtures/*) ;;       # binary stream fixtures
	debian/changelog) ;;            # its format has no comments
	debian/source/format) ;;        # one line, read by dpkg-source
	debian/copyright) ;;            # DEP-5: it states every file's license itself
	VERSION) ;;                     # one line, the version, read by make, configure and tests
	MANIFEST) ;;                    # the file list make dist writes into the tarball
	*) return 1 ;;
	esac
}

if [ $# = 0 ]; then
	if [ -e .git ]; then
		mapfile -t files < <(git ls-files)
	elif [ -f MANIFEST ]; then
		mapfile -t files <MANIFEST
	else
		echo "check-spdx: neither a git checkout nor a MANIFEST in $PWD: name the files" >&2
		exit 2
	fi
else
	files=("$@")
fi

bad=0
for f in "${files[@]}"; do
	allowed "$f" && continue
	case $f in
	tests/kmod/*.[ch] | tests/kmod/Kbuild) want='SPDX-License-Identifier: GPL-2.0( |$| \*/)' ;;
	*) want='SPDX-License-Identifier: GPL-2.0-or-later( |$| \*/| -->)' ;;
	esac
	if [ ! -f "$f" ]; then
		echo "$f: listed but missing" && bad=1
		continue
	fi
	first=$(head -n 2 "$f")
	case $first in
	'#!'* | '#compdef'*) first=$(sed -n 2p "$f") ;;
	*) first=$(head -n 1 "$f") ;;
	esac
	if ! grep -qE "$want" <<<"$first"; then
		echo "$f: no license line (want /${want%%(*}/ on its first line)"
		bad=1
	fi
done
exit "$bad"
