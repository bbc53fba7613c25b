#!/bin/bash
# test_goprof.sh -- the goprof command and folded stacks:
#   - goprof without arguments: usage on stderr, exit 2;
#   - goprof record keeps the command's exit status (0, 3, killed by SIGKILL -> 137, stopped by
#     -d with SIGINT -> 130, SIGTERM sent to goprof forwarded -> 143), its stdout, its stdin,
#     and prints a summary whose sample count is profcheck's;
#   - GOPROF_FORMAT=folded: the collector writes folded stacks that parse, carry the cgo
#     chain, keep "[libgoprof] lost:" frames, and whose total matches the run's CPU time as a
#     pprof run's does (both within 15 % of getrusage); goprof folded of a pprof file adds up
#     to profcheck's count exactly.
. "$(dirname "$0")/lib.sh"

need_go || { echo "0 passed, 1 failed"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/libgoprof-goprof.XXXXXX")
build_fixtures "$work" || { fail "build fixtures"; summary; exit 1; }
GOPROF=$top_builddir/goprof
[ -x "$GOPROF" ] || GOPROF=$top_srcdir/build/goprof
_goprof_unsets

# goprof_run PREFIX [VAR=VALUE ...] -- ARGS...: runs goprof ARGS with no inherited GOPROF_*
# variable; stdout/stderr/status in PREFIX.stdout/.stderr/.status and $RUN_STATUS.
goprof_run() {
	local prefix=$1
	local -a vars=()
	shift
	while [ "$1" != "--" ]; do vars+=("$1"); shift; done
	shift
	env "${_UNSETS[@]}" "${vars[@]}" "$GOPROF" "$@" >"$prefix.stdout" 2>"$prefix.stderr" </dev/null
	RUN_STATUS=$?
	echo "$RUN_STATUS" >"$prefix.status"
}

# summary_samples FILE: N from the summary line "goprof: PATH: N samples, ..."
summary_samples() {
	sed -n 's/^goprof: .*: \([0-9][0-9]*\) samples, .*/\1/p' "$1" | head -n 1
}

# within A B PCT: |A - B| <= PCT % of B
within() {
	awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= b * p / 100) }'
}

# --- usage -------------------------------------------------------------------------------
goprof_run "$work/noargs" --
check "goprof without arguments exits 2" test "$RUN_STATUS" = 2
check "goprof without arguments prints its usage on stderr" grep -q '^usage: goprof' "$work/noargs.stderr"
check "goprof without arguments prints nothing on stdout" test ! -s "$work/noargs.stdout"
goprof_run "$work/badcmd" -- frobnicate
check "unknown command exits 2 with a goprof: line" \
	bash -c "test $RUN_STATUS = 2 && grep -q '^goprof: unknown command' '$work/badcmd.stderr'"

# --- record: exit 0, stdout, summary ---------------------------------------------------------
run_plain "$work/plain" -- "$GO_CGO" -d 1s
goprof_run "$work/rec0" -- record -o "$work/rec0.pb.gz" -- "$GO_CGO" -d 1s
check "record: exit status 0 kept" test "$RUN_STATUS" = 0
check "record: the command's stdout unchanged" \
	cmp -s <(strip_timing "$work/plain.stdout") <(strip_timing "$work/rec0.stdout")
check "record: every stderr line is goprof's" bash -c "! grep -v '^goprof: ' '$work/rec0.stderr'"
check "record: profile written where -o said" "$PROFCHECK" check "$work/rec0.pb.gz"
n_summary=$(summary_samples "$work/rec0.stderr")
n_profcheck=$("$PROFCHECK" total "$work/rec0.pb.gz" | sed -n 's/^count //p')
check "record: summary sample count ($n_summary) = profcheck count ($n_profcheck)" \
	bash -c "[ -n '$n_summary' ] && [ '$n_summary' = '$n_profcheck' ] && [ '$n_summary' -gt 5 ]"
check "record: summary names the output path" grep -q "^goprof: $work/rec0.pb.gz: " "$work/rec0.stderr"
check "record: summary lists c_inner in the top by flat" \
	bash -c "sed -n '/top 10 by flat/,/top 10 by cum/p' '$work/rec0.stderr' | grep -q ' c_inner$'"
# The C chain's functions all have the same cum (c_inner's samples) and ties are listed in name
# order, so main.goCallC can fall past the 10th row behind main._Cfunc_c_outer; either is a Go
# caller of C.
check "record: summary lists a Go caller of C (main.goCallC or main._Cfunc_c_outer) in the top by cum" \
	bash -c "sed -n '/top 10 by cum/,\$p' '$work/rec0.stderr' | grep -Eq ' main\.(goCallC|_Cfunc_c_outer)$'"
show_file "$work/rec0.stderr" 4

# --- record: exit status 3, SIGKILL, -d, forwarded SIGTERM, stdin ------------------------------
goprof_run "$work/rec3" -- record -o "$work/rec3.pb.gz" -- "$GO_CGO" -d 200ms -exit 3
check "record: exit status 3 kept" test "$RUN_STATUS" = 3
check "record: profile after exit 3" test -s "$work/rec3.pb.gz"

# --heap-rate: the C memory profile is written next to the CPU one and summarized after it.
goprof_run "$work/rech" -- record -o "$work/rech.pb.gz" --heap-rate 64k \
	--heap-out "$work/rech.heap.pb.gz" -- "$GO_CGO" -d 200ms
check "record --heap-rate: exit 0, both profiles" \
	bash -c "test $RUN_STATUS = 0 && test -s '$work/rech.pb.gz' && test -s '$work/rech.heap.pb.gz'"
check "record --heap-rate: the C memory summary" \
	grep -q "^goprof: $work/rech.heap.pb.gz: C memory: in use" "$work/rech.stderr"
goprof_run "$work/rechbad" -- record --heap-rate 12x -- true
check "record: --heap-rate 12x is a usage error (2)" test "$RUN_STATUS" = 2

goprof_run "$work/reck" -- record -o "$work/reck.pb.gz" -- sh -c 'kill -KILL $$'
check "record: command killed by SIGKILL -> 137" test "$RUN_STATUS" = 137
check "record: the kill is reported" grep -q '^goprof: .*killed by signal 9' "$work/reck.stderr"
check "record: profile after SIGKILL" test -s "$work/reck.pb.gz"

start=$(date +%s%N)
# env --default-signal=INT: a test suite started in the background (nohup ... &) passes SIGINT
# down ignored, and Go then keeps it ignored; goprof would escalate to SIGTERM after 5 s.
goprof_run "$work/recd" -- record -d 700ms -o "$work/recd.pb.gz" -- \
    env --default-signal=INT "$GO_CGO" -d 1s -sleep
took=$((($(date +%s%N) - start) / 1000000))
check "record -d: command stopped by SIGINT -> 130" test "$RUN_STATUS" = 130
check "record -d: stopped after about 0.7 s (took $took ms)" test "$took" -lt 5000
check "record -d: profile written" "$PROFCHECK" check "$work/recd.pb.gz"

env "${_UNSETS[@]}" "$GOPROF" record -o "$work/rect.pb.gz" -- "$GO_CGO" -d 300ms -sleep \
	>"$work/rect.stdout" 2>"$work/rect.stderr" </dev/null &
gpid=$!
for _ in $(seq 100); do grep -q 'go_cgo: done' "$work/rect.stdout" 2>/dev/null && break; sleep 0.1; done
kill -TERM "$gpid"
wait "$gpid"
st=$?
check "record: SIGTERM sent to goprof reaches the command -> 143" test "$st" = 143
check "record: summary printed after a forwarded signal" grep -q ' samples, ' "$work/rect.stderr"

out=$(printf 'line one\nline two\n' | env "${_UNSETS[@]}" "$GOPROF" record -o "$work/cat.pb.gz" -- cat 2>"$work/cat.stderr")
check "record: the command reads goprof's stdin" test "$out" = $'line one\nline two'

goprof_run "$work/nf" -- record -o "$work/nf.pb.gz" -- "$work/no-such-command"
check "record: a missing command -> 127" test "$RUN_STATUS" = 127
goprof_run "$work/badhz" -- record -F 0 -- true
check "record: -F 0 is a usage error (2)" test "$RUN_STATUS" = 2

# --- folded stacks --------------------------------------------------------------------------
goprof_run "$work/conv" -- folded "$work/rec0.pb.gz"
check "goprof folded: exit 0" test "$RUN_STATUS" = 0
check "goprof folded: every line is 'frames count'" \
	bash -c "[ -s '$work/conv.stdout' ] && ! grep -Ev '^[^ ;][^;]*(;[^;]+)* [0-9]+$' '$work/conv.stdout'"
conv_total=$(awk '{ s += $NF } END { print s + 0 }' "$work/conv.stdout")
check "goprof folded: total ($conv_total) = profcheck count ($n_profcheck) exactly" \
	test "$conv_total" = "$n_profcheck"

run_profiled "$work/fold.folded" GOPROF_FORMAT=folded -- "$GO_CGO" -d 1s
check "GOPROF_FORMAT=folded: file written" test -n "$RUN_PROFILE"
check "GOPROF_FORMAT=folded: every line is 'frames count'" \
	bash -c "! grep -Ev '^[^ ;][^;]*(;[^;]+)* [0-9]+$' '$work/fold.folded'"
check "GOPROF_FORMAT=folded: the cgo chain, root first" grep -Eq \
	'^runtime\.goexit;runtime\.main;main\.main;main\.goCallC;main\._Cfunc_c_outer;runtime\.cgocall;runtime\.asmcgocall;_cgo_[0-9a-f]+_Cfunc_c_outer;c_outer;c_inner [0-9]+$' \
	"$work/fold.folded"
fold_total=$(awk '{ s += $NF } END { print s + 0 }' "$work/fold.folded")
fold_cpu=$(field_of "$RUN_STDOUT" cpu_ns)
pprof_cpu=$(field_of "$work/rec0.stdout" cpu_ns)
# 100 Hz: one sample is 10 ms of CPU. Both runs against their own getrusage, and each other.
check "GOPROF_FORMAT=folded: $fold_total samples = $((fold_cpu / 10000000)) from getrusage (±15 %)" \
	within "$((fold_total * 10000000))" "$fold_cpu" 15
check "GOPROF_FORMAT=folded: per CPU-second as the pprof run ($fold_total vs $n_profcheck)" \
	within "$((fold_total * 1000000000 / fold_cpu))" "$((n_profcheck * 1000000000 / pprof_cpu))" 15

run_profiled "$work/lost.folded" GOPROF_FORMAT=folded GOPROF_RING_SLOTS=4 GOPROF_HZ=1000 -- \
	"${COLLECTOR_PAUSED[@]}" "$C_THREADS"
check "GOPROF_FORMAT=folded: a lost-sample frame is kept" \
	grep -Eq '^\[libgoprof\] lost: ring full [0-9]+$' "$work/lost.folded"

run_profiled "$work/badfmt.pb.gz" --no-profile GOPROF_FORMAT=svg -- "$GO_CGO" -d 100ms
check "GOPROF_FORMAT=svg: exactly one stderr line, naming the variable" \
	bash -c "[ \$(wc -l < '$RUN_STDERR') = 1 ] && grep -q 'GOPROF_FORMAT=\"svg\" is invalid (one of pprof, folded)' '$RUN_STDERR'"
check "GOPROF_FORMAT=svg: no profile" test -z "$RUN_PROFILE"

if summary; then
	[ -n "${LIBGOPROF_TEST_KEEP:-}" ] || rm -rf "$work"
	exit 0
fi
echo "work directory kept: $work"
exit 1
