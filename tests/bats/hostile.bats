#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# migrate and receive against a hostile peer (tests/tools/hostile-peer) that speaks the
# protocol from its document and lies, omits, reorders, trickles or stops: a key given is
# always used, the destination checks what it is given, and a peer that stops at any
# phase leaves the destination reset and the source running (or, after the point of no
# return, stopped with exit 8).

load helper

PEER=$REPO/tests/tools/hostile-peer

setup() {
	double_only "the hostile peer's cases run against the double"
	common_setup
	OUT=$BATS_TEST_TMPDIR
	knob "$MTTY2_A" trace=1
	knob "$MTTY2_B" trace=1
	knob "$MTTY1" trace=1
	(umask 077; head -c 32 /dev/urandom >"$OUT/key")
	PEER_ARGS=()
}

# A source script that does everything right (protocol version 2: every START before READY).
HONEST_TRANSFER='data type=precopy bytes=zero:0; switchover; data; end'
HONEST_END='v2:expect LOADED; v2:run; expect COMMIT'
HONEST_SOURCE="hello; expect HELLO; expect IDENTITY; verdict accept; start; expect READY; $HONEST_TRANSFER; $HONEST_END"

# The hostile peer as a source against `vfiomig receive DEVICE --stdio ARGS...`, through two
# FIFOs. receive's status and output land in status and output (as `run` leaves them), the
# peer's in PEER_STATUS and $OUT/peer.log. PEER_ARGS go to the peer before the script.
peer_to_receive() { # SCRIPT DEVICE [RECEIVE ARGS...]
	local script=$1
	shift
	rm -f "$OUT/to_recv" "$OUT/from_recv"
	mkfifo "$OUT/to_recv" "$OUT/from_recv"
	timeout 30 "$PEER" --log "$OUT/peer.log" "${PEER_ARGS[@]}" "$script" \
		<"$OUT/from_recv" >"$OUT/to_recv" &
	local peer=$!
	SECONDS=0
	run receive_stdio "$@"
	ELAPSED=$SECONDS
	PEER_STATUS=0
	wait "$peer" || PEER_STATUS=$?
	echo "--- receive ($status, ${ELAPSED}s):"; printf '%s\n' "$output"
	echo "--- peer ($PEER_STATUS):"; cat "$OUT/peer.log"
}

# receive --stdio on the FIFOs; its stderr is what `run` captures (opened in the order the
# peer opens the other ends, so neither blocks).
receive_stdio() { # DEVICE [ARGS...]
	local dev=$1
	shift
	timeout 30 env VFIOMIG_SYSROOT="$SYSROOT" LD_PRELOAD="$DOUBLE_LIB" \
		"$VFIOMIG" receive "$dev" --stdio "$@" 2>&1 >"$OUT/from_recv" <"$OUT/to_recv"
}

# migrate DEVICE --exec the hostile peer as a destination running SCRIPT; status, output.
migrate_to_peer() { # SCRIPT DEVICE [MIGRATE ARGS...]
	local script=$1 dev=$2
	shift 2
	local cmd
	printf -v cmd '%q ' "$PEER" --role dest --log "$OUT/peer.log" "${PEER_ARGS[@]}" "$script"
	SECONDS=0
	run timeout 30 env VFIOMIG_SYSROOT="$SYSROOT" LD_PRELOAD="$DOUBLE_LIB" \
		"$VFIOMIG" migrate "$dev" --exec "$cmd" "$@"
	ELAPSED=$SECONDS
	echo "--- migrate ($status, ${ELAPSED}s):"; printf '%s\n' "$output"
	echo "--- peer:"; cat "$OUT/peer.log"
}

# The arcs the double executed on DEVICE, one a line ("RESET>RUNNING" for a reset).
arcs() { # DEVICE
	cat "$SYSROOT/double/$1/arcs" 2>/dev/null || true
}

# DEVICE holds none of a peer's bytes: nothing was ever loaded into it.
assert_content_unchanged() { # DEVICE
	if [[ -e $SYSROOT/double/$1/restored ]]; then
		echo "$1 was loaded with a peer's state:" >&2
		od -A d -c "$SYSROOT/double/$1/restored" | head -4 >&2
		return 1
	fi
}

# DEVICE never left RUNNING.
assert_untouched() { # DEVICE
	assert_equal "$(arcs "$1")" ""
	assert_equal "$(state_of "$1")" RUNNING
	assert_content_unchanged "$1"
}

# DEVICE went RESUMING at most, was reset, and holds nothing of the peer's.
assert_reset() { # DEVICE
	assert_equal "$(state_of "$1")" RUNNING
	assert_content_unchanged "$1"
	if [[ -n $(arcs "$1") ]]; then
		assert_equal "$(arcs "$1" | tail -n 1)" "RESET>RUNNING"
	fi
}

# ---- a peer that predates the build identity (stream format 1.0, no tags 11-18) ----

@test "a destination that records no build identity: migrate warns by default and migrates" {
	migrate_to_peer "hello; expect HELLO; identity; expect VERDICT; expect START; ready; until DEVICE_END; v2:loaded; v2:expect RUN; commit; expect-eof" "$MTTY2_A"
	assert_status 0
	assert_output_contains "warning: destination ? records no driver build or kernel release"
	assert_output_contains "(--compat driver)"
}

@test "a destination that records no build identity is refused under --compat strict, untouched" {
	migrate_to_peer "hello; expect HELLO; identity; until VERDICT,ABORT; drain" "$MTTY2_A" --compat strict
	assert_status 6
	assert_output_contains "records no driver build or kernel release"
	assert_output_contains "--compat driver to accept it with a warning"
	assert_equal "$(arcs "$MTTY2_A")" ""
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

# ---- the peer itself ----

@test "hostile-peer's stream encoder reproduces the stream format's keyed test vector" {
	run "$PEER" selftest
	assert_status 0
}

@test "an honest hostile-peer source migrates into receive --stdio (the baseline the lies start from)" {
	peer_to_receive "$HONEST_SOURCE" "$MTTY2_B"
	assert_status 0
	assert_equal "$PEER_STATUS" 0
	grep -q "received COMMIT" "$OUT/peer.log"
	# the peer's forged pattern, 'abcd...', is what the device now holds
	grep -q abcdefgh "$SYSROOT/double/$MTTY2_B/restored"
}

@test "an honest hostile-peer destination takes a migration from migrate --exec" {
	migrate_to_peer "hello; expect HELLO; identity; expect VERDICT; expect START; ready; until DEVICE_END; v2:loaded; v2:expect RUN; commit; expect-eof" "$MTTY2_A"
	assert_status 0
	assert_equal "$(state_of "$MTTY2_A")" STOP
}

# ---- item 2: a key given is always used ----

@test "receive --psk-file --stdio refuses a source whose HELLO leaves out KEYED_RECORDS, before any device moves" {
	peer_to_receive "hello features=precopy,sync; expect HELLO; expect IDENTITY; verdict accept; start; expect READY; $HONEST_TRANSFER; $HONEST_END" \
		"$MTTY2_B" --psk-file "$OUT/key"
	assert_status 6
	assert_untouched "$MTTY2_B"
}

@test "receive --psk-file --stdio refuses a source that offers KEYED_RECORDS but sends an unkeyed stream header" {
	peer_to_receive "hello features=precopy,sync,keyed; expect HELLO; expect IDENTITY; verdict accept; start keyed=no; expect READY; data; switchover; data; end; $HONEST_END" \
		"$MTTY2_B" --psk-file "$OUT/key"
	assert_status 6
	assert_reset "$MTTY2_B"
	refute_output_contains "RESUMING"
}

@test "receive --psk-file --stdio refuses an unkeyed record inside a keyed stream; nothing reaches the device" {
	PEER_ARGS=(--key "$OUT/key")
	peer_to_receive "hello; expect HELLO; expect IDENTITY; verdict accept; start; expect READY; data type=precopy bytes=zero:0; switchover; data keyed=no; end; $HONEST_END" \
		"$MTTY2_B" --psk-file "$OUT/key"
	[[ $status == 5 || $status == 6 ]]
	assert_reset "$MTTY2_B"
}

@test "a source that keys with the same key file migrates into receive --psk-file --stdio" {
	PEER_ARGS=(--key "$OUT/key")
	peer_to_receive "$HONEST_SOURCE" "$MTTY2_B" --psk-file "$OUT/key"
	assert_status 0
}

@test "migrate --psk-file --exec refuses a destination that leaves out KEYED_RECORDS; the source never moves" {
	migrate_to_peer "hello features=precopy,sync; expect HELLO; identity; until VERDICT,ABORT; expect START; ready; drain" \
		"$MTTY2_A" --psk-file "$OUT/key"
	assert_status 6
	assert_untouched "$MTTY2_A"
}

# ---- item 3: the destination checks what it is given ----

@test "receive refuses a START claiming a PCI mlx5 device: exit 6, device reset, content unchanged" {
	peer_to_receive "hello; expect HELLO; expect IDENTITY; verdict accept; start kind=pci name=0000:3b:00.1 vendor=0x15b3 device=0x101e subvendor=0x15b3 subdevice=0x0001 class=0x020000 revision=0 driver=mlx5_vfio_pci type=-; expect READY; data type=precopy bytes=zero:0; switchover; data; end; $HONEST_END" \
		"$MTTY2_B"
	assert_status 6
	assert_reset "$MTTY2_B"
}

@test "receive refuses a START describing an mtty-1 for its mtty-2: exit 6, device reset, content unchanged" {
	peer_to_receive "hello; expect HELLO; expect IDENTITY; verdict accept; start type=mtty-1 estimate=60; expect READY; data type=precopy bytes=zero:0; switchover; data; end; $HONEST_END" \
		"$MTTY2_B"
	assert_status 6
	assert_reset "$MTTY2_B"
}

@test "receive refuses a START whose payload is a record, not a stream header; device reset" {
	peer_to_receive "hello; expect HELLO; expect IDENTITY; verdict accept; start as=record; expect READY; data; switchover; data; end; $HONEST_END" \
		"$MTTY2_B"
	assert_status 5
	assert_reset "$MTTY2_B"
}

@test "receive refuses a DATA whose payload is a stream header; device reset" {
	peer_to_receive "hello; expect HELLO; expect IDENTITY; verdict accept; start; expect READY; data as=header; switchover; data; end; $HONEST_END" \
		"$MTTY2_B"
	assert_status 5
	assert_reset "$MTTY2_B"
}

@test "receive refuses a DATA whose payload is the END record; device reset" {
	peer_to_receive "hello; expect HELLO; expect IDENTITY; verdict accept; start; expect READY; switchover; data; data as=end; end; $HONEST_END" \
		"$MTTY2_B"
	assert_status 5
	assert_reset "$MTTY2_B"
}

@test "receive refuses a DATA record sent where START belongs; device reset" {
	peer_to_receive "hello; expect HELLO; expect IDENTITY; verdict accept; msg type=DATA dev=0 payload=00; start; expect READY; switchover; data; end; $HONEST_END" \
		"$MTTY2_B"
	[[ $status == 5 || $status == 6 ]]
	assert_reset "$MTTY2_B"
}

@test "receive refuses records out of sequence (the peer reorders); device reset" {
	peer_to_receive "hello; expect HELLO; expect IDENTITY; verdict accept; start; expect READY; switchover; data seq=1; data seq=0; end; $HONEST_END" \
		"$MTTY2_B"
	assert_status 5
	assert_reset "$MTTY2_B"
}

# ---- a source that stops at each phase: the destination resets and exits in time ----

# The source script up to PHASE, then ACTION (close or hang); receive runs with --timeout 2.
source_stops() { # PHASE ACTION
	local s
	case $1 in
	hello) s="hello" ;;
	identity) s="hello; expect HELLO; expect IDENTITY" ;;
	verdict) s="hello; expect HELLO; expect IDENTITY; verdict accept" ;;
	ready) s="hello; expect HELLO; expect IDENTITY; verdict accept; start; expect READY" ;;
	mid-data) s="hello; expect HELLO; expect IDENTITY; verdict accept; start; expect READY; switchover; raw 89564d500600000000000000c8000000020000" ;;
	# DATA of 200 bytes: its head, a stored record's head (148 bytes, sequence 0), 28
	# bytes of its 180 (152 to come): the receiving side reads payloads in place
	mid-payload) s="hello; expect HELLO; expect IDENTITY; verdict accept; start; expect READY; switchover; raw 89564d500600000000000000c8000000020000009400000094000000000000000000000000000000000000000000000000000000000000000000000000000000" ;;
	device-end) s="hello; expect HELLO; expect IDENTITY; verdict accept; start; expect READY; $HONEST_TRANSFER" ;;
	esac
	peer_to_receive "$s; $2" "$MTTY2_B" --timeout 2
	[[ $status != 0 ]]
	((ELAPSED <= 8))
	if [[ $1 == device-end ]]; then
		# version 2 loads the state (RESUMING -> STOP) before RUN, which never came: the
		# double keeps the loaded bytes, so "never ran" is the reset as the last arc
		assert_equal "$(state_of "$MTTY2_B")" RUNNING
		assert_equal "$(arcs "$MTTY2_B" | tail -n 1)" "RESET>RUNNING"
		! grep -q "STOP>RUNNING" <<<"$(arcs "$MTTY2_B")"
	else
		assert_reset "$MTTY2_B"
	fi
}

@test "a source that closes after HELLO: receive exits non-zero, device untouched" { source_stops hello close; }
@test "a source that closes after IDENTITY: receive exits non-zero, device untouched" { source_stops identity close; }
@test "a source that closes after VERDICT: receive exits non-zero, device reset" { source_stops verdict close; }
@test "a source that closes after READY and START: receive exits non-zero, device reset" { source_stops ready close; }
@test "a source that closes mid-DATA: receive exits non-zero, device reset" { source_stops mid-data close; }
@test "a source that closes inside a DATA payload: receive says how much was missing, device reset" {
	source_stops mid-payload close
	[[ $output == *"(DATA) at byte "*"with 152 bytes of it to come"* ]]
}
@test "a source that closes after DEVICE_END without RUN: receive resets, never runs the state" { source_stops device-end close; }
@test "a source that hangs after HELLO: receive gives up within --timeout" { source_stops hello hang; }
@test "a source that hangs after IDENTITY: receive gives up within --timeout, device untouched" { source_stops identity hang; }
@test "a source that hangs after VERDICT: receive gives up within --timeout, device reset" { source_stops verdict hang; }
@test "a source that hangs after START: receive gives up within --timeout, device reset" { source_stops ready hang; }
@test "a source that hangs mid-DATA: receive gives up within --timeout, device reset" { source_stops mid-data hang; }
@test "a source that hangs inside a DATA payload: receive gives up within --timeout, device reset" { source_stops mid-payload hang; }
@test "a source that hangs after DEVICE_END without RUN: receive gives up within --timeout, device reset" { source_stops device-end hang; }

@test "a source that trickles its HELLO one byte per 300 ms: receive gives up within --timeout" {
	peer_to_receive "trickle 300; hello; expect HELLO" "$MTTY2_B" --timeout 2
	[[ $status != 0 ]]
	((ELAPSED <= 8))
	assert_untouched "$MTTY2_B"
}

@test "a source that trickles its stream header one byte per 100 ms: receive gives up within --timeout, device untouched" {
	peer_to_receive "hello; expect HELLO; expect IDENTITY; verdict accept; trickle 100; start; expect READY" \
		"$MTTY2_B" --timeout 2
	[[ $status != 0 ]]
	((ELAPSED <= 8))
	assert_untouched "$MTTY2_B"
}

@test "a destination that trickles its IDENTITY one byte per 100 ms: migrate gives up within --timeout, source RUNNING" {
	migrate_to_peer "hello; expect HELLO; trickle 100; identity" "$MTTY2_A" --timeout 2
	[[ $status != 0 && $status != 8 ]]
	((ELAPSED <= 8))
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

# ---- a destination that vanishes at each phase: the source runs on ----

# The destination script up to PHASE, then ACTION; migrate runs with --timeout 2.
dest_stops() { # PHASE ACTION
	local s
	case $1 in
	hello) s="hello" ;;
	identity) s="hello; expect HELLO; identity" ;;
	ready) s="hello; expect HELLO; identity; expect VERDICT; expect START; ready" ;;
	mid-data) s="hello; expect HELLO; identity; expect VERDICT; expect START; ready; until DATA" ;;
	device-end) s="hello; expect HELLO; identity; expect VERDICT; expect START; ready; until DEVICE_END" ;;
	esac
	migrate_to_peer "$s; $2" "$MTTY2_A" --timeout 2
	[[ $status != 0 && $status != 8 ]]
	((ELAPSED <= 8))
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "a destination that closes after HELLO: the source stays RUNNING" { dest_stops hello close; }
@test "a destination that closes after IDENTITY: the source stays RUNNING" { dest_stops identity close; }
@test "a destination that closes after READY: the source back in RUNNING" { dest_stops ready close; }
@test "a destination that closes mid-DATA: the source back in RUNNING" { dest_stops mid-data close; }
@test "a destination that closes after the last DEVICE_END, before LOADED: the source back in RUNNING" { dest_stops device-end close; }
@test "a destination that hangs after HELLO: the source stays RUNNING, migrate ends within --timeout" { dest_stops hello hang; }
@test "a destination that hangs after IDENTITY: the source stays RUNNING" { dest_stops identity hang; }
@test "a destination that hangs after READY: the source back in RUNNING" { dest_stops ready hang; }
@test "a destination that hangs mid-DATA: the source back in RUNNING" { dest_stops mid-data hang; }
@test "a destination that hangs after the last DEVICE_END, before LOADED: the source back in RUNNING" { dest_stops device-end hang; }

@test "a destination that sends ABORT after LOADED: the source back in RUNNING (proof the destination will not run)" {
	migrate_to_peer "hello version=2; expect HELLO; identity; expect VERDICT; expect START; ready; until DEVICE_END; loaded; abort code=4 text=reset" \
		"$MTTY2_A" --timeout 2
	assert_status 6
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "a destination that sends LOADED then vanishes: exit 6 with the source RUNNING, or exit 8 with it stopped" {
	migrate_to_peer "hello version=2; expect HELLO; identity; expect VERDICT; expect START; ready; until DEVICE_END; loaded; close" \
		"$MTTY2_A" --timeout 2
	case $status in
	6) assert_equal "$(state_of "$MTTY2_A")" RUNNING ;;
	8) [[ $(state_of "$MTTY2_A") != RUNNING ]] ;;
	*) echo "unexpected status $status" >&2; return 1 ;;
	esac
}

@test "a destination that vanishes after RUN (past the point of no return): exit 8, the source stays stopped" {
	migrate_to_peer "hello version=2; expect HELLO; identity; expect VERDICT; expect START; ready; until DEVICE_END; loaded; expect RUN; close" \
		"$MTTY2_A" --timeout 2
	assert_status 8
	[[ $(state_of "$MTTY2_A") != RUNNING ]]
	assert_output_contains "vfiomig state"
}

@test "a destination that hangs after RUN: exit 8 within --timeout, the source stays stopped" {
	migrate_to_peer "hello version=2; expect HELLO; identity; expect VERDICT; expect START; ready; until DEVICE_END; loaded; expect RUN; hang" \
		"$MTTY2_A" --timeout 2
	assert_status 8
	((ELAPSED <= 8))
	[[ $(state_of "$MTTY2_A") != RUNNING ]]
}

@test "a destination that answers RUN with garbage: exit 8, the source stays stopped" {
	migrate_to_peer "hello version=2; expect HELLO; identity; expect VERDICT; expect START; ready; until DEVICE_END; loaded; expect RUN; raw 5353482d322e300d0a; close" \
		"$MTTY2_A" --timeout 2
	assert_status 8
	[[ $(state_of "$MTTY2_A") != RUNNING ]]
}

@test "a version-1-only peer is refused: no common protocol version, the source untouched" {
	migrate_to_peer "hello version=1; expect HELLO; identity; drain" "$MTTY2_A" --timeout 2
	assert_status 4
	assert_output_contains "no common protocol version"
	assert_untouched "$MTTY2_A"
}

# ---- rehearsals (migrate --rehearse, feature REHEARSAL) ----

@test "a rehearsing source that sends SWITCHOVER is refused: the device is reset, never loaded or run" {
	peer_to_receive "hello features=precopy,sync,rehearsal; expect HELLO; expect IDENTITY; verdict accept; start; expect READY; $HONEST_TRANSFER; $HONEST_END" \
		"$MTTY2_B"
	assert_status 6
	assert_output_contains "SWITCHOVER in a rehearsal"
	assert_reset "$MTTY2_B"
	refute_output_contains "STOP>RUNNING"
	[[ $(arcs "$MTTY2_B") != *"RESUMING>STOP"* ]]
}

@test "a rehearsing source's ABORT (rehearsal) after SYNC: receive exits 0, the device reset" {
	peer_to_receive "hello features=precopy,sync,rehearsal; expect HELLO; expect IDENTITY; verdict accept; start; expect READY; data type=precopy bytes=zero:0; sync; expect SYNC; abort code=9 text=done" \
		"$MTTY2_B"
	assert_status 0
	assert_output_contains "rehearsal accepted"
	assert_reset "$MTTY2_B"
}

@test "ABORT (rehearsal) from a source that did not ask for a rehearsal is a failure (exit 6)" {
	peer_to_receive "hello features=precopy,sync; expect HELLO; expect IDENTITY; verdict accept; start; expect READY; data type=precopy bytes=zero:0; sync; expect SYNC; abort code=9 text=done" \
		"$MTTY2_B"
	assert_status 6
	refute_output_contains "rehearsal accepted"
	assert_reset "$MTTY2_B"
}

@test "migrate --rehearse refuses a destination that does not know rehearsals, the source untouched" {
	migrate_to_peer "hello features=precopy,sync; expect HELLO; identity; expect ABORT" "$MTTY2_A" --rehearse
	assert_status 6
	assert_output_contains "does not know rehearsals"
	assert_untouched "$MTTY2_A"
}

# ---- a peer's text on the terminal ----

# Fails when TEXT holds a byte a terminal acts on: a C0 control but newline, DEL, or a
# byte 0x80-0x9f (a C1 control, alone or in UTF-8; the output here is ASCII).
refute_terminal_controls() { # TEXT
	local raw
	raw=$(LC_ALL=C tr -d '\n\040-\176\240-\377' <<<"$1" | od -An -tx1)
	if [[ -n ${raw//[[:space:]]/} ]]; then
		echo "raw control bytes in the output:$raw" >&2
		return 1
	fi
}

# ESC [ 2 J (clear the screen), ESC ] 0 ; ... BEL (set the title), CSI as the C1 byte
# 0x9b, a carriage return and a newline that would forge a line of their own.
HOSTILE_TEXT=1b5b324a1b5d303b6f776e6564079b33316d0d0a7666696f6d69673a20666f72676564

@test "a peer's ABORT text and software string reach stderr with their control bytes escaped" {
	migrate_to_peer "hello version=2 software=hex:$HOSTILE_TEXT; expect HELLO; identity; expect VERDICT; expect START; ready; abort code=4 text=hex:$HOSTILE_TEXT; drain" \
		"$MTTY2_A" -v
	assert_status 6
	assert_output_contains 'the peer aborted (device): \x1b[2J\x1b]0;owned\x07\x9b31m\r\nvfiomig: forged'
	assert_output_contains 'peer speaks \x1b[2J'
	refute_terminal_controls "$output"
	refute_output_contains $'\nvfiomig: forged'
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "a source's refusal text reaches receive's stderr with its control bytes escaped" {
	peer_to_receive "hello; expect HELLO; expect IDENTITY; verdict refuse code=2 text=hex:$HOSTILE_TEXT; expect-eof" \
		"$MTTY2_B"
	assert_status 6
	assert_output_contains 'the source refused: \x1b[2J'
	refute_terminal_controls "$output"
}

@test "a destination's device name and driver in a refusal are escaped" {
	migrate_to_peer "hello; expect HELLO; identity name=hex:$HOSTILE_TEXT driver=hex:$HOSTILE_TEXT; until VERDICT,ABORT; drain" \
		"$MTTY2_A"
	assert_status 6
	assert_output_contains '\x1b[2J'
	refute_terminal_controls "$output"
	assert_untouched "$MTTY2_A"
}
