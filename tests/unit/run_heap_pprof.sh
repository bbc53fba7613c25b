#!/bin/sh
# run_heap_pprof.sh -- the collector's C memory profiles read by `go tool pprof`.
# Context: collector
#
# test_session (synthetic rings, no fork) copies two interval heap profiles into a temporary
# directory (TEST_SESSION_KEEP); this checks that pprof reads them in Go's heap format: the four
# sample types, -sample_index=inuse_space and alloc_space, the default (inuse_space), the
# "bytes" label, and -base between the two files (in-use growth, allocations in between).
# Environment: top_builddir (set by make check; by hand it defaults to the tree's build/),
# GO (go binary), GOCACHE, KEEP=1 to keep the temporary directory.
set -eu

repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${top_builddir:-$repo/build}
GO=${GO:-$("$repo/scripts/go-toolchain.sh" 1.26)/bin/go}
export GOCACHE=${GOCACHE:-${LIBGOPROF_CACHE:-$HOME/.cache/libgoprof}/gocache}
export GOTOOLCHAIN=local
test_session=$build/tests/unit/test_session
if [ ! -x "$test_session" ]; then
    echo "run_heap_pprof.sh: no $test_session (build it: make -C $build check TESTS=)"
    echo "0 passed, 1 failed"
    exit 1
fi
work=$(mktemp -d /tmp/test_heap_pprof.XXXXXX)
if [ "${KEEP:-0}" = 1 ]; then echo "keeping $work"; else trap 'rm -rf "$work"' EXIT; fi

pass=0
fail=0
if TEST_SESSION_KEEP=$work "$test_session" >"$work/session.log" 2>&1; then
    pass=$((pass + 1))
else
    fail=$((fail + 1))
    tail -n 20 "$work/session.log"
fi

# expect NAME STRING: the output saved as NAME must contain STRING verbatim.
expect() {
    if grep -qF -- "$2" "$work/out.$1"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $1 output lacks: $2"
        sed 's/^/    /' "$work/out.$1"
    fi
}
pprof() {
    out=$1
    shift
    "$GO" tool pprof "$@" >"$work/out.$out" 2>&1 || echo "pprof $* exited $?" >>"$work/out.$out"
}

h1=$work/heap.1.pb.gz
h2=$work/heap.2.pb.gz
pprof raw -raw "$h2"
pprof inuse -sample_index=inuse_space -top "$h2"
pprof alloc -sample_index=alloc_space -top "$h2"
pprof objects -sample_index=inuse_objects -top "$h2"
pprof default -top "$h2"
pprof base -unit=B -sample_index=inuse_space -base "$h1" -top "$h2"
pprof basealloc -unit=B -sample_index=alloc_space -base "$h1" -top "$h2"

expect raw 'PeriodType: space bytes'
expect raw 'Period: 524288'
expect raw 'alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes'
expect raw '2    2425393          1    1212696'
expect raw '15730    1573014      15730    1573014'
expect raw 'bytes:[1048576]'
expect raw 'process:[child]'
expect raw 'C memory profile: allocations sampled every 524288 bytes'
expect inuse 'Type: inuse_space'
expect inuse 'of 3.81MB total'
expect alloc 'Type: alloc_space'
expect alloc 'of 4.31MB total'
expect objects 'Type: inuse_objects'
expect default 'Type: inuse_space'
# -base: heap.2 minus heap.1. In-use: the leader's S1 went from 2 blocks to 1 (-1212697) and
# its S2 from 100 bytes to 1 MiB (+688358), the child's S2 is new (+1573014): 1048675 bytes in
# all; alloc: only the child's 1573014.
expect base 'Showing nodes accounting for 1048675B'
expect base '[process: child]'
expect basealloc 'Showing nodes accounting for 1573014B'
expect basealloc '[process: child]'

echo "$pass passed, $fail failed"   # (scripts/test.sh adds up lines that start with the count)
[ "$fail" -eq 0 ]
