#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# migrate --connections N: the data of every device spread over N TLS connections,
# each authenticated by TLS and joined with the session's token; the destination
# puts each device's records back in order, whichever connection brought them. A
# connection that drops rolls the migration back; a stranger cannot join.

load helper

setup() {
	double_only "several connections are host-side networking"
	common_setup
	OUT=$BATS_TEST_TMPDIR
	(umask 077; head -c 32 /dev/urandom >"$OUT/psk")
	SRC=() DST=()
}

teardown() {
	[[ -z ${RECV_PID:-} ]] || kill "$RECV_PID" 2>/dev/null || true
}

# N pairs of generated-content devices of SIZE bytes, PRECOPY of them offered in
# pre-copy; the destinations check every byte as it is written.
pairs() { # N SIZE PRECOPY
	local i s d
	for ((i = 1; i <= $1; i++)); do
		s=$(printf 'cccccccc-0000-0000-0000-%012d' "$i")
		d=$(printf 'cccccccc-0000-0000-0001-%012d' "$i")
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

summary_of() { # the JSON summary in $output
	sed -n '/^{/,/^}/p' <<<"$output"
}

@test "four devices over four TLS connections arrive whole" {
	pairs 4 $((24 << 20)) $((8 << 20))
	start_receive "${DST[@]}" --psk-file "$OUT/psk" -v
	run vfiomig migrate "${SRC[@]}" --to "127.0.0.1:$PORT" --psk-file "$OUT/psk" \
		--connections 4 --json -v
	finish_receive
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	assert_equal "$(summary_of | jq .raw_bytes)" $((96 << 20))
	assert_equal "$(summary_of | jq .connections)" 4
	assert_whole
}
