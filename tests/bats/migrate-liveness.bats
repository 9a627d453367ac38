#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# migrate and receive stay responsive to signals while they connect, accept and
# handshake, and --timeout bounds the peer's silence, not the length of an operation:
# a side busy with its devices sends PING, a peer that says nothing times out.

load helper

setup() {
	common_setup
	OUT=$BATS_TEST_TMPDIR
	PEER_FDS=()
	STOPPED=()
}

teardown() {
	local pid fd
	for pid in "${STOPPED[@]}"; do
		kill -KILL "$pid" 2>/dev/null && { wait "$pid"; } 2>/dev/null || true
	done
	for fd in "${PEER_FDS[@]}"; do
		exec {fd}>&-
	done
}

# receive in the background: listens on 127.0.0.1:0 and sets PORT and RECV_PID.
# SIGSTOP a background process; teardown kills it if the test does not.
freeze() { # PID
	kill -STOP "$1"
	STOPPED+=("$1")
}

# Waits up to 30 s for background PID to exit and puts its status in RC (reap). One
# that is still running is killed and fails the test: it ignored its signal or its timeout.
wait_exit() { # PID
	reap "$1" RC || return 1
	local keep=() pid             # reaped: its pid may be reused, never kill it again
	for pid in "${STOPPED[@]}"; do
		[[ $pid == "$1" ]] || keep+=("$pid")
	done
	STOPPED=("${keep[@]}")
}

# Opens a TCP connection to 127.0.0.1:PORT from this shell that never says a word.
silent_client() { # PORT
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$1"
	PEER_FDS+=("$fd")
}

# Waits (up to 10 s) until /proc/net/tcp shows a connection to 127.0.0.1:PORT in
# STATE (hex: 01 ESTABLISHED, 02 SYN_SENT), seen from the connecting side.
wait_for_tcp() { # PORT STATE
	local hex i text
	printf -v hex '0100007F:%04X %s ' "$1" "$2"
	for ((i = 0; i < 500; i++)); do
		IFS= read -r -d '' text </proc/net/tcp || true
		[[ $text == *" $hex"* ]] && return 0
		sleep 0.02
	done
	echo "no connection to port $1 in state $2:" >&2
	cat /proc/net/tcp >&2
	return 1
}

# Waits (up to 10 s) until the listener on 127.0.0.1:PORT has taken every connection
# from its accept queue (a LISTEN socket's rx_queue counts them): receive is busy with
# the connection. A listener stays open until a peer authenticated.
wait_for_accepted() { # PORT
	local hex i text
	wait_for_tcp "$1" 01 || return 1
	printf -v hex '0100007F:%04X 00000000:0000 0A 00000000:00000000 ' "$1"
	for ((i = 0; i < 500; i++)); do
		IFS= read -r -d '' text </proc/net/tcp || true
		[[ $text == *" $hex"* ]] && return 0
		sleep 0.02
	done
	echo "the listener on port $1 did not accept" >&2
	cat /proc/net/tcp >&2
	return 1
}

key() { # NAME
	(umask 077; head -c 32 /dev/urandom >"$OUT/$1")
}

@test "SIGTERM while migrate's TCP connect goes unanswered: exit 7 at once, devices untouched" {
	# A stopped listener whose accept queue is full drops further SYNs: the connect hangs.
	start_receive "$MTTY2_B" --insecure
	freeze "$RECV_PID"
	silent_client "$PORT"
	silent_client "$PORT"
	vfiomig_bg "$OUT/mig.out" migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --timeout 600
	local mig=$VFIOMIG_PID
	wait_for_tcp "$PORT" 02
	kill -TERM "$mig"
	wait_exit "$mig"
	cat "$OUT/mig.out"
	assert_equal "$RC" 7
	grep -q "connect to 127.0.0.1:$PORT: interrupted by signal 15" "$OUT/mig.out"
	grep -q "no device changed state" "$OUT/mig.out"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "SIGTERM while migrate waits for a name server that never answers: exit 7 at once" {
	double_only "the guest has no socat to play the silent name server"
	[[ $EUID == 0 ]] && command -v unshare >/dev/null && command -v socat >/dev/null ||
		skip "needs root, unshare and socat"
	# In a mount namespace of its own, migrate's resolv.conf names 127.0.0.2, where socat takes
	# the queries and answers none (the resolver would wait 30 s).
	printf 'nameserver 127.0.0.2\noptions timeout:30 attempts:1\n' >"$OUT/resolv.conf"
	socat -u UDP4-RECV:53,bind=127.0.0.2,reuseaddr "CREATE:$OUT/queries" 3>&- &
	STOPPED+=("$!")                 # killed by teardown
	(
		export VFIOMIG_SYSROOT=$SYSROOT LD_PRELOAD=$DOUBLE_LIB
		exec unshare -m -- sh -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' \
			sh "$OUT/resolv.conf" "$VFIOMIG" migrate "$MTTY2_A" --to vfiomig-test.invalid:7070 \
			--insecure --timeout 600
	) >"$OUT/mig.out" 2>&1 3>&- &
	local mig=$! i
	for ((i = 0; i < 500; i++)); do
		[[ -s $OUT/queries ]] && break
		sleep 0.02
	done
	[[ -s $OUT/queries ]]           # the lookup is under way
	kill -TERM "$mig"
	wait_exit "$mig"
	cat "$OUT/mig.out"
	assert_equal "$RC" 7
	grep -q "resolve vfiomig-test.invalid: interrupted by signal 15" "$OUT/mig.out"
	grep -q "no device changed state" "$OUT/mig.out"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "SIGTERM during migrate's TLS handshake with a silent listener: exit 7 at once" {
	key psk
	start_receive "$MTTY2_B" --psk-file "$OUT/psk"
	freeze "$RECV_PID"              # the kernel completes the connect; nobody answers
	vfiomig_bg "$OUT/mig.out" migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --psk-file "$OUT/psk" \
		--timeout 600
	local mig=$VFIOMIG_PID
	wait_for_tcp "$PORT" 01
	kill -TERM "$mig"
	wait_exit "$mig"
	cat "$OUT/mig.out"
	assert_equal "$RC" 7
	grep -q "TLS handshake: interrupted by signal 15" "$OUT/mig.out"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "SIGHUP during receive's TLS handshake with a peer that never starts TLS: exit 7" {
	key psk
	start_receive "$MTTY2_B" --psk-file "$OUT/psk" --timeout 600
	silent_client "$PORT"
	wait_for_accepted "$PORT"
	kill -HUP "$RECV_PID"
	wait_exit "$RECV_PID"
	cat "$OUT/recv.out"
	assert_equal "$RC" 7
	grep -q "TLS handshake: interrupted by signal 1 (no device was touched)" "$OUT/recv.out"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "SIGTERM while receive waits for a peer: exit 7" {
	start_receive "$MTTY2_B" --insecure --timeout 600
	kill -TERM "$RECV_PID"
	wait_exit "$RECV_PID"
	cat "$OUT/recv.out"
	assert_equal "$RC" 7
	grep -q "wait for a peer: interrupted by signal 15" "$OUT/recv.out"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "SIGTERM while migrate --exec waits for a command that never speaks: exit 7" {
	vfiomig_bg "$OUT/mig.out" migrate -v "$MTTY2_A" --exec "exec sleep 600" --timeout 600
	local mig=$VFIOMIG_PID
	wait_for_text "$OUT/mig.out" "opened via"
	sleep 0.5                       # then it waits for the command's HELLO
	kill -TERM "$mig"
	wait_exit "$mig"
	cat "$OUT/mig.out"
	assert_equal "$RC" 7
	grep -q "interrupted by signal 15" "$OUT/mig.out"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "a destination resuming for longer than --timeout still commits: it pings meanwhile" {
	double_only
	knob "$MTTY2_B" "arc_delay_ms=RESUMING>STOP 4500"
	start_receive "$MTTY2_B" --insecure --timeout 2 -v
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --timeout 2 --json
	wait_exit "$RECV_PID"
	cat "$OUT/recv.out"
	assert_status 0
	assert_equal "$RC" 0
	assert_equal "$(state_of "$MTTY2_A")" STOP
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
	# the destination reports how long its resume took, more than the timeout
	output=$(sed -n '/^{/,/^}/p' <<<"$output")
	json_is '.destination_resume_ms >= 4500' true \
		'.pings_received >= 1' true
	grep -Eq "sent [1-9][0-9]* PINGs? while busy" "$OUT/recv.out"
}

@test "a source reading its device for longer than --timeout still migrates: it pings meanwhile" {
	double_only
	knob "$MTTY2_A" "delay_ms=2500"
	start_receive "$MTTY2_B" --insecure --timeout 2 --json
	run vfiomig migrate -v "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --timeout 2 --no-precopy
	wait_exit "$RECV_PID"
	cat "$OUT/recv.out"
	assert_status 0
	grep -Eq "sent [1-9][0-9]* PINGs? while busy" <<<"$output"
	local sent=${output##*sent } json
	sent=${sent%% PING*}
	json=$(sed -n '/^{/,/^}/p' "$OUT/recv.out")
	output=$json json_is .pings_received "$sent"
	assert_equal "$RC" 0
	assert_equal "$(state_of "$MTTY2_A")" STOP
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "a slow destination over TLS and --exec commits too" {
	double_only
	key psk
	knob "$MTTY2_B" "arc_delay_ms=RESUMING>STOP 4500"
	start_receive "$MTTY2_B" --psk-file "$OUT/psk" --timeout 2
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --psk-file "$OUT/psk" --timeout 2
	wait_exit "$RECV_PID"
	assert_status 0
	assert_equal "$RC" 0
	vfiomig state "$MTTY2_A" running
	local recv="env VFIOMIG_SYSROOT=$SYSROOT LD_PRELOAD=$DOUBLE_LIB $VFIOMIG receive $MTTY2_B"
	run vfiomig migrate "$MTTY2_A" --timeout 2 --exec "$recv --stdio --timeout 2"
	assert_status 0
	assert_equal "$(state_of "$MTTY2_A")" STOP
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

# A migration with --timeout 2 and a slow source (1 s per read), left running once the
# destination is RESUMING; the source's pid in MIG_PID.
start_until_resuming() {
	knob "$MTTY2_A" "delay_ms=1000"
	start_receive "$MTTY2_B" --insecure --timeout 2
	vfiomig_bg "$OUT/mig.out" migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --timeout 2
	MIG_PID=$VFIOMIG_PID
	local i
	for i in $(seq 100); do
		[[ $(double_state "$MTTY2_B") == RESUMING ]] && break
		sleep 0.1
	done
	assert_equal "$(double_state "$MTTY2_B")" RESUMING
}

@test "a receiver that goes silent (SIGSTOP) times the source out: exit 6, source RUNNING" {
	double_only
	start_until_resuming
	local mig=$MIG_PID
	freeze "$RECV_PID"
	wait_exit "$mig"
	cat "$OUT/mig.out"
	assert_equal "$RC" 6
	grep -q "the peer was silent for 2000 ms" "$OUT/mig.out"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	# woken up, the receiver finds the source gone and resets its device
	kill -CONT "$RECV_PID"
	wait_exit "$RECV_PID"
	cat "$OUT/recv.out"
	assert_equal "$RC" 6
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "a source that goes silent (SIGSTOP) times the receiver out: it resets, the source rolls back" {
	double_only
	start_until_resuming
	local mig=$MIG_PID
	freeze "$mig"
	wait_exit "$RECV_PID"
	cat "$OUT/recv.out"
	assert_equal "$RC" 6
	grep -q "the peer was silent for 2000 ms" "$OUT/recv.out"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
	kill -CONT "$mig"
	wait_exit "$mig"
	cat "$OUT/mig.out"
	assert_equal "$RC" 6
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "a receiver stopped before it says hello times the source out: exit 6, nothing touched" {
	start_receive "$MTTY2_B" --insecure
	freeze "$RECV_PID"              # the kernel still accepts the connection for it
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --timeout 1
	assert_status 6
	assert_output_contains "the peer was silent for 1000 ms"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}
