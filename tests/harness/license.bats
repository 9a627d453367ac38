#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The license: COPYING holds the GNU GPL version 2, every file of the tree carries its
# SPDX line (tests/check-spdx.sh, with its allowlist of files that cannot), and the
# kernel test driver is GPL-2.0 as a module must be.

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	T=$BATS_TEST_TMPDIR
}

@test "COPYING is the GNU GPL version 2" {
	run head -n 3 "$REPO/COPYING"
	[[ $output == *"GNU GENERAL PUBLIC LICENSE"*"Version 2, June 1991"* ]]
	grep -q 'END OF TERMS AND CONDITIONS' "$REPO/COPYING"
}

@test "every file of the tree carries its SPDX line" {
	run "$REPO/tests/check-spdx.sh" -C "$REPO"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "a file without the line, or with the wrong license, is named" {
	mkdir -p "$T/tests/kmod" "$T/tests/fuzz/corpus"
	printf '/* SPDX-License-Identifier: GPL-2.0-or-later */\nint a;\n' >"$T/good.c"
	printf '#!/bin/bash\n# SPDX-License-Identifier: GPL-2.0-or-later\n' >"$T/good.sh"
	printf '/* no license here */\nint b;\n' >"$T/bare.c"
	printf 'x\ny\n# SPDX-License-Identifier: GPL-2.0-or-later\n' >"$T/late.sh"
	printf '/* SPDX-License-Identifier: GPL-2.0-only */\n' >"$T/other.c"
	printf '// SPDX-License-Identifier: GPL-2.0-or-later\n' >"$T/tests/kmod/mod.c"
	printf '\001\002' >"$T/tests/fuzz/corpus/blob"
	run "$REPO/tests/check-spdx.sh" -C "$T" good.c good.sh tests/fuzz/corpus/blob
	[ "$status" -eq 0 ]
	run "$REPO/tests/check-spdx.sh" -C "$T" good.c bare.c late.sh other.c tests/kmod/mod.c
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output != *good.c* ]]
	[[ $output == *"bare.c: no license line"* ]]
	[[ $output == *"late.sh: no license line"* ]]
	[[ $output == *"other.c: no license line"* ]]
	[[ $output == *"tests/kmod/mod.c: no license line"* ]]
}

@test "the kernel test driver is GPL-2.0" {
	cd "$REPO/tests/kmod"
	for f in *.[ch] Kbuild; do
		grep -qE '^(/\*|//|#) SPDX-License-Identifier: GPL-2.0( \*/)?$' "$f" ||
			{ echo "$f is not GPL-2.0"; false; }
	done
	grep -q 'MODULE_LICENSE("GPL")' migtest_main.c
}
