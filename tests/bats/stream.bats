#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vfiomig save, restore, inspect and verify: device state through a stream, and
# every way a stream can be wrong refused with the device left RUNNING.

load helper

setup() {
	common_setup
	S=$BATS_TEST_TMPDIR/state.vfm
}

# Byte offsets of the stream's records (header end first), from inspect --json.
record_offsets() { # FILE
	vfiomig inspect --json "$1" | jq -r '.records[].offset'
}

# Size of the record at index I (20-byte head + stored payload + 32-byte digest).
record_size() { # FILE I
	vfiomig inspect --json "$1" | jq -r ".records[$2].stored_bytes + 52"
}

flip_byte() { # FILE OFFSET -> FILE.flipped
	local v
	cp "$1" "$1.flipped"
	v=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\x$(printf %02x $((v ^ 1)))" | dd of="$1.flipped" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# restore of FILE into DEV must fail with STATUS and leave DEV RUNNING.
refused() { # STATUS FILE DEV [ARGS...]
	local status=$1 file=$2 dev=$3
	shift 3
	run vfiomig restore "$dev" -i "$file" "$@"
	assert_status "$status"
	assert_equal "$(state_of "$dev")" RUNNING
}

@test "save writes a verified stream and leaves the device stopped" {
	run vfiomig save "$MTTY2_A" -o "$S"
	assert_status 0
	assert_equal "$(state_of "$MTTY2_A")" STOP
	run vfiomig verify "$S"
	assert_status 0
}

@test "save --resume returns the device to RUNNING" {
	run vfiomig save "$MTTY2_A" -o "$S" --resume
	assert_status 0
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "save of a running mtty uses pre-copy first, then stop-copy" {
	vfiomig save "$MTTY2_A" -o "$S" --resume
	run vfiomig inspect --json "$S"
	json_is \
		'.records[0].type' precopy \
		'.records[-1].type' stopcopy \
		'.totals.raw_bytes' 96 \
		'.header.device.mdev_type' mtty-2 \
		'.verified' true
}

@test "save --no-precopy writes stop-copy records only" {
	vfiomig save "$MTTY2_A" -o "$S" --resume --no-precopy
	run vfiomig inspect --json "$S"
	json_is \
		'[.records[].type] | unique | join(",")' stopcopy \
		'.totals.raw_bytes' 96
}

@test "save --no-compress stores every record" {
	vfiomig save "$MTTY2_A" -o "$S" --resume --no-compress
	run vfiomig inspect --json "$S"
	assert_equal "$(json '[.records[].codec] | unique | join(",")' <<<"$output")" stored
}

@test "restore from a file loads the state and the device ends RUNNING" {
	vfiomig save "$MTTY2_A" -o "$S" --resume
	run vfiomig restore "$MTTY2_B" -i "$S"
	assert_status 0
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "restore --stop leaves the device in STOP" {
	vfiomig save "$MTTY2_A" -o "$S" --resume
	run vfiomig restore "$MTTY2_B" -i "$S" --stop
	assert_status 0
	assert_equal "$(state_of "$MTTY2_B")" STOP
}

@test "save piped into restore moves the state" {
	run bash -c "$(declare -f vfiomig); VFIOMIG=$VFIOMIG BACKEND=$BACKEND SYSROOT=${SYSROOT:-} \
		DOUBLE_LIB=${DOUBLE_LIB:-}; vfiomig save $MTTY2_A --resume | vfiomig restore $MTTY2_B"
	assert_status 0
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "the double's restored bytes are exactly the source's state" {
	double_only
	local blob=$BATS_TEST_TMPDIR/blob
	# an mtty header (magic, version 1.0, 2 ports, no flags) and 72 random port bytes
	printf '\x4e\x2c\x3e\x8c\x89\x09\x9d\x7e\x01\0\0\0\0\0\0\0\x02\0\0\0\0\0\0\0' >"$blob"
	head -c 72 /dev/urandom >>"$blob"
	knob "$MTTY2_A" "blob=$blob"
	vfiomig save "$MTTY2_A" -o "$S" --resume
	vfiomig restore "$MTTY2_B" -i "$S"
	cmp "$blob" "$SYSROOT/double/$MTTY2_B/restored"
}

@test "an mtty-2 stream is refused by an mtty-1 with exit 6, naming the mismatch" {
	vfiomig save "$MTTY2_A" -o "$S" --resume
	refused 6 "$S" "$MTTY1"
	assert_output_contains "mtty-2"
	assert_output_contains "mtty-1"
}

@test "restore --force of an mtty-1 stream into an mtty-2 is refused by the driver and reset" {
	vfiomig save "$MTTY1" -o "$S" --resume
	refused 1 "$S" "$MTTY2_A" --force
	assert_output_contains "reset"
}

@test "a bit flip in the header is refused before the device is touched" {
	vfiomig save "$MTTY2_A" -o "$S" --resume
	flip_byte "$S" 40
	refused 5 "$S.flipped" "$MTTY2_B"
	assert_output_contains "header"
}

@test "a bit flip in a record head or payload is refused (exit 5)" {
	vfiomig save "$MTTY2_A" -o "$S" --resume
	local off
	for off in $(record_offsets "$S"); do
		flip_byte "$S" $((off + 4))
		refused 5 "$S.flipped" "$MTTY2_B"
		flip_byte "$S" $((off + 22))
		refused 5 "$S.flipped" "$MTTY2_B"
	done
}

@test "a bit flip in the trailer is refused (exit 5)" {
	vfiomig save "$MTTY2_A" -o "$S" --resume
	local size
	size=$(stat -c %s "$S")
	flip_byte "$S" $((size - 40))
	refused 5 "$S.flipped" "$MTTY2_B"
	flip_byte "$S" $((size - 1))
	refused 5 "$S.flipped" "$MTTY2_B"
}

@test "truncation at every record boundary and mid-record is refused (exit 5)" {
	vfiomig save "$MTTY2_A" -o "$S" --resume
	local off size cut
	size=$(stat -c %s "$S")
	for off in $(record_offsets "$S") $((size - 84)); do
		for cut in "$off" $((off + 10)) $((off + 30)); do
			head -c "$cut" "$S" >"$S.cut"
			refused 5 "$S.cut" "$MTTY2_B"
		done
	done
	head -c $((size - 1)) "$S" >"$S.cut"
	refused 5 "$S.cut" "$MTTY2_B"
}

@test "reordered and duplicated records are refused (exit 5)" {
	vfiomig save "$MTTY2_A" -o "$S" --resume
	local o0 o1 s0 s1
	o0=$(record_offsets "$S" | sed -n 1p)
	o1=$(record_offsets "$S" | sed -n 2p)
	s0=$(record_size "$S" 0)
	s1=$(record_size "$S" 1)
	{ head -c "$o0" "$S"; tail -c +$((o1 + 1)) "$S" | head -c "$s1"
	  tail -c +$((o0 + 1)) "$S" | head -c "$s0"; tail -c +$((o1 + s1 + 1)) "$S"; } >"$S.swapped"
	refused 5 "$S.swapped" "$MTTY2_B"
	{ head -c $((o0 + s0)) "$S"; tail -c +$((o0 + 1)) "$S"; } >"$S.dup"
	refused 5 "$S.dup" "$MTTY2_B"
}

@test "a corrupt record deep in a stream restored on 4 threads is refused there, nothing from it written" {
	double_only
	local blob=$BATS_TEST_TMPDIR/blob off before k=5
	# 8 records of 1 MiB: four stored (random), four compressed
	{ head -c 4194304 /dev/urandom; yes vfiomig | head -c 4194304; } >"$blob"
	knob "$MTTY2_A" "blob=$blob"
	knob "$MTTY2_A" header_check=0
	knob "$MTTY2_B" size=8388608
	knob "$MTTY2_B" header_check=0
	vfiomig save "$MTTY2_A" -o "$S" --resume --no-precopy
	assert_equal "$(vfiomig inspect --json "$S" | jq '.records | length')" 8
	off=$(record_offsets "$S" | sed -n "$((k + 1))p")
	flip_byte "$S" $((off + 30))
	refused 5 "$S.flipped" "$MTTY2_B" -T 4
	assert_output_contains "record $k at byte $off: digest mismatch"
	# records 0-4 reached the device, nothing of record 5 or after
	before=$(vfiomig inspect --json "$S" | jq "[.records[:$k][].raw_bytes] | add")
	assert_equal "$(stat -c %s "$SYSROOT/double/$MTTY2_B/resume.buf")" "$before"
	[[ ! -e $SYSROOT/double/$MTTY2_B/restored ]]
	# and the intact stream restores on 4 threads, byte for byte
	vfiomig restore "$MTTY2_B" -i "$S" -T 4
	cmp "$blob" "$SYSROOT/double/$MTTY2_B/restored"
}

@test "trailing garbage after the trailer is refused (exit 5)" {
	vfiomig save "$MTTY2_A" -o "$S" --resume
	{ cat "$S"; printf x; } >"$S.tail"
	refused 5 "$S.tail" "$MTTY2_B"
}

@test "an empty stream is refused (exit 5)" {
	: >"$S"
	refused 5 "$S" "$MTTY2_B"
}

@test "a keyed stream restores with its key and is refused without it or with another" {
	(umask 077; head -c 32 /dev/urandom >"$BATS_TEST_TMPDIR/key")
	(umask 077; head -c 32 /dev/urandom >"$BATS_TEST_TMPDIR/other")
	vfiomig save "$MTTY2_A" -o "$S" --resume --key-file "$BATS_TEST_TMPDIR/key"
	refused 2 "$S" "$MTTY2_B"
	assert_output_contains "key"
	refused 2 "$S" "$MTTY2_B" --key-file "$BATS_TEST_TMPDIR/other"
	run vfiomig restore "$MTTY2_B" -i "$S" --key-file "$BATS_TEST_TMPDIR/key"
	assert_status 0
}

@test "a restore with a key refuses an unkeyed stream" {
	(umask 077; head -c 32 /dev/urandom >"$BATS_TEST_TMPDIR/key")
	vfiomig save "$MTTY2_A" -o "$S" --resume
	refused 2 "$S" "$MTTY2_B" --key-file "$BATS_TEST_TMPDIR/key"
}

@test "a key file shorter than 16 bytes is refused before anything happens" {
	(umask 077; printf short >"$BATS_TEST_TMPDIR/key")
	run vfiomig save "$MTTY2_A" -o "$S" --key-file "$BATS_TEST_TMPDIR/key"
	assert_status 2
	assert_output_contains "at least 16"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	[[ ! -e $S ]]
}

@test "save into a missing directory fails, leaves no file and the device RUNNING" {
	run vfiomig save "$MTTY2_A" -o "$BATS_TEST_TMPDIR/nodir/state.vfm"
	assert_status 1
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	[[ ! -e $BATS_TEST_TMPDIR/nodir ]]
}

@test "save of a device without migration exits 4 and writes no file" {
	run vfiomig save "$NOMIG" -o "$S"
	assert_status 4
	[[ ! -e $S ]]
	[[ -z $(ls -A "$BATS_TEST_TMPDIR" | grep '^\.vfiomig-') ]]
}

@test "save refuses a device in STOP_COPY and leaves it there" {
	vfiomig state "$MTTY2_A" stop_copy
	run vfiomig save "$MTTY2_A" -o "$S"
	assert_status 1
	assert_equal "$(state_of "$MTTY2_A")" STOP_COPY
	vfiomig state "$MTTY2_A" running
}

@test "inspect prints the header, the records and the totals" {
	vfiomig save "$MTTY2_A" -o "$S" --resume
	run vfiomig inspect "$S"
	assert_status 0
	assert_output_contains "mtty-2"
	assert_output_contains "precopy"
	assert_output_contains "96 bytes raw"
	assert_output_contains "verified"
}

@test "inspect reads stdin with -" {
	vfiomig save "$MTTY2_A" -o "$S" --resume
	run bash -c "$(declare -f vfiomig); VFIOMIG=$VFIOMIG BACKEND=$BACKEND SYSROOT=${SYSROOT:-} \
		DOUBLE_LIB=${DOUBLE_LIB:-}; vfiomig inspect --json - <'$S'"
	assert_status 0
	assert_equal "$(json .stream <<<"$output")" stdin
}

@test "verify exits 5 on a corrupt stream and says where" {
	vfiomig save "$MTTY2_A" -o "$S" --resume
	local off
	off=$(record_offsets "$S" | sed -n 1p)
	flip_byte "$S" $((off + 25))
	run vfiomig verify "$S.flipped"
	assert_status 5
	assert_output_contains "record 0"
}

@test "a read failure mid-save leaves no file and the device RUNNING" {
	double_only
	knob "$MTTY2_A" "read_fail_after=30 EIO"
	run vfiomig save "$MTTY2_A" -o "$S"
	assert_status 1
	assert_output_contains "Input/output error"
	[[ ! -e $S ]]
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "a write failure mid-restore resets the device to RUNNING" {
	double_only
	vfiomig save "$MTTY2_A" -o "$S" --resume
	knob "$MTTY2_B" "write_fail_after=30 EIO"
	refused 1 "$S" "$MTTY2_B"
	assert_output_contains "reset"
}

@test "a failing RESUMING -> STOP resets the device and keeps its old state" {
	double_only
	vfiomig save "$MTTY2_A" -o "$S" --resume
	knob "$MTTY2_B" "fail_arc=RESUMING>STOP EINVAL"
	refused 1 "$S" "$MTTY2_B"
	[[ ! -e $SYSROOT/double/$MTTY2_B/restored ]]
}

@test "SIGTERM while restore waits for more input resets the device and exits 7" {
	vfiomig save "$MTTY2_A" -o "$S" --resume
	local fifo=$BATS_TEST_TMPDIR/fifo rc=0
	mkfifo "$fifo"
	vfiomig_bg "$BATS_TEST_TMPDIR/out" -v restore "$MTTY2_B" -i "$fifo"
	exec 4>"$fifo"
	head -c 300 "$S" >&4
	# -v names the decoding threads once the device is RESUMING and the records flow
	wait_for_text "$BATS_TEST_TMPDIR/out" "decoding thread"
	kill -TERM "$VFIOMIG_PID"
	wait "$VFIOMIG_PID" || rc=$?
	exec 4>&-
	cat "$BATS_TEST_TMPDIR/out"
	assert_equal "$rc" 7
	grep -q "the device was reset and is RUNNING" "$BATS_TEST_TMPDIR/out"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "--no-compress and --level together are refused" {
	run vfiomig save "$MTTY2_A" -o "$S" --no-compress -l 3
	assert_status 2
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "inspect --json of a stream without data records gives an empty list" {
	double_only "needs a device with no state"
	local empty=dddddddd-0000-0000-0000-000000000001
	"$FAKEDEV" add "$SYSROOT" --kind mdev --name "$empty" --size 0 --precopy-bytes 0
	vfiomig save "$empty" -o "$S" --resume
	run vfiomig inspect --json "$S"
	json_is \
		'.records | length' 0 \
		'.totals.raw_bytes' 0
}

@test "inspect --json names each skippable unknown record type apart in by_type" {
	# fixtures/two-unknown-types.vfm: tests/unit/test_stream_lib.c's build() with records
	# precopy (10 bytes), 0x8042 (30), 0x8043 (20) and stopcopy (10), unkeyed
	run vfiomig inspect --json "$BATS_TEST_DIRNAME/fixtures/two-unknown-types.vfm"
	assert_status 0
	json_is \
		'.totals.by_type | keys' '["precopy","stopcopy","type-0x8042","type-0x8043"]' \
		'.totals.by_type["type-0x8042"].raw_bytes' 30 \
		'[.records[].type]' '["precopy","stopcopy"]' \
		.verified true
}
