# SPDX-License-Identifier: GPL-2.0-or-later
# For the harness tests that build vfiomig apart from the checkout (dist, static, deb,
# first-run): copy_tree DEST copies the files of the tree (git ls-files in a checkout,
# MANIFEST in an unpacked tarball) to DEST, without anything built.
REPO=$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)

tree_files() {
	if [ -e "$REPO/.git" ]; then
		git -C "$REPO" ls-files
	else
		cat "$REPO/MANIFEST"
	fi
}

copy_tree() { # DEST
	mkdir -p "$1"
	(cd "$REPO" && tree_files | tr '\n' '\0' | xargs -0 cp --parents -t "$1")
}

# The make jobs for the builds here: two, or one on a one-CPU machine.
JOBS=$(($(nproc) >= 2 ? 2 : 1))
