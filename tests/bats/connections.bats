#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# migrate --connections N: the data of every device spread over N TLS connections,
# each authenticated by TLS and joined with the session's token; the destination
# puts each device's records back in order, whichever connection brought them. A
# connection that drops rolls the migration back; a stranger cannot join.

load helper
load pairs

PAIRS_PREFIX=cccccccc

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

@test "records dealt to random connections arrive out of order and are put back in order" {
	pairs 2 $((16 << 20)) $((4 << 20))
	start_receive "${DST[@]}" --psk-file "$OUT/psk" -v
	VFIOMIG_TEST_LANES=random VFIOMIG_TEST_LANE_DELAY=1:20 run vfiomig migrate "${SRC[@]}" \
		--to "127.0.0.1:$PORT" --psk-file "$OUT/psk" --connections 3 --json -T 2
	finish_receive
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	assert_equal "$(summary_of | jq .raw_bytes)" $((32 << 20))
	# the late connection's records were overtaken, and the destination waited for them
	grep -Eq "[1-9][0-9]* messages? came before one sent ahead" "$OUT/recv.out"
	assert_whole
}

@test "--insecure works the same over several connections" {
	pairs 1 $((8 << 20)) 0
	start_receive "${DST[@]}" --insecure --json
	run vfiomig migrate "${SRC[@]}" --to "127.0.0.1:$PORT" --insecure --connections 16
	finish_receive
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	assert_equal "$(sed -n '/^{/,/^}/p' "$OUT/recv.out" | jq .connections)" 16
	assert_whole
}

@test "one connection dropping in the data phase rolls the migration back" {
	pairs 2 $((16 << 20)) $((4 << 20))
	start_receive "${DST[@]}" --psk-file "$OUT/psk"
	VFIOMIG_TEST_DROP_LANE=2:3 run vfiomig migrate "${SRC[@]}" --to "127.0.0.1:$PORT" \
		--psk-file "$OUT/psk" --connections 4
	finish_receive
	assert_status 6
	assert_output_contains "connection 2 dropped after 3 records"
	assert_output_contains "back in RUNNING"
	[[ $RECV_STATUS -ne 0 ]]
	grep -q "reset; it is RUNNING" "$OUT/recv.out"
	assert_rolled_back
}

@test "a stranger with the key but a wrong token, and one that never joins, are turned away" {
	pairs 2 $((4 << 20)) 0
	start_receive "${DST[@]}" --psk-file "$OUT/psk" -v --json
	VFIOMIG_TEST_STRANGERS=silent,wrong-token run vfiomig migrate "${SRC[@]}" \
		--to "127.0.0.1:$PORT" --psk-file "$OUT/psk" --connections 2
	finish_receive
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	grep -q "turned away: .*no JOIN within" "$OUT/recv.out"
	grep -q "turned away: .*JOIN with a wrong token" "$OUT/recv.out"
	assert_equal "$(sed -n '/^{/,/^}/p' "$OUT/recv.out" | jq .turned_away)" 2
	assert_whole
}

@test "once every connection joined the listener closes: nobody joins late" {
	pairs 1 $((4 << 20)) 0
	knob "${SRC[0]}" "delay_ms=50"
	start_receive "${DST[@]}" --psk-file "$OUT/psk" -v
	vfiomig_bg "$OUT/mig.out" migrate "${SRC[@]}" --to "127.0.0.1:$PORT" \
		--psk-file "$OUT/psk" --connections 2
	wait_for_text "$OUT/recv.out" "connection 2 of 2 joined" "$RECV_PID"
	kill -0 "$RECV_PID"
	run bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT"
	[[ $status -ne 0 ]]
	wait "$VFIOMIG_PID"
	finish_receive >/dev/null
	assert_equal "$RECV_STATUS" 0
	assert_whole
}

@test "--connections is for --to, and takes 1 to 16" {
	pairs 1 $((1 << 20)) 0
	run vfiomig migrate "${SRC[@]}" --exec "true" --connections 2
	assert_status 2
	assert_output_contains "--connections is for --to"
	run vfiomig migrate "${SRC[@]}" --to 127.0.0.1:1 --insecure --connections 0
	assert_status 2
	assert_output_contains "--connections takes 1 to 16"
	run vfiomig migrate "${SRC[@]}" --to 127.0.0.1:1 --insecure --connections 17
	assert_status 2
	run vfiomig migrate "${SRC[@]}" --to 127.0.0.1:1 --insecure --connections 2x
	assert_status 2
	assert_equal "$(state_of "${SRC[0]}")" RUNNING
}

# The hostile peer (tests/tools/hostile-peer) as a source over --insecure TCP, with
# connections of its own: receive's status in RECV_STATUS, what it said in $output.
hostile_source() { # SCRIPT
	start_receive "$MTTY2_B" --insecure -v --json
	PEER_STATUS=0
	timeout 60 "$REPO/tests/tools/hostile-peer" --log "$OUT/peer.log" \
		--connect "127.0.0.1:$PORT" "$1" || PEER_STATUS=$?
	finish_receive >/dev/null
	output=$(<"$OUT/recv.out")
	echo "--- receive ($RECV_STATUS):"; printf '%s\n' "$output"
	echo "--- peer ($PEER_STATUS):"; cat "$OUT/peer.log"
}

OPEN2='hello features=precopy,sync,connections; expect HELLO; expect IDENTITY; verdict accept; connections n=2'

@test "a source's records may come over any connection in any order; a JOIN with a wrong token is turned away" {
	hostile_source "$OPEN2; join index=1 token=wrong; join index=1; start; expect READY;
		lane 1; data type=precopy bytes=zero:0; lane 0; switchover; data; end;
		expect LOADED; run; expect COMMIT"
	assert_equal "$PEER_STATUS" 0
	assert_equal "$RECV_STATUS" 0
	assert_output_contains "JOIN with a wrong token"
	assert_equal "$(sed -n '/^{/,/^}/p' <<<"$output" | jq .turned_away)" 1
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "a DATA that comes twice, over two connections, is a protocol error; the device is reset" {
	hostile_source "$OPEN2; join; start; expect READY; data type=precopy bytes=zero:0;
		lane 1; data type=precopy bytes=zero:0 seq=0; lane 0; until ABORT"
	assert_equal "$RECV_STATUS" 6
	assert_output_contains "DATA 0 of device 0 came twice"
	assert_output_contains "reset; it is RUNNING"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "a DATA 2^24 records ahead of its device is refused" {
	hostile_source "$OPEN2; join; start; expect READY; lane 1; data seq=16777216; lane 0;
		until ABORT"
	assert_equal "$RECV_STATUS" 6
	assert_output_contains "16777216 ahead of the next one it needs"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "an extra connection carries DATA only" {
	hostile_source "$OPEN2; join; start; expect READY; lane 1; switchover; lane 0; until ABORT"
	assert_equal "$RECV_STATUS" 6
	assert_output_contains "connection 2 carries DATA only, not SWITCHOVER"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "connections that wait for records none of them brings are a stall, not a hang" {
	hostile_source "$OPEN2; join; start; expect READY; data type=precopy bytes=zero:0;
		lane 1; data seq=5; lane 0; switchover; end; until ABORT"
	assert_equal "$RECV_STATUS" 6
	assert_output_contains "waits for DATA none of them will bring"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "RECORDS counting fewer DATA than came is refused" {
	hostile_source "$OPEN2; join; start; expect READY; data type=precopy bytes=zero:0;
		records counts=0; sync; until ABORT"
	assert_equal "$RECV_STATUS" 6
	assert_output_contains "more than the 0 its RECORDS counts"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "JOIN on the first connection, and CONNECTIONS after a START, are out of order" {
	hostile_source "hello features=precopy,sync,connections; expect HELLO; expect IDENTITY;
		verdict accept; msg type=JOIN payload=0100000000000000${ZERO32:=$(printf '0%.0s' {1..64})};
		until ABORT"
	assert_equal "$RECV_STATUS" 6
	assert_output_contains "received JOIN out of order"
	hostile_source "hello features=precopy,sync,connections; expect HELLO; expect IDENTITY;
		verdict accept; start; connections n=2"
	assert_equal "$RECV_STATUS" 6
	assert_output_contains "received CONNECTIONS out of order"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "connections that do not all join within --timeout fail the migration before any device moves" {
	start_receive "$MTTY2_B" --insecure -v --timeout 3
	PEER_STATUS=0
	timeout 60 "$REPO/tests/tools/hostile-peer" --log "$OUT/peer.log" \
		--connect "127.0.0.1:$PORT" "hello features=precopy,sync,connections; expect HELLO;
		expect IDENTITY; verdict accept; connections n=3; join; until ABORT" || PEER_STATUS=$?
	finish_receive
	assert_equal "$PEER_STATUS" 0
	assert_equal "$RECV_STATUS" 6
	grep -q "1 of 2 extra connections joined" "$OUT/recv.out"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
	! grep -q "reset" "$OUT/recv.out"
}

@test "a rehearsal over several connections takes the initial data over all of them and runs nothing" {
	pairs 2 $((8 << 20)) $((4 << 20))
	start_receive "${DST[@]}" --psk-file "$OUT/psk" -v
	run vfiomig migrate "${SRC[@]}" --to "127.0.0.1:$PORT" --psk-file "$OUT/psk" \
		--connections 3 --rehearse
	finish_receive >/dev/null
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	assert_output_contains "rehearsal accepted"
	grep -q "connection 3 of 3 joined" "$OUT/recv.out"
	grep -q "rehearsal accepted" "$OUT/recv.out"
	assert_rolled_back
}
