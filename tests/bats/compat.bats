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

# The build identity: driver module, kernel release, a VF's PF driver and firmware, and
# the --compat policy that decides which differences refuse (exit 6) and which warn.

PF=0000:00:10.0
VF_A=0000:00:10.1
VF_B=0000:00:10.2

# A PF on a host driver with firmware in sysfs, and two VFs on a variant driver of
# their own module (double only).
add_vfs() {
	"$FAKEDEV" add "$SYSROOT" --kind pci --name "$PF" --driver mlx5_core --module mlx5_core \
		--module-version 1.0 --srcversion PFSRC1 --attr infiniband/mlx5_0/fw_ver=16.35.2000
	local vf
	for vf in "$VF_A" "$VF_B"; do
		"$FAKEDEV" add "$SYSROOT" --kind pci --name "$vf" --flags 7 --physfn "$PF" \
			--driver mlx5_vfio_pci --module mlx5_vfio_pci --module-version 0.1 \
			--srcversion VFSRC1 --knob trace=1
	done
}

# Changes one build field of ROOT's host, as another host (or an update) would have it.
change_field() { # ROOT FIELD
	local root=$1
	case $2 in
	module) # the variant driver now comes from another module
		"$FAKEDEV" module "$root" mlx5_vfio_pci_ng --version 0.1 --srcversion VFSRC1
		ln -sfn ../../../../module/mlx5_vfio_pci_ng \
			"$root/sys/bus/pci/drivers/mlx5_vfio_pci/module" ;;
	module_version) "$FAKEDEV" module "$root" mlx5_vfio_pci --version 0.2 ;;
	srcversion) "$FAKEDEV" module "$root" mlx5_vfio_pci --srcversion VFSRC2 ;;
	kernel_release) "$FAKEDEV" kernel "$root" 6.13.0-double ;;
	pf_driver)
		mkdir -p "$root/sys/bus/pci/drivers/mlx5_core_ng"
		ln -sfn ../../../bus/pci/drivers/mlx5_core_ng "$root/sys/devices/pci0000:00/$PF/driver" ;;
	pf_module_version) "$FAKEDEV" module "$root" mlx5_core --version 1.1 ;;
	pf_srcversion) "$FAKEDEV" module "$root" mlx5_core --srcversion PFSRC2 ;;
	pf_firmware) echo 16.36.1000 >"$root/sys/devices/pci0000:00/$PF/infiniband/mlx5_0/fw_ver" ;;
	*) echo "change_field: unknown field $2" >&2; return 1 ;;
	esac
}

# Saves VF_A, changes FIELD, then restores into VF_B under each policy: the policies in
# REFUSING exit 6 naming the field, both values and the option that relaxes it; the
# others restore with a warning that names the field.
restore_outcomes() { # FIELD LABEL OLD NEW RELAX REFUSING...
	local field=$1 label=$2 old=$3 new=$4 relax=$5 policy
	shift 5
	add_vfs
	vfiomig save "$VF_A" -o "$OUT/a.vfm"
	change_field "$SYSROOT" "$field"
	for policy in strict driver ids; do
		run vfiomig restore "$VF_B" -i "$OUT/a.vfm" --compat "$policy"
		if [[ " $* " == *" $policy "* ]]; then
			assert_status 6
			assert_output_contains "refusing the stream: $label differs: the stream has \"$old\", this device has \"$new\" (--compat $policy refuses it)"
			assert_output_contains "$relax"
			assert_equal "$(state_of "$VF_B")" RUNNING
		else
			assert_status 0
			assert_output_contains "warning: $label differs: the stream has \"$old\", this device has \"$new\" (--compat $policy lets it pass)"
		fi
	done
	# no --compat is --compat driver
	run vfiomig restore "$VF_B" -i "$OUT/a.vfm"
	if [[ " $* " == *" driver "* ]]; then assert_status 6; else assert_status 0; fi
}

@test "info shows the driver module, its version and srcversion, the kernel and the PF" {
	double_only
	add_vfs
	run vfiomig info "$VF_A"
	assert_status 0
	assert_output_contains "module:       mlx5_vfio_pci  version 0.1  srcversion VFSRC1"
	assert_output_contains "kernel:       6.12.0-double"
	assert_output_contains "pf driver:    mlx5_core  version 1.0  srcversion PFSRC1"
	assert_output_contains "pf firmware:  16.35.2000 (infiniband/mlx5_0/fw_ver)"
	run vfiomig info "$VF_A" --json
	assert_status 0
	assert_equal "$(jq -c .build <<<"$output")" \
		'{"module":"mlx5_vfio_pci","module_version":"0.1","srcversion":"VFSRC1","kernel_release":"6.12.0-double","pf":{"device":"0000:00:10.0","driver":"mlx5_core","module_version":"1.0","srcversion":"PFSRC1","firmware":"16.35.2000","firmware_source":"infiniband/mlx5_0/fw_ver"}}'
}

@test "info says when the driver is built in and the PF exposes no firmware version" {
	double_only
	"$FAKEDEV" add "$SYSROOT" --kind pci --name "$PF" --driver ice
	"$FAKEDEV" add "$SYSROOT" --kind pci --name "$VF_A" --flags 7 --physfn "$PF"
	run vfiomig info "$VF_A"
	assert_status 0
	assert_output_contains "module:       none (built in, no /sys/module entry)"
	assert_output_contains "pf driver:    ice  version none  srcversion none"
	assert_output_contains "pf firmware:  not exposed"
	run vfiomig info "$VF_A" --json
	assert_equal "$(jq -c '[.build.module, .build.pf.firmware]' <<<"$output")" '[null,null]'
	run vfiomig info "$MTTY2_A" --json
	assert_equal "$(jq -c .build.pf <<<"$output")" null
}

@test "an NVMe PF's firmware_rev is its firmware version" {
	double_only
	"$FAKEDEV" add "$SYSROOT" --kind pci --name "$PF" --driver nvme \
		--attr nvme/nvme0/firmware_rev=1.2.3
	"$FAKEDEV" add "$SYSROOT" --kind pci --name "$VF_A" --flags 7 --physfn "$PF"
	run vfiomig info "$VF_A" --json
	assert_equal "$(json .build.pf.firmware_source)" nvme/nvme0/firmware_rev
	assert_equal "$(json .build.pf.firmware)" 1.2.3
}

@test "inspect shows the build identity a stream records, human and --json" {
	double_only
	add_vfs
	vfiomig save "$VF_A" -o "$OUT/a.vfm"
	run vfiomig inspect "$OUT/a.vfm"
	assert_status 0
	assert_output_contains "format:       1.1"
	assert_output_contains "module:       mlx5_vfio_pci  version 0.1  srcversion VFSRC1"
	assert_output_contains "kernel:       6.12.0-double"
	assert_output_contains "pf driver:    mlx5_core  version 1.0  srcversion PFSRC1"
	assert_output_contains "pf firmware:  16.35.2000"
	run vfiomig inspect --json "$OUT/a.vfm"
	assert_equal "$(jq -c .header.device.build <<<"$output")" \
		'{"recorded":true,"module":"mlx5_vfio_pci","module_version":"0.1","srcversion":"VFSRC1","kernel_release":"6.12.0-double","pf":{"driver":"mlx5_core","module_version":"1.0","srcversion":"PFSRC1","firmware":"16.35.2000"}}'
}

@test "a different driver module refuses under strict and driver, warns under ids" {
	double_only
	restore_outcomes module "driver module" mlx5_vfio_pci mlx5_vfio_pci_ng "--compat ids" strict driver
}

@test "a different module version refuses under strict and driver, warns under ids" {
	double_only
	restore_outcomes module_version "module version" 0.1 0.2 "--compat ids" strict driver
}

@test "a different module srcversion refuses under strict and driver, warns under ids" {
	double_only
	restore_outcomes srcversion "module srcversion" VFSRC1 VFSRC2 "--compat ids" strict driver
}

@test "a different PF driver refuses under strict and driver, warns under ids" {
	double_only
	restore_outcomes pf_driver "PF driver" mlx5_core mlx5_core_ng "--compat ids" strict driver
}

@test "a different PF module version refuses under strict and driver, warns under ids" {
	double_only
	restore_outcomes pf_module_version "PF module version" 1.0 1.1 "--compat ids" strict driver
}

@test "a different PF module srcversion refuses under strict and driver, warns under ids" {
	double_only
	restore_outcomes pf_srcversion "PF module srcversion" PFSRC1 PFSRC2 "--compat ids" strict driver
}

@test "a different PF firmware refuses under strict and driver, warns under ids" {
	double_only
	restore_outcomes pf_firmware "PF firmware" 16.35.2000 16.36.1000 "--compat ids" strict driver
}

@test "a different kernel release refuses only under strict, warns under driver and ids" {
	double_only
	restore_outcomes kernel_release "kernel release" 6.12.0-double 6.13.0-double \
		"--compat driver" strict
}

@test "a version on one side only is a difference: none against a value" {
	double_only
	add_vfs
	"$FAKEDEV" module "$SYSROOT" mlx5_vfio_pci --no-version
	vfiomig save "$VF_A" -o "$OUT/a.vfm"
	"$FAKEDEV" module "$SYSROOT" mlx5_vfio_pci --version 0.1
	run vfiomig restore "$VF_B" -i "$OUT/a.vfm"
	assert_status 6
	assert_output_contains 'module version differs: the stream has "none", this device has "0.1"'
}

@test "restore --force restores despite a refused build difference, with a warning" {
	double_only
	add_vfs
	vfiomig save "$VF_A" -o "$OUT/a.vfm"
	change_field "$SYSROOT" srcversion
	run vfiomig restore "$VF_B" -i "$OUT/a.vfm" --compat strict --force
	assert_status 0
	assert_output_contains 'warning: module srcversion differs'
	assert_output_contains 'restoring anyway (--force)'
}

@test "equal build identities restore under --compat strict without a warning" {
	double_only
	add_vfs
	vfiomig save "$VF_A" -o "$OUT/a.vfm"
	run vfiomig restore "$VF_B" -i "$OUT/a.vfm" --compat strict
	assert_status 0
	refute_output_contains warning
}

@test "--compat takes strict, driver or ids only" {
	run vfiomig restore "$MTTY2_B" -i /dev/null --compat loose
	assert_status 2
	assert_output_contains "--compat takes strict, driver or ids, not 'loose'"
	run vfiomig migrate "$MTTY2_A" --exec true --compat ""
	assert_status 2
	run vfiomig receive "$MTTY2_B" --stdio --compat STRICT
	assert_status 2
}

# A copy of the fake root as the destination host: the same devices, its own kernel,
# modules and firmware (double only).
DST_ROOT=
dest_root() {
	DST_ROOT=$BATS_TEST_TMPDIR/dstroot
	cp -a "$SYSROOT" "$DST_ROOT"
}

# The receive command on the destination host; extra arguments go to receive.
receive_on_dest() { # DEVICE [ARGS...]
	echo "env VFIOMIG_SYSROOT=$DST_ROOT LD_PRELOAD=$DOUBLE_LIB $VFIOMIG receive $* --stdio; echo \"receive exited \$?\" >&2"
}

@test "migrate to a host with another kernel: warnings by default, exit 6 on both sides under strict" {
	double_only
	add_vfs
	dest_root
	change_field "$DST_ROOT" kernel_release
	run vfiomig migrate "$VF_A" --exec "$(receive_on_dest "$VF_B")"
	assert_status 0
	assert_output_contains "receive exited 0"
	assert_output_contains 'warning: kernel release differs: source 0000:00:10.1 has "6.12.0-double", destination 0000:00:10.2 has "6.13.0-double" (--compat driver lets it pass)'
	assert_output_contains 'warning: kernel release differs: the source has "6.12.0-double", this device has "6.13.0-double"'
	vfiomig state "$VF_A" running
	: >"$SYSROOT/double/$VF_A/arcs"
	SYSROOT=$DST_ROOT start_receive "$VF_B" --insecure
	run vfiomig migrate "$VF_A" --compat strict --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 6
	assert_equal "$RECV_STATUS" 6
	assert_output_contains '(--compat strict refuses it)'
	assert_output_contains '--compat driver to only warn about it'
	assert_equal "$(arcs_of "$VF_A")" ""
	assert_equal "$(state_of "$VF_A")" RUNNING
}

@test "a destination under --compat strict refuses the source's START (exit 6 on both sides)" {
	double_only
	add_vfs
	dest_root
	change_field "$DST_ROOT" kernel_release
	SYSROOT=$DST_ROOT start_receive "$VF_B" --insecure --compat strict
	run vfiomig migrate "$VF_A" --to "127.0.0.1:$PORT" --insecure
	finish_receive
	assert_status 6
	assert_equal "$RECV_STATUS" 6
	assert_output_contains 'refusing the stream: kernel release differs: the source has "6.12.0-double", this device has "6.13.0-double" (--compat strict refuses it)'
	assert_equal "$(arcs_of "$VF_A")" ""
	assert_equal "$(state_of "$VF_A")" RUNNING
	assert_equal "$(SYSROOT=$DST_ROOT state_of "$VF_B")" RUNNING
}

@test "migrate refuses a PF firmware difference by default before any arc; --compat ids warns" {
	double_only
	add_vfs
	dest_root
	change_field "$DST_ROOT" pf_firmware
	run vfiomig migrate "$VF_A" --exec "$(receive_on_dest "$VF_B")"
	assert_status 6
	assert_output_contains 'PF firmware differs: source 0000:00:10.1 has "16.35.2000", destination 0000:00:10.2 has "16.36.1000" (--compat driver refuses it)'
	assert_output_contains "--compat ids"
	assert_equal "$(arcs_of "$VF_A")" ""
	run vfiomig migrate "$VF_A" --compat ids --exec "$(receive_on_dest "$VF_B" --compat ids)"
	assert_status 0
	assert_output_contains "receive exited 0"
	assert_output_contains 'warning: PF firmware differs'
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
