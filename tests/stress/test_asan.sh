#!/bin/bash
# test_asan.sh -- libgoprof built with ASan + UBSan, preloaded into real programs, so that the
# collector (drain, profmap, symbolizer, pprof writer, interval files, output claim, exec
# detection) and the constructor run instrumented on real profiles, not only the unit tests.
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
#   c_procs execchain     three images of one pid: three files (claims, exec detection)
#   c_procs closefds      the lifeline closed by the program: profiled to its end
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
files=$(ls "$D"/cpu.*.pb.gz 2>/dev/null | sort -t. -k2 -n)
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
n=0
for f in "$D"/prof.c_procs.*; do "$PROFCHECK" check "$f" >/dev/null 2>&1 && n=$((n + 1)); done
check "exec chain: 3 valid profiles, one per image ($n)" test "$n" = 3
no_reports "exec chain"

D=$work/closefds
mkdir -p "$D"
both_ways "closefds" -- "$PROCS" closefds 300
check "closefds: profile written" test "$got" = 0
[ "$got" = 0 ] && check "closefds: after_close_work in the profile" \
	test "$(samples_of "$RUN_PROFILE" after_close_work)" -ge 5
no_reports "closefds"

finish
