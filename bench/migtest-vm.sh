#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Measures, inside the test VM on the real kernel, vfiomig save | vfiomig restore and
# migrate --exec of a vfio_migtest device's state (tests/kmod) against a raw copy of the same
# bytes from one device into the other (cat content > content, through the same kernel), in
# the same run, and prints the ratios. No assertion is made. Under TCG (no KVM) the figures
# are those of an emulated CPU: compare the ratios, not the times.
# Usage: bench/migtest-vm.sh [SIZE_MIB...] (default 64 256); VFIOMIG_VM_MEM is raised to hold
# three copies of the largest state (source, destination, the destination's resume buffer).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${*:-64 256}
largest=0
for s in $sizes; do
	case $s in '' | *[!0-9]*) echo "bench: sizes are whole MiB, got '$s'" >&2; exit 2 ;; esac
	((s > largest)) && largest=$s
done
make -s vfiomig
work=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

cat >"$work/guest.sh" <<EOF
#!/bin/bash
A=\$VFIOMIG_TEST_MIGTEST_A B=\$VFIOMIG_TEST_MIGTEST_B M=/sys/bus/mdev/devices
[ -n "\$A" ] || { echo "bench: no migtest devices in the guest"; exit 1; }
ms() { echo \$(( (\${EPOCHREALTIME/./} - \$1) / 1000 )); }
for size in $sizes; do
	echo \$((size << 20)) >\$M/\$A/migtest/size && echo \$((size << 20)) >\$M/\$B/migtest/size ||
		{ echo "bench: \$size MiB: no memory for the devices"; continue; }
	echo 1 >\$M/\$A/migtest/fill
	t=\${EPOCHREALTIME/./}; cat \$M/\$A/migtest/content >\$M/\$B/migtest/content; raw=\$(ms \$t)
	echo 2 >\$M/\$A/migtest/fill
	t=\${EPOCHREALTIME/./}; vfiomig -q save \$A --resume | vfiomig -q restore \$B; pipe=\$(ms \$t)
	same=\$([ "\$(cat \$M/\$A/migtest/checksum)" = "\$(cat \$M/\$B/migtest/checksum)" ] && echo yes || echo NO)
	echo 3 >\$M/\$A/migtest/fill
	t=\${EPOCHREALTIME/./}; vfiomig -q migrate \$A --exec "vfiomig -q receive \$B --stdio"; mig=\$(ms \$t)
	vfiomig -q state --reset \$A \$B
	echo "bench: \$size MiB raw=\$raw ms save|restore=\$pipe ms (same bytes: \$same) migrate=\$mig ms"
done
EOF
chmod +x "$work/guest.sh"

export VFIOMIG_VM_MEM=$((3 * largest + 768))M
VFIOMIG_VM_EXTRA_FILES="${VFIOMIG_VM_EXTRA_FILES:-} $work/guest.sh:/usr/local/bin/migtest-bench" \
	VFIOMIG_VM_APPEND="vfiomig.run=migtest-bench" \
	tests/vm/run.sh --mode=run --jobs 1 --verbose --timeout 1800 2>&1 >/dev/null |
	tr -d '\r' | sed -n 's/^bench: //p' | awk '
	/ raw=/ {
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] + 0 }
		printf "%s MiB: raw copy %d ms, save | restore %d ms (%.1fx), migrate --exec %d ms (%.1fx), %s\n",
			$1, v["raw"], v["save|restore"], v["save|restore"] / (v["raw"] ? v["raw"] : 1),
			v["migrate"], v["migrate"] / (v["raw"] ? v["raw"] : 1), $0 ~ /same bytes: yes/ ? "same bytes" : "BYTES DIFFER"
		next
	}
	{ print }'
