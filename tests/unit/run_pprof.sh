#!/bin/sh
# run_pprof.sh -- runs test_pprof, then checks its profile with `go tool pprof`.
# Context: collector
#
# test_pprof is built by Makefile.am (make check); this runs it into a temporary directory,
# counts its C unit tests, then greps pprof's -raw, -top, -traces and -tags output and protoc's
# decoding for exact strings.
# Environment: top_builddir (set by make check; by hand it defaults to the tree's build/),
# GO (go binary), GOCACHE, KEEP=1 to keep the temporary directory.
set -eu

repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${top_builddir:-$repo/build}
GO=${GO:-$("$repo/scripts/go-toolchain.sh" 1.26)/bin/go}
export GOCACHE=${GOCACHE:-${LIBGOPROF_CACHE:-$HOME/.cache/libgoprof}/gocache}
export GOTOOLCHAIN=local
test_pprof=$build/tests/unit/test_pprof
if [ ! -x "$test_pprof" ]; then
    echo "run_pprof.sh: no $test_pprof (build it: make -C $build check TESTS=)"
    echo "0 passed, 1 failed"
    exit 1
fi
work=$(mktemp -d /tmp/test_pprof.XXXXXX)
if [ "${KEEP:-0}" = 1 ]; then echo "keeping $work"; else trap 'rm -rf "$work"' EXIT; fi

pass=0
fail=0
if "$test_pprof" "$work"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi

# expect VIEW STRING: pprof's (or protoc's) output for VIEW must contain STRING verbatim.
expect() {
    if grep -qF -- "$2" "$work/out.$1"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $1 output lacks: $2"
        sed 's/^/    /' "$work/out.$1"
    fi
}

prof="$work/small.pb.gz"
for view in raw top traces tags; do
    "$GO" tool pprof -"$view" "$prof" >"$work/out.$view" 2>&1 || echo "pprof -$view exited $?" >>"$work/out.$view"
done
gunzip -c "$prof" | protoc --decode=perftools.profiles.Profile \
    -I"$repo/src/lib/pprof" "$repo/src/lib/pprof/profile.proto" >"$work/out.decode" 2>&1 || true

expect raw 'PeriodType: cpu nanoseconds'
expect raw 'Period: 10000000'
expect raw 'Duration: 1.5s'
expect raw 'samples/count cpu/nanoseconds'
expect raw 'thread_id:[1001]'
expect raw 'thread_name:[worker]'
expect raw 'thread_name:[io]'
expect raw 'main.mix /src/gpdemo/main.go:37:0 s=35'
expect raw 'main.spin /src/gpdemo/main.go:30:0 s=28'
expect raw 'libgoprof unit test comment'
expect raw '/usr/local/bin/gpdemo'
expect raw '4fe1c0ffee0123456789abcdef0123456789abcd'
expect raw '/lib/x86_64-linux-gnu/libc.so.6'
expect top 'libgoprof unit test comment'
expect top 'File: gpdemo'
expect top 'Build ID: 4fe1c0ffee0123456789abcdef0123456789abcd'
expect top 'Total samples = 60ms'
expect top '__memcpy_avx_unaligned'
expect top 'main.mix'
expect top 'c_burn'
expect traces 'thread_name:  worker'
expect traces 'thread_id:  1001'
expect traces 'main.mix'
expect traces 'main.spin'
expect traces 'main.main'
expect tags 'thread_name: Total 50ms of 60ms'
expect tags 'worker'
expect tags '1001'
expect tags '1002'
expect decode 'string_table: ""'
expect decode 'time_nanos: 1700000000123456789'
# The first string_table entry must be "".
if grep -m1 'string_table' "$work/out.decode" | grep -qx 'string_table: ""'; then
    pass=$((pass + 1))
else
    fail=$((fail + 1))
    echo "FAIL: first string_table entry is not \"\""
fi
# The 10^5-stack profiles must load too (batch boundaries, large string table).
for b in bench bench-shared; do
    if "$GO" tool pprof -top "$work/$b.pb.gz" >"$work/out.$b" 2>&1 &&
       grep -q 'File: bench' "$work/out.$b"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: pprof could not read $b.pb.gz"
        head -20 "$work/out.$b"
    fi
done

echo "run_pprof.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
