#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Signals are honoured at once: after SIGTERM a command stops writing the records
# it has queued, stops its threads, puts the device back where it was (a device in
# RESUMING is reset) and exits 7, within a device operation of the signal. The
# bounds are generous; the unfixed behaviour took 6 s or more, or for ever.

load helper

setup() {
	double_only "needs the double's slow-device knob"
	common_setup
	S=$BATS_TEST_TMPDIR/state.vfm
	BLOB=$BATS_TEST_TMPDIR/blob
	OUT=$BATS_TEST_TMPDIR/out
	: >"$OUT"
	READER_PID=
}

teardown() {
	[[ -z ${READER_PID:-} ]] || kill "$READER_PID" 2>/dev/null || true
}

# An 8 MiB state (8 records of 1 MiB) on MTTY2_A that MTTY2_B can take and does
# not hold: half random, half compressible.
big_state() {
	{ head -c 4194304 /dev/urandom; yes vfiomig | head -c 4194304; } >"$BLOB"
	knob "$MTTY2_A" "blob=$BLOB"
	knob "$MTTY2_A" header_check=0
	knob "$MTTY2_B" size=8388608
	knob "$MTTY2_B" header_check=0
}

# vfiomig_bg with stdin from IN and stdout into OUTFILE; stderr goes to $OUT.
vfiomig_io_bg() { # IN OUTFILE ARGS...
	local in=$1 out=$2
	shift 2
	(
		export VFIOMIG_SYSROOT=$SYSROOT LD_PRELOAD=$DOUBLE_LIB
		exec "$VFIOMIG" "$@" <"$in" >>"$out" 2>>"$OUT"
	) &
	VFIOMIG_PID=$!
}

# Waits (up to 10 s) until the double's state file of DEVICE has KEY >= VALUE.
wait_for_state() { # DEVICE KEY VALUE PID
	local i v
	for ((i = 0; i < 500; i++)); do
		v=$(sed -n "s/^$2 //p" "$SYSROOT/double/$1/state" 2>/dev/null) || v=
		[[ -n $v ]] && ((v >= $3)) && return 0
		kill -0 "$4" 2>/dev/null || break
		sleep 0.02
	done
	echo "gave up waiting for $2 >= $3 on $1:" >&2
	cat "$SYSROOT/double/$1/state" "$OUT" >&2
	return 1
}

# Sends SIGNAL to PID and waits for it, for at most LIMIT seconds (then SIGKILL);
# sets status and ms (from the signal to the exit).
signal_and_wait() { # SIGNAL PID LIMIT
	local t0=${EPOCHREALTIME/./} i
	kill -"$1" "$2"
	for ((i = 0; i < $3 * 50; i++)); do
		kill -0 "$2" 2>/dev/null || break
		sleep 0.02
	done
	kill -0 "$2" 2>/dev/null && kill -KILL "$2"
	status=0
	wait "$2" || status=$?
	ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
	echo "exit $status, ${ms} ms after SIG$1:"
	cat "$OUT"
}

# restore -T THREADS of the 8 MiB stream into MTTY2_B, each device write taking 1 s;
# SIGTERM once the first record is in the device, while the second is written.
restore_interrupted() { # THREADS
	big_state
	vfiomig save "$MTTY2_A" -o "$S" --resume --no-precopy
	knob "$MTTY2_B" delay_ms=1000
	vfiomig_bg "$OUT" restore "$MTTY2_B" -i "$S" -T "$1"
	wait_for_state "$MTTY2_B" resume_len 1048576 "$VFIOMIG_PID"
	signal_and_wait TERM "$VFIOMIG_PID" 12
	assert_equal "$status" 7
	# the write in flight may finish; nothing queued after it reaches the device
	((ms < 3000))
	grep -q "the device was reset and is RUNNING" "$OUT"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
	[[ ! -e $SYSROOT/double/$MTTY2_B/restored ]]
	(($(stat -c %s "$SYSROOT/double/$MTTY2_B/resume.buf") <= 2097152))
}

@test "SIGTERM mid-restore on 4 threads into a slow device: exit 7 at once, device reset, state not loaded" {
	restore_interrupted 4
}

@test "SIGTERM mid-restore on 1 thread into a slow device: exit 7 at once, device reset, state not loaded" {
	restore_interrupted 1
}

@test "SIGHUP while restore from a pipe has every record queued for a slow device: exit 7 at once" {
	# 8 threads queue 18 records: the whole stream is read before the signal
	big_state
	vfiomig save "$MTTY2_A" -o "$S" --resume --no-precopy
	knob "$MTTY2_B" delay_ms=1000
	mkfifo "$BATS_TEST_TMPDIR/in"
	cat "$S" >"$BATS_TEST_TMPDIR/in" &
	vfiomig_io_bg "$BATS_TEST_TMPDIR/in" "$OUT" restore "$MTTY2_B" -T 8
	wait_for_state "$MTTY2_B" resume_len 1048576 "$VFIOMIG_PID"
	signal_and_wait HUP "$VFIOMIG_PID" 12
	assert_equal "$status" 7
	((ms < 3000))
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
	[[ ! -e $SYSROOT/double/$MTTY2_B/restored ]]
}


# save -T THREADS of the 8 MiB state into a pipe that no one reads: the pipe fills,
# the writer blocks in write(2), the pipeline's buffers fill behind it.
save_blocked() { # THREADS
	big_state
	local fifo=$BATS_TEST_TMPDIR/fifo
	mkfifo "$fifo"
	exec 5<>"$fifo"         # a reader that never reads
	vfiomig_io_bg /dev/null "$fifo" save "$MTTY2_A" -T "$1"
	# 4 MiB out of the device: far more than the pipe holds
	wait_for_state "$MTTY2_A" save_pos 4194304 "$VFIOMIG_PID"
	signal_and_wait TERM "$VFIOMIG_PID" 10
	exec 5>&-
	assert_equal "$status" 7
	((ms < 2000))
	grep -q "interrupted by signal 15" "$OUT"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "SIGTERM while save -T 2 is blocked on a full output pipe: exit 7 at once, device RUNNING" {
	save_blocked 2
}

@test "SIGTERM while save -T 1 is blocked on a full output pipe: exit 7 at once, device RUNNING" {
	save_blocked 1
}

@test "SIGTERM while save writes to a slow reader stops writing queued records" {
	big_state
	local fifo=$BATS_TEST_TMPDIR/fifo got=$BATS_TEST_TMPDIR/got reader
	mkfifo "$fifo"
	# a reader that takes 64 KiB every 0.2 s: 8 MiB would take 25 s; it ends at the
	# end of the input (dd succeeds there too, with nothing read), so that a failure
	# of this test cannot leave it behind to hold up the suite
	(
		while n=$(dd bs=65536 count=1 iflag=fullblock status=none | tee -a "$got" | wc -c) &&
			((n > 0)); do
			sleep 0.2
		done
	) <"$fifo" &
	reader=$!
	READER_PID=$reader
	vfiomig_io_bg /dev/null "$fifo" save "$MTTY2_A" -T 2
	# half the device read, or all of it (in STOP): the pipeline's buffers and a 1 MiB
	# pipe may hold the whole state, and save_pos goes back to 0 with the STOP
	local i
	for ((i = 0; i < 500; i++)); do
		grep -qx 'state 1 STOP' "$SYSROOT/double/$MTTY2_A/state" && break
		(($(sed -n 's/^save_pos //p' "$SYSROOT/double/$MTTY2_A/state") >= 4194304)) && break
		sleep 0.02
	done
	((i < 500))
	signal_and_wait TERM "$VFIOMIG_PID" 10
	kill "$reader" 2>/dev/null || true
	wait "$reader" || true
	assert_equal "$status" 7
	((ms < 2000))
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	(($(stat -c %s "$got") < 4194304))
}

@test "SIGTERM to receive while its records wait for a slow device: exit 7 at once, both devices RUNNING" {
	big_state
	knob "$MTTY2_A" precopy_bytes=0
	knob "$MTTY2_B" delay_ms=1000
	start_receive "$MTTY2_B" --insecure -T 4
	vfiomig_bg "$OUT" migrate "$MTTY2_A" --to "127.0.0.1:$PORT" --insecure
	local mig=$VFIOMIG_PID recv_ms
	wait_for_state "$MTTY2_B" resume_len 1048576 "$RECV_PID"
	OUT=$BATS_TEST_TMPDIR/recv.out signal_and_wait TERM "$RECV_PID" 12
	recv_ms=$ms
	RECV_STATUS=$status
	wait "$mig" || true
	cat "$OUT"
	assert_equal "$RECV_STATUS" 7
	((recv_ms < 3000))
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
	[[ ! -e $SYSROOT/double/$MTTY2_B/restored ]]
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "SIGTERM while save fills a buffer from a device that gives 64 KiB a read: exit 7 at once" {
	big_state
	knob "$MTTY2_A" read_max=65536
	knob "$MTTY2_A" delay_ms=200
	vfiomig_bg "$OUT" save "$MTTY2_A" -T 2 --no-precopy -o "$S"
	# two reads into the first 1 MiB buffer, fourteen to go (2.8 s)
	wait_for_state "$MTTY2_A" save_pos 131072 "$VFIOMIG_PID"
	signal_and_wait TERM "$VFIOMIG_PID" 10
	assert_equal "$status" 7
	((ms < 1500))
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	[[ ! -e $S ]]
}

@test "SIGTERM while the driver loads a restored state: exit 7 once the load returns, device reset" {
	vfiomig save "$MTTY2_A" -o "$S" --resume
	knob "$MTTY2_B" "arc_delay_ms=RESUMING>STOP 2000"
	vfiomig_bg "$OUT" restore "$MTTY2_B" -i "$S"
	local i
	# the double changes the state at once and returns 2 s later
	for ((i = 0; i < 500; i++)); do
		[[ $(double_state "$MTTY2_B" 2>/dev/null) == STOP ]] && break
		sleep 0.02
	done
	signal_and_wait TERM "$VFIOMIG_PID" 10
	assert_equal "$status" 7
	((ms < 4000))
	grep -q "the device was reset and is RUNNING" "$OUT"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}
