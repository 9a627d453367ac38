#!/usr/bin/env bats
# The driver's compatibility string (sysfs migration_version) in info and in
# migrate's pairing rule; the exit statuses of a peer that breaks the protocol.

load helper

setup() {
	common_setup
	OUT=$BATS_TEST_TMPDIR
	SRC=cccccccc-0000-0000-0000-000000000001
	DST=cccccccc-0000-0000-0000-000000000002
}

# An extra mtty-2 in a group of its own (double only); options go to fakedev add.
add_mdev() { # UUID [OPTIONS...]
	local name=$1
	shift
	"$FAKEDEV" add "$SYSROOT" --kind mdev --name "$name" --type mtty-2 "$@"
	knob "$name" trace=1
}

# The command that migrate --exec runs: receive on the same host, reporting its status.
receive_cmd() { # DEVICE...
	local env=
	[[ $BACKEND == double ]] && env="env VFIOMIG_SYSROOT=$SYSROOT LD_PRELOAD=$DOUBLE_LIB "
	echo "${env}$VFIOMIG receive $* --stdio; echo \"receive exited \$?\" >&2"
}

# migrate SRC to DST over receive_cmd; extra arguments go to migrate.
migrate_pair() {
	vfiomig migrate "$SRC" --exec "$(receive_cmd "$DST")" "$@"
}

# After `run migrate_pair`: both sides succeeded and the state moved.
assert_moved() {
	assert_status 0
	assert_output_contains "receive exited 0"
	assert_equal "$(state_of "$SRC")" STOP
	assert_equal "$(state_of "$DST")" RUNNING
}

# The arcs the double executed on DEVICE (trace=1); empty when none.
arcs_of() { # DEVICE
	cat "$SYSROOT/double/$1/arcs" 2>/dev/null || true
}

@test "info shows the driver's migration_version, human and --json" {
	double_only
	add_mdev "$SRC" --migration-version "mtty state v1"
	run vfiomig info "$SRC"
	assert_status 0
	assert_output_contains 'compat:       "mtty state v1" (migration_version)'
	run vfiomig info "$SRC" --json
	assert_status 0
	assert_equal "$(json .migration_version.value)" "mtty state v1"
	assert_equal "$(json .migration_version.file)" "/sys/bus/mdev/devices/$SRC/migration_version"
	assert_equal "$(jq -r .migration_version.problem <<<"$output")" null
}

@test "an mdev without its own migration_version takes its type's" {
	double_only
	add_mdev "$SRC" --type-migration-version "type v2"
	run vfiomig info "$SRC" --json
	assert_status 0
	assert_equal "$(json .migration_version.value)" "type v2"
	assert_equal "$(json .migration_version.file)" \
		"/sys/bus/mdev/devices/$SRC/mdev_type/migration_version"
}

@test "a device's own migration_version wins over its mdev type's" {
	double_only
	add_mdev "$SRC" --migration-version "device v1" --type-migration-version "type v2"
	run vfiomig info "$SRC" --json
	assert_status 0
	assert_equal "$(json .migration_version.value)" "device v1"
}

@test "info of a PCI device shows its migration_version" {
	double_only
	"$FAKEDEV" add "$SYSROOT" --kind pci --name 0000:00:05.0 --flags 7 \
		--migration-version "vendor fw=1.2"
	run vfiomig info 0000:00:05.0 --json
	assert_status 0
	assert_equal "$(json .migration_version.value)" "vendor fw=1.2"
}

@test "an empty migration_version counts as none" {
	double_only
	add_mdev "$SRC" --migration-version ""
	run vfiomig info "$SRC" --json
	assert_status 0
	assert_equal "$(jq -r .migration_version <<<"$output")" null
}

@test "info flags a migration_version longer than 255 bytes instead of cutting it" {
	double_only
	add_mdev "$SRC" --migration-version "$(printf 'x%.0s' {1..256})"
	run vfiomig info "$SRC" --json
	assert_status 0
	assert_equal "$(jq -r .migration_version.value <<<"$output")" null
	assert_output_contains "256 bytes long, more than the 255"
	run vfiomig info "$SRC"
	assert_output_contains "compat:       unusable: migration_version: 256 bytes long"
}

@test "info flags a migration_version with a byte that is not printable ASCII" {
	double_only
	add_mdev "$SRC"
	printf 'v1\033[2Jv2\n' >"$SYSROOT/sys/bus/mdev/devices/$SRC/migration_version"
	run vfiomig info "$SRC" --json
	assert_status 0
	assert_equal "$(json .migration_version.problem)" "byte 2 is 0x1b, not printable ASCII"
}

@test "mtty publishes no migration_version: info says none and migration is unaffected" {
	run vfiomig info "$MTTY2_A" --json
	assert_status 0
	assert_equal "$(jq -r .migration_version <<<"$output")" null
	run vfiomig info "$MTTY2_A"
	assert_output_contains "compat:       none (no migration_version in sysfs)"
	SRC=$MTTY2_A DST=$MTTY2_B
	run migrate_pair
	assert_moved
}

@test "devices whose migration_version strings are equal migrate" {
	double_only
	add_mdev "$SRC" --migration-version "mtty state v1"
	add_mdev "$DST" --migration-version "mtty state v1"
	run migrate_pair
	assert_moved
}

@test "different migration_version strings are refused on both sides before any arc (exit 6)" {
	double_only
	add_mdev "$SRC" --migration-version "mtty state v1"
	add_mdev "$DST" --migration-version "mtty state v2"
	start_receive "$DST" --insecure
	run vfiomig migrate "$SRC" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 6
	assert_equal "$RECV_STATUS" 6
	assert_output_contains "source $SRC has \"mtty state v1\", destination $DST has \"mtty state v2\""
	assert_output_contains "--force"
	assert_equal "$(arcs_of "$SRC")" ""
	assert_equal "$(arcs_of "$DST")" ""
	assert_equal "$(state_of "$SRC")" RUNNING
	assert_equal "$(state_of "$DST")" RUNNING
}

@test "strings that differ only in case are different" {
	double_only
	add_mdev "$SRC" --migration-version "MTTY v1"
	add_mdev "$DST" --migration-version "mtty v1"
	run migrate_pair
	assert_status 6
	assert_equal "$(arcs_of "$SRC")" ""
}

@test "migrate --force migrates despite different strings, with a warning" {
	double_only
	add_mdev "$SRC" --migration-version "mtty state v1"
	add_mdev "$DST" --migration-version "mtty state v2"
	run migrate_pair --force
	assert_moved
	assert_output_contains "warning: the drivers' migration_version strings differ"
	assert_output_contains "migrating anyway (--force)"
}

@test "a string on the source only is refused: the destination cannot confirm it (exit 6)" {
	double_only
	add_mdev "$SRC" --migration-version "mtty state v1"
	add_mdev "$DST"
	start_receive "$DST" --insecure
	run vfiomig migrate "$SRC" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 6
	assert_equal "$RECV_STATUS" 6
	assert_output_contains "source $SRC has migration_version \"mtty state v1\", destination $DST has none"
	assert_equal "$(arcs_of "$SRC")" ""
	assert_equal "$(state_of "$SRC")" RUNNING
}

@test "a string on the destination only is refused (exit 6); --force migrates" {
	double_only
	add_mdev "$SRC"
	add_mdev "$DST" --migration-version "mtty state v1"
	run migrate_pair
	assert_status 6
	assert_output_contains "destination $DST has migration_version \"mtty state v1\", source $SRC has none"
	assert_equal "$(arcs_of "$SRC")" ""
	run migrate_pair --force
	assert_moved
	assert_output_contains "warning: destination $DST"
}

@test "with two pairs, the second pair's strings are compared too" {
	double_only
	local src2=cccccccc-0000-0000-0000-000000000003 dst2=cccccccc-0000-0000-0000-000000000004
	add_mdev "$SRC" --migration-version v1
	add_mdev "$DST" --migration-version v1
	add_mdev "$src2" --migration-version v1
	add_mdev "$dst2" --migration-version v2
	run vfiomig migrate "$SRC" "$src2" --exec "$(receive_cmd "$DST" "$dst2")"
	assert_status 6
	assert_output_contains "device 1 ($src2)"
	assert_equal "$(arcs_of "$SRC")" ""
	assert_equal "$(arcs_of "$src2")" ""
}

@test "PCI functions whose migration_version strings differ are refused (exit 6)" {
	double_only
	"$FAKEDEV" add "$SYSROOT" --kind pci --name 0000:00:05.0 --flags 7 --knob trace=1 \
		--migration-version "fw 1.2"
	"$FAKEDEV" add "$SYSROOT" --kind pci --name 0000:00:06.0 --flags 7 --knob trace=1 \
		--migration-version "fw 1.3"
	run vfiomig migrate 0000:00:05.0 --exec "$(receive_cmd 0000:00:06.0)"
	assert_status 6
	assert_output_contains '"fw 1.2"'
	assert_output_contains '"fw 1.3"'
	assert_equal "$(arcs_of 0000:00:05.0)" ""
}

@test "migrate refuses a source whose migration_version is malformed, before connecting" {
	double_only
	add_mdev "$SRC"
	add_mdev "$DST"
	printf 'v1\tv2\n' >"$SYSROOT/sys/bus/mdev/devices/$SRC/migration_version"
	run vfiomig migrate "$SRC" --exec "echo 'the command ran' >&2" --force
	assert_status 6
	assert_output_contains "$SRC: /sys/bus/mdev/devices/$SRC/migration_version: byte 2 is 0x09"
	refute_output_contains "the command ran"
	assert_equal "$(arcs_of "$SRC")" ""
}

@test "receive refuses a device whose migration_version is malformed, before listening" {
	double_only
	add_mdev "$DST" --type-migration-version "$(printf 'x%.0s' {1..300})"
	run vfiomig receive "$DST" --listen 127.0.0.1:0 --insecure
	assert_status 6
	assert_output_contains "mdev_type/migration_version: 300 bytes long"
	refute_output_contains "listening on"
}

# receive --stdio reading a fake source from $OUT/peer; what it sends goes to $OUT/sent.
receive_from_file() { # DEVICE
	vfiomig receive "$1" --stdio <"$OUT/peer" >"$OUT/sent"
}

# Protocol breakage: bytes a fake peer sends. A HELLO is the 16-byte header
# (magic, type 1, flags 0, no device, length 16) and min, max, role, 0, devices 1.
hello() { # MIN MAX ROLE (one digit each)
	printf '\x89VMP\x01\x00\x00\x00\xff\xff\x00\x00\x10\x00\x00\x00'
	printf "\\x0$1\\x00\\x0$2\\x00\\x0$3\\x00\\x01\\x00"
	printf '\x00\x00\x00\x00\x00\x00\x00\x00'
}

@test "a destination that speaks no common protocol version: migrate exits 4, source RUNNING" {
	hello 3 3 2 >"$OUT/peer"
	run vfiomig migrate "$MTTY2_A" --exec "cat '$OUT/peer'; cat >/dev/null"
	assert_status 4
	assert_output_contains "no common protocol version"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "a version-1 destination, which ran its devices before the source knew, is refused (exit 4)" {
	hello 1 1 2 >"$OUT/peer"
	run vfiomig migrate "$MTTY2_A" --exec "cat '$OUT/peer'; cat >/dev/null"
	assert_status 4
	assert_output_contains "speaks 1..1, this side 2..2"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "a version-1 source is refused by receive (exit 4), device untouched" {
	hello 1 1 1 >"$OUT/peer"
	run receive_from_file "$MTTY2_B"
	assert_status 4
	assert_output_contains "no common protocol version"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "a source that speaks no common protocol version: receive exits 4, device untouched" {
	hello 3 4 1 >"$OUT/peer"
	run receive_from_file "$MTTY2_B"
	assert_status 4
	assert_output_contains "no common protocol version"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "a message type this vfiomig does not know: migrate exits 4" {
	{
		hello 2 2 2
		printf '\x89VMP\x63\x00\x00\x00\xff\xff\x00\x00\x00\x00\x00\x00'
	} >"$OUT/peer"
	run vfiomig migrate "$MTTY2_A" --exec "cat '$OUT/peer'; cat >/dev/null"
	assert_status 4
	assert_output_contains "unknown message type 99"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "a required message flag this vfiomig does not know: migrate exits 4" {
	{
		hello 2 2 2
		# a PING with flag bit 0, which version 2 leaves undefined
		printf '\x89VMP\x0b\x00\x01\x00\xff\xff\x00\x00\x08\x00\x00\x00'
		printf '\x00\x00\x00\x00\x00\x00\x00\x00'
	} >"$OUT/peer"
	run vfiomig migrate "$MTTY2_A" --exec "cat '$OUT/peer'; cat >/dev/null"
	assert_status 4
	assert_output_contains "unknown required flags 0x0001"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "a destination that prints text instead of protocol: migrate exits 5, source RUNNING" {
	run vfiomig migrate "$MTTY2_A" --exec "echo 'Welcome to dst'; cat >/dev/null"
	assert_status 5
	assert_output_contains 'the peer sent text "Welcome to dst"'
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "receive given bytes that are not protocol messages exits 5" {
	echo "hello there" >"$OUT/peer"
	run receive_from_file "$MTTY2_B"
	assert_status 5
	assert_output_contains "bad magic"
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "a source that stops in the middle of a message: receive exits 5" {
	hello 1 1 1 | head -c 20 >"$OUT/peer"
	run receive_from_file "$MTTY2_B"
	assert_status 5
	assert_output_contains "closed the connection after 20 of 32 bytes"
}
