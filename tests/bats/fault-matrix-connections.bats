#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# At most one running copy, under any fault, for several devices over several
# connections: `migrate DEV... --to HOST:PORT --connections 3` (TLS with a key file,
# one row over --insecure) into `receive --listen`, with a signal sent to one side as
# soon as its events file (--events, vfiomig(1) EVENTS) shows the phase: during
# pre-copy, during stop-copy, while the destination loads, between LOADED and RUN,
# after RUN before COMMIT, after COMMIT; SIGINT, SIGTERM, SIGKILL to migrate; SIGTERM,
# SIGKILL to receive; or every connection of the migration cut at once, as a network
# that goes away (`ss -K`: the kernel ends the sockets of both sides). Where the fault
# lands inside the phase is left to chance: the rule must hold at any moment.
#
# Afterwards, per pair, never both devices run the state, and the rule of
# fault-matrix.bats holds; across the devices the migration is all or nothing: either
# no destination runs the state, or every one does and no source runs (a mix is a VM
# split between two hosts). Exit 0 means every destination runs; exit 8 (outcome
# unknown) leaves every source stopped, and only after RUN went out; before RUN every
# source runs again (unless migrate itself was SIGKILLed).

load helper
load pairs

PAIRS_PREFIX=fa17c033

setup() {
	double_only "several connections, the double's state traces"
	common_setup
	OUT=$BATS_TEST_TMPDIR
	(umask 077; head -c 32 /dev/urandom >"$OUT/psk")
	SRC=() DST=() MIG_PID='' RECV_PID=''
}

teardown() {
	local p
	for p in "$MIG_PID" "$RECV_PID"; do
		[[ -z $p ]] || kill -KILL "$p" 2>/dev/null || true
	done
}

# Where each phase shows: the events file (src or dst) and a regex for its line. Pre-copy
# begins when the source's devices enter PRE_COPY; stop-copy is under way once the
# destination heard SWITCHOVER, which the source sends after every device went to
# STOP_COPY. The destination loads its devices one by one after the last trailer, before
# LOADED: the first one loaded shows that. The later phases are watched on the side that
# gets the signal: each side's line comes right before it acts (a source's run before it
# sends RUN, a destination's commit before it sends COMMIT).
phase_line() { # PHASE SIDE
	case $1 in
	precopy) echo 'src "to":"PRE_COPY"' ;;
	stopcopy) echo 'dst "phase":"switchover"' ;;
	loading) echo 'dst "from":"RESUMING","to":"STOP"' ;;
	loaded) echo "$2 \"phase\":\"loaded\"" ;;
	run) echo "$2 \"phase\":\"run\"" ;;
	commit) echo "$2 \"phase\":\"commit\"" ;;
	esac
}

# Waits (up to 20 s) for a line matching REGEX in FILE; fails when it never comes (the
# phase was not reached), also as soon as both sides exited without it.
await_event() { # FILE REGEX
	local i text gone=0
	for ((i = 0; i < 2000; i++)); do
		text=
		{ IFS= read -r -d '' text <"$1"; } 2>/dev/null || true
		[[ $text =~ $2 ]] && return 0
		((gone)) && break
		kill -0 "$MIG_PID" 2>/dev/null || kill -0 "$RECV_PID" 2>/dev/null || gone=1
		((gone)) || sleep 0.01
	done
	echo "phase not reached: no line matching $2 in $1" >&2
	return 1
}

# Migrates N pairs over --connections 3 (SECURITY: psk or insecure) with FAULT sent as
# soon as PHASE shows, then checks the rule.
fault_case() { # PHASE FAULT [N [SECURITY]]
	local n=${3:-2} sec=() side sig target
	case ${4:-psk} in
	psk) sec=(--psk-file "$OUT/psk") ;;
	insecure) sec=(--insecure) ;;
	esac
	# 4 MiB each, half of it in pre-copy; slow reads make pre-copy and stop-copy last
	# about 0.3 s each, long enough to be hit. Slow drivers stretch the end: each
	# destination device takes 0.15 s to load (before LOADED) and 0.1 s to run (after
	# RUN, before COMMIT), each source device 0.1 s to stop after COMMIT.
	pairs "$n" $((4 << 20)) $((2 << 20))
	local d
	for d in "${SRC[@]}" "${DST[@]}"; do
		knob "$d" trace=1
	done
	for d in "${SRC[@]}"; do
		knob "$d" delay_ms=80
		knob "$d" "arc_delay_ms=STOP_COPY>STOP 100"
	done
	for d in "${DST[@]}"; do
		knob "$d" "arc_delay_ms=RESUMING>STOP 150"
		knob "$d" "arc_delay_ms+=RUNNING_P2P>RUNNING 100"
	done
	sig=${2%-*} target=${2#*-}
	side=src
	[[ $target == receive ]] && side=dst
	[[ $2 == cut ]] && target=network
	start_receive "${DST[@]}" "${sec[@]}" -v --timeout 3 --events "$OUT/dst.events"
	vfiomig_bg "$OUT/mig.out" migrate "${SRC[@]}" --to "127.0.0.1:$PORT" "${sec[@]}" \
		--connections 3 -v --timeout 3 --events "$OUT/src.events"
	MIG_PID=$VFIOMIG_PID
	local where file regex reached=1
	where=$(phase_line "$1" "$side")
	file=$OUT/${where%% *}.events regex=${where#* }
	if await_event "$file" "$regex"; then
		if [[ $target == network ]]; then
			cut_connections || reached=0
		elif [[ $target == migrate ]]; then
			kill -"$sig" "$MIG_PID" 2>/dev/null || echo "migrate had already exited"
		else
			kill -"$sig" "$RECV_PID" 2>/dev/null || echo "receive had already exited"
		fi
	else
		reached=0
	fi
	MIG_STATUS='' RECV_STATUS=''
	local hung=0
	reap "$MIG_PID" MIG_STATUS || hung=1
	reap "$RECV_PID" RECV_STATUS || hung=1
	MIG_PID='' RECV_PID=''
	show_context
	((reached && !hung)) || return 1
	check_rule "$2"
}

# Every TCP connection to or from the receiver's port ends now, on both sides: the
# kernel destroys the sockets (ss -K, SOCK_DESTROY), so each side's next read or write
# fails as if the network had gone. Fails when the kernel cannot (no
# CONFIG_INET_DIAG_DESTROY): a cut that did not happen must not pass for one.
cut_connections() {
	local filter="( sport = :$PORT or dport = :$PORT )" left
	ss -K -tn state established "$filter" >"$OUT/cut.log" 2>&1
	left=$(ss -Htn state established "$filter")
	echo "--- cut: $(grep -c . "$OUT/cut.log") lines from ss -K; still established: ${left:-none}"
	if [[ -n $left ]] && ! grep -q . "$OUT/cut.log"; then
		echo "ss -K cut nothing: this kernel cannot destroy sockets (CONFIG_INET_DIAG_DESTROY)" >&2
		return 1
	fi
}

show_context() {
	local d
	echo "--- migrate ($MIG_STATUS):"; cat "$OUT/mig.out"
	echo "--- receive ($RECV_STATUS):"; cat "$OUT/recv.out"
	echo "--- source events:"; cat "$OUT/src.events" 2>/dev/null
	echo "--- destination events:"; cat "$OUT/dst.events" 2>/dev/null
	for d in "${SRC[@]}" "${DST[@]}"; do
		echo "--- $d: $(double_state "$d"), arcs:"
		cat "$SYSROOT/double/$d/arcs" 2>/dev/null
	done
}

# The rule over the double's own record of every device, and the events of both sides.
check_rule() { # FAULT
	local i n=${#SRC[@]} src dst last bad=0 ran=0 running=0 run_sent=0
	local src_running=() dst_ran=()
	grep -q '"phase":"run"' "$OUT/src.events" "$OUT/dst.events" && run_sent=1
	for ((i = 0; i < n; i++)); do
		src=$(double_state "${SRC[i]}")
		dst=$(double_state "${DST[i]}")
		last=$(tail -n 1 "$SYSROOT/double/${DST[i]}/arcs" 2>/dev/null) || last=
		# a source runs in RUNNING and in PRE_COPY (the device runs while it is copied)
		src_running[i]=0 dst_ran[i]=0
		[[ $src == RUNNING* || $src == PRE_COPY* ]] && src_running[i]=1
		# the destination runs the state: it ended RUNNING by a state change, not a reset
		[[ $dst == RUNNING && $last == *">RUNNING" && $last != RESET* ]] && dst_ran[i]=1
		running=$((running + src_running[i])) ran=$((ran + dst_ran[i]))
		echo "pair $i: source $src, destination $dst (last arc $last)" >&2
		if ((src_running[i] && dst_ran[i])); then
			echo "pair $i: both devices run the state" >&2
			bad=1
		fi
		if ((dst_ran[i])) && [[ -e $SYSROOT/double/${DST[i]}/mismatch ]]; then
			echo "pair $i: the destination runs a state that differs from the source's" >&2
			bad=1
		fi
		# Before RUN the destination provably does not run: the source must run again
		# (unless the source itself was SIGKILLed: nobody is left to resume it).
		if ((!run_sent)) && [[ $1 != KILL-migrate && $src != RUNNING ]]; then
			echo "pair $i: no RUN was sent, yet the source is $src" >&2
			bad=1
		fi
	done
	echo "$running of $n sources run, $ran of $n destinations run the state;" \
		"migrate exit $MIG_STATUS, receive exit $RECV_STATUS, RUN sent: $run_sent" >&2
	# under ASan and UBSan (tests/check.sh), a report fails the case whatever the exit
	if grep -q "Sanitizer\|runtime error:" "$OUT/mig.out" "$OUT/recv.out"; then
		echo "a sanitizer reported an error (see the outputs above)" >&2
		bad=1
	fi
	# all or nothing across the devices
	if ((running && ran)); then
		echo "split: $running sources and $ran destinations run" >&2
		bad=1
	fi
	# Only a SIGKILL to receive between two devices' STOP>RUNNING can leave some of the
	# destinations running: nothing is left to finish, and migrate says it does not know
	# (exit 8, checked below). Any other partial outcome is a split VM.
	if ((ran && ran < n)) && [[ ! ($1 == KILL-receive && $MIG_STATUS == 8) ]]; then
		echo "split: only $ran of $n destinations run" >&2
		bad=1
	fi
	# ... and there the devices go together: migrate's advice must not have the operator
	# resume a source whose own destination does not run while another one does
	if ((MIG_STATUS == 8 && n > 1)) &&
		! grep -q "none of its $n devices is running, resume this one" "$OUT/mig.out"; then
		echo "exit 8: the advice to resume a source does not wait for all $n destinations" >&2
		bad=1
	fi
	if ((MIG_STATUS == 0 && ran < n)); then
		echo "migrate exit 0 but only $ran of $n destinations run" >&2
		bad=1
	fi
	if ((RECV_STATUS == 0 && ran < n)); then
		echo "receive exit 0 but only $ran of $n destinations run" >&2
		bad=1
	fi
	if ((MIG_STATUS == 8)); then
		((!running)) || { echo "exit 8 with $running sources running" >&2; bad=1; }
		((run_sent)) || { echo "exit 8 (unknown) though the source never sent RUN" >&2; bad=1; }
	fi
	if ((!run_sent)) && [[ $1 != KILL-migrate ]] && ((MIG_STATUS == 0 || MIG_STATUS == 8)); then
		echo "no RUN was sent, yet migrate exited $MIG_STATUS" >&2
		bad=1
	fi
	# Nobody runs: the source must not claim anything but "unknown".
	if ((!ran && !running)) && [[ $1 != KILL-migrate ]] && ((MIG_STATUS != 8)); then
		echo "nothing runs, and migrate exited $MIG_STATUS instead of 8" >&2
		bad=1
	fi
	return "$bad"
}

@test "connections: during pre-copy, SIGINT to migrate: one running copy, all or nothing" { fault_case precopy INT-migrate; }
@test "connections: during pre-copy, SIGTERM to migrate: one running copy, all or nothing" { fault_case precopy TERM-migrate; }
@test "connections: during pre-copy, SIGKILL to migrate: one running copy, all or nothing" { fault_case precopy KILL-migrate; }
@test "connections: during pre-copy, SIGTERM to receive: one running copy, all or nothing" { fault_case precopy TERM-receive; }
@test "connections: during pre-copy, SIGKILL to receive: one running copy, all or nothing" { fault_case precopy KILL-receive; }

@test "connections: during stop-copy, SIGINT to migrate: one running copy, all or nothing" { fault_case stopcopy INT-migrate; }
@test "connections: during stop-copy, SIGTERM to migrate: one running copy, all or nothing" { fault_case stopcopy TERM-migrate 3; }
@test "connections: during stop-copy, SIGKILL to migrate: one running copy, all or nothing" { fault_case stopcopy KILL-migrate; }
@test "connections: during stop-copy, SIGTERM to receive: one running copy, all or nothing" { fault_case stopcopy TERM-receive 3; }
@test "connections: during stop-copy, SIGKILL to receive: one running copy, all or nothing" { fault_case stopcopy KILL-receive; }

@test "connections: while the destination loads, SIGINT to migrate: one running copy, all or nothing" { fault_case loading INT-migrate; }
@test "connections: while the destination loads, SIGTERM to migrate: one running copy, all or nothing" { fault_case loading TERM-migrate 3; }
@test "connections: while the destination loads, SIGKILL to migrate: one running copy, all or nothing" { fault_case loading KILL-migrate; }
@test "connections: while the destination loads, SIGTERM to receive: one running copy, all or nothing" { fault_case loading TERM-receive 3; }
@test "connections: while the destination loads, SIGKILL to receive: one running copy, all or nothing" { fault_case loading KILL-receive; }

@test "connections: between LOADED and RUN, SIGINT to migrate: one running copy, all or nothing" { fault_case loaded INT-migrate; }
@test "connections: between LOADED and RUN, SIGTERM to migrate: one running copy, all or nothing" { fault_case loaded TERM-migrate; }
@test "connections: between LOADED and RUN, SIGKILL to migrate: one running copy, all or nothing" { fault_case loaded KILL-migrate; }
@test "connections: between LOADED and RUN, SIGTERM to receive: one running copy, all or nothing" { fault_case loaded TERM-receive; }
@test "connections: between LOADED and RUN, SIGKILL to receive: one running copy, all or nothing" { fault_case loaded KILL-receive; }

@test "connections: after RUN before COMMIT, SIGINT to migrate: one running copy, all or nothing" { fault_case run INT-migrate; }
@test "connections: after RUN before COMMIT, SIGTERM to migrate: one running copy, all or nothing" { fault_case run TERM-migrate; }
@test "connections: after RUN before COMMIT, SIGKILL to migrate: one running copy, all or nothing" { fault_case run KILL-migrate; }
@test "connections: after RUN before COMMIT, SIGTERM to receive: one running copy, all or nothing" { fault_case run TERM-receive 3; }
@test "connections: after RUN before COMMIT, SIGKILL to receive: one running copy, all or nothing" { fault_case run KILL-receive 3; }

@test "connections: after COMMIT, SIGINT to migrate: one running copy, all or nothing" { fault_case commit INT-migrate; }
@test "connections: after COMMIT, SIGTERM to migrate: one running copy, all or nothing" { fault_case commit TERM-migrate; }
@test "connections: after COMMIT, SIGKILL to migrate: one running copy, all or nothing" { fault_case commit KILL-migrate; }
@test "connections: after COMMIT, SIGTERM to receive: one running copy, all or nothing" { fault_case commit TERM-receive; }
@test "connections: after COMMIT, SIGKILL to receive: one running copy, all or nothing" { fault_case commit KILL-receive; }

# --insecure: the same connections without TLS, three devices
@test "connections, --insecure: during pre-copy, SIGTERM to receive: all or nothing" { fault_case precopy TERM-receive 3 insecure; }
@test "connections, --insecure: during stop-copy, SIGKILL to migrate: all or nothing" { fault_case stopcopy KILL-migrate 3 insecure; }
@test "connections, --insecure: during stop-copy, SIGKILL to receive: all or nothing" { fault_case stopcopy KILL-receive 3 insecure; }
@test "connections, --insecure: after RUN before COMMIT, SIGTERM to migrate: all or nothing" { fault_case run TERM-migrate 3 insecure; }

@test "connections: during pre-copy, every connection cut: one running copy, all or nothing" { fault_case precopy cut; }
@test "connections: during stop-copy, every connection cut: one running copy, all or nothing" { fault_case stopcopy cut 3; }
@test "connections: while the destination loads, every connection cut: one running copy, all or nothing" { fault_case loading cut; }
@test "connections: between LOADED and RUN, every connection cut: one running copy, all or nothing" { fault_case loaded cut; }
@test "connections: after RUN before COMMIT, every connection cut: one running copy, all or nothing" { fault_case run cut 3; }
@test "connections: after COMMIT, every connection cut: one running copy, all or nothing" { fault_case commit cut; }
@test "connections: during stop-copy over --insecure, every connection cut: one running copy, all or nothing" { fault_case stopcopy cut 3 insecure; }
