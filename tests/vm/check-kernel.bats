#!/usr/bin/env bats
# vfiomig check on the real thing: Linux 6.12's mtty sample and an e1000 on vfio-pci
# without migration. What mtty does here is what the double's defaults copy.

load '../bats/helper'

setup() {
	kernel_only
	common_setup
}

result_of() { # NAME: the RESULT column of check NAME in $output
	awk -v n="$1" '$1 == n { print $2; exit }' <<<"$output"
}

@test "kernel: check on mtty exits 0 warning of PRE_COPY's 0, a second DMA logging START and reports" {
	run vfiomig check "$MTTY2_A"
	assert_status 0
	assert_equal "$(grep -c ' WARN ' <<<"$output")" 3
	assert_equal "$(result_of precopy_end)" WARN
	assert_output_contains "read() gave 0 after 24 bytes"
	# mtty's log_start is a stub (0 for anything); no CONFIG_IOMMUFD_DRIVER: reports EOPNOTSUPP
	assert_equal "$(result_of dma_log_once)" WARN
	assert_equal "$(result_of dma_log_report)" WARN
	refute_output_contains " FAIL "
	for c in flags arcs paths refused get_after_fail fd_arcs precopy_same_fd precopy_info \
		stopcopy_end fd_invalidated size_estimate data_size precopy_info_v2 dma_log_start \
		dma_log_ranges dma_log_inactive dma_log_stop; do
		assert_equal "$c $(result_of "$c")" "$c PASS"
	done
	assert_equal "$(result_of roundtrip)" SKIP
	assert_equal "$(result_of recovery)" SKIP
	assert_output_contains "fails with ENODEV"
	assert_output_contains "estimate 96 bytes, STOP_COPY gave 96"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "kernel: check --json on mtty: 17 pass, 3 warn, 0 fail, 2 skip" {
	run vfiomig check "$MTTY2_A" --json
	assert_status 0
	json_is \
		'.summary | "\(.pass) \(.warn) \(.fail) \(.skip)"' "17 3 0 2" \
		.final_state RUNNING \
		.flags 7
}

@test "kernel: check --destructive --peer round-trips mtty-2 into the other mtty-2" {
	run vfiomig check "$MTTY2_A" --destructive --peer "$MTTY2_B"
	assert_status 0
	assert_equal "$(result_of roundtrip)" PASS
	assert_output_contains "96 bytes saved, restored into $MTTY2_B and saved again: identical"
	assert_equal "$(result_of recovery)" PASS
	assert_output_contains "refused 48 of 96 bytes (EINVAL), GET said RESUMING, reset gave RUNNING"
	assert_equal "$(result_of data_size)" PASS
	assert_output_contains "RESUMING (96 bytes)"
	assert_equal "$(grep -c ' WARN ' <<<"$output")" 3
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
	assert_equal "$(state_of "$MTTY2_B")" RUNNING
}

@test "kernel: check --destructive round-trips mtty into itself" {
	run vfiomig check "$MTTY2_A" --destructive --only roundtrip,recovery
	assert_status 0
	assert_output_contains "restored into itself and saved again: identical"
	assert_equal "$(state_of "$MTTY2_A")" RUNNING
}

@test "kernel: check on the e1000 under vfio-pci reports not migratable, exit 4" {
	run vfiomig check "$NOMIG"
	assert_status 4
	assert_output_contains "not migratable"
	refute_output_contains FAIL
}

@test "kernel: a full check leaves no kernel WARNING or BUG in dmesg" {
	command -v dmesg >/dev/null || skip "no dmesg in the guest"
	local before after
	before=$(dmesg | grep -cE 'WARNING:|BUG:|Oops' || true)
	run vfiomig check "$MTTY2_A" --destructive --peer "$MTTY2_B"
	assert_status 0
	after=$(dmesg | grep -cE 'WARNING:|BUG:|Oops' || true)
	assert_equal "$after" "$before"
}
