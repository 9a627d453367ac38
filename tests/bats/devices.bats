#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Several devices in one migration: one reader thread per source device and one writer
# per destination device, each device's records in order, devices independent; a failure
# of any device stops them all and rolls every one back.

load helper
load pairs

PAIRS_PREFIX=dddddddd

setup() {
	common_setup
	OUT=$BATS_TEST_TMPDIR
	double_only
	SRC=() DST=()
}

# Did two different devices' ACCESS (read or write) overlap in io.log?
overlapped() { # read|write
	awk -v op="$1" '$3 == op && $2 == "begin" { open[$1] = 1; for (d in open) if (d != $1 && open[d]) hit = 1 }
		$3 == op && $2 == "end" { open[$1] = 0 }
		END { exit !hit }' "$SYSROOT/double/io.log"
}

@test "four devices with different read speeds and sizes arrive whole and in order" {
	pairs 4 $((6 << 20)) $((2 << 20))
	knob "${SRC[0]}" "delay_ms=3"
	knob "${SRC[1]}" "read_max=65536"
	knob "${SRC[2]}" "delay_ms=1"
	knob "${DST[3]}" "delay_ms=2"
	start_receive "${DST[@]}" --insecure
	run vfiomig migrate "${SRC[@]}" --to "127.0.0.1:$PORT" --insecure --json -T 2
	finish_receive
	assert_status 0
	assert_equal "$RECV_STATUS" 0
	assert_equal "$(sed -n '/^{/,/^}/p' <<<"$output" | jq .raw_bytes)" $((24 << 20))
	assert_whole
}

@test "the source reads every device at once, in pre-copy and in stop-copy" {
	pairs 3 $((4 << 20)) $((2 << 20))
	for n in "${SRC[@]}"; do
		knob "$n" "delay_ms=20"
		knob "$n" "io_log=1"
	done
	start_receive "${DST[@]}" --insecure
	run vfiomig migrate "${SRC[@]}" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 0
	overlapped read
	assert_whole
}

@test "the destination writes every device at once" {
	pairs 3 $((4 << 20)) 0
	for n in "${DST[@]}"; do
		knob "$n" "delay_ms=20"
		knob "$n" "io_log=1"
	done
	start_receive "${DST[@]}" --insecure
	run vfiomig migrate "${SRC[@]}" --to "127.0.0.1:$PORT" --insecure --no-precopy
	finish_receive
	assert_status 0
	overlapped write
	assert_whole
}

@test "one device is the same as before: a single device is read on the caller's thread" {
	pairs 1 $((4 << 20)) $((1 << 20))
	start_receive "${DST[@]}" --insecure
	run vfiomig migrate "${SRC[@]}" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 0
	assert_whole
}

@test "a read failing on one device in stop-copy stops the others; every device rolls back" {
	pairs 3 $((8 << 20)) 0
	knob "${SRC[0]}" "delay_ms=10"
	knob "${SRC[2]}" "delay_ms=10"
	knob "${SRC[1]}" "read_fail_after=$((3 << 20)) EIO"
	start_receive "${DST[@]}" --insecure
	run vfiomig migrate "${SRC[@]}" --to "127.0.0.1:$PORT" --insecure --no-precopy
	finish_receive
	assert_status 1
	# the device that failed is named, not one the failure cancelled
	assert_output_contains "${SRC[1]}: read migration data in STOP_COPY"
	refute_output_contains "another device failed"
	assert_output_contains "back in RUNNING"
	assert_equal "$RECV_STATUS" 6
	assert_rolled_back
}

@test "a read failing on one device in pre-copy: every device rolls back" {
	pairs 3 $((8 << 20)) $((6 << 20))
	knob "${SRC[2]}" "read_fail_after=$((2 << 20)) EIO"
	start_receive "${DST[@]}" --insecure
	run vfiomig migrate "${SRC[@]}" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 1
	assert_output_contains "${SRC[2]}: read migration data"
	assert_equal "$RECV_STATUS" 6
	assert_rolled_back
}

@test "a write failing on one destination device: every destination reset, the sources run on" {
	pairs 3 $((8 << 20)) 0
	knob "${DST[1]}" "write_fail_after=$((3 << 20)) EIO"
	knob "${DST[0]}" "delay_ms=5"
	start_receive "${DST[@]}" --insecure
	run vfiomig migrate "${SRC[@]}" --to "127.0.0.1:$PORT" --insecure --no-precopy
	finish_receive
	assert_status 6
	assert_equal "$RECV_STATUS" 1
	output=$(<"$OUT/recv.out")
	assert_output_contains "${DST[1]}: write migration data"
	assert_rolled_back
}

@test "SIGTERM while four devices are read at once: exit 7 within a chunk, every source RUNNING" {
	pairs 4 $((16 << 20)) 0
	for n in "${SRC[@]}"; do knob "$n" "delay_ms=100"; done
	start_receive "${DST[@]}" --insecure
	vfiomig_bg "$OUT/mig.out" migrate "${SRC[@]}" --to "127.0.0.1:$PORT" --insecure --no-precopy -v
	local mig=$VFIOMIG_PID rc=0
	wait_for_text "$OUT/mig.out" "stop-copy: reading 4 devices at once" "$mig"
	sleep 0.3   # the readers are in the middle of their 100 ms reads
	kill -TERM "$mig"
	wait "$mig" || rc=$?
	finish_receive
	cat "$OUT/mig.out"
	assert_equal "$rc" 7
	[[ $RECV_STATUS != 0 ]]
	assert_rolled_back
}
