#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vfiomig migrate and receive: a live migration between two peers over loopback TCP
# or a spawned command's stdio; the source runs on unless it handed the state over (RUN).

load helper

setup() {
	common_setup
	OUT=$BATS_TEST_TMPDIR
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
	# the listener turns the wrong key away and waits on for a peer until then
	start_receive "$MTTY2_B" --psk-file "$OUT/psk" --accept-timeout 2
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --psk-file "$OUT/other"
	assert_status 6
	assert_output_contains "pre-shared key"
	finish_receive >/dev/null
	assert_equal "$RECV_STATUS" 6
	output=$(<"$OUT/recv.out")
	assert_output_contains "1 connection turned away"
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

@test "after pre-copy the source waits for the destination's SYNC before it stops" {
	start_receive "$MTTY2_B" --insecure
	run vfiomig -v migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	# the receiver's session refuses a SYNC after SWITCHOVER, so it came before the stop
	assert_output_contains "the destination took the pre-copy data"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "migrate --no-precopy sends no SYNC" {
	start_receive "$MTTY2_B" --insecure
	run vfiomig -v migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --no-precopy
	finish_receive
	assert_status 0
	refute_output_contains "the destination took the pre-copy data"
}

@test "receive prints its summary, and --json gives it as an object" {
	start_receive "$MTTY2_B" --insecure --json
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	output=$(sed -n '/^{/,/^}/p' "$OUT/recv.out")
	json_is \
		.devices 1 \
		'.raw_bytes >= 96' true \
		'.wire_bytes > 0' true \
		'.precopy_rounds >= 1' true \
		'.resume_ms <= .total_ms' true \
		'(.pings_sent | type) + (.pings_received | type)' numbernumber \
		'keys' '["devices","pings_received","pings_sent","precopy_rounds","raw_bytes","resume_ms","throughput_bytes_per_s","total_ms","turned_away","wire_bytes"]'
}

@test "receive's summary line names devices, bytes, rounds and the resume time" {
	start_receive "$MTTY2_B" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --no-precopy
	finish_receive
	assert_status 0
	grep -Eq 'received 1 device: [0-9]+ bytes of state, [0-9]+ on the wire .* 0 pre-copy rounds, devices running [0-9.]+ ms after the switchover; committed' "$OUT/recv.out"
}

@test "receive --json with --stdio is a usage error: stdout carries the protocol" {
	run vfiomig receive "$MTTY2_B" --stdio --json
	assert_status 2
	assert_output_contains "--stdio uses for the protocol"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
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

# A migration whose source reads take 300 ms each, SIGNAL to SIDE (migrate or receive) a
# second in; or, with `loading`, whose destination takes 4 s to load after the data phase,
# SIGNAL two seconds in. Both exit statuses land in MIG_STATUS and RECV_STATUS.
signal_midway() { # SIDE SIGNAL [loading]
	local wait=1
	if [[ ${3:-} == loading ]]; then
		knob "$MTTY2_B" "arc_delay_ms=RESUMING>STOP 4000"
		wait=2
	else
		knob "$MTTY2_A" "delay_ms=300"
	fi
	start_receive "$MTTY2_B" --insecure
	vfiomig_bg "$OUT/mig.out" migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure
	local mig=$VFIOMIG_PID
	sleep "$wait"
	if [[ $1 == migrate ]]; then kill -"$2" "$mig"; else kill -"$2" "$RECV_PID"; fi
	MIG_STATUS=0
	wait "$mig" || MIG_STATUS=$?
	if [[ $2 == KILL ]]; then
		RECV_STATUS=137
		wait "$RECV_PID" 2>/dev/null || true
	else
		finish_receive
	fi
	cat "$OUT/mig.out"
}

@test "SIGTERM to migrate mid-way: exit 7, source RUNNING, destination reset" {
	double_only
	signal_midway migrate TERM
	assert_equal "$MIG_STATUS" 7
	[[ $RECV_STATUS != 0 ]]
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "SIGINT to migrate mid-way: exit 7, source RUNNING, destination reset" {
	double_only
	signal_midway migrate INT
	assert_equal "$MIG_STATUS" 7
	grep -q "interrupted by signal 2" "$OUT/mig.out"
	[[ $RECV_STATUS != 0 ]]
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "SIGTERM to receive mid-way: the source rolls back to RUNNING" {
	double_only
	signal_midway receive TERM
	assert_equal "$RECV_STATUS" 7
	assert_equal "$MIG_STATUS" 6
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "SIGINT to receive mid-way: exit 7, it resets, the source rolls back to RUNNING" {
	double_only
	signal_midway receive INT
	assert_equal "$RECV_STATUS" 7
	assert_equal "$MIG_STATUS" 6
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "the receiver killed after the data phase, while it loads: the source rolls back" {
	double_only
	signal_midway receive KILL loading
	assert_equal "$MIG_STATUS" 6
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	# no COMMIT went out; the next vfiomig to open the mdev takes it back
	knob "$MTTY2_B" "arc_delay_ms="
	vfiomig save "$MTTY2_A" -o "$OUT/s" --resume
	run vfiomig restore "$MTTY2_B" -i "$OUT/s"
	assert_status 0
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "SIGTERM to the receiver while it loads after the data phase: no RUN, both RUNNING" {
	double_only
	signal_midway receive TERM loading
	assert_equal "$RECV_STATUS" 7
	assert_equal "$MIG_STATUS" 6
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
	# the first destination had been loaded; before RUN it is reset all the same
	grep -q '^RESET>RUNNING$' "$SYSROOT/double/$MTTY2_B/arcs"
}

# Large generated states (double only): a source and a destination of SIZE bytes,
# PRECOPY of them offered in pre-copy; the destination checks every byte it loads.
BIG_A=cccccccc-0000-0000-0000-000000000001
BIG_B=cccccccc-0000-0000-0000-000000000002
BIG_C=cccccccc-0000-0000-0000-000000000003
BIG_D=cccccccc-0000-0000-0000-000000000004

big_pair() { # SOURCE DESTINATION SIZE PRECOPY
	local n
	for n in "$1" "$2"; do
		"$FAKEDEV" add "$SYSROOT" --kind mdev --name "$n" --type mtty-2 --size "$3" \
			--precopy-bytes "$4" --knob content=generated
	done
}

# vfiomig ARGS... with its stdout and stderr on a pseudo-terminal.
on_terminal() {
	local cmd
	printf -v cmd '%q ' "$VFIOMIG" "$@"
	if [[ $BACKEND == double ]]; then
		cmd="env VFIOMIG_SYSROOT=$SYSROOT LD_PRELOAD=$DOUBLE_LIB $cmd"
	fi
	script -qfec "$cmd" /dev/null
}

@test "two large states through 3 encoders arrive whole and in order on both destinations" {
	double_only
	big_pair "$BIG_A" "$BIG_B" $((48 << 20)) $((32 << 20))
	big_pair "$BIG_C" "$BIG_D" $((40 << 20)) $((8 << 20))
	start_receive "$BIG_B" "$BIG_D" --insecure
	run vfiomig migrate "$BIG_A" "$BIG_C" --to "127.0.0.1:$PORT" --insecure -T 3 --json
	finish_receive
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	assert_equal "$(sed -n '/^{/,/^}/p' <<<"$output" | jq .raw_bytes)" $((88 << 20))
	[[ ! -e $SYSROOT/double/$BIG_B/mismatch && ! -e $SYSROOT/double/$BIG_D/mismatch ]]
	assert_equal "$(state_of "$BIG_B")" RUNNING
	assert_equal "$(state_of "$BIG_D")" RUNNING
	assert_equal "$(state_of "$BIG_A")" STOP
}

@test "a source read failing in stop-copy: exit 1, the source back in RUNNING, the destination reset" {
	double_only
	big_pair "$BIG_A" "$BIG_B" $((24 << 20)) $((8 << 20))
	knob "$BIG_A" "read_fail_after=$((16 << 20)) EIO"
	start_receive "$BIG_B" --insecure
	run vfiomig migrate "$BIG_A" --to "127.0.0.1:$PORT" --insecure -T 2
	finish_receive
	assert_status 1
	assert_output_contains "read migration data in STOP_COPY"
	assert_output_contains "back in RUNNING"
	assert_equal "$RECV_STATUS" 6
	assert_equal "$(state_of "$BIG_A")" RUNNING
	assert_equal "$(state_of "$BIG_B")" RUNNING
}

@test "SIGTERM to migrate while the receiver stalls ends it at once: exit 7, source RUNNING" {
	double_only
	big_pair "$BIG_A" "$BIG_B" $((4 << 30)) $((4 << 30))
	start_receive "$BIG_B" --insecure
	vfiomig_bg "$OUT/mig.out" migrate "$BIG_A" --to "127.0.0.1:$PORT" --insecure \
		--timeout 3600 --progress
	local mig=$VFIOMIG_PID rc=0 i
	wait_for_text "$OUT/mig.out" "pre-copy round 1"
	kill -STOP "$RECV_PID"
	sleep 1                 # the connection fills up; the sender blocks
	kill -TERM "$mig"
	# "at once" is long before --timeout (an hour) ends a blocked write
	for i in $(seq 100); do
		kill -0 "$mig" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$mig" 2>/dev/null && kill -KILL "$mig"
	wait "$mig" || rc=$?
	kill -CONT "$RECV_PID"
	finish_receive
	cat "$OUT/mig.out"
	assert_equal "$rc" 7
	[[ $RECV_STATUS != 0 ]]
	assert_equal "$(state_of "$BIG_A")" RUNNING
	assert_equal "$(state_of "$BIG_B")" RUNNING
}

@test "migrate --progress and receive --progress name each phase on stderr" {
	start_receive "$MTTY2_B" --insecure --progress
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --progress
	finish_receive
	assert_status 0
	assert_output_contains "migrate pre-copy round 1:"
	assert_output_contains "migrate stop-copy:"
	grep -q "receive pre-copy:" "$OUT/recv.out"
	grep -q "receive stop-copy:" "$OUT/recv.out"
}

@test "migrate shows no progress when stderr is not a terminal" {
	start_receive "$MTTY2_B" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 0
	refute_output_contains "stop-copy:"
	! grep -q "stop-copy:" "$OUT/recv.out"
}

@test "on a terminal migrate shows its progress unasked, and --no-progress hides it" {
	command -v script >/dev/null || skip "needs script(1)"
	start_receive "$MTTY2_B" --insecure
	run on_terminal migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 0
	assert_output_contains "migrate stop-copy:"
	vfiomig state "$MTTY2_A" running
	start_receive "$MTTY2_B" --insecure
	run on_terminal migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --no-progress
	finish_receive
	assert_status 0
	refute_output_contains "stop-copy:"
}

@test "on a terminal, --json and -q keep the progress line away" {
	command -v script >/dev/null || skip "needs script(1)"
	start_receive "$MTTY2_B" --insecure
	run on_terminal migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --json
	finish_receive
	assert_status 0
	assert_output_contains '"raw_bytes"'
	refute_output_contains "stop-copy:"
	vfiomig state "$MTTY2_A" running
	start_receive "$MTTY2_B" --insecure
	run on_terminal -q migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 0
	refute_output_contains "stop-copy:"
}

@test "migrate --threads takes 1 to 64; anything else is a usage error before any device moves" {
	run vfiomig migrate "$MTTY2_A" --to 127.0.0.1:1 --insecure -T 0
	assert_status 2
	assert_output_contains "--threads takes 1 to 64"
	run vfiomig migrate "$MTTY2_A" --to 127.0.0.1:1 --insecure --threads 65
	assert_status 2
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}
