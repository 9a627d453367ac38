#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Key files (--key-file, --psk-file, the X.509 --key) are treated as OpenSSH treats
# private keys: refused with exit status 2, before any device is touched, when their
# group or others may read or write them, when neither the user nor root owns them,
# or when they are directories. Symbolic links are followed. And vfiomig, which holds
# keys and device state in memory, never dumps core.

load helper

setup() {
	# key files are refused before any device is touched: the kernel adds nothing here
	double_only "key-file checks do not depend on the kernel"
	common_setup
	S=$BATS_TEST_TMPDIR/state.vfm
	K=$BATS_TEST_TMPDIR/key
	(umask 077; head -c 32 /dev/urandom >"$K")
}

# save --key-file KEY must be refused with exit 2, the device untouched, no file.
save_refused() { # KEY TEXT
	run vfiomig save "$MTTY2_A" -o "$S" --key-file "$1"
	assert_status 2
	assert_output_contains "$2"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	[[ ! -e $S ]]
}

# Runs vfiomig with a time limit (a refused listener must not be left listening).
vfiomig_bounded() { # ARGS...
	timeout 20 bash -c "$(declare -f vfiomig); VFIOMIG=$VFIOMIG BACKEND=$BACKEND \
		SYSROOT=${SYSROOT:-} DOUBLE_LIB=${DOUBLE_LIB:-}; vfiomig \"\$@\"" vfiomig "$@"
}

@test "a key file readable by others (0644) is refused with a chmod 600 hint" {
	chmod 644 "$K"
	save_refused "$K" "chmod 600 $K"
}

@test "a key file readable by its group (0640) is refused" {
	chmod 640 "$K"
	save_refused "$K" "mode 0640"
}

@test "a key file that others can write (0602) is refused" {
	chmod 602 "$K"
	save_refused "$K" "can write it"
}

@test "a key file with mode 0600 is accepted, and restore takes it too" {
	run vfiomig save "$MTTY2_A" -o "$S" --resume --key-file "$K"
	assert_status 0
	run vfiomig restore "$MTTY2_B" -i "$S" --key-file "$K"
	assert_status 0
}

@test "a key file owned by another user is refused" {
	[[ $EUID == 0 ]] || skip "chown needs root"
	chown 65534 "$K"        # nobody, also where no passwd names it (the VM)
	save_refused "$K" "not by you"
}

@test "a symbolic link to a private key file is followed and accepted" {
	ln -s key "$BATS_TEST_TMPDIR/link"
	run vfiomig save "$MTTY2_A" -o "$S" --resume --key-file "$BATS_TEST_TMPDIR/link"
	assert_status 0
}

@test "a symbolic link to a key file that others can read is refused" {
	chmod 644 "$K"
	ln -s key "$BATS_TEST_TMPDIR/link"
	save_refused "$BATS_TEST_TMPDIR/link" "chmod 600"
}

@test "a directory given as a key file is refused" {
	mkdir -m 700 "$BATS_TEST_TMPDIR/keys"
	save_refused "$BATS_TEST_TMPDIR/keys" "Is a directory"
}

@test "inspect and verify refuse a key file that others can read" {
	vfiomig save "$MTTY2_A" -o "$S" --resume --key-file "$K"
	chmod 644 "$K"
	run vfiomig inspect --key-file "$K" "$S"
	assert_status 2
	run vfiomig verify --key-file "$K" "$S"
	assert_status 2
}

@test "receive refuses a --psk-file that others can read before it listens" {
	chmod 644 "$K"
	run vfiomig_bounded receive "$MTTY2_B" --listen 127.0.0.1:0 --psk-file "$K"
	assert_status 2
	assert_output_contains "chmod 600"
	[[ $output != *listening* ]]
}

@test "migrate refuses a --psk-file that others can read, the source untouched" {
	chmod 644 "$K"
	run vfiomig migrate "$MTTY2_A" --to 127.0.0.1:1 --psk-file "$K"
	assert_status 2
	assert_output_contains "chmod 600"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "an X.509 --key that others can read is refused" {
	chmod 644 "$K"
	: >"$BATS_TEST_TMPDIR/cert.pem"
	run vfiomig_bounded receive "$MTTY2_B" --listen 127.0.0.1:0 --cert "$BATS_TEST_TMPDIR/cert.pem" \
		--key "$K" --ca "$BATS_TEST_TMPDIR/cert.pem"
	assert_status 2
	assert_output_contains "chmod 600"
	[[ $output != *listening* ]]
}

@test "vfiomig is not dumpable: its /proc files belong to root even when a user runs it" {
	double_only "needs util-linux setpriv; dumpability does not depend on the kernel's VFIO"
	[[ $EUID == 0 ]] || skip "setpriv needs root"
	command -v setpriv >/dev/null || skip "no setpriv"
	local pid owner i
	sleep 10 | setpriv --reuid 65534 --regid 65534 --clear-groups "$VFIOMIG" inspect - &
	pid=$!
	for ((i = 0; i < 250; i++)); do
		[[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */vfiomig ]] && break
		sleep 0.02
	done
	sleep 0.2
	owner=$(stat -c %u "/proc/$pid/environ")
	kill "$pid" 2>/dev/null || true
	wait "$pid" || true
	assert_equal "$owner" 0
}
