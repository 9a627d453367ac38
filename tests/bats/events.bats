#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# --events FD|FILE: one JSON object a line for every device state change, every phase
# and the outcome of migrate, receive, save and restore, in the order they happen
# (vfiomig(1), EVENTS). Every line is parsed on its own with jq.

load helper

setup() {
	common_setup
	OUT=$BATS_TEST_TMPDIR
	S=$OUT/state.vfm
}

# Every line of FILE is one JSON object with the common fields, times never go back,
# the first is "start" and the last "outcome"; prints one word a line:
# "start", "phase NAME", "state DEVICE FROM>TO" (devices as A, B, 1), "outcome EXIT",
# repeated pre-copy rounds as one.
trace() { # FILE
	jq -R -r -n --arg a "$MTTY2_A" --arg b "$MTTY2_B" --arg one "$MTTY1" '
		[inputs | fromjson] as $ev
		| if ($ev | all(type == "object" and (.event | type == "string")
				  and (.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{6}Z$"))
				  and (.elapsed_ms | type == "number") and (.command | type == "string")))
		  | not then error("an event lacks a common field") else . end
		| if ([$ev[].elapsed_ms] != ([$ev[].elapsed_ms] | sort)) then error("time went back")
		  else . end
		| if ($ev[0].event != "start" or $ev[-1].event != "outcome")
		  then error("not start ... outcome") else . end
		| $ev[]
		| if .event == "phase" then "phase \(.phase)"
		  elif .event == "state" then
			"state \({($a): "A", ($b): "B", ($one): "1"}[.device] // .device) \(.from)>\(.to)"
		  elif .event == "outcome" then "outcome \(.exit)"
		  else .event end' "$1" | uniq
}

# The one event of FILE that matches jq's SELECT, compact.
event() { # FILE SELECT
	jq -R -c "fromjson | select($2)" "$1"
}

@test "migrate and receive: every state change and phase of a committed migration, in order" {
	start_receive "$MTTY2_B" --insecure --events "$OUT/recv.ev"
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --events "$OUT/src.ev"
	finish_receive
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	assert_equal "$(trace "$OUT/src.ev")" "start
phase handshake
phase ready
state A RUNNING>PRE_COPY
phase pre-copy-round
phase sync
phase switchover
state A PRE_COPY>PRE_COPY_P2P
state A PRE_COPY_P2P>STOP_COPY
phase loaded
phase run
phase commit
state A STOP_COPY>STOP
outcome 0"
	assert_equal "$(trace "$OUT/recv.ev")" "start
phase handshake
state B RUNNING>RESUMING
phase ready
phase sync
phase switchover
state B RESUMING>STOP
phase loaded
phase run
state B STOP>RUNNING
phase commit
outcome 0"
	output=$(event "$OUT/src.ev" '.phase == "pre-copy-round" and .round == 1')
	json_is .command migrate .bytes 24 '.rate_bytes_per_s | type' number \
		'.remaining_bytes | type' number '.projected_downtime_ms | type' number
	output=$(event "$OUT/src.ev" '.phase == "commit"')
	json_is '.downtime_ms >= 0' true '.duration_ms >= 0' true
	output=$(event "$OUT/src.ev" '.event == "outcome"')
	json_is .exit 0 .error null 'has("signal")' false
	output=$(event "$OUT/src.ev" '.event == "state"' | head -n 1)
	json_is .device "$MTTY2_A" .from RUNNING .to PRE_COPY
}

@test "a destination that fails to write the state: both sides roll back, and say so" {
	double_only "needs the double's write fault"
	knob "$MTTY2_B" "write_fail_after=10 EIO"
	start_receive "$MTTY2_B" --insecure --events "$OUT/recv.ev"
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --events "$OUT/src.ev"
	finish_receive
	assert_status 6
	assert_equal "$RECV_STATUS" 1
	assert_equal "$(trace "$OUT/src.ev")" "start
phase handshake
phase ready
state A RUNNING>PRE_COPY
phase pre-copy-round
phase rollback
state A PRE_COPY>RUNNING
outcome 6"
	assert_equal "$(trace "$OUT/recv.ev")" "start
phase handshake
state B RUNNING>RESUMING
phase ready
phase rollback
state B RESUMING>RUNNING
outcome 1"
	output=$(event "$OUT/src.ev" '.event == "outcome"')
	json_is '.error | test("aborted")' true
	output=$(event "$OUT/recv.ev" '.event == "outcome"')
	json_is '.error | test("Input/output error")' true
	output=$(event "$OUT/recv.ev" '.phase == "rollback"')
	json_is '.text | length > 0' true
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "save and restore: phases, state changes and the outcome, appended to one file" {
	run vfiomig save "$MTTY2_A" -o "$S" --resume --events "$OUT/ev"
	assert_status 0
	# an inherited descriptor, appending to the same file
	run vfiomig restore "$MTTY2_B" -i "$S" --events 3 3>>"$OUT/ev"
	assert_status 0
	assert_equal "$(jq -R -r 'fromjson | select(.event == "start") | .command' "$OUT/ev" | tr '\n' ' ')" \
		"save restore "
	grep '"command":"save"' "$OUT/ev" >"$OUT/part00"
	grep '"command":"restore"' "$OUT/ev" >"$OUT/part01"
	assert_equal "$(trace "$OUT/part00")" "start
phase pre-copy
state A RUNNING>PRE_COPY
phase stop-copy
state A PRE_COPY>STOP_COPY
state A STOP_COPY>STOP
phase commit
state A STOP>RUNNING
outcome 0"
	assert_equal "$(trace "$OUT/part01")" "start
phase header
state B RUNNING>RESUMING
state B RESUMING>STOP
phase loaded
state B STOP>RUNNING
outcome 0"
}

@test "a restore of a corrupted stream: the reset is an event, and the outcome says why" {
	vfiomig save "$MTTY2_A" -o "$S" --resume
	# flip a byte inside the last record, before the trailer
	local size
	size=$(stat -c %s "$S")
	printf '\xff' | dd of="$S" bs=1 seek=$((size - 200)) conv=notrunc status=none
	run vfiomig restore "$MTTY2_B" -i "$S" --events "$OUT/ev"
	assert_status 5
	assert_equal "$(trace "$OUT/ev")" "start
phase header
state B RUNNING>RESUMING
phase rollback
state B RESUMING>RUNNING
outcome 5"
	output=$(event "$OUT/ev" '.event == "outcome"')
	json_is '.error | length > 0' true
}

@test "a refused destination: handshake failure, no state change, exit 6 with the reason" {
	start_receive "$MTTY1" --insecure --events "$OUT/recv.ev"
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --events "$OUT/src.ev"
	finish_receive
	assert_status 6
	assert_equal "$(trace "$OUT/src.ev")" "start
outcome 6"
	assert_equal "$(trace "$OUT/recv.ev")" "start
outcome 6"
	output=$(event "$OUT/src.ev" '.event == "outcome"')
	json_is '.error | test("mtty-1")' true
}

@test "SIGTERM during pre-copy: the rollback and the signal are events" {
	double_only "needs the double's slow arc"
	knob "$MTTY2_A" "arc_delay_ms=RUNNING>PRE_COPY 2000"
	start_receive "$MTTY2_B" --insecure
	vfiomig_bg "$OUT/src.out" migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure \
		--events "$OUT/src.ev"
	local src=$VFIOMIG_PID status=0 i
	# the double changes the state at once; the SET returns 2 s later
	for ((i = 0; i < 500; i++)); do
		[[ $(double_state "$MTTY2_A" 2>/dev/null) == PRE_COPY ]] && break
		sleep 0.02
	done
	kill -TERM "$src"
	wait "$src" || status=$?
	finish_receive >/dev/null
	assert_equal "$status" 7
	assert_equal "$(trace "$OUT/src.ev")" "start
phase handshake
phase ready
state A RUNNING>PRE_COPY
phase rollback
state A PRE_COPY>RUNNING
outcome 7"
	output=$(event "$OUT/src.ev" '.event == "outcome"')
	json_is .signal 15 '.error | test("signal 15")' true
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "--events refuses a descriptor that is not open, or open only for reading (exit 2)" {
	run vfiomig save "$MTTY2_A" -o "$S" --events 7
	assert_status 2
	assert_output_contains "descriptor 7 is not open"
	run vfiomig save "$MTTY2_A" -o "$S" --events 7 7<"$BATS_TEST_FILENAME"
	assert_status 2
	assert_output_contains "open for reading only"
	run vfiomig save "$MTTY2_A" -o "$S" --events 1
	assert_status 2
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	[[ ! -e $S ]]
}

@test "--events FILE is created 0644, appended to, and never followed through a link" {
	run vfiomig save "$MTTY2_A" -o "$S" --resume --events "$OUT/ev"
	assert_status 0
	assert_equal "$(stat -c %a "$OUT/ev")" 644
	run vfiomig save "$MTTY2_A" -o "$S" --resume --events "$OUT/ev"
	assert_equal "$(grep -c '"event":"start"' "$OUT/ev")" 2
	ln -s "$OUT/ev" "$OUT/link"
	run vfiomig save "$MTTY2_A" -o "$S" --events "$OUT/link"
	assert_status 1
	assert_output_contains "link"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "--events on a pipe from the shell: every line arrives (the pipe reopened non-blocking)" {
	vfiomig save "$MTTY2_A" -o "$S" --resume --events 3 3>&1 >/dev/null | cat >"$OUT/ev"
	assert_equal "$(trace "$OUT/ev" | head -n 1)" start
	assert_equal "$(trace "$OUT/ev" | tail -n 1)" "outcome 0"
}

@test "a reader that went away costs one warning and the events, not the migration" {
	local fifo=$OUT/fifo
	mkfifo "$fifo"
	# a pipe whose only reader has closed: every write meets EPIPE
	exec 6<>"$fifo" 5>"$fifo"
	exec 6<&-
	start_receive "$MTTY2_B" --insecure
	run vfiomig migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --events 5
	exec 5>&-
	finish_receive >/dev/null
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	assert_equal "$(grep -c 'no more events are written' <<<"$output")" 1
	assert_output_contains "Broken pipe"
	assert_equal "$(state_of "$MTTY2_A")" STOP
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

# vfiomig, ended after 60 s if it hangs: a guard for the tests where a bug would hang it
# (a write to a reader that never reads), not a measure of time.
vfiomig_guarded() { # ARGS...
	if [[ $BACKEND == double ]]; then
		timeout -k 5 60 env VFIOMIG_SYSROOT="$SYSROOT" LD_PRELOAD="$DOUBLE_LIB" "$VFIOMIG" "$@"
	else
		timeout -k 5 60 "$VFIOMIG" "$@"
	fi
}

# Fills the pipe on descriptor FD, held open for reading too and read by nobody, with
# whole pages of NUL bytes until it takes no more: a dd writes into it in the
# background until it sleeps in a write (its state is S), and is then ended. Only a
# shell and dd: the VM guest has neither python nor a dd that opens O_NONBLOCK.
fill_pipe() { # FD
	local dd i state=() status=0
	dd if=/dev/zero bs=4096 status=none >&"$1" &
	dd=$!
	for ((i = 0; i < 3000; i++)); do
		read -r -a state <"/proc/$dd/stat"
		[[ ${state[1]} == "(dd)" && ${state[2]} == S ]] && break
		sleep 0.02
	done
	kill "$dd"
	wait "$dd" || status=$?
	[[ ${state[1]} == "(dd)" && ${state[2]} == S ]] || {
		echo "fill_pipe: dd never waited for room: ${state[*]}" >&2
		return 1
	}
	assert_equal "$status" 143
}

# Empties the pipe on descriptor FD into $OUT/drained: a cat reads it until a line
# "end", written after everything it held, arrives.
drain_pipe() { # FD
	local cat i status=0
	cat <&"$1" >"$OUT/drained" &
	cat=$!
	echo end >&"$1"
	for ((i = 0; i < 3000; i++)); do
		[[ $(tail -c 4 "$OUT/drained") == end ]] && break
		sleep 0.02
	done
	kill "$cat"
	wait "$cat" || status=$?
	assert_equal "$status" 143
}

@test "a reader that stalls (a full pipe nobody reads) costs one warning and the events, not the migration" {
	local fifo=$OUT/fifo
	mkfifo "$fifo"
	# descriptor 5 holds the FIFO open both ways, and nobody ever reads from it
	exec 5<>"$fifo"
	fill_pipe 5
	start_receive "$MTTY2_B" --insecure
	run vfiomig_guarded migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure --events 5
	finish_receive >/dev/null
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	assert_equal "$(grep -c 'no more events are written' <<<"$output")" 1
	assert_output_contains "--events 5: the reader does not read"
	assert_equal "$(state_of "$MTTY2_A")" STOP
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
	# not a byte of an event went into the full pipe, not even part of a line
	drain_pipe 5
	assert_equal "$(tr -d '\000' <"$OUT/drained")" end
	exec 5>&-
}

@test "a line longer than the room left in a pipe nobody reads costs the events, not the migration" {
	double_only "the hostile peer runs against the double"
	local fifo=$OUT/fifo cmd ones
	mkfifo "$fifo"
	exec 5<>"$fifo"
	fill_pipe 5
	# Room for two pages, the first begun with 2115 bytes: the short lines before the
	# rollback (about 1000 bytes) join it, and the pipe still looks writable. The
	# rollback's line (about 6100 bytes: the peer's 1000 control bytes, 6 each in
	# JSON) takes one whole page and then, its rest not fitting in the first, one more
	# that is not there: a blocking write of it would wait for ever.
	dd bs=4096 count=2 status=none <&5 >/dev/null
	head -c 2115 /dev/zero >&5
	printf -v ones '01%.0s' {1..996}
	printf -v cmd '%q ' "$REPO/tests/tools/hostile-peer" --role dest --log "$OUT/peer.log" \
		"hello version=2; expect HELLO; identity; expect VERDICT; expect START; ready; abort code=4 text=hex:1b5b324a$ones; drain"
	run vfiomig_guarded migrate "$MTTY2_A" --exec "$cmd" --events 5
	cat "$OUT/peer.log"
	assert_status 6
	assert_output_contains "the peer aborted"
	assert_equal "$(grep -c 'no more events are written' <<<"$output")" 1
	assert_output_contains "--events 5: the reader does not read (the last line is cut short)"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	exec 5>&-
}

@test "a peer's abort text in the rollback event: controls, overrides and broken UTF-8 as \\uXXXX" {
	double_only "the hostile peer runs against the double"
	local cmd raw
	# ESC [2J, DEL, U+202E (right-to-left override), CSI as U+009B, and 0xff (not UTF-8)
	printf -v cmd '%q ' "$REPO/tests/tools/hostile-peer" --role dest --log "$OUT/peer.log" \
		"hello version=2; expect HELLO; identity; expect VERDICT; expect START; ready; abort code=4 text=hex:1b5b324a7fe280aec29b33316dff; drain"
	run vfiomig_guarded migrate "$MTTY2_A" --exec "$cmd" --events "$OUT/src.ev"
	assert_status 6
	raw=$(LC_ALL=C tr -d '\n\040-\176' <"$OUT/src.ev" | od -An -tx1)
	assert_equal "${raw//[[:space:]]/}" ""
	output=$(grep -F '"phase":"rollback"' "$OUT/src.ev")     # as written, not as jq prints it
	assert_output_contains '\u001b[2J\u007f\u202e\u009b31m\ufffd'
	assert_equal "$(trace "$OUT/src.ev" | tail -n 2)" "state A PRE_COPY>RUNNING
outcome 6"
}

@test "no answer to RUN: left-stopped names the device and the command that resumes it, outcome exit 8" {
	double_only "the hostile peer runs against the double"
	local cmd
	printf -v cmd '%q ' "$REPO/tests/tools/hostile-peer" --role dest --log "$OUT/peer.log" \
		"hello version=2; expect HELLO; identity; expect VERDICT; expect START; ready; until DEVICE_END; loaded; expect RUN; close"
	run vfiomig_guarded migrate "$MTTY2_A" --exec "$cmd" --timeout 2 --events "$OUT/src.ev"
	cat "$OUT/peer.log"
	assert_status 8
	assert_equal "$(trace "$OUT/src.ev" | tail -n 5)" "phase loaded
phase run
phase left-stopped
state A STOP_COPY>STOP
outcome 8"
	output=$(event "$OUT/src.ev" '.phase == "left-stopped"')
	json_is .device "$MTTY2_A" .recovery "vfiomig state $MTTY2_A running" '.text | length > 0' true
	output=$(event "$OUT/src.ev" '.event == "outcome"')
	json_is .exit 8 '.error | length > 0' true
	assert_equal "$(state_of "$MTTY2_A")" STOP
}
