#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# receive --listen survives junk: a port scan, plain text, a TLS 1.2 client or a wrong
# key is turned away and the listener waits on, within --accept-timeout, for a peer
# that authenticates (TLS) or opens with a HELLO (--insecure); a peer that trickles
# its first message is cut after --timeout.

load helper

setup() {
	# what a listener turns away is host-side networking: the kernel adds nothing here
	double_only "the listener does not depend on the kernel"
	common_setup
	OUT=$BATS_TEST_TMPDIR
	(umask 077; head -c 32 /dev/urandom >"$OUT/psk"; head -c 32 /dev/urandom >"$OUT/other")
}

teardown() {
	[[ -z ${TRICKLER:-} ]] || kill "$TRICKLER" 2>/dev/null || true
	[[ -z ${RECV_PID:-} ]] || kill "$RECV_PID" 2>/dev/null || true
}

port_scan() { # PORT: connect and close without a word
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$1"
	exec {fd}>&-
}

plain_text() { # PORT
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$1"
	printf 'GET / HTTP/1.0\r\n\r\n' >&"$fd" 2>/dev/null || true
	timeout 5 cat <&"$fd" >/dev/null 2>&1 || true
	exec {fd}>&-
}

# A TLS 1.2 client where openssl is installed (the host; the VM has none): TURNED grows
# by one when it connected.
tls12_client() { # PORT
	command -v openssl >/dev/null || return 0
	timeout 10 openssl s_client -tls1_2 -connect "127.0.0.1:$1" </dev/null >/dev/null 2>&1 || true
	((TURNED += 1))
}

# finish_receive, with what the receiver said in $output.
receiver_done() {
	finish_receive >/dev/null
	output=$(<"$OUT/recv.out")
}

# Waits up to SECONDS for the receiver to exit; fails if it is still running.
receiver_exits_within() { # SECONDS
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		kill -0 "$RECV_PID" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "receive still runs after $1 s" >&2
	return 1
}

@test "a PSK listener turns away a scan, text, TLS 1.2 and a wrong key, then migrates" {
	start_receive "$MTTY2_B" --psk-file "$OUT/psk" --accept-timeout 60
	TURNED=3        # the scan, the text and the wrong key; tls12_client adds its own
	port_scan "$PORT"
	plain_text "$PORT"
	tls12_client "$PORT"
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --psk-file "$OUT/other"
	assert_status 6
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --psk-file "$OUT/psk"
	assert_status 0
	receiver_done
	assert_equal "$RECV_STATUS" 0
	assert_equal "$(state_of "$MTTY2_A")" STOP
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
	assert_output_contains "turned away $TURNED connections"
}

@test "receive -v says why it turned each connection away; --json counts them" {
	start_receive "$MTTY2_B" --psk-file "$OUT/psk" -v --json
	port_scan "$PORT"
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --psk-file "$OUT/other"
	assert_status 6
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --psk-file "$OUT/psk"
	assert_status 0
	receiver_done
	assert_equal "$RECV_STATUS" 0
	assert_equal "$(grep -c 'turned away:' <<<"$output")" 2
	assert_output_contains "pre-shared key differs"
	[[ $(sed -n '/^{/,/^}/p' <<<"$output" | jq .turned_away) == 2 ]]
}

@test "an insecure listener turns away text and a non-vfiomig peer, then migrates" {
	start_receive "$MTTY2_B" --insecure
	TURNED=2        # the scan and the text; tls12_client adds its own
	port_scan "$PORT"
	plain_text "$PORT"
	tls12_client "$PORT"
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure
	assert_status 0
	receiver_done
	assert_equal "$RECV_STATUS" 0
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
	assert_output_contains "turned away $TURNED connections"
}

@test "an insecure peer trickling its HELLO is cut after --timeout; the listener then gives up" {
	start_receive "$MTTY2_B" --insecure --timeout 1 --accept-timeout 3
	(
		exec 3<>"/dev/tcp/127.0.0.1/$PORT"
		for b in '\x89' V M P '\x01' '\x00' '\x00' '\x00' '\xff' '\xff' '\x00' '\x00' \
			'\x10' '\x00' '\x00' '\x00' '\x00' '\x00' '\x00' '\x00'; do
			printf "$b" >&3 2>/dev/null || exit 0
			sleep 0.8
		done
	) &
	TRICKLER=$!
	receiver_exits_within 8
	receiver_done
	assert_equal "$RECV_STATUS" 6
	assert_output_contains "no peer authenticated within 3 s; 1 connection turned away"
	assert_output_contains "first message"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "--accept-timeout bounds the wait for a peer, whatever --timeout says" {
	start_receive "$MTTY2_B" --insecure --timeout 600 --accept-timeout 1
	receiver_exits_within 8
	receiver_done
	assert_equal "$RECV_STATUS" 6
	assert_output_contains "no peer connected in time"
}

@test "--accept-timeout is refused with --stdio and out of range" {
	run vfiomig receive "$MTTY2_B" --stdio --accept-timeout 5 </dev/null
	assert_status 2
	run vfiomig receive "$MTTY2_B" --listen 0 --insecure --accept-timeout -1
	assert_status 2
}
