#!/bin/bash
# test_valgrind.sh -- the collector process under valgrind's memcheck, on real profiles.
#
# The collector is forked (twice) from the program by libgoprof's constructor and works on
# memory inherited from it, so it cannot be exec'd under valgrind on its own. Instead the whole
# program runs under memcheck: valgrind follows forks, so the collector is a memcheck process
# too, with its own log (--log-file=vg.%p). The reaper (fixtures/reaper.c, a child subreaper)
# inherits the collector when it is re-parented and reports its exit status; with
# --error-exitcode=99, --leak-check=full and --errors-for-leak-kinds=definite,indirect,possible,
# a status of 0 means: no invalid read or write, no use of uninitialised memory and no leak in
# the collector's whole life (drain, profmap, symbolize, report, gzip, write), checked again in
# its log. libdw's tsearch trees are suppressed as "possibly lost" (valgrind-libdw.supp says
# why).
#
# No process before the program may carry the preload: every process of a tree that inherits
# it joins the session of the first one (docs/architecture.md, "One session per process tree"),
# and an exec'd image joins the session of its own pid. valgrind's launcher is a dynamic
# program (Debian's a shell script, then valgrind.bin) that execs the static tool in the same
# pid: preloaded, it would lead the session with a native collector, and the program under
# memcheck would join that one as its exec'd image (no collector under memcheck at all). So
# the tool is started directly, by env(1) without the preload (it only passes it on), with the
# VALGRIND_LIB and VALGRIND_LAUNCHER the launcher would have set: the program is the first
# process to load libgoprof, and its collector is forked under memcheck.
#
# Runs (about 15-30 s in all):
#   c_threads          C, two threads, pprof: one file at the end
#   c_threads folded   GOPROF_INTERVAL=200ms GOPROF_FORMAT=folded: several files, a closed
#                      interval's profmap freed each time
#   go_cgo             Go + cgo, pprof, plus a SIGUSR1 snapshot during the run; it works for
#                      LIBGOPROF_STRESS_SECONDS (default 3) + 1 s
#   test_session, test_heapmap   the collector's C memory code, driven by synthetic rings
#                      (memcheck replaces every malloc, so a program under it samples none)
# The signal path under valgrind: valgrind delivers the timer signals itself, late and
# serialised; the profiles must still hold the known leaves. The C program's own process
# must be memcheck-clean too (exit status 0: libgoprof's constructor, interposers and handler);
# the Go runtime is not (valgrind reports its stack switching), so for Go only the collector
# is judged.
. "$(dirname "$0")/../integration/lib.sh"

stress_setup valgrind
if ! command -v valgrind >/dev/null; then
	fail "valgrind is not installed (scripts/setup.sh installs it)"
	finish
fi
REAPER=$work/bin/reaper
gcc -O1 -Wall -o "$REAPER" "$top_srcdir/tests/stress/fixtures/reaper.c" || { fail "build reaper"; finish; }
# The memcheck tool and the launcher, as valgrind's launcher says (-d) it runs them.
vg_debug=$(valgrind -d --tool=memcheck /bin/true 2>&1)
VG_TOOL=$(sed -n 's/^--[0-9]*:1:launcher launching //p' <<<"$vg_debug" | head -n 1)
VG_LAUNCHER=$(sed -n "/launcher's name/{n;s/^--[0-9]*:1: *main \.\.\. //p}" <<<"$vg_debug" | head -n 1)
if [ ! -x "$VG_TOOL" ] || [ ! -x "$VG_LAUNCHER" ]; then
	fail "valgrind -d names no memcheck tool ('$VG_TOOL') or launcher ('$VG_LAUNCHER')"
	finish
fi
pass "memcheck tool $VG_TOOL, launcher $VG_LAUNCHER"

# vg_run NAME [VAR=VALUE ...] -- CMD [ARG...]: CMD under memcheck with the preload, in
# $work/NAME, GOPROF_OUT=$work/NAME/out/prof.pb.gz unless given. Sets RUN (the directory),
# VG_STATUS (the program's exit status), COLLECTOR (the collector's pid, from the reaper) and
# NREAPED (how many processes the reaper inherited: the collector only).
vg_run() {
	local name=$1
	local -a vars=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
	shift
	RUN=$work/$name
	mkdir -p "$RUN/out"
	_goprof_unsets
	# Only the static tool's environment has the preload (see the top): the reaper and env
	# start without it, the tool ignores it, the program under memcheck loads it.
	# GODEBUG=cpu.rdtscp=off, for a Go program: valgrind 3.19 cannot run RDTSCP (SIGILL), yet
	# its CPUID says the CPU has it on some hosts (a Zen 5), and Go's cputicks then uses it
	# (runtime.lock2's slow path: go_cgo died of SIGILL in 1 full run of 3 on 2026-12-05).
	env -u LD_PRELOAD "${_UNSETS[@]}" "$REAPER" -l "$RUN/reaped" -t 120 -- \
		env VALGRIND_LIB="$(dirname "$VG_TOOL")" VALGRIND_LAUNCHER="$VG_LAUNCHER" \
		GODEBUG=cpu.rdtscp=off \
		LD_PRELOAD="$LIBGOPROF" GOPROF_OUT="$RUN/out/prof.pb.gz" "${vars[@]}" \
		"$VG_TOOL" --tool=memcheck --trace-children=yes --child-silent-after-fork=no \
		--leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
		--suppressions="$top_srcdir/tests/stress/valgrind-libdw.supp" \
		--show-leak-kinds=definite,indirect,possible --error-exitcode=99 \
		--log-file="$RUN/vg.%p" \
		"$@" \
		>"$RUN/stdout" 2>"$RUN/stderr" </dev/null &
	VG_PID=$!
	[ -n "${DURING:-}" ] && "$DURING" "$VG_PID"
	wait "$VG_PID"
	VG_STATUS=$?
	# The reaper inherits the collector (the intermediate child is reaped by the program):
	# one process, with its own memcheck log.
	local p
	COLLECTOR=
	NCOLLECTORS=0
	NREAPED=$(grep -c '^pid=' "$RUN/reaped" 2>/dev/null)
	for p in $(sed -n 's/^pid=\([0-9]*\) .*/\1/p' "$RUN/reaped"); do
		[ -f "$RUN/vg.$p" ] || continue
		COLLECTOR=$p
		NCOLLECTORS=$((NCOLLECTORS + 1))
	done
}

# collector_checks WHAT: the collector ran under memcheck and was clean.
collector_checks() {
	local what=$1 log=$RUN/vg.$COLLECTOR
	check "$what: one collector under memcheck, reaped, and no other process ($NCOLLECTORS of $NREAPED)" \
		test "$NCOLLECTORS" = 1 -a "$NREAPED" = 1
	check "$what: the collector ran under memcheck (its own log vg.$COLLECTOR)" \
		grep -q '^==[0-9]*== Memcheck, a memory error detector' "$log"
	check "$what: collector exit status 0 (no memcheck error or leak: --error-exitcode=99)" \
		grep -qx "pid=$COLLECTOR exit=0" "$RUN/reaped"
	check "$what: collector log: 0 errors" grep -Eq '^==[0-9]+== ERROR SUMMARY: 0 errors from 0 contexts' "$log"
	check "$what: collector log: leak check ran, nothing definitely/indirectly/possibly lost" \
		sh -c 'grep -q "All heap blocks were freed" "$1" ||
			{ grep -Eq "definitely lost: 0 bytes in 0 blocks" "$1" &&
			  grep -Eq "indirectly lost: 0 bytes in 0 blocks" "$1" &&
			  grep -Eq "possibly lost: 0 bytes in 0 blocks" "$1"; }' _ "$log"
	if [ "$FAILED" -gt 0 ] && [ -f "$log" ]; then
		grep -E '^==[0-9]+== (Invalid|Conditional|Use of|[0-9,]+ bytes in)|^==[0-9]+==    (at|by) ' "$log" |
			head -n 30 | sed 's/^/      | /'
	fi
}

# --- C, one file ---------------------------------------------------------------------
vg_run c -- "$C_THREADS" 0.5 0.2
check "c_threads under memcheck: exit status 0 (the program's process is memcheck-clean too)" \
	test "$VG_STATUS" = 0
[ "$VG_STATUS" = 0 ] || grep -E 'Invalid|uninitialised|lost' "$RUN"/vg.* | head -n 10 | sed 's/^/      | /'
check "c_threads under memcheck: stdout as expected" grep -qx 'c_threads: done' "$RUN/stdout"
collector_checks "c_threads"
P=$RUN/out/prof.pb.gz
check "c_threads under memcheck: profile valid" "$PROFCHECK" check "$P"
check "c_threads under memcheck: at least 20 samples (signals delivered)" \
	"$PROFCHECK" total "$P" --min-count 20
check "c_threads under memcheck: samples of leaf_b in the worker thread, under worker" \
	"$PROFCHECK" chain "$P" --leaf leaf_b --expect '...;start_thread;worker;leaf_b' --min 0.95 --min-samples 5
check "c_threads under memcheck: main thread's samples under main" \
	"$PROFCHECK" chain "$P" --leaf main --contains --expect '_start;__libc_start_main*;__libc_start_call_main;main;...' --min 0.95 --min-samples 3

# --- C, intervals, folded ------------------------------------------------------------
vg_run c-interval GOPROF_INTERVAL=200ms GOPROF_FORMAT=folded GOPROF_OUT="$work/c-interval/out/prof.folded" \
	-- "$C_THREADS" 1.5 0.2
check "c_threads intervals under memcheck: exit status 0" test "$VG_STATUS" = 0
collector_checks "c_threads intervals"
# (under memcheck the collector's first write takes about a second: intervals are skipped,
# not caught up, so a run of a few seconds gives 2-4 files)
nfiles=$(ls "$RUN/out" | grep -c '^prof\.folded\.[0-9]*$')
check "c_threads intervals under memcheck: at least 2 interval files ($nfiles)" test "$nfiles" -ge 2
check "c_threads intervals under memcheck: every line of every file is 'frames count'" \
	sh -c '! cat "$1"/prof.folded.* | grep -Ev "^[^ ;][^;]*(;[^;]+)* [0-9]+$"' _ "$RUN/out"
check "c_threads intervals under memcheck: leaf_b's chain in the files" \
	sh -c 'cat "$1"/prof.folded.* | grep -Eq ";start_thread;worker;leaf_b [0-9]+$"' _ "$RUN/out"

# --- Go + cgo, with a snapshot -------------------------------------------------------
# SIGUSR1 to the collector once it runs (under valgrind the Go program takes seconds to start):
# the run-so-far profile is written at once; the end of the run replaces it.
snapshot() {
	local i app p c=
	for ((i = 0; i < 400; i++)); do
		# the program: the reaper's oldest child (env execs the tool, which runs it in that
		# process); its collector is named goprof-<that pid> and runs memcheck.
		app=$(pgrep -o -P "$1")
		for p in $(pgrep -x "goprof-$app"); do
			[[ $(readlink "/proc/$p/exe") == *memcheck* ]] && c=$p
		done
		[ -n "$c" ] && break
		sleep 0.05
	done
	[ -n "$c" ] || return
	sleep 0.5
	kill -USR1 "$c"
	for ((i = 0; i < 300; i++)); do
		[ -s "$RUN/out/prof.pb.gz" ] && { cp "$RUN/out/prof.pb.gz" "$RUN/snapshot.pb.gz"; return; }
		sleep 0.05
	done
}
# LIBGOPROF_STRESS_SECONDS (default 3) + 1 s of work: a long run drains and aggregates for longer.
secs=$((${LIBGOPROF_STRESS_SECONDS:-3} + 1))
DURING=snapshot vg_run go GOPROF_DEBUG=1 -- "$GO_CGO" -d "${secs}s"
check "go_cgo under memcheck: program ran to its end" grep -qx 'go_cgo: done' "$RUN/stdout"
check "go_cgo under memcheck: a SIGUSR1 snapshot, valid" "$PROFCHECK" check "$RUN/snapshot.pb.gz"
check "go_cgo under memcheck: the snapshot says so" \
	sh -c '"$1" dump "$2" | grep -q "^# comment: .*snapshot by SIGUSR1"' _ "$PROFCHECK" "$RUN/snapshot.pb.gz"
check "go_cgo under memcheck: two profiles written (snapshot, end)" \
	test "$(grep -c '^libgoprof: collector: wrote ' "$RUN/stderr")" = 2
collector_checks "go_cgo"
P=$RUN/out/prof.pb.gz
check "go_cgo under memcheck: profile valid" "$PROFCHECK" check "$P"
check "go_cgo under memcheck: the cgo chain for c_inner" \
	"$PROFCHECK" chain "$P" --leaf c_inner --min 0.9 --min-samples 10 \
		--expect 'runtime.goexit;runtime.main;main.main;main.goCallC;main._Cfunc_c_outer;runtime.cgocall;runtime.asmcgocall;*;c_outer;c_inner'
check "go_cgo under memcheck: the final profile is the whole run, not the snapshot" \
	sh -c '! "$1" dump "$2" | grep -q "snapshot by SIGUSR1"' _ "$PROFCHECK" "$P"

# --- C memory profiling: the collector's side --------------------------------------------
# memcheck replaces malloc in every object, libgoprof.so's too (measured: a program preloaded
# under it samples nothing), so a program under memcheck never reaches the interposers and its
# collector gets no heap record. The collector's C memory code (heapmap, heap reports,
# interval and %p heap files, delta profiles) runs instead in the unit tests that drive it
# with synthetic rings: test_session and test_heapmap, under memcheck.
for t in test_session test_heapmap; do
    bin=$top_builddir/tests/unit/$t
    if [ ! -x "$bin" ]; then
        fail "$t under memcheck: $bin not built"
        continue
    fi
    valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
        --show-leak-kinds=definite,indirect,possible --error-exitcode=99 \
        --suppressions="$top_srcdir/tests/stress/valgrind-libdw.supp" \
        "$bin" >"$work/$t.log" 2>&1
    st=$?
    check "$t under memcheck: exit status 0 (its checks pass, no memcheck error or leak: $st)" \
        test "$st" = 0
    check "$t under memcheck: its checks ran ($(grep -Eo '[0-9]+ passed, 0 failed' "$work/$t.log"))" \
        grep -Eq '^[1-9][0-9]* passed, 0 failed' "$work/$t.log"
    [ "$st" = 0 ] || show_file "$work/$t.log" 20
done

finish
