#!/usr/bin/env bats
# vfiomig migrate and receive: a live migration between two peers over loopback TCP
# or a spawned command's stdio; the source runs on unless the destination committed.

load helper

setup() {
	common_setup
	OUT=$BATS_TEST_TMPDIR
}

# receive in the background: listens on 127.0.0.1:0 and sets PORT and RECV_PID.
start_receive() { # ARGS...
	vfiomig_bg "$OUT/recv.out" receive --listen 127.0.0.1:0 "$@"
	RECV_PID=$VFIOMIG_PID
	wait_for_text "$OUT/recv.out" "listening on"
	PORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$OUT/recv.out")
}

# Waits for the receiver and puts its status in RECV_STATUS.
finish_receive() {
	RECV_STATUS=0
	wait "$RECV_PID" || RECV_STATUS=$?
	cat "$OUT/recv.out"
}

key() { # NAME
	(umask 077; head -c 32 /dev/urandom >"$OUT/$1")
}

@test "migrate over TCP moves the state: the source stops, the destination runs" {
	start_receive "$MTTY2_B" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	assert_equal "$(state_of "$MTTY2_A")" STOP
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
	assert_output_contains "downtime"
}

@test "migrate over TLS with a pre-shared key works" {
	key psk
	start_receive "$MTTY2_B" --psk-file "$OUT/psk"
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --psk-file "$OUT/psk"
	finish_receive
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "a wrong pre-shared key is refused in the handshake, the source untouched" {
	key psk
	key other
	start_receive "$MTTY2_B" --psk-file "$OUT/psk"
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --psk-file "$OUT/other"
	finish_receive
	assert_status 6
	assert_equal "$RECV_STATUS" 6
	assert_output_contains "pre-shared key"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "a listener without a key or certificate refuses to start (exit 2)" {
	run vfiomig receive "$MTTY2_B" --listen 127.0.0.1:0
	assert_status 2
	assert_output_contains "--insecure"
}

@test "migrate --exec speaks to 'receive --stdio' over the command's stdio" {
	local recv="$VFIOMIG receive $MTTY2_B --stdio"
	if [[ $BACKEND == double ]]; then
		recv="env VFIOMIG_SYSROOT=$SYSROOT LD_PRELOAD=$DOUBLE_LIB $recv"
	fi
	run vfiomig migrate "$MTTY2_A" --exec "$recv" --json
	assert_status 0
	assert_equal "$(state_of "$MTTY2_A")" STOP
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
	[[ $(sed -n '/^{/,/^}/p' <<<"$output" | jq .raw_bytes) == 96 ]]
	[[ $(sed -n '/^{/,/^}/p' <<<"$output" | jq .precopy_rounds) -ge 1 ]]
}

@test "an mtty-1 destination is refused before the source changes state (exit 6)" {
	start_receive "$MTTY1" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 6
	assert_equal "$RECV_STATUS" 6
	assert_output_contains "mtty-1"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY1")" RUNNING
}

@test "migrate --no-precopy stops the devices at once and still moves the state" {
	start_receive "$MTTY2_B" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --no-precopy --json
	finish_receive
	assert_status 0
	[[ $(sed -n '/^{/,/^}/p' <<<"$output" | jq .precopy_rounds) == 0 ]]
}

@test "a destination whose resume fails aborts; the source runs on, the destination is reset" {
	double_only
	knob "$MTTY2_B" "fail_arc=RESUMING>STOP EINVAL"
	start_receive "$MTTY2_B" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 6
	[[ $RECV_STATUS != 0 ]]
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "the receiver killed during the data phase leaves the source RUNNING" {
	double_only
	knob "$MTTY2_A" "delay_ms=300"
	start_receive "$MTTY2_B" --insecure
	vfiomig_bg "$OUT/mig.out" migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure
	local mig=$VFIOMIG_PID rc=0
	sleep 1
	kill -KILL "$RECV_PID"
	wait "$mig" || rc=$?
	cat "$OUT/mig.out"
	assert_equal "$rc" 6
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	# SIGKILL leaves the receiver no chance: its mdev stays RESUMING until the next
	# vfiomig that opens it resets it
	assert_equal "$(state_of "$MTTY2_B")" RESUMING
	knob "$MTTY2_A" "delay_ms=0"
	vfiomig save "$MTTY2_A" -o "$OUT/s" --resume
	run vfiomig restore "$MTTY2_B" -i "$OUT/s"
	assert_status 0
	assert_output_contains "abandoned"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "SIGTERM to migrate mid-way: exit 7, source RUNNING, destination reset" {
	double_only
	knob "$MTTY2_A" "delay_ms=300"
	start_receive "$MTTY2_B" --insecure
	vfiomig_bg "$OUT/mig.out" migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure
	local mig=$VFIOMIG_PID rc=0
	sleep 1
	kill -TERM "$mig"
	wait "$mig" || rc=$?
	finish_receive
	cat "$OUT/mig.out"
	assert_equal "$rc" 7
	[[ $RECV_STATUS != 0 ]]
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "SIGTERM to receive mid-way: the source rolls back to RUNNING" {
	double_only
	knob "$MTTY2_A" "delay_ms=300"
	start_receive "$MTTY2_B" --insecure
	vfiomig_bg "$OUT/mig.out" migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure
	local mig=$VFIOMIG_PID rc=0
	sleep 1
	kill -TERM "$RECV_PID"
	finish_receive
	wait "$mig" || rc=$?
	assert_equal "$RECV_STATUS" 7
	assert_equal "$rc" 6
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "two device pairs migrate at once" {
	double_only
	local c=eeeeeeee-0000-0000-0000-000000000001 d=eeeeeeee-0000-0000-0000-000000000002
	"$FAKEDEV" add "$SYSROOT" --kind mdev --name "$c" --type mtty-1
	"$FAKEDEV" add "$SYSROOT" --kind mdev --name "$d" --type mtty-1
	start_receive "$MTTY2_B" "$d" --insecure
	run vfiomig migrate "$MTTY2_A" "$c" --to "127.0.0.1:$PORT" --insecure --json
	finish_receive
	assert_status 0
	[[ $(sed -n '/^{/,/^}/p' <<<"$output" | jq .raw_bytes) == 156 ]]
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
	assert_equal "$(state_of "$d")" RUNNING
	assert_equal "$(state_of "$c")" STOP
}

@test "with two pairs, a second destination failing resets the first one too" {
	double_only
	local c=eeeeeeee-0000-0000-0000-000000000001 d=eeeeeeee-0000-0000-0000-000000000002
	"$FAKEDEV" add "$SYSROOT" --kind mdev --name "$c" --type mtty-1
	"$FAKEDEV" add "$SYSROOT" --kind mdev --name "$d" --type mtty-1
	knob "$d" "fail_arc=RESUMING>STOP EINVAL"
	knob "$MTTY2_B" "trace=1"
	start_receive "$MTTY2_B" "$d" --insecure
	run vfiomig migrate "$MTTY2_A" "$c" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 6
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$c")" RUNNING
	# the first destination had been loaded; before COMMIT it is reset all the same
	grep -q '^RESET>RUNNING$' "$SYSROOT/double/$MTTY2_B/arcs"
}
