#!/bin/bash
# test_pid1.sh -- the program is PID 1 of its PID namespace (a container's entrypoint), and a
# prefork server's workers (fork without exec).
#
# PID 1 (unshare --pid --fork --mount-proc; libgoprof preloaded by an env(1) inside the
# namespace, so that the program itself is the session's leader). When PID 1 exits, the kernel
# kills every other process of the namespace; the profile must still hold the work to the end:
#   - C, two busy threads, returning from main
#   - Go (cgo), returning from main.main; os.Exit(3); an unrecovered panic; SIGTERM (from
#     outside the namespace) handled, then a return from main.main
#   - C and Go: SIGKILL from outside after LIBGOPROF_STRESS_SECONDS + 5 s: the profile holds the
#     run minus at most its last ~5 s (the session's file is rewritten periodically while the
#     leader is PID 1), and no .tmp file is left
# Each: exit status, stdout and stderr as without libgoprof (under unshare too); the profile at
# GOPROF_OUT the moment the unshare command returns, final (unchanged a while later), the only
# file in its directory; valid; the leader's stacks unchanged (no [process: ] root), pid and
# process labels on every sample; the expected chains; sampled total within 10 % of the CPU time
# the fixture measured itself (getrusage, to a stats file).
# The same "file there when the program's exit returns" for a plain (not PID 1) Go program.
# Each "there at the return" is also checked over 5 or 10 more short runs: one look can win the
# race with a collector that writes after the exit.
#
# Prefork: c_prefork's master forks 2 busy workers without exec; each worker's CPU is in the
# profile within 10 % of its own getrusage, under its pid, with the [process: c_prefork] root.
#
# Long cases take their length from LIBGOPROF_STRESS_SECONDS (default 3). Needs root (unshare
# --pid); without it the PID-1 cases are skipped with a note.
. "$(dirname "$0")/../integration/lib.sh"

stress_setup pid1
[ -f "$LIBGOPROF" ] || { fail "LIBGOPROF=$LIBGOPROF does not exist (build the library first)"; finish; }
for f in c_twothreads c_prefork; do
	gcc -O1 -fno-omit-frame-pointer -fno-inline -pthread -Wall -o "$work/bin/$f" "$fx/$f.c" ||
		{ fail "build $f"; finish; }
done
(cd "$fx" && CGO_ENABLED=1 "$GO" build -o "$work/bin/go_exit" go_exit.go) || { fail "build go_exit"; finish; }
TWO=$work/bin/c_twothreads PREFORK=$work/bin/c_prefork GOEXIT=$work/bin/go_exit
pass "build fixtures"

C_MAIN='_start;__libc_start_main*;...;main;main_work'
C_THREAD='*clone3;start_thread;thread_main;thread_work'
GO_SPIN='runtime.goexit;main.main.func1;main.goExitSpin'
GO_C='runtime.goexit;main.main.func2;...;runtime.cgocall;runtime.asmcgocall;...;c_exit_spin'

# stat_of FILE KEY: the value of KEY=<v> in a fixture's stats file.
stat_of() {
	sed -n "s/^$2=//p" "$1" 2>/dev/null | head -n 1
}

# pid1_run D [--no-ns] [--kill-after=S|--term-after=S] [VAR=VAL ...] -- CMD...
#   CMD as PID 1 of a new PID namespace, twice: without libgoprof (D/plain.stdout, .stderr,
#   .status), then with it, preloaded by an env(1) inside the namespace (D/run.*; GOPROF_OUT=
#   D/out/cpu.pb.gz and the VARs, no other GOPROF_*). "@RUN@" in an argument becomes plain or
#   run. --no-ns: no namespace (the program is not PID 1; LEADER is its pid).
#   --kill-after / --term-after: SIGKILL / SIGTERM after S s from outside the namespace to the
#   PID 1 (the unshare's child); KILL_NS: the CLOCK_REALTIME ns just before the profiled run's.
#   Right when the profiled command returns, with no wait: AT_EXIT=1 if GOPROF_OUT is a
#   non-empty file, AT_EXIT_SUM its checksum, AT_EXIT_FILES what D/out holds. Then
#   same_as_plain. PROF: GOPROF_OUT.
pid1_run() {
	local d=$1 ns=1 sig= after= which a pid i
	local -a vars=() args=() cmd=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		case $1 in
		--no-ns) ns=0 ;;
		--kill-after=*) sig=KILL after=${1#*=} ;;
		--term-after=*) sig=TERM after=${1#*=} ;;
		*) vars+=("$1") ;;
		esac
		shift
	done
	shift
	mkdir -p "$d/out"
	PROF=$d/out/cpu.pb.gz
	_goprof_unsets
	for which in plain run; do
		args=()
		for a in "$@"; do args+=("${a//@RUN@/$which}"); done
		if [ "$which" = plain ]; then
			cmd=(env -u LD_PRELOAD "${_UNSETS[@]}" "${args[@]}")
		else
			cmd=(env -u LD_PRELOAD "${_UNSETS[@]}" LD_PRELOAD="$LIBGOPROF" GOPROF_OUT="$PROF" "${vars[@]}" "${args[@]}")
		fi
		[ "$ns" = 1 ] && cmd=(unshare --pid --fork --mount-proc "${cmd[@]}")
		"${cmd[@]}" >"$d/$which.stdout" 2>"$d/$which.stderr" </dev/null &
		LEADER=$!
		if [ -n "$sig" ]; then
			pid=$LEADER
			if [ "$ns" = 1 ]; then
				pid=
				for ((i = 0; i < 200; i++)); do
					pid=$(pgrep -P "$LEADER" | head -n 1)
					[ -n "$pid" ] && break
					sleep 0.05
				done
			fi
			sleep "$after"
			KILL_NS=$(date +%s%N)
			[ -n "$pid" ] && kill -"$sig" "$pid"
		fi
		wait "$LEADER" 2>/dev/null
		RUN_STATUS=$?
		if [ "$which" = run ]; then
			# Nothing between the command's return and this look: the file must be there now.
			if [ -s "$PROF" ]; then AT_EXIT=1; else AT_EXIT=0; fi
			AT_EXIT_SUM=$(cksum <"$PROF" 2>/dev/null)
			AT_EXIT_FILES=$(ls -A "$d/out" | tr '\n' ' ')
		fi
		echo "$RUN_STATUS" >"$d/$which.status"
	done
	RUN_STDOUT=$d/run.stdout RUN_STDERR=$d/run.stderr RUN_STATUS_FILE=$d/run.status
	same_as_plain "$NAME" "$d/plain"
}

# at_exit_checks: the profile was there, whole and final, when the command returned.
at_exit_checks() {
	check "$NAME: the profile is at GOPROF_OUT the moment the command returns (D/out then: ${AT_EXIT_FILES:-empty})" \
		test "$AT_EXIT" = 1
	sleep 1.5
	local files same=1
	files=$(ls -A "$D/out" | tr '\n' ' ')
	# (Whether it was there at the return is the check above.)
	[ "$AT_EXIT" = 1 ] && [ "$(cksum <"$PROF" 2>/dev/null)" != "$AT_EXIT_SUM" ] && same=0
	check "$NAME: final: 1.5 s later the only file, no .tmp left, unchanged since the return (D/out: ${files:-empty})" \
		test "$same" = 1 -a "$files" = "cpu.pb.gz "
}

# leader_checks PROCESS: valid, labels, no [process: ] root (the program is the leader).
leader_checks() {
	local out
	check "$NAME: profile valid (go tool pprof -top/-traces/-raw/-tags)" pprof_ok "$PROF"
	if out=$("$PROFCHECK" tree "$PROF" --max-followers 0 2>&1); then
		pass "$NAME: pid and process labels on every sample, the leader's stacks without [process: ] root"
	else
		fail "$NAME: pid/process labels, or [process: ] roots in a single program's profile"
		printf '%s\n' "$out" | head -n 10 | sed 's/^/      | /'
	fi
	check "$NAME: process label $1" "$PROFCHECK" labels "$PROF" --require pid:num --require-value "process=$1"
}

# chain_check LEAF PATTERN
chain_check() {
	check "$NAME: chain $2 for leaf $1 (>= 0.99)" \
		"$PROFCHECK" chain "$PROF" --leaf "$1" --expect "$2" --min 0.99 --min-samples 20
}

# repeat_at_exit N NS CMD...: N more short runs of CMD (NS=1: as PID 1), profiled, output
# discarded; passes if the profile was at GOPROF_OUT the moment the command returned every
# time (one look can win a race with a collector that writes after the exit).
repeat_at_exit() {
	local n=$1 ns=$2 i ok=0
	local -a pre=()
	shift 2
	[ "$ns" = 1 ] && pre=(unshare --pid --fork --mount-proc)
	_goprof_unsets
	for ((i = 0; i < n; i++)); do
		rm -rf "$D/rep"
		mkdir -p "$D/rep"
		"${pre[@]}" env -u LD_PRELOAD "${_UNSETS[@]}" LD_PRELOAD="$LIBGOPROF" GOPROF_OUT="$D/rep/cpu.pb.gz" \
			"$@" >/dev/null 2>&1 </dev/null
		[ -s "$D/rep/cpu.pb.gz" ] && ok=$((ok + 1))
	done
	check "$NAME: $n more short runs: the profile at GOPROF_OUT the moment the command returned in $ok of $n" \
		test "$ok" = "$n"
}

# cpu_check MEASURED_NS: the profile's total within 10 % of it.
cpu_check() {
	local got
	got=$("$PROFCHECK" total "$PROF" 2>/dev/null | sed -n 's/^cpu_ns //p')
	check "$NAME: sampled ${got:-?} ns within 10 % of the program's getrusage ${1:-?} ns" \
		"$PROFCHECK" total "$PROF" --expect-cpu-ns "${1:-0}" --tol 0.10
}

if ! unshare --pid --fork --mount-proc true 2>/dev/null; then
	note "skipped the PID-1 cases: unshare --pid --fork --mount-proc needs root"
else
	# ---- C, two threads, returning from main ---------------------------------------------
	ms=$((SECS * 500))
	D=$work/c_return
	NAME="PID 1, C, return from main"
	pid1_run "$D" -- "$TWO" "$ms" "$D/@RUN@.stats"
	check "$NAME: status 0 ($RUN_STATUS)" test "$RUN_STATUS" = 0
	at_exit_checks
	if [ -s "$PROF" ]; then
		leader_checks c_twothreads
		chain_check main_work "$C_MAIN"
		chain_check thread_work "$C_THREAD"
		cpu_check "$(stat_of "$D/run.stats" cpu_ns)"
	fi
	repeat_at_exit 5 1 "$TWO" 300 "$D/rep.stats"

	# ---- Go (cgo): return, os.Exit(3), panic, SIGTERM ----------------------------------
	for mode in return exit3 panic term; do
		D=$work/go_$mode
		case $mode in
		return) NAME="PID 1, Go, return from main.main" want=0 ;;
		exit3) NAME="PID 1, Go, os.Exit(3)" want=3 ;;
		panic) NAME="PID 1, Go, unrecovered panic" want=2 ;;
		term) NAME="PID 1, Go, SIGTERM handled, then return" want=0 ;;
		esac
		if [ "$mode" = term ]; then
			pid1_run "$D" --term-after="$SECS" -- "$GOEXIT" -mode term -stats "$D/@RUN@.stats"
		else
			pid1_run "$D" -- "$GOEXIT" -mode "$mode" -d "${SECS}s" -stats "$D/@RUN@.stats"
		fi
		check "$NAME: status $want ($RUN_STATUS)" test "$RUN_STATUS" = "$want"
		check "$NAME: the program got to its end (stdout)" grep -qx "go_exit: $mode" "$RUN_STDOUT"
		at_exit_checks
		if [ -s "$PROF" ]; then
			leader_checks go_exit
			chain_check main.goExitSpin "$GO_SPIN"
			chain_check c_exit_spin "$GO_C"
			cpu_check "$(stat_of "$D/run.stats" cpu_ns)"
		fi
		[ "$mode" != term ] && repeat_at_exit 5 1 "$GOEXIT" -mode "$mode" -d 300ms -stats "$D/rep.stats"
	done

	# ---- SIGKILL from outside after SECS+5 s: the run minus at most its last ~5 s ---------
	# STATS: "<realtime ns> <cpu ns>" every 50 ms. The profile must hold at least 90 % of the CPU
	# time up to 5.5 s before the kill, and at most 110 % of the CPU time at the kill (+100 ms).
	kill_after=$((SECS + 5))
	for prog in c go; do
		D=$work/kill_$prog
		if [ "$prog" = c ]; then
			NAME="PID 1, C, SIGKILL after $kill_after s"
			pid1_run "$D" --kill-after="$kill_after" -- "$TWO" forever "$D/@RUN@.stats"
		else
			NAME="PID 1, Go, SIGKILL after $kill_after s"
			pid1_run "$D" --kill-after="$kill_after" -- "$GOEXIT" -mode forever -stats "$D/@RUN@.stats"
		fi
		at_exit_checks
		if [ -s "$PROF" ]; then
			if [ "$prog" = c ]; then
				leader_checks c_twothreads
				chain_check main_work "$C_MAIN"
				chain_check thread_work "$C_THREAD"
			else
				leader_checks go_exit
				chain_check main.goExitSpin "$GO_SPIN"
				chain_check c_exit_spin "$GO_C"
			fi
			lo=$(awk -v k="$KILL_NS" '$1 <= k - 5500000000 { c = $2 } END { printf "%.0f", c }' "$D/run.stats")
			hi=$(awk -v k="$KILL_NS" '$1 <= k { c = $2 } END { printf "%.0f", c }' "$D/run.stats")
			got=$("$PROFCHECK" total "$PROF" 2>/dev/null | sed -n 's/^cpu_ns //p')
			check "$NAME: sampled ${got:-?} ns between 90 % of the CPU 5.5 s before the kill ($lo ns) and 110 % of the CPU at the kill ($hi ns) + 100 ms" \
				awk -v g="${got:-0}" -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(lo > 0 && g >= 0.9 * lo && g <= 1.1 * hi + 100000000) }'
		fi
	done
fi

# ---- not PID 1: the file is there when the program's exit returns --------------------------
D=$work/go_plain
NAME="not PID 1, Go, return from main.main"
pid1_run "$D" --no-ns -- "$GOEXIT" -mode return -d "${SECS}s" -stats "$D/@RUN@.stats"
check "$NAME: status 0 ($RUN_STATUS)" test "$RUN_STATUS" = 0
at_exit_checks
if [ -s "$PROF" ]; then
	leader_checks go_exit
	chain_check main.goExitSpin "$GO_SPIN"
	cpu_check "$(stat_of "$D/run.stats" cpu_ns)"
fi
repeat_at_exit 10 0 "$GOEXIT" -mode return -d 300ms -stats "$D/rep.stats"
NAME="not PID 1, C, return from main"
repeat_at_exit 10 0 "$TWO" 300 "$D/rep.stats"

# ---- prefork: a master forks 2 busy workers without exec -----------------------------------
D=$work/prefork
NAME="prefork"
ms=$((SECS * 1000 * 2 / 3))
pid1_run "$D" --no-ns -- "$PREFORK" prefork "$ms" "$D/@RUN@.stats"
check "$NAME: both workers exited 0" grep -qx 'prefork: 2 workers, both exited 0' "$RUN_STDOUT"
st=$D/run.stats
master=$(sed -n 's/^master pid=\([0-9]*\) .*/\1/p' "$st")
workers=$(sed -n 's/^worker pid=\([0-9]*\) .*/\1/p' "$st" | sort -n | tr '\n' ' ')
files=$(ls -A "$D/out" | tr '\n' ' ')
check "$NAME: one file at GOPROF_OUT ($files)" test "$files" = "cpu.pb.gz "
if [ -s "$PROF" ] && [ -n "$master" ]; then
	check "$NAME: profile valid (go tool pprof)" pprof_ok "$PROF"
	if out=$("$PROFCHECK" tree "$PROF" --leader "$master" --min-followers 2 --max-followers 2 2>&1); then
		pass "$NAME: pid/process labels on every sample, [process: c_prefork] root on the 2 workers only"
	else
		fail "$NAME: pid/process labels or [process: ] roots wrong (master $master, workers $workers)"
	fi
	printf '%s\n' "$out" | head -n 8 | sed 's/^/      | /'
	while read -r _ p c; do
		p=${p#pid=} c=${c#cpu_ns=}
		got=$("$PROFCHECK" total "$PROF" --where "pid=$p" 2>/dev/null | sed -n 's/^cpu_ns //p')
		check "$NAME: worker $p: sampled ${got:-?} ns under its pid within 10 % of its getrusage $c ns" \
			"$PROFCHECK" total "$PROF" --where "pid=$p" --expect-cpu-ns "$c" --tol 0.10
	done < <(grep '^worker ' "$st")
	kids=$(sed -n 's/^children cpu_ns=//p' "$st")
	got=$("$PROFCHECK" total "$PROF" --where "pid!=$master" 2>/dev/null | sed -n 's/^cpu_ns //p')
	check "$NAME: all but the master: sampled ${got:-?} ns within 10 % of the master's RUSAGE_CHILDREN $kids ns" \
		"$PROFCHECK" total "$PROF" --where "pid!=$master" --expect-cpu-ns "${kids:-0}" --tol 0.10
	wp=$("$PROFCHECK" bylabel "$PROF" --key pid --contains worker_work 2>/dev/null | grep -v '^#' | awk '{ print $1 }' | sort -n | tr '\n' ' ')
	check "$NAME: every worker_work sample labelled with a worker's pid (pids: ${wp:-none}; workers: $workers)" \
		test -n "$workers" -a "$wp" = "$workers"
	check "$NAME: workers' chain [process: c_prefork];_start;...;main;do_prefork;worker_main;worker_work (>= 0.99)" \
		"$PROFCHECK" chain "$PROF" --leaf worker_work --min 0.99 --min-samples 50 \
		--expect '[process: c_prefork];_start;__libc_start_main*;...;main;do_prefork;worker_main;worker_work'
	check "$NAME: the master's stacks unchanged: _start;...;main;do_prefork;master_work (>= 0.99)" \
		"$PROFCHECK" chain "$PROF" --leaf master_work --min 0.99 --min-samples 20 \
		--expect '_start;__libc_start_main*;...;main;do_prefork;master_work'
	check "$NAME: worker samples labelled process=c_prefork" \
		"$PROFCHECK" total "$PROF" --where process=c_prefork --contains worker_work --min-count 50
fi

finish
