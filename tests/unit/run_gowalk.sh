#!/bin/sh
# run_gowalk.sh -- build tests/stacks/callers with each toolchain in LIBGOPROF_TEST_GO_VERSIONS
# (default 1.21 to 1.26) and run test_gowalk on it: the Go walker at chosen PCs of
# runtime.systemstack and runtime.callers.func1, on synthetic stacks (test_gowalk.c).
# test_gowalk is built by Makefile.am (make check); top_builddir (set by make check) says
# where, and defaults to the tree's build/ when run by hand.
# Usage: tests/unit/run_gowalk.sh   (from anywhere)
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${top_builddir:-$top/build}
total_fail=0
total_pass=0
note() { printf '%s\n' "$*"; }
fail() { note "FAIL: $*"; total_fail=$((total_fail + 1)); }

test_gowalk=$build/tests/unit/test_gowalk
if [ ! -x "$test_gowalk" ]; then
    note "run_gowalk: no $test_gowalk (build it: make -C $build check TESTS=)"
    echo "0 passed, 1 failed"
    exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gowalk.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src"
cp "$top/tests/stacks/callers/main.go" "$top/tests/stacks/common/gopprof.go" "$tmp/src/"
printf 'module corpus\n\ngo 1.21\n' >"$tmp/src/go.mod"
for v in ${LIBGOPROF_TEST_GO_VERSIONS:-1.21 1.22 1.23 1.24 1.25 1.26}; do
    goroot=$("$top/scripts/go-toolchain.sh" "$v") || { fail "toolchain $v"; continue; }
    bin="$tmp/callers-go$v"
    (cd "$tmp/src" && GOCACHE=${GOCACHE:-${LIBGOPROF_CACHE:-$HOME/.cache/libgoprof}/gocache} \
        GOFLAGS= GOTOOLCHAIN=local "$goroot/bin/go" build -o "$bin" .) || { fail "build go$v"; continue; }
    out=$("$test_gowalk" "$bin" 2>&1); rc=$?
    printf '%s\n' "$out" | sed 's/^/    /'
    if [ $rc -eq 0 ]; then total_pass=$((total_pass + 1)); else fail "test_gowalk go$v"; fi
done
echo "$total_pass passed, $total_fail failed"
[ $total_fail -eq 0 ]
