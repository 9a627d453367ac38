# SPDX-License-Identifier: GPL-2.0-or-later
# Device pairs on the test double for tests of several devices in one migration
# (devices.bats, connections.bats): SRC[i] migrates into DST[i]. The caller sets
# PAIRS_PREFIX (eight hex digits) so that files do not share device names, and
# empties SRC and DST in setup().

# N pairs of generated-content devices of SIZE bytes, PRECOPY of them offered in
# pre-copy; the destinations check every byte as it is written.
pairs() { # N SIZE PRECOPY
	local i s d n
	for ((i = 1; i <= $1; i++)); do
		s=$(printf '%s-0000-0000-0000-%012d' "$PAIRS_PREFIX" "$i")
		d=$(printf '%s-0000-0000-0001-%012d' "$PAIRS_PREFIX" "$i")
		SRC+=("$s")
		DST+=("$d")
		for n in "$s" "$d"; do
			"$FAKEDEV" add "$SYSROOT" --kind mdev --name "$n" --type mtty-2 --size "$2" \
				--precopy-bytes "$3" --knob content=generated
		done
	done
}

assert_whole() { # every destination RUNNING with no mismatch, every source STOP
	local i
	for i in "${!SRC[@]}"; do
		[[ ! -e $SYSROOT/double/${DST[i]}/mismatch ]]
		assert_equal "$(state_of "${DST[i]}")" RUNNING
		assert_equal "$(state_of "${SRC[i]}")" STOP
	done
}

assert_rolled_back() { # every device RUNNING, nothing left RESUMING
	local n
	for n in "${SRC[@]}" "${DST[@]}"; do
		assert_equal "$(state_of "$n")" RUNNING
	done
}
