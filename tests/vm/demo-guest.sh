#!/bin/bash
# Guest side of `make demo` (tests/vm/demo.sh): vfiomig on live mtty devices, as a transcript.
A=$VFIOMIG_TEST_MTTY2_A
B=$VFIOMIG_TEST_MTTY2_B
NOMIG=$VFIOMIG_TEST_NOMIG
export PATH=/repo:/repo/tests/tools:$PATH

# show COMMAND...: prints the command line as typed, runs it, shows a non-zero exit status.
show() {
	local arg line=
	for arg in "$@"; do
		case $arg in *[[:space:]]*) line+=" '$arg'" ;; *) line+=" $arg" ;; esac
	done
	printf '\n$%s\n' "$line"
	"$@"
	local status=$?
	[ "$status" = 0 ] || echo "[exit status $status]"
	return 0
}

say() {
	printf '\n# %s\n' "$*"
}

say "Linux $(uname -r), two mtty-2 mdevs ($A, $B) and an e1000 on vfio-pci ($NOMIG)"
show vfiomig list
show vfiomig info "$A"
say "The e1000 has no migration support: info still describes it, and exits 4"
show vfiomig info "$NOMIG"

say "Stop the device: the kernel walks through RUNNING_P2P; mtty keeps the state after vfiomig exits"
show vfiomig state "$A" stop
show vfiomig state "$A"
show vfiomig state "$A" running
show vfiomig state "$A"

say "Bytes written to the UART of $A wait in its loopback FIFO"
show mtty-uart write "$A" "hello from A"
show mtty-uart lsr "$A"

if vfiomig --help 2>&1 | grep -qw save && vfiomig --help 2>&1 | grep -qw restore; then
	say "Migrate $A into $B: save the source's state, restore it on the destination"
	show vfiomig state "$A" stop
	show sh -c "vfiomig save '$A' >/tmp/a.state"
	show ls -l /tmp/a.state
	show sh -c "vfiomig restore '$B' </tmp/a.state"
	show vfiomig state "$A" running
	say "The bytes written into $A come out of $B"
	printf '\n$ mtty-uart read %s\n' "$B"
	out=$(mtty-uart read "$B")
	printf '%s\n' "$out"
	mtty-uart read "$A" >/dev/null
	[ "$out" = "hello from A" ] || { echo "demo: expected 'hello from A' from $B"; exit 1; }

	say "Live: migrate $A, running, into $B over TLS 1.3 with a pre-shared key"
	show sh -c "umask 077; head -c 32 /dev/urandom >/tmp/psk"
	show ls -l /tmp/psk
	show mtty-uart write "$A" "live from A"
	printf '\n$ vfiomig receive %s --listen 127.0.0.1:0 --psk-file /tmp/psk &\n' "$B"
	vfiomig receive "$B" --listen 127.0.0.1:0 --psk-file /tmp/psk >/tmp/recv.log 2>&1 &
	recv=$!
	port=
	for _ in $(seq 250); do
		port=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\)$/\1/p' /tmp/recv.log)
		[ -n "$port" ] && break
		sleep 0.02
	done
	cat /tmp/recv.log
	[ -n "$port" ] || { echo "demo: receive did not say where it listens"; exit 1; }
	show vfiomig migrate "$A" --to "127.0.0.1:$port" --psk-file /tmp/psk --no-progress \
		--events /tmp/migrate.ev
	wait "$recv" || echo "[receive exit status $?]"
	sed 1d /tmp/recv.log
	say "Every state change, as --events wrote it for an orchestrator"
	show jq -r 'select(.event == "state") | "\(.device) \(.from) -> \(.to)"' /tmp/migrate.ev
	show vfiomig state "$A"
	show vfiomig state "$B"
	printf '\n$ mtty-uart read %s\n' "$B"
	out=$(mtty-uart read "$B")
	printf '%s\n' "$out"
	[ "$out" = "live from A" ] || { echo "demo: expected 'live from A' from $B"; exit 1; }
else
	say "This vfiomig has no save/restore yet; the bytes come back out of $A itself"
	printf '\n$ mtty-uart read %s\n' "$A"
	mtty-uart read "$A"
	echo
fi
