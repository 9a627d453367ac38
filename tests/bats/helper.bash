# SPDX-License-Identifier: GPL-2.0-or-later
# Common setup for the bats suites: the same tests run against the LD_PRELOAD test double
# (VFIOMIG_TEST_BACKEND=double, the default) and against a real kernel with mtty
# (VFIOMIG_TEST_BACKEND=kernel, inside the VM). Load with `load helper` and call
# `common_setup` from setup().

# The checkout, two levels above this file (no subshell: bats loads this file for every test).
REPO=${BASH_SOURCE[0]%/*}/../..
DOUBLE_DIR=$REPO/tests/double
FAKEDEV=$DOUBLE_DIR/fakedev
DOUBLE_LIB=${VFIOMIG_TEST_DOUBLE:-$DOUBLE_DIR/libvfio-double.so}
BACKEND=${VFIOMIG_TEST_BACKEND:-double}

# Fixed identities of the fake devices; the kernel back end gets its own from the runner.
DOUBLE_MTTY2_A=83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
DOUBLE_MTTY2_B=83b8f4f2-509f-382f-3c1e-e6bfe0fa1002
DOUBLE_MTTY1=83b8f4f2-509f-382f-3c1e-e6bfe0fa1003
DOUBLE_NOMIG=0000:00:03.0

# Build the standard fake root: two mtty-2, one mtty-1 (mdev, groups 0-2, vfio0-2) and an
# e1000 at 0000:00:03.0 on vfio-pci in no-IOMMU mode without migration (group
# noiommu-3, no cdev node), like the VM; mtty built in as there: module mtty with its
# MODULE_VERSION 0.1 and no srcversion.
# Extra arguments go to `fakedev init` (e.g. --no-cdev, --no-vfio).
make_fake_root() {
	local root=$1
	shift
	rm -rf "$root"
	"$FAKEDEV" init "$root" --noiommu "$@"
	"$FAKEDEV" module "$root" mtty --version 0.1
	mkdir -p "$root/sys/bus/mdev/drivers/mtty"
	ln -sfn ../../../../module/mtty "$root/sys/bus/mdev/drivers/mtty/module"
	"$FAKEDEV" add "$root" --kind mdev --name "$DOUBLE_MTTY2_A" --type mtty-2 --group 0
	"$FAKEDEV" add "$root" --kind mdev --name "$DOUBLE_MTTY2_B" --type mtty-2 --group 1
	"$FAKEDEV" add "$root" --kind mdev --name "$DOUBLE_MTTY1" --type mtty-1 --group 2
	# like the VM's e1000: vfio-pci in no-IOMMU mode, so no cdev node
	"$FAKEDEV" add "$root" --kind pci --name "$DOUBLE_NOMIG" --group 3 --driver vfio-pci --noiommu \
		--vendor 0x8086 --device 0x100e --subsystem-vendor 0x1af4 --subsystem-device 0x1100 \
		--class 0x020000 --revision 0x03 --flags none
}

common_setup() {
	# bats runs a DEBUG trap of ~20 commands before every command, inherited by every function
	# the test calls (functrace): over a quarter of the real-kernel suite's time under TCG. Off,
	# a failure still names the test file's line and its command; only the frames inside
	# helper functions go, and the helpers say what they expected.
	set +T
	case $BACKEND in
	double)
		VFIOMIG=${VFIOMIG_TEST_BIN:-$REPO/vfiomig}
		[[ -f $DOUBLE_LIB ]] || {
			echo "test double not built: $DOUBLE_LIB (make double)" >&2
			return 1
		}
		SYSROOT=$BATS_TEST_TMPDIR/root
		make_fake_root "$SYSROOT"
		MTTY2_A=$DOUBLE_MTTY2_A
		MTTY2_B=$DOUBLE_MTTY2_B
		MTTY1=$DOUBLE_MTTY1
		NOMIG=$DOUBLE_NOMIG
		;;
	kernel)
		VFIOMIG=${VFIOMIG_TEST_BIN:-$REPO/vfiomig}
		SYSROOT=
		MTTY2_A=${VFIOMIG_TEST_MTTY2_A:?VFIOMIG_TEST_MTTY2_A not set}
		MTTY2_B=${VFIOMIG_TEST_MTTY2_B:?VFIOMIG_TEST_MTTY2_B not set}
		MTTY1=${VFIOMIG_TEST_MTTY1:?VFIOMIG_TEST_MTTY1 not set}
		NOMIG=${VFIOMIG_TEST_NOMIG:?VFIOMIG_TEST_NOMIG not set}
		# mtty state survives close: start every test from RUNNING (one process: each
		# one costs ~40 ms in the TCG guest).
		"$VFIOMIG" -q state --reset "$MTTY2_A" "$MTTY2_B" "$MTTY1" >/dev/null 2>&1 || true
		;;
	*)
		echo "unknown VFIOMIG_TEST_BACKEND=$BACKEND" >&2
		return 1
		;;
	esac
	[[ -x $VFIOMIG ]] || {
		echo "vfiomig binary not found: $VFIOMIG (make)" >&2
		return 1
	}
	export VFIOMIG MTTY2_A MTTY2_B MTTY1 NOMIG SYSROOT
}

# Run the binary; on the double the fake root and the preload apply to it alone.
vfiomig() {
	if [[ $BACKEND == double ]]; then
		VFIOMIG_SYSROOT=$SYSROOT LD_PRELOAD=$DOUBLE_LIB "$VFIOMIG" "$@"
	else
		"$VFIOMIG" "$@"
	fi
}

# Start vfiomig in the background with its own pid in VFIOMIG_PID (no shell in between, so
# signals reach it). Bash ignores SIGINT in background jobs; use TERM or HUP to stop it.
vfiomig_bg() { # OUTFILE ARGS...
	local out=$1
	shift
	: >"$out"      # now: the child's own redirection comes later, and callers poll the file
	(
		if [[ $BACKEND == double ]]; then
			export VFIOMIG_SYSROOT=$SYSROOT LD_PRELOAD=$DOUBLE_LIB
		fi
		exec "$VFIOMIG" "$@"
	) >"$out" 2>&1 &
	VFIOMIG_PID=$!
}

# receive in the background: listens on 127.0.0.1:0 and sets PORT and RECV_PID once its
# "listening on ADDRESS:PORT" line is complete (up to 10 s).
start_receive() { # ARGS...
	vfiomig_bg "$BATS_TEST_TMPDIR/recv.out" receive --listen 127.0.0.1:0 "$@"
	RECV_PID=$VFIOMIG_PID
	local i alive=1 text re=$'listening on [^\n]*:([0-9]+)\n'
	for ((i = 0; i < 500 && alive; i++)); do
		kill -0 "$RECV_PID" 2>/dev/null || alive=0
		text=
		{ IFS= read -r -d '' text <"$BATS_TEST_TMPDIR/recv.out"; } 2>/dev/null || true
		if [[ $text =~ $re ]]; then
			PORT=${BASH_REMATCH[1]}
			return 0
		fi
		((alive)) && sleep 0.02
	done
	echo "receive did not say where it listens:" >&2
	cat "$BATS_TEST_TMPDIR/recv.out" >&2
	return 1
}

# Waits for the receiver started by start_receive, puts its status in RECV_STATUS
# and prints what it said.
finish_receive() {
	RECV_STATUS=0
	wait "$RECV_PID" || RECV_STATUS=$?
	cat "$BATS_TEST_TMPDIR/recv.out"
}

# Wait (up to 10 s) until FILE contains TEXT; with PID, give up as soon as that process has
# exited without writing it. Read with builtins: under TCG every process start costs
# milliseconds, and the waited-for process may share the one CPU.
wait_for_text() { # FILE TEXT [PID]
	local i alive=1 text
	for ((i = 0; i < 500 && alive; i++)); do
		[[ -z ${3:-} ]] || kill -0 "$3" 2>/dev/null || alive=0
		text=
		{ IFS= read -r -d '' text <"$1"; } 2>/dev/null || true
		[[ $text == *"$2"* ]] && return 0
		((alive)) && sleep 0.02
	done
	echo "gave up waiting for '$2' in $1:" >&2
	cat "$1" >&2
	return 1
}

double_only() {
	[[ $BACKEND == double ]] || skip "${1:-needs the test double}"
}

kernel_only() {
	[[ $BACKEND == kernel ]] || skip "${1:-needs a real kernel}"
}

# Set a knob of the double on a device (double_only tests).
knob() { # DEVICE NAME=VALUE
	"$FAKEDEV" knob "$SYSROOT" "$1" "$2"
}

# The double's record of a device's state, read without opening the device.
double_state() {
	"$FAKEDEV" state "$SYSROOT" "$1"
}

# Assertions, kept small so the suites do not need bats-assert.
assert_status() { # EXPECTED
	if [[ $status -ne $1 ]]; then
		echo "expected exit status $1, got $status; output:" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
}

assert_output_contains() { # TEXT
	if [[ $output != *"$1"* ]]; then
		echo "expected output to contain: $1" >&2
		echo "actual output:" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
}

refute_output_contains() { # TEXT
	if [[ $output == *"$1"* ]]; then
		echo "expected output not to contain: $1" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
}

assert_equal() { # ACTUAL EXPECTED
	if [[ $1 != "$2" ]]; then
		echo "expected: $2" >&2
		echo "actual:   $1" >&2
		return 1
	fi
}

# jq over $output; fails if the output is not JSON.
json() { # FILTER
	jq -e -r "$1" <<<"$output"
}

# Several jq filters over $output, each compared with its expected text, in one jq run (jq
# 1.6 takes ~0.5 s to start under TCG; the guest's jq is gojq, but one process still beats
# several). A filter's results are joined by newlines, strings raw and other values as JSON,
# as `json` prints them; `json_is 'EXPR' true` asserts EXPR.
json_is() { # FILTER EXPECTED [FILTER EXPECTED]...
	if (($# < 2 || $# % 2)); then
		echo "json_is: wants FILTER EXPECTED pairs, got $# arguments" >&2
		return 2
	fi
	local args=("$@") prog='' text got=() i bad=0
	for ((i = 0; i < $#; i += 2)); do
		prog+="${prog:+, }([${args[i]}] | map(if type == \"string\" then . else tojson end)"
		prog+=" | join(\"\\n\")), \"\\u001e\""
	done
	if ! text=$(jq -j "$prog" <<<"$output"); then
		echo "json_is: jq failed on the output (not JSON, or a bad filter):" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
	mapfile -d $'\x1e' -t got < <(printf '%s' "$text")
	for ((i = 0; i < $#; i += 2)); do
		if [[ ${got[i / 2]-} != "${args[i + 1]}" ]]; then
			printf 'json_is: %s\n  expected: %s\n  actual:   %s\n' "${args[i]}" "${args[i + 1]}" \
				"${got[i / 2]-}" >&2
			bad=1
		fi
	done
	if ((bad)); then
		echo "output:" >&2
		printf '%s\n' "$output" >&2
	fi
	return "$bad"
}

# Current state as vfiomig reports it.
state_of() { # DEVICE
	vfiomig state "$1" 2>/dev/null
}

# Waits (up to 30 s) for background PID to end and puts its exit status in the
# variable NAME; one that still runs is killed and fails the test (it ignored a
# signal, a fault or its own timeout: a hang).
reap() { # PID NAME
	local i s=0
	for ((i = 0; i < 1500; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.02
	done
	if kill -0 "$1" 2>/dev/null; then
		echo "process $1 ($2) still runs after 30 s: a hang" >&2
		kill -KILL "$1" 2>/dev/null || true
		wait "$1" || true
		return 1
	fi
	wait "$1" || s=$?
	printf -v "$2" %d "$s"
}
