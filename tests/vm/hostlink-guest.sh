#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest half of tests/vm/run-hostlink.sh (run by /init via vfiomig.run=): brings up the NIC
# whose MAC is vfiomig.hostlink_mac= as 10.0.2.15/24 (QEMU user networking), then accepts two
# migrations from the host on 0.0.0.0:7070 with the PSK in /etc/vfiomig-hostlink.psk:
#   1. into mtty-2 B (the host sends a good key): report status, state and B's FIFO bytes;
#   2. into mtty-2 A (the host sends a wrong key): report status and A's state.
# Each step prints @@HOSTLINK-LISTENING-N@@ once the receiver listens and
# @@HOSTLINK-RESULT-N status=S state=ST fifo=BYTES@@ after it exits; the host drives the rest.
# Lines of the receivers' stderr are echoed as "hostlink-guest: ...".
set -u

PSK=/etc/vfiomig-hostlink.psk
PORT=7070
MTTY_UART=/repo/tests/tools/mtty-uart
B=${VFIOMIG_TEST_MTTY2_B:?} A=${VFIOMIG_TEST_MTTY2_A:?}

say() { echo "hostlink-guest: $*"; }

# Keep kernel messages off the console so that no marker line gets split.
dmesg -n 1

mac=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^vfiomig\.hostlink_mac=//p')
ifname=
for n in /sys/class/net/*; do
	[ "$(cat "$n/address" 2>/dev/null)" = "$mac" ] && ifname=${n##*/}
done
if [ -z "$ifname" ]; then
	say "no interface with MAC '$mac' ($(ls /sys/class/net | tr '\n' ' '))"
	echo "@@HOSTLINK-ERROR no-nic@@"
	exit 1
fi
ip link set "$ifname" up && ip addr add 10.0.2.15/24 dev "$ifname" || {
	echo "@@HOSTLINK-ERROR ip@@"
	exit 1
}
say "$ifname ($mac) is 10.0.2.15/24"

# receive_one N DEVICE: one receiver, reported with markers.
receive_one() {
	local n=$1 dev=$2 out=/tmp/recv-$1.out status state fifo accept=120
	# the second receiver only sees a wrong key, turns it away and waits on: not for long
	[[ $n == 2 ]] && accept=20
	vfiomig state "$dev" --reset >/dev/null 2>&1
	"$MTTY_UART" read "$dev" >/dev/null 2>&1
	timeout 300 vfiomig receive "$dev" --listen "0.0.0.0:$PORT" --psk-file "$PSK" --timeout 120 \
		--accept-timeout "$accept" \
		>"$out" 2>&1 &
	local pid=$!
	for _ in $(seq 300); do
		grep -q 'listening on' "$out" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if grep -q 'listening on' "$out"; then
		echo "@@HOSTLINK-LISTENING-$n@@"
	else
		echo "@@HOSTLINK-ERROR listen-$n@@"
	fi
	wait "$pid"
	status=$?
	sed 's/^/hostlink-guest: /' "$out"
	state=$(vfiomig state "$dev" 2>&1)
	fifo=$("$MTTY_UART" read "$dev" 2>&1 | tr -c 'A-Za-z0-9\n' '?')
	echo "@@HOSTLINK-RESULT-$n status=$status state=$state fifo=$fifo@@"
}

receive_one 1 "$B"
receive_one 2 "$A"
exit 0
