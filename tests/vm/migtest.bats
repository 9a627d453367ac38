#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vfiomig on tests/kmod's vfio_migtest in the real kernel: large states that span many reads,
# pre-copy against a device that keeps dirtying, streams the driver itself refuses, and the
# driver bugs `vfiomig check` must catch, each a sysfs knob of the device.

load '../bats/helper'

bats_require_minimum_version 1.5.0

MT_SYS=/sys/bus/mdev/devices
DMALOG=${VFIOMIG_TEST_TOOLS:-$BATS_TEST_DIRNAME/../tools}/vfio-dmalog
MTTY_UART=${VFIOMIG_TEST_TOOLS:-$BATS_TEST_DIRNAME/../tools}/mtty-uart
BIG=$((64 << 20))

setup() {
	kernel_only
	common_setup
	MT_A=${VFIOMIG_TEST_MIGTEST_A:?the guest did not load vfio_migtest (tests/kmod)}
	MT_B=${VFIOMIG_TEST_MIGTEST_B:?VFIOMIG_TEST_MIGTEST_B not set}
	MT_OTHER=${VFIOMIG_TEST_MIGTEST_OTHER:?VFIOMIG_TEST_MIGTEST_OTHER not set}
	S=$BATS_TEST_TMPDIR/state.vfm
	"$VFIOMIG" -q state --reset "$MT_A" "$MT_B" "$MT_OTHER" >/dev/null 2>&1 || true
	local d
	for d in "$MT_A" "$MT_B" "$MT_OTHER"; do
		mt_defaults "$d"
	done
}

mt_set() { # DEVICE KNOB VALUE
	echo "$3" >"$MT_SYS/$1/migtest/$2"
}

mt_get() { # DEVICE KNOB
	local v
	read -r v <"$MT_SYS/$1/migtest/$2"
	echo "$v"
}

# Every knob back to a conformant driver; the size stays (resizing zeroes the state).
mt_defaults() { # DEVICE
	local k
	for k in p2p pre_copy; do mt_set "$1" "$k" 1; done
	for k in dirty_rate max_read max_write data_size stopcopy_end refuse_errno precopy_new_fd \
		get_reports_target precopy_info_anywhere precopy_initial_fixed reset_keeps_error \
		delay_ms log_page_size log_stop_keeps; do
		mt_set "$1" "$k" 0
	done
	mt_set "$1" precopy_end ENOMSG
	mt_set "$1" log_restart EBUSY
	for k in fail_arc arc_delay extra_fd read_fail_after write_fail_after; do
		mt_set "$1" "$k" none
	done
}

mt_size() { # DEVICE BYTES: resizes only when it differs
	[[ $(mt_get "$1" size) == "$2" ]] || mt_set "$1" size "$2"
}

checksum() { # DEVICE
	mt_get "$1" checksum
}

# LENGTH bytes at the start of the 4 KiB block N of a device's content.
content_at() { # DEVICE N LENGTH
	dd if="$MT_SYS/$1/migtest/content" bs=4096 skip="$2" count=1 2>/dev/null | head -c "$3"
}

put_marker() { # DEVICE N TEXT
	printf '%s' "$3" | dd of="$MT_SYS/$1/migtest/content" bs=4096 seek="$2" conv=notrunc 2>/dev/null
}

result_of() { # NAME: the RESULT column of check NAME in $output
	awk -v n="$1" '$1 == n { print $2; exit }' <<<"$output"
}

# A knob test: the bug makes CHECK fail, the run exits 1 and the device ends RUNNING.
assert_knob_fails() { # CHECK EXTRA-ARGS...
	local check=$1
	shift
	run vfiomig check "$MT_A" "$@"
	assert_status 1
	assert_equal "$(result_of "$check")" FAIL
	assert_equal "$(state_of "$MT_A")" RUNNING
}

@test "migtest: info shows its flags, DMA logging and an exact stop-copy size" {
	mt_size "$MT_A" $((4 << 20))
	run vfiomig info "$MT_A" --json
	assert_status 0
	# header 32 + 64 blocks of 64 KiB with a 16-byte record each + the end record
	json_is \
		.mdev_type migtest-1 \
		.driver migtest \
		.migration.flags_value 7 \
		.migration.dma_logging true \
		.migration.stop_copy_bytes $((32 + 64 * 16 + (4 << 20) + 16))
}

@test "migtest: DMA logging answers consistently: one start at a time, stop, start again" {
	run "$DMALOG" "$MT_A"
	assert_status 0
	# Reports never reach the driver here: without CONFIG_IOMMUFD_DRIVER the core's
	# iova_bitmap is a stub that gives EOPNOTSUPP (the driver's report would say EINVAL
	# outside start..stop and no dirty page within).
	assert_equal "$output" "probe: ok
report before start: EOPNOTSUPP
start: ok
start again: EBUSY
report: EOPNOTSUPP
stop: ok
report after stop: EOPNOTSUPP
start after stop: ok
stop: ok"
}

@test "migtest: the flags follow the p2p and pre_copy knobs" {
	mt_set "$MT_A" p2p 0
	mt_set "$MT_A" pre_copy 0
	run vfiomig info "$MT_A" --json
	assert_status 0
	json_is .migration.flags_value 1
	run vfiomig state "$MT_A" stop_copy
	assert_status 0
	assert_equal "$output" "RUNNING -> STOP -> STOP_COPY"
}

@test "migtest: 64 MiB cross through save | restore, checksum and a marker intact" {
	mt_size "$MT_A" "$BIG"
	mt_size "$MT_B" "$BIG"
	mt_set "$MT_A" fill 1
	mt_set "$MT_B" fill 2
	put_marker "$MT_A" 1000 "written into the source"
	local sum
	sum=$(checksum "$MT_A")
	[[ $sum != "$(checksum "$MT_B")" ]]
	run bash -c "'$VFIOMIG' save '$MT_A' --resume | '$VFIOMIG' restore '$MT_B'"
	assert_status 0
	assert_equal "$(state_of "$MT_B")" RUNNING
	assert_equal "$(checksum "$MT_B")" "$sum"
	assert_equal "$(content_at "$MT_B" 1000 23)" "written into the source"
	assert_equal "$(mt_get "$MT_B" resumed_bytes)" $((32 + 1024 * 16 + BIG + 16))
}

@test "migtest: 64 MiB cross in a live migration over --exec; the source stops" {
	mt_size "$MT_A" "$BIG"
	mt_size "$MT_B" "$BIG"
	mt_set "$MT_A" fill 3
	local sum
	sum=$(checksum "$MT_A")
	run vfiomig migrate "$MT_A" --exec "'$VFIOMIG' receive '$MT_B' --stdio"
	assert_status 0
	assert_equal "$(state_of "$MT_A")" STOP
	assert_equal "$(state_of "$MT_B")" RUNNING
	assert_equal "$(checksum "$MT_B")" "$sum"
}

@test "migtest: pre-copy over TCP against a dirtying device converges to the stopped source's bytes" {
	mt_size "$MT_A" $((16 << 20))
	mt_size "$MT_B" $((16 << 20))
	mt_set "$MT_A" fill 4
	mt_set "$MT_A" dirty_rate $((4 << 20))
	start_receive "$MT_B" --insecure
	run --separate-stderr vfiomig migrate "$MT_A" --to "127.0.0.1:$PORT" --insecure --json \
		--max-rounds 50
	wait "$RECV_PID"
	assert_status 0
	# it converged: the rest fit --max-downtime long before the round limit
	local rounds
	rounds=$(jq -r .precopy_rounds <<<"$output")
	((rounds >= 1 && rounds < 50))
	[[ $(mt_get "$MT_A" dirtied) -gt 0 ]]
	# blocks dirtied after they were sent went again: more than one whole stream was read
	(($(jq -r .raw_bytes <<<"$output") > 32 + 256 * 16 + (16 << 20) + 16))
	assert_equal "$(state_of "$MT_A")" STOP
	# stopped, the source dirties no more: what it holds is what must have arrived
	assert_equal "$(checksum "$MT_B")" "$(checksum "$MT_A")"
}

@test "migtest: a migtest and an mtty migrate together, each into its own kind" {
	mt_size "$MT_A" $((8 << 20))
	mt_size "$MT_B" $((8 << 20))
	mt_set "$MT_A" fill 12
	"$MTTY_UART" drain "$MTTY2_A" "$MTTY2_B" >/dev/null 2>&1 || true
	"$MTTY_UART" write "$MTTY2_A" together
	run vfiomig migrate "$MT_A" "$MTTY2_A" --exec "'$VFIOMIG' receive '$MT_B' '$MTTY2_B' --stdio"
	assert_status 0
	assert_equal "$(state_of "$MT_A")" STOP
	assert_equal "$(state_of "$MTTY2_A")" STOP
	assert_equal "$(checksum "$MT_B")" "$(checksum "$MT_A")"
	run "$MTTY_UART" read "$MTTY2_B"
	assert_equal "$output" together
}

@test "migtest: a device that dirties all of its state every round stops at --max-rounds" {
	mt_size "$MT_A" $((4 << 20))
	mt_size "$MT_B" $((4 << 20))
	mt_set "$MT_A" fill 5
	mt_set "$MT_A" dirty_rate $((1 << 40))
	# no switchover fits 1 ms, so only --max-rounds ends pre-copy
	run --separate-stderr vfiomig migrate "$MT_A" --exec "'$VFIOMIG' receive '$MT_B' --stdio" \
		--json --max-rounds 2 --max-downtime 1
	assert_status 0
	json_is .precopy_rounds 2
	[[ $(jq -r .raw_bytes <<<"$output") -gt $((2 * (4 << 20))) ]]
	assert_equal "$(checksum "$MT_B")" "$(checksum "$MT_A")"
}

@test "migtest: reads capped by max_read and short writes by max_write still move the state" {
	mt_size "$MT_A" $((1 << 20))
	mt_size "$MT_B" $((1 << 20))
	mt_set "$MT_A" fill 6
	mt_set "$MT_A" max_read 4000
	mt_set "$MT_B" max_write 1000
	run bash -c "'$VFIOMIG' save '$MT_A' --resume | '$VFIOMIG' restore '$MT_B'"
	assert_status 0
	assert_equal "$(checksum "$MT_B")" "$(checksum "$MT_A")"
	# the stream is 1 MiB + 16 records + 48 bytes: at most 4000 and 1000 bytes a call
	local stream=$(((1 << 20) + 16 * 16 + 48))
	(($(mt_get "$MT_A" saved_reads) >= (stream + 3999) / 4000))
	(($(mt_get "$MT_B" resumed_writes) >= (stream + 999) / 1000))
}

@test "migtest: the driver refuses a stream of a device of another size; the destination keeps its state" {
	mt_size "$MT_A" $((1 << 20))
	mt_size "$MT_B" $((2 << 20))
	mt_set "$MT_A" fill 7
	mt_set "$MT_B" fill 8
	vfiomig save "$MT_A" -o "$S" --resume
	local mine
	mine=$(checksum "$MT_B")
	run vfiomig restore "$MT_B" -i "$S"
	assert_status 1
	assert_equal "$(state_of "$MT_B")" RUNNING
	assert_equal "$(checksum "$MT_B")" "$mine"
	dmesg | grep -q "vfio_migtest $MT_B: stream of a migtest-1 with 1048576 bytes; this is a migtest-1 with 2097152"
}

@test "migtest: a migtest-2 refuses a migtest-1 stream, in vfiomig and, forced, in the driver" {
	mt_size "$MT_A" $((1 << 20))
	mt_size "$MT_OTHER" $((1 << 20))
	vfiomig save "$MT_A" -o "$S" --resume
	run vfiomig restore "$MT_OTHER" -i "$S"
	assert_status 6
	assert_output_contains migtest-2
	run vfiomig restore "$MT_OTHER" -i "$S" --force
	assert_status 1
	assert_equal "$(state_of "$MT_OTHER")" RUNNING
	dmesg | grep -q "vfio_migtest $MT_OTHER: stream of a migtest-1 with 1048576 bytes; this is a migtest-2"
}

@test "migtest: a stream corrupt in its fourth MiB leaves the destination's state as it was" {
	mt_size "$MT_A" $((4 << 20))
	mt_size "$MT_B" $((4 << 20))
	mt_set "$MT_A" fill 9
	mt_set "$MT_B" fill 10
	vfiomig save "$MT_A" -o "$S" --resume
	local off v mine
	# records carry at most 1 MiB: the first ones verify and reach the device, which
	# holds them apart from its state until RESUMING -> STOP
	off=$(($(stat -c %s "$S") * 7 / 8))
	v=$(od -An -tu1 -j "$off" -N1 "$S" | tr -d ' ')
	printf "\\x$(printf %02x $((v ^ 1)))" | dd of="$S" bs=1 seek="$off" conv=notrunc 2>/dev/null
	mine=$(checksum "$MT_B")
	run vfiomig restore "$MT_B" -i "$S"
	assert_status 5
	assert_equal "$(state_of "$MT_B")" RUNNING
	assert_equal "$(checksum "$MT_B")" "$mine"
}

@test "migtest: a failing STOP -> STOP_COPY fails the save and the source runs on" {
	mt_set "$MT_A" fail_arc "STOP>STOP_COPY EIO"
	run vfiomig save "$MT_A" -o "$S" --no-precopy
	assert_status 1
	assert_equal "$(state_of "$MT_A")" RUNNING
	[[ ! -e $S ]]
}

@test "migtest: a read failing mid-stream fails the save and the source runs on" {
	mt_size "$MT_A" $((1 << 20))
	mt_set "$MT_A" read_fail_after "300000 EIO"
	run vfiomig save "$MT_A" -o "$S"
	assert_status 1
	assert_equal "$(state_of "$MT_A")" RUNNING
	[[ ! -e $S ]]
}

@test "migtest: a write failing mid-stream fails the restore and resets the destination" {
	mt_size "$MT_A" $((1 << 20))
	mt_size "$MT_B" $((1 << 20))
	vfiomig save "$MT_A" -o "$S" --resume
	mt_set "$MT_B" write_fail_after "300000 EIO"
	run vfiomig restore "$MT_B" -i "$S"
	assert_status 1
	assert_equal "$(state_of "$MT_B")" RUNNING
}

@test "migtest: a destination resuming for longer than --timeout still commits: it pings meanwhile" {
	mt_size "$MT_A" $((1 << 20))
	mt_size "$MT_B" $((1 << 20))
	mt_set "$MT_A" fill 11
	mt_set "$MT_B" arc_delay "RESUMING>STOP 2500"
	run --separate-stderr vfiomig migrate "$MT_A" --timeout 1 --json \
		--exec "'$VFIOMIG' receive '$MT_B' --stdio --timeout 1"
	assert_status 0
	json_is '.destination_resume_ms >= 2500' true \
		'.pings_received >= 1' true
	assert_equal "$(checksum "$MT_B")" "$(checksum "$MT_A")"
}

@test "migtest: a source reading its device for longer than --timeout still migrates: it pings meanwhile" {
	mt_size "$MT_A" $((1 << 20))
	mt_size "$MT_B" $((1 << 20))
	mt_set "$MT_A" fill 13
	# STOP_COPY takes two reads (the data, then the end), each 1.5 s
	mt_set "$MT_A" delay_ms 1500
	run --separate-stderr vfiomig migrate "$MT_A" --timeout 1 --json --no-precopy \
		--exec "'$VFIOMIG' receive '$MT_B' --stdio --timeout 1"
	assert_status 0
	json_is '.pings_sent >= 1' true
	assert_equal "$(checksum "$MT_B")" "$(checksum "$MT_A")"
}

@test "migtest: check passes a conformant migtest, round trip included; the kernel's reports warn" {
	mt_size "$MT_A" $((1 << 20))
	mt_size "$MT_B" $((1 << 20))
	run vfiomig check "$MT_A" --destructive --peer "$MT_B"
	assert_status 0
	# the one warning is the kernel's: no CONFIG_IOMMUFD_DRIVER, every report EOPNOTSUPP
	assert_equal "$(awk '$2 == "WARN" { print $1 }' <<<"$output")" dma_log_report
	refute_output_contains " FAIL "
	assert_equal "$(result_of precopy_end)" PASS
	assert_equal "$(result_of roundtrip)" PASS
	assert_equal "$(result_of recovery)" PASS
}

@test "migtest: check passes a migtest that keeps dirtying: each pre-copy round ends" {
	mt_size "$MT_A" $((1 << 20))
	# all of the state again at every look: without rounds, pre-copy would never pause
	mt_set "$MT_A" dirty_rate $((1 << 40))
	run vfiomig check "$MT_A"
	assert_status 0
	assert_equal "$(awk '$2 == "WARN" { print $1 }' <<<"$output")" dma_log_report
	assert_equal "$(result_of precopy_end)" PASS
	assert_output_contains "ENOMSG after"
	[[ $(mt_get "$MT_A" dirtied) -gt 0 ]]
}

@test "migtest: check passes a STOP_COPY-only migtest, whose other states the kernel refuses" {
	mt_set "$MT_A" p2p 0
	mt_set "$MT_A" pre_copy 0
	run vfiomig check "$MT_A" --destructive
	assert_status 0
	assert_output_contains "EINVAL for ERROR, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P, state 8"
	assert_equal "$(result_of precopy_end)" SKIP
	assert_equal "$(result_of roundtrip)" PASS
	assert_equal "$(state_of "$MT_A")" RUNNING
}

@test "migtest knob precopy_end=0: PRE_COPY's end read() = 0 is check's one warning" {
	mt_set "$MT_A" precopy_end 0
	run vfiomig check "$MT_A"
	assert_status 0
	assert_equal "$(result_of precopy_end)" WARN
}

@test "migtest knob refuse_errno: EOPNOTSUPP for a ruled-out target fails refused" {
	mt_set "$MT_A" p2p 0
	mt_set "$MT_A" refuse_errno EOPNOTSUPP
	assert_knob_fails refused
}

@test "migtest knob extra_fd: a data fd on RUNNING -> RUNNING_P2P fails fd_arcs" {
	mt_set "$MT_A" extra_fd "RUNNING>RUNNING_P2P"
	assert_knob_fails fd_arcs
}

@test "migtest knob precopy_new_fd: a new fd on PRE_COPY -> STOP_COPY fails precopy_same_fd" {
	mt_set "$MT_A" precopy_new_fd 1
	assert_knob_fails precopy_same_fd
}

@test "migtest knob stopcopy_end: ENOMSG at STOP_COPY's end fails stopcopy_end" {
	mt_set "$MT_A" stopcopy_end ENOMSG
	assert_knob_fails stopcopy_end
}

@test "migtest knob data_size: an estimate far off fails size_estimate" {
	mt_set "$MT_A" data_size $((1 << 30))
	assert_knob_fails size_estimate
}

@test "migtest knob get_reports_target: GET naming a refused target fails get_after_fail" {
	mt_set "$MT_A" get_reports_target 1
	assert_knob_fails get_after_fail
}

@test "migtest knob precopy_info_anywhere: PRECOPY_INFO in STOP_COPY fails precopy_info" {
	mt_set "$MT_A" precopy_info_anywhere 1
	assert_knob_fails precopy_info
}

@test "migtest knob precopy_initial_fixed: initial_bytes that never falls fails precopy_info" {
	mt_set "$MT_A" precopy_initial_fixed 1
	assert_knob_fails precopy_info
}

@test "migtest knob fail_arc: a failing RUNNING_P2P -> STOP fails arcs" {
	mt_set "$MT_A" fail_arc "RUNNING_P2P>STOP EIO"
	assert_knob_fails arcs
	assert_output_contains "RUNNING_P2P -> STOP: SET failed with EIO"
}

@test "migtest knob reset_keeps_error: a reset that does not leave ERROR fails recovery" {
	mt_set "$MT_A" fail_arc "RESUMING>STOP EINVAL error"
	mt_set "$MT_A" reset_keeps_error 1
	run vfiomig check "$MT_A" --destructive --only recovery
	assert_status 1
	assert_equal "$(result_of recovery)" FAIL
	assert_output_contains "VFIO_DEVICE_RESET left the device in ERROR"
	mt_set "$MT_A" reset_keeps_error 0
	run vfiomig state "$MT_A" --reset
	assert_status 0
	assert_equal "$(state_of "$MT_A")" RUNNING
}

@test "migtest: after all of the above the kernel logged no WARNING, BUG or Oops" {
	run dmesg
	assert_status 0
	assert_output_contains "vfio_migtest"
	refute_output_contains "WARNING:"
	refute_output_contains "BUG:"
	refute_output_contains "Oops"
}
