#!/bin/bash
# test_asan.sh -- libgoprof built with ASan + UBSan, preloaded into real programs, so that the
# collector (drain, profmap, symbolizer, pprof writer, interval files, output claim, the
# session's processes: joins, fork handler, exec detection) and the constructor run
# instrumented on real profiles, not only the unit tests.
# Run by scripts/test.sh in its sanitizer build (build-asan: configure CFLAGS=-fsanitize=...):
#   make -C build-asan check TESTS=tests/stress/test_asan.sh
# It fails, rather than skips, when the library there is not instrumented.
#
# The sanitizer runtime is preloaded first (LD_PRELOAD="libasan.so libgoprof.so"), with its
# own signal handlers off (handle_segv=0 ...: the programs' signals stay theirs) and every
# report written to a log file in the work directory: any such file fails the test. With
# -fno-sanitize-recover=all an error also aborts the process that hit it, so an error in the
# collector shows as a missing profile, one in the program as a changed exit status. (Leaks:
# the collector leaves by _exit, so LeakSanitizer never runs there; valgrind checks it, see
# test_valgrind.sh. The C programs' own exits are leak-checked.)
#
#   c_threads             C, two threads: same output and status, valid profile, both leaves
#   c_threads, intervals  GOPROF_INTERVAL=300ms: a series of valid files tiling the run
#   go_cgo                Go + cgo: the C leaf under its Go callers, Go's exit path
#   c_procs execchain     three images of one pid: one session, one file (%e.%p) with the
#                         three images' work (exec detection, an image joining its pid's entry)
#   c_procs spawn         fork+exec, vfork+exec, posix_spawn children joining the session:
#                         one file, each child's work under its own pid and process frame
#   c_procs fork          a child forked without exec joins from the fork handler
#   c_procs closefds      the connection closed by the program: profiled to its end
. "$(dirname "$0")/../integration/lib.sh"

stress_setup asan
PROCS=$work/bin/c_procs
gcc -O1 -fno-omit-frame-pointer -fno-inline -pthread -Wall -o "$PROCS" "$fx/c_procs.c" ||
	{ fail "build c_procs"; finish; }

if ! nm -D "$LIBGOPROF" 2>/dev/null | grep -q '__asan_report\|__ubsan_handle'; then
	fail "$LIBGOPROF is not built with -fsanitize=address,undefined"
	finish
fi
asan_rt=$(gcc -print-file-name=libasan.so)
[ -f "$asan_rt" ] || { fail "no libasan.so ($asan_rt)"; finish; }
pass "instrumented library $LIBGOPROF, runtime $asan_rt"
# the C_INNER chain of tests/integration/test_basic.sh
CHAIN_C_INNER='runtime.goexit;runtime.main;main.main;main.goCallC;main._Cfunc_c_outer;runtime.cgocall;runtime.asmcgocall;*;c_outer;c_inner'
export PRELOAD_FIRST=$asan_rt
export ASAN_OPTIONS="log_path=$work/asan:handle_segv=0:handle_sigbus=0:handle_abort=0:handle_sigfpe=0:handle_sigill=0:allow_user_segv_handler=1:detect_leaks=1"
export UBSAN_OPTIONS="log_path=$work/ubsan:print_stacktrace=1"

# no_reports WHAT: no sanitizer log appeared since the last call (each is shown, then moved),
# and none on the last run's stderr (a collector that kept a terminal or file as stderr may
# report there).
no_reports() {
	local logs
	logs=$(ls "$work"/asan.* "$work"/ubsan.* 2>/dev/null | grep -v '\.seen$')
	if [ -z "$logs" ] && ! grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$RUN_STDERR"; then
		pass "$1: no sanitizer report"
		return
	fi
	fail "$1: sanitizer reports"
	show_file "$RUN_STDERR" 30
	for f in $logs; do
		show_file "$f" 30
		mv "$f" "$f.seen"
	done
}

# --- C, two threads ----------------------------------------------------------------------
D=$work/c_threads
mkdir -p "$D"
both_ways "c_threads" -- "$C_THREADS"
check "c_threads: profile written" test "$got" = 0
if [ "$got" = 0 ]; then
	check "c_threads: profile valid" "$PROFCHECK" check "$RUN_PROFILE"
	for leaf in leaf_a leaf_b; do
		n=$(samples_of "$RUN_PROFILE" "$leaf")
		check "c_threads: $leaf in the profile ($n samples)" test "$n" -ge 5
	done
fi
no_reports "c_threads"

# --- C, interval files -------------------------------------------------------------------
D=$work/interval
mkdir -p "$D"
run_profiled "$D/unused" --no-profile GOPROF_INTERVAL=300ms GOPROF_OUT="$D/cpu.%n.pb.gz" -- "$C_THREADS"
same_as_plain "c_threads, intervals" "$work/c_threads/plain"
# (sorted by their number: the directory's own name has dots)
files=$(ls "$D" | grep -E '^cpu\.[0-9]+\.pb\.gz$' | sort -t. -k2 -n | sed "s|^|$D/|")
nf=$(echo "$files" | grep -c . )
check "c_threads, intervals: at least 3 files ($nf)" test "$nf" -ge 3
# shellcheck disable=SC2086
[ "$nf" -ge 1 ] && check "c_threads, intervals: the files tile the run and match its totals" \
	"$PROFCHECK" series --expect-run $files
no_reports "c_threads, intervals"

# --- Go + cgo ------------------------------------------------------------------------------
D=$work/go_cgo
mkdir -p "$D"
run_plain "$D/plain" -- "$GO_CGO" -d 1500ms
run_profiled "$D/prof.pb.gz" -- "$GO_CGO" -d 1500ms
got=$?
check "go_cgo: exit status unchanged ($(cat "$D/plain.status"))" test "$RUN_STATUS" = "$(cat "$D/plain.status")"
check "go_cgo: stderr identical" cmp -s "$D/plain.stderr" "$RUN_STDERR"
check "go_cgo: profile written" test "$got" = 0
if [ "$got" = 0 ]; then
	check "go_cgo: profile valid" "$PROFCHECK" check "$RUN_PROFILE"
	check "go_cgo: chain $CHAIN_C_INNER for leaf c_inner" \
		"$PROFCHECK" chain "$RUN_PROFILE" --leaf c_inner --expect "$CHAIN_C_INNER" --min-samples 5
fi
no_reports "go_cgo"

# --- exec chain and closed lifeline ----------------------------------------------------------
D=$work/execchain
mkdir -p "$D"
run_plain "$D/plain" -- "$PROCS" execchain 300
run_profiled "$D/unused" --no-profile GOPROF_OUT="$D/prof.%e.%p.pb.gz" -- "$PROCS" execchain 300
same_as_plain "exec chain" "$D/plain"
sleep 0.5
f=$D/prof.c_procs.$RUN_PID.pb.gz
files=$(cd "$D" && ls prof.* 2>/dev/null | tr '\n' ' ')
check "exec chain: one file for the pid's three images, prof.c_procs.$RUN_PID.pb.gz (found: ${files:-none})" \
	test "$files" = "prof.c_procs.$RUN_PID.pb.gz "
if [ -s "$f" ]; then
	check "exec chain: profile valid" "$PROFCHECK" check "$f"
	works=
	for fn in first_image_work pre_exec_work spin_exec; do works="$works $fn=$(samples_of "$f" "$fn")"; done
	check "exec chain: the three images' work, >= 5 samples each ($works)" \
		test -z "$(tr ' ' '\n' <<<"$works" | grep -E '=[0-4]$')"
	rooted=$(rooted_of "$f")
	check "exec chain: under the leader's pid $RUN_PID only ($(pids_of "$f")), no process frame ($rooted)" \
		test "$(pids_of "$f")" = "$RUN_PID" -a "${rooted%% *}" = 0
fi
no_reports "exec chain"

D=$work/spawn
mkdir -p "$D"
run_plain "$D/plain" -- "$PROCS" spawn 300 "$D/plain.pids"
run_profiled "$D/prof.pb.gz" -- "$PROCS" spawn 300 "$D/pids"
got=$?
same_as_plain "spawn" "$D/plain"
check "spawn: one profile for the tree, at the exact path" test "$got" = 0 -a -z "$(ls "$D"/prof.pb.gz.[0-9]* 2>/dev/null)"
if [ "$got" = 0 ]; then
	check "spawn: profile valid, the parent's work without a process frame" \
		"$PROFCHECK" chain "$RUN_PROFILE" --leaf parent_work --expect "_start;...;main;do_spawn;parent_work" --min-samples 5
	for kind in fork vfork spawn; do
		pid=$(awk -v k="$kind" '$1 == k { print $2 }' "$D/pids" 2>/dev/null)
		n=$(samples_of_pid "$RUN_PROFILE" "spin_$kind" "${pid:-0}")
		check "spawn: the $kind child's work under its pid ${pid:-?} ($n samples) and [process: c_procs]" \
			"$PROFCHECK" chain "$RUN_PROFILE" --leaf "spin_$kind" --min-samples 5 \
			--expect "[process: c_procs];_start;...;main;child_main;spin_$kind"
		check "spawn: spin_$kind all under pid ${pid:-?} ($n of $(samples_of "$RUN_PROFILE" "spin_$kind"))" \
			test "$n" -ge 5 -a "$n" = "$(samples_of "$RUN_PROFILE" "spin_$kind")"
	done
fi
no_reports "spawn"

D=$work/fork
mkdir -p "$D"
both_ways "fork" -- "$PROCS" fork 300
check "fork: profile written" test "$got" = 0
if [ "$got" = 0 ]; then
	cpids=$(pids_of "$RUN_PROFILE" child_inert_work)
	check "fork: the child's work under its own pid ($cpids, leader $RUN_PID) and [process: c_procs]" \
		"$PROFCHECK" chain "$RUN_PROFILE" --leaf child_inert_work --min-samples 5 \
		--expect "[process: c_procs];_start;...;main;do_fork;child_inert_work"
	check "fork: one child pid, not the leader's ($cpids)" \
		test -n "$cpids" -a "$cpids" = "${cpids%% *}" -a "$cpids" != "$RUN_PID"
fi
no_reports "fork"

D=$work/closefds
mkdir -p "$D"
both_ways "closefds" -- "$PROCS" closefds 300
check "closefds: profile written" test "$got" = 0
[ "$got" = 0 ] && check "closefds: after_close_work in the profile" \
	test "$(samples_of "$RUN_PROFILE" after_close_work)" -ge 5
no_reports "closefds"

finish
