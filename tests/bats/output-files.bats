#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# save -o: a regular file or a new name is written atomically (temporary file, fsync,
# rename, fsync of the directory); device nodes and FIFOs are written in place and
# never replaced; a directory is refused.

load helper

setup() {
	common_setup
	D=$BATS_TEST_TMPDIR/out
	mkdir "$D"
}

# No temporary file is left in the output directory.
no_temp_files() {
	local left
	left=$(ls -A "$D" | grep '^\.' || true)
	[[ -z $left ]] || {
		echo "left behind in $D: $left" >&2
		return 1
	}
}

@test "save -o into a character device writes through it and leaves the node in place" {
	[[ $EUID == 0 ]] || skip "mknod needs root"
	mknod "$D/null" c 1 3
	run vfiomig save "$MTTY2_A" -o "$D/null" --resume
	assert_status 0
	[[ -c $D/null ]]
	assert_equal "$(stat -c %t:%T "$D/null")" 1:3
	no_temp_files
}

@test "save -o /dev/null leaves /dev/null a character device" {
	run vfiomig save "$MTTY2_A" -o /dev/null --resume
	assert_status 0
	[[ -c /dev/null ]]
	assert_equal "$(stat -c %t:%T /dev/null)" 1:3
	assert_equal "$(ls -A /dev | grep -c '^\.vfiomig-' || true)" 0
}

@test "save -o FIFO writes the stream into the FIFO's reader" {
	mkfifo "$D/fifo"
	# bounded: a save that replaced the FIFO would leave the reader waiting
	timeout 20 cat "$D/fifo" >"$BATS_TEST_TMPDIR/got" &
	local reader=$!
	run vfiomig save "$MTTY2_A" -o "$D/fifo" --resume
	assert_status 0
	[[ -p $D/fifo ]]
	wait "$reader"
	run vfiomig verify "$BATS_TEST_TMPDIR/got"
	assert_status 0
	no_temp_files
}

@test "save -o DIRECTORY is refused (exit 2) before the device is touched" {
	run vfiomig save "$MTTY2_A" -o "$D"
	assert_status 2
	assert_output_contains "Is a directory"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	no_temp_files
}

@test "save -o accepts a 255-byte file name" {
	local name
	name=$(printf 'n%.0s' {1..251}).vfm
	assert_equal "${#name}" 255
	run vfiomig save "$MTTY2_A" -o "$D/$name" --resume
	assert_status 0
	run vfiomig verify "$D/$name"
	assert_status 0
	no_temp_files
}

@test "save -o over an existing file replaces it atomically" {
	echo old >"$D/state.vfm"
	run vfiomig save "$MTTY2_A" -o "$D/state.vfm" --resume
	assert_status 0
	run vfiomig verify "$D/state.vfm"
	assert_status 0
	no_temp_files
}

@test "save -o through a symbolic link replaces the link's target and keeps the link" {
	echo old >"$D/target.vfm"
	ln -s target.vfm "$D/link.vfm"
	run vfiomig save "$MTTY2_A" -o "$D/link.vfm" --resume
	assert_status 0
	[[ -L $D/link.vfm ]]
	run vfiomig verify "$D/target.vfm"
	assert_status 0
	no_temp_files
}

@test "a failed save leaves no new file and no temporary file" {
	double_only
	knob "$MTTY2_A" "read_fail_after=30 EIO"
	run vfiomig save "$MTTY2_A" -o "$D/state.vfm"
	assert_status 1
	[[ ! -e $D/state.vfm ]]
	no_temp_files
}

@test "a failed save over an existing file keeps the old file and no temporary file" {
	double_only
	echo old >"$D/state.vfm"
	knob "$MTTY2_A" "read_fail_after=30 EIO"
	run vfiomig save "$MTTY2_A" -o "$D/state.vfm"
	assert_status 1
	assert_equal "$(cat "$D/state.vfm")" old
	no_temp_files
}
