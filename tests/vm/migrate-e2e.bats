#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The end-to-end proof on the real kernel: bytes written into one mtty's UART FIFO
# come out of another mtty's after its state was saved and restored, and a refused
# stream leaves the destination's own FIFO as it was.

load '../bats/helper'

MTTY_UART=${VFIOMIG_TEST_TOOLS:-$BATS_TEST_DIRNAME/../tools}/mtty-uart

setup() {
	kernel_only
	common_setup
	S=$BATS_TEST_TMPDIR/state.vfm
	# common_setup left the devices RUNNING; a reset keeps mtty's FIFO, so empty them too
	"$MTTY_UART" drain "$MTTY2_A" "$MTTY2_B" "$MTTY1" >/dev/null 2>&1 || true
}

@test "FIFO bytes cross from one mtty to another through a file" {
	"$MTTY_UART" write "$MTTY2_A" crossed
	run vfiomig save "$MTTY2_A" -o "$S" --resume
	assert_status 0
	run vfiomig restore "$MTTY2_B" -i "$S"
	assert_status 0
	run "$MTTY_UART" read "$MTTY2_B"
	assert_equal "$output" crossed
}

@test "FIFO bytes cross through save piped into restore" {
	"$MTTY_UART" write "$MTTY2_A" piped
	run bash -c "'$VFIOMIG' save '$MTTY2_A' | '$VFIOMIG' restore '$MTTY2_B'"
	assert_status 0
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
	run "$MTTY_UART" read "$MTTY2_B"
	assert_equal "$output" piped
}

@test "FIFO bytes cross through a keyed stream saved over the group path" {
	(umask 077; head -c 32 /dev/urandom >"$BATS_TEST_TMPDIR/key")
	"$MTTY_UART" write "$MTTY2_A" keyed
	run vfiomig --open-via=group save "$MTTY2_A" -o "$S" --resume --key-file "$BATS_TEST_TMPDIR/key"
	assert_status 0
	run vfiomig restore "$MTTY2_B" -i "$S" --key-file "$BATS_TEST_TMPDIR/key"
	assert_status 0
	run "$MTTY_UART" read "$MTTY2_B"
	assert_equal "$output" keyed
}

@test "a corrupt stream never reaches the destination: its own FIFO bytes stay" {
	"$MTTY_UART" write "$MTTY2_A" source
	vfiomig save "$MTTY2_A" -o "$S" --resume
	"$MTTY_UART" write "$MTTY2_B" mine
	local off v size
	size=$(stat -c %s "$S")
	off=$((size - 100))
	cp "$S" "$S.bad"
	v=$(od -An -tu1 -j "$off" -N1 "$S" | tr -d ' ')
	printf "\\x$(printf %02x $((v ^ 1)))" | dd of="$S.bad" bs=1 seek="$off" conv=notrunc 2>/dev/null
	run vfiomig restore "$MTTY2_B" -i "$S.bad"
	assert_status 5
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
	run "$MTTY_UART" read "$MTTY2_B"
	assert_equal "$output" mine
}

@test "an mtty-2 stream into an mtty-1 is refused and the mtty-1 keeps its FIFO" {
	vfiomig save "$MTTY2_A" -o "$S" --resume
	"$MTTY_UART" write "$MTTY1" one
	run vfiomig restore "$MTTY1" -i "$S"
	assert_status 6
	assert_output_contains "mtty-1"
	assert_equal "$(state_of "$MTTY1")" RUNNING
	run "$MTTY_UART" read "$MTTY1"
	assert_equal "$output" one
}

@test "the source keeps its FIFO after a save with --resume" {
	"$MTTY_UART" write "$MTTY2_A" kept
	vfiomig save "$MTTY2_A" -o "$S" --resume
	run "$MTTY_UART" read "$MTTY2_A"
	assert_equal "$output" kept
}

@test "FIFO bytes cross in a live migration over TLS with a pre-shared key" {
	(umask 077; head -c 32 /dev/urandom >"$BATS_TEST_TMPDIR/psk")
	"$MTTY_UART" write "$MTTY2_A" live
	start_receive "$MTTY2_B" --psk-file "$BATS_TEST_TMPDIR/psk"
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --psk-file "$BATS_TEST_TMPDIR/psk"
	wait "$RECV_PID"
	assert_status 0
	assert_equal "$(state_of "$MTTY2_A")" STOP
	run "$MTTY_UART" read "$MTTY2_B"
	assert_equal "$output" live
}

@test "FIFO bytes cross in a live migration over --exec with a plain command" {
	"$MTTY_UART" write "$MTTY2_A" viaexec
	run vfiomig migrate "$MTTY2_A" --exec "'$VFIOMIG' receive '$MTTY2_B' --stdio"
	assert_status 0
	run "$MTTY_UART" read "$MTTY2_B"
	assert_equal "$output" viaexec
}

@test "a wrong key is refused with the source RUNNING and its FIFO intact" {
	(umask 077; head -c 32 /dev/urandom >"$BATS_TEST_TMPDIR/psk")
	(umask 077; head -c 32 /dev/urandom >"$BATS_TEST_TMPDIR/other")
	"$MTTY_UART" write "$MTTY2_A" intact
	# the listener turns the wrong key away and waits on until --accept-timeout
	start_receive "$MTTY2_B" --psk-file "$BATS_TEST_TMPDIR/psk" --accept-timeout 3
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --psk-file "$BATS_TEST_TMPDIR/other"
	local recv=0
	wait "$RECV_PID" || recv=$?
	assert_status 6
	assert_equal "$recv" 6
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	run "$MTTY_UART" read "$MTTY2_A"
	assert_equal "$output" intact
}

@test "an mtty-1 destination is refused with the source RUNNING and its FIFO intact" {
	"$MTTY_UART" write "$MTTY2_A" mine
	start_receive "$MTTY1" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure
	local recv=0
	wait "$RECV_PID" || recv=$?
	assert_status 6
	assert_equal "$recv" 6
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY1")" RUNNING
	run "$MTTY_UART" read "$MTTY2_A"
	assert_equal "$output" mine
}

@test "a receiver killed before the source connects leaves the source RUNNING with its FIFO" {
	# (killing it mid-data is tested on the double: mtty's 96 bytes cross too fast)
	"$MTTY_UART" write "$MTTY2_A" survives
	start_receive "$MTTY2_B" --insecure
	kill -KILL "$RECV_PID"
	wait "$RECV_PID" || true
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --timeout 5
	assert_status 6
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	run "$MTTY_UART" read "$MTTY2_A"
	assert_equal "$output" survives
}
