#!/bin/bash
# test_goversions.sh -- the cgo fixture built with each Go toolchain in
# LIBGOPROF_TEST_GO_VERSIONS (default "1.26 1.21"): exact C-through-Go chain for c_inner and
# total sampled CPU within 10 % of the process's CPU time. Then a Go version it does not know.
. "$(dirname "$0")/lib.sh"

need_go || { echo "0 passed, 1 failed"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/libgoprof-goversions.XXXXXX")
build_fixtures "$work" || { fail "build fixtures"; summary; exit 1; }
chain='runtime.goexit;runtime.main;main.main;main.goCallC;main._Cfunc_c_outer;runtime.cgocall;runtime.asmcgocall;*;c_outer;c_inner'
for v in ${LIBGOPROF_TEST_GO_VERSIONS:-1.26 1.21}; do
    goroot=$("$top_srcdir/scripts/go-toolchain.sh" "$v") || { fail "go$v: toolchain"; continue; }
    bin="$work/go_cgo-$v"
    (cd "$top_srcdir/tests/fixtures/go_cgo" && CGO_ENABLED=1 "$goroot/bin/go" build -o "$bin" .) ||
        { fail "go$v: build go_cgo"; continue; }
    run_profiled "$work/go$v.pb.gz" -- "$bin" -d 2s || { fail "go$v: profile written"; continue; }
    check "go$v: profile valid for go tool pprof" pprof_ok "$RUN_PROFILE"
    check "go$v: chain for leaf c_inner (>= 0.99)" \
        "$PROFCHECK" chain "$RUN_PROFILE" --leaf c_inner --expect "$chain" --min 0.99
    cpu=$(sed -n 's/^cpu_ns=//p' "$RUN_STDOUT")
    check "go$v: sampled CPU within 10% of getrusage ($cpu ns)" \
        "$PROFCHECK" total "$RUN_PROFILE" --expect-cpu-ns "$cpu" --tol 0.10
done

# --- a Go version the profiler does not know -------------------------------------------
# go_cgo from the newest toolchain without DWARF (-w keeps .symtab for the C names), its
# version string rewritten to go1.99: the layout is then neither in DWARF nor in the table.
# One stderr line names it, the profile says so, and the stacks still cross into C.
bin="$work/go_cgo-future"
if (cd "$top_srcdir/tests/fixtures/go_cgo" && CGO_ENABLED=1 "$GO" build -ldflags=-w -o "$bin.src" .) &&
    perl -0777 -pe 's/go1\.(\d\d)\.(\d+)/go1.99.$2/g' "$bin.src" >"$bin" && chmod +x "$bin"; then
    run_profiled "$work/future.pb.gz" -- "$bin" -d 1s
    check "go1.99: profile written" test -n "$RUN_PROFILE"
    check "go1.99: exit status 0" test "$RUN_STATUS" = 0
    check "go1.99: exactly one stderr line, naming the version" \
        test "$(grep -c . "$RUN_STDERR")" = 1 -a "$(grep -c 'go1\.99.*runtime layout not recognised' "$RUN_STDERR")" = 1
    if [ -n "$RUN_PROFILE" ]; then
        check "go1.99: profile comment says the layout is not recognised" \
            sh -c '"$1" dump "$2" | grep -q "^# comment: .*go1\.99.*runtime layout not recognised"' _ "$PROFCHECK" "$RUN_PROFILE"
        check "go1.99: chain for leaf c_inner still complete (>= 0.99)" \
            "$PROFCHECK" chain "$RUN_PROFILE" --leaf c_inner --expect "$chain" --min 0.99
    fi
else
    fail "go1.99: build and rewrite the version"
fi
summary && { [ -n "${LIBGOPROF_TEST_KEEP:-}" ] || rm -rf "$work"; }
