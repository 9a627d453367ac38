#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# tests/check-layers keeps src/ in its layers: it passes on the tree, and fails on an
# include that climbs, a bare include of another layer's header, a symbol used from a
# layer above, and a dependency cycle between two files.

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	LAYERS=$(sed -n 's/^LAYERS *= *//p' "$REPO/Makefile")
	T=$BATS_TEST_TMPDIR
}

# A tree of two layers, low and high, with one file each; the objects built too.
small_tree() {
	mkdir -p "$T/src/low" "$T/src/high" "$T/objs/low" "$T/objs/high"
	printf 'int low_fn(void);\n' >"$T/src/low/low.h"
	printf '#include "low.h"\nint low_fn(void) { return 1; }\n' >"$T/src/low/low.c"
	printf '#include "low/low.h"\nint high_fn(void);\nint high_fn(void) { return low_fn(); }\n' \
		>"$T/src/high/high.c"
}

build_small() {
	cc -c -I"$T/src" -o "$T/objs/low/low.o" "$T/src/low/low.c"
	cc -c -I"$T/src" -o "$T/objs/high/high.o" "$T/src/high/high.c"
}

@test "the source tree keeps its layers" {
	[[ -n $LAYERS ]]
	[[ -d $REPO/build/src ]] || { echo "no objects: build first (make)"; false; }
	cd "$REPO"
	# shellcheck disable=SC2086
	run tests/check-layers $LAYERS
	[ "$status" -eq 0 ]
	[[ $output == *"ok 1 - "*"ok 2 - "*"ok 3 - "* ]]
}

@test "an include of a higher layer fails" {
	small_tree
	printf '#include "high/nothing.h"\n' >>"$T/src/low/low.c"
	touch "$T/src/high/nothing.h"
	build_small
	run "$REPO/tests/check-layers" --src "$T/src" --objs "$T/objs" low high
	[ "$status" -eq 1 ]
	[[ $output == *"low/low.c:3: low includes \"high/nothing.h\", a layer above it"* ]]
	[[ $output == *"not ok 1 -"* ]]
}

@test "a bare include of another layer's header fails" {
	small_tree
	printf '#include "low.h"\n' >>"$T/src/high/high.c"
	build_small 2>/dev/null || true
	run "$REPO/tests/check-layers" --src "$T/src" --objs "$T/objs" low high
	[ "$status" -eq 1 ]
	[[ $output == *"\"low.h\" is not in high/; name its layer"* ]]
}

@test "a symbol used from a layer above fails, even without an include" {
	small_tree
	printf 'int high_fn(void);\nint low_calls_up(void) { return high_fn(); }\n' >>"$T/src/low/low.c"
	build_small
	run "$REPO/tests/check-layers" --src "$T/src" --objs "$T/objs" low high
	[ "$status" -eq 1 ]
	[[ $output == *"uses high_fn from"*"(layer high above low)"* ]]
	[[ $output == *"not ok 2 -"* ]]
}

@test "two files that use each other are a cycle" {
	small_tree
	printf 'int low_fn(void);\nint other_fn(void) { return low_fn(); }\n' >"$T/src/low/other.c"
	printf 'int other_fn(void);\nint low_again(void) { return other_fn(); }\n' >>"$T/src/low/low.c"
	build_small
	cc -c -o "$T/objs/low/other.o" "$T/src/low/other.c"
	run "$REPO/tests/check-layers" --src "$T/src" --objs "$T/objs" low high
	[ "$status" -eq 1 ]
	[[ $output == *"cycle: "*"low.o <-> "*"other.o"* ]]
	[[ $output == *"not ok 3 -"* ]]
}

@test "no objects to read is a failure, not a pass" {
	small_tree
	run "$REPO/tests/check-layers" --src "$T/src" --objs "$T/objs" low high
	[ "$status" -eq 1 ]
	[[ $output == *"build first"* ]]
}
