#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# At most one running copy, under any fault: a live migration `migrate --exec` through
# tests/tools/hostile-peer's relay to `receive --stdio`, with a fault injected at every
# protocol phase (the relay acts when the phase's first message reaches it, before it
# forwards it): SIGINT, SIGTERM, SIGKILL to migrate; SIGTERM, SIGKILL to receive; the
# connection cut; the return path delayed 0.4 s with SIGTERM to migrate (issue 11's
# split brain). Afterwards never both devices run the state, the source runs again
# whenever it could know the destination did not, exit 0 means the destination runs and
# exit 8 (outcome unknown) leaves the source stopped.

load helper

PEER=$REPO/tests/tools/hostile-peer

setup() {
	double_only "the relay and the state traces are the double's"
	common_setup
	OUT=$BATS_TEST_TMPDIR
	knob "$MTTY2_A" trace=1
	knob "$MTTY2_B" trace=1
}

# The first message of each phase, as the relay names it: DIRECTION:TYPE.
phase_message() { # PHASE
	case $1 in
	before-verdict) echo dst:IDENTITY ;;  # the destination described itself; no VERDICT yet
	precopy) echo src:DATA ;;             # the first pre-copy record
	stopcopy) echo src:SWITCHOVER ;;      # the source devices are stopped
	after-end) echo src:DEVICE_END ;;     # the last trailer, before LOADED
	loaded) echo dst:LOADED ;;            # between LOADED and RUN
	run) echo src:RUN ;;                  # the point of no return passed, before COMMIT
	commit) echo dst:COMMIT ;;            # the destination runs
	esac
}

# Migrates MTTY2_A to MTTY2_B through the relay with FAULT at PHASE, then checks the rule.
fault_case() { # PHASE FAULT
	local at relay_opts=() msg
	msg=$(phase_message "$1")
	case $2 in
	INT-migrate) at="$msg:INT@source" ;;
	TERM-migrate) at="$msg:TERM@source" ;;
	KILL-migrate) at="$msg:KILL@source" ;;
	TERM-receive) at="$msg:TERM@dest" ;;
	KILL-receive) at="$msg:KILL@dest" ;;
	cut) at="$msg:cut" ;;
	delay) at="$msg:TERM@source" relay_opts=(--delay-return 0.4) ;;
	esac
	local recv cmd
	printf -v recv '%q ' env VFIOMIG_SYSROOT="$SYSROOT" LD_PRELOAD="$DOUBLE_LIB" "$VFIOMIG" \
		receive "$MTTY2_B" --stdio --timeout 3
	printf -v cmd '%q ' "$PEER" relay --log "$OUT/relay.log" "${relay_opts[@]}" --at "$at" --
	vfiomig_bg "$OUT/mig.out" migrate "$MTTY2_A" --exec "$cmd$recv" --timeout 3
	local mig=$VFIOMIG_PID i
	MIG_STATUS=0
	wait "$mig" || MIG_STATUS=$?
	# the destination outlives the relay under its keeper; wait for its end too
	wait_for_text "$OUT/relay.log" "destination exited"
	echo "--- migrate ($MIG_STATUS):"; cat "$OUT/mig.out"
	echo "--- relay:"; cat "$OUT/relay.log"
	echo "--- source arcs:"; cat "$SYSROOT/double/$MTTY2_A/arcs" 2>/dev/null || true
	echo "--- destination arcs:"; cat "$SYSROOT/double/$MTTY2_B/arcs" 2>/dev/null || true
	local dir=src\>dst
	[[ ${msg%%:*} == dst ]] && dir=dst\>src
	check_rule "$1" "$2" "$dir ${msg#*:}"
}

# The at-most-one-running-copy rule over the double's own record of both devices.
check_rule() { # PHASE FAULT RELAYED-NAME
	local src dst last dst_ran=0 src_running=0
	src=$(double_state "$MTTY2_A")
	dst=$(double_state "$MTTY2_B")
	last=$(tail -n 1 "$SYSROOT/double/$MTTY2_B/arcs" 2>/dev/null || true)
	[[ $src == RUNNING ]] && src_running=1
	# the destination runs the state: it ended RUNNING by a state change, not by a reset
	[[ $dst == RUNNING && $last == *">RUNNING" && $last != RESET* ]] && dst_ran=1
	echo "source $src, destination $dst (last arc $last), migrate exit $MIG_STATUS" >&2
	# the fault hit the phase it names
	grep -q "relay: $3 #1" "$OUT/relay.log" || {
		echo "the relay never saw $3: phase $1 not reached" >&2
		return 1
	}
	((!(src_running && dst_ran))) || { echo "both devices run the state" >&2; return 1; }
	if ((MIG_STATUS == 0)); then
		((dst_ran)) || { echo "migrate exit 0 but the destination does not run" >&2; return 1; }
	fi
	if ((MIG_STATUS == 8)); then
		((!src_running)) || { echo "exit 8 with the source RUNNING" >&2; return 1; }
		grep -q "src>dst RUN " "$OUT/relay.log" ||
			{ echo "exit 8 (unknown) though the source never sent RUN" >&2; return 1; }
	fi
	# Before RUN the destination provably does not run: the source must run again
	# (unless the source itself was SIGKILLed: nobody is left to resume it).
	if [[ $2 != KILL-migrate ]] && ! grep -q "src>dst RUN \|dst>src COMMIT " "$OUT/relay.log"; then
		((src_running)) || { echo "no RUN was sent, yet the source is $src" >&2; return 1; }
		((MIG_STATUS != 0 && MIG_STATUS != 8)) ||
			{ echo "no RUN was sent, yet migrate exited $MIG_STATUS" >&2; return 1; }
	fi
	# Nobody ran: the source must not claim success.
	if ((!dst_ran && !src_running)); then
		[[ $2 == KILL-migrate ]] || ((MIG_STATUS == 8)) ||
			{ echo "neither runs, and migrate exited $MIG_STATUS instead of 8" >&2; return 1; }
	fi
}

@test "before VERDICT, SIGINT to migrate: at most one running copy" { fault_case before-verdict INT-migrate; }
@test "before VERDICT, SIGTERM to migrate: at most one running copy" { fault_case before-verdict TERM-migrate; }
@test "before VERDICT, SIGKILL to migrate: at most one running copy" { fault_case before-verdict KILL-migrate; }
@test "before VERDICT, SIGTERM to receive: at most one running copy" { fault_case before-verdict TERM-receive; }
@test "before VERDICT, SIGKILL to receive: at most one running copy" { fault_case before-verdict KILL-receive; }
@test "before VERDICT, connection cut: at most one running copy" { fault_case before-verdict cut; }
@test "before VERDICT, return path delayed: at most one running copy" { fault_case before-verdict delay; }

@test "during pre-copy, SIGINT to migrate: at most one running copy" { fault_case precopy INT-migrate; }
@test "during pre-copy, SIGTERM to migrate: at most one running copy" { fault_case precopy TERM-migrate; }
@test "during pre-copy, SIGKILL to migrate: at most one running copy" { fault_case precopy KILL-migrate; }
@test "during pre-copy, SIGTERM to receive: at most one running copy" { fault_case precopy TERM-receive; }
@test "during pre-copy, SIGKILL to receive: at most one running copy" { fault_case precopy KILL-receive; }
@test "during pre-copy, connection cut: at most one running copy" { fault_case precopy cut; }
@test "during pre-copy, return path delayed: at most one running copy" { fault_case precopy delay; }

@test "during stop-copy, SIGINT to migrate: at most one running copy" { fault_case stopcopy INT-migrate; }
@test "during stop-copy, SIGTERM to migrate: at most one running copy" { fault_case stopcopy TERM-migrate; }
@test "during stop-copy, SIGKILL to migrate: at most one running copy" { fault_case stopcopy KILL-migrate; }
@test "during stop-copy, SIGTERM to receive: at most one running copy" { fault_case stopcopy TERM-receive; }
@test "during stop-copy, SIGKILL to receive: at most one running copy" { fault_case stopcopy KILL-receive; }
@test "during stop-copy, connection cut: at most one running copy" { fault_case stopcopy cut; }
@test "during stop-copy, return path delayed: at most one running copy" { fault_case stopcopy delay; }

@test "after the last DEVICE_END, SIGINT to migrate: at most one running copy" { fault_case after-end INT-migrate; }
@test "after the last DEVICE_END, SIGTERM to migrate: at most one running copy" { fault_case after-end TERM-migrate; }
@test "after the last DEVICE_END, SIGKILL to migrate: at most one running copy" { fault_case after-end KILL-migrate; }
@test "after the last DEVICE_END, SIGTERM to receive: at most one running copy" { fault_case after-end TERM-receive; }
@test "after the last DEVICE_END, SIGKILL to receive: at most one running copy" { fault_case after-end KILL-receive; }
@test "after the last DEVICE_END, connection cut: at most one running copy" { fault_case after-end cut; }
@test "after the last DEVICE_END, return path delayed: at most one running copy" { fault_case after-end delay; }

@test "between LOADED and RUN, SIGINT to migrate: at most one running copy" { fault_case loaded INT-migrate; }
@test "between LOADED and RUN, SIGTERM to migrate: at most one running copy" { fault_case loaded TERM-migrate; }
@test "between LOADED and RUN, SIGKILL to migrate: at most one running copy" { fault_case loaded KILL-migrate; }
@test "between LOADED and RUN, SIGTERM to receive: at most one running copy" { fault_case loaded TERM-receive; }
@test "between LOADED and RUN, SIGKILL to receive: at most one running copy" { fault_case loaded KILL-receive; }
@test "between LOADED and RUN, connection cut: at most one running copy" { fault_case loaded cut; }
@test "between LOADED and RUN, return path delayed: at most one running copy" { fault_case loaded delay; }

@test "after RUN before COMMIT, SIGINT to migrate: at most one running copy" { fault_case run INT-migrate; }
@test "after RUN before COMMIT, SIGTERM to migrate: at most one running copy" { fault_case run TERM-migrate; }
@test "after RUN before COMMIT, SIGKILL to migrate: at most one running copy" { fault_case run KILL-migrate; }
@test "after RUN before COMMIT, SIGTERM to receive: at most one running copy" { fault_case run TERM-receive; }
@test "after RUN before COMMIT, SIGKILL to receive: at most one running copy" { fault_case run KILL-receive; }
@test "after RUN before COMMIT, connection cut: at most one running copy" { fault_case run cut; }
@test "after RUN before COMMIT, return path delayed: at most one running copy" { fault_case run delay; }

@test "after COMMIT, SIGINT to migrate: at most one running copy" { fault_case commit INT-migrate; }
@test "after COMMIT, SIGTERM to migrate: at most one running copy" { fault_case commit TERM-migrate; }
@test "after COMMIT, SIGKILL to migrate: at most one running copy" { fault_case commit KILL-migrate; }
@test "after COMMIT, SIGTERM to receive: at most one running copy" { fault_case commit TERM-receive; }
@test "after COMMIT, SIGKILL to receive: at most one running copy" { fault_case commit KILL-receive; }
@test "after COMMIT, connection cut: at most one running copy" { fault_case commit cut; }
@test "after COMMIT, return path delayed: at most one running copy" { fault_case commit delay; }
