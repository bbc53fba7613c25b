#!/bin/sh
# test.sh -- sets everything up and runs every test of libgoprof; prints "N passed, N failed".
#   ./scripts/test.sh        (as root on a fresh Debian 12 machine; .ci/run calls exactly this)
# LIBGOPROF_TEST_GO_VERSIONS: Go versions for the multi-version tests (default: 1.21 to 1.26).
# LIBGOPROF_FUZZ_SECONDS: fuzzing time per libFuzzer target (tests/fuzz/run.sh; default 10).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/setup.sh" >/dev/null
LIBGOPROF_TEST_GO_VERSIONS=${LIBGOPROF_TEST_GO_VERSIONS:-1.21 1.22 1.23 1.24 1.25 1.26}
export LIBGOPROF_TEST_GO_VERSIONS
for v in $LIBGOPROF_TEST_GO_VERSIONS; do "$top/scripts/go-toolchain.sh" "$v" >/dev/null; done
"$top/scripts/build.sh" >/dev/null
status=0

echo "== make check (unit, integration, static checks)"
( cd build && make check -j1 >/dev/null 2>&1 ) || status=1
# Each test prints its own "N passed, N failed"; show it per log and add them up.
total_pass=0 total_fail=0
for f in build/tests/unit/*.log build/tests/integration/*.log build/tests/stress/*.log build/tests/*.log; do
    [ -f "$f" ] || continue
    case $f in */test-suite.log) continue ;; esac
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$f" | tail -n1)
    printf '%-45s %s\n' "${f#build/}" "$line"
    p=$(echo "$line" | awk '{print $1 + 0}'); q=$(echo "$line" | awk '{print $3 + 0}')
    total_pass=$((total_pass + p)); total_fail=$((total_fail + q))
done
# show_failed TRS...: for each test whose .trs says FAIL or ERROR, its failed checks with what
# they printed around them, and its last lines (a log is thousands of PASS lines; the head of
# test-suite.log rarely reaches the failure).
show_failed() {
    local trs log
    for trs in $(grep -l -E '^:test-result: (FAIL|ERROR)' "$@" 2>/dev/null); do
        log=${trs%.trs}.log
        echo "--- ${log#build/}"
        grep -n -B3 -A15 -E '^(FAIL|ERROR)' "$log" | head -n 150
        echo "--- ${log#build/}: its last lines"
        tail -n 10 "$log"
    done
}
if [ $status != 0 ]; then
    echo "make check failed; details:"
    show_failed build/tests/*.trs build/tests/*/*.trs
fi

echo "== cppcheck"
if cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
    --std=c11 --inline-suppr -I src -I include --suppress=missingIncludeSystem src 2>&1; then
    echo "cppcheck: clean"
else
    status=1
fi

# The unit test programs (make check TESTS=...) run by the sanitizer build and distcheck.
unit_tests="tests/unit/test_ring tests/unit/test_config tests/unit/test_profmap tests/unit/test_godwarf
    tests/unit/test_cfi tests/unit/test_session tests/unit/test_claim tests/unit/test_frame_kind
    tests/unit/test_deep_stack tests/unit/test_ring_labels tests/unit/test_heapmap tests/unit/test_heap"

echo "== ASan + UBSan build of the collector-side code, running the unit tests"
# run_symbolize.sh without Go programs: the symbolizer on C code (its own, with DWARF).
san="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
if ( mkdir -p build-asan && cd build-asan &&
     { [ -f Makefile ] || ../configure CFLAGS="$san" LDFLAGS="-fsanitize=address,undefined" >/dev/null; } &&
     LIBGOPROF_TEST_GO_VERSIONS= make -j2 check TESTS="$unit_tests tests/unit/run_symbolize.sh" \
         >/tmp/libgoprof-asan.log 2>&1 ); then
    grep -h 'passed, ' build-asan/tests/unit/*.log | sed 's/^/sanitizers: /'
else
    tail -n 40 /tmp/libgoprof-asan.log
    show_failed build-asan/tests/unit/*.trs
    status=1
fi
echo "== ASan + UBSan library preloaded into real programs (collector on real profiles)"
if top_srcdir=$PWD top_builddir=$PWD/build-asan LIBGOPROF=$PWD/build-asan/.libs/libgoprof.so \
    bash tests/stress/test_asan.sh >build-asan/test_asan.log 2>&1; then
    tail -n 1 build-asan/test_asan.log | sed 's/^/sanitizers, preloaded: /'
else
    grep -v '^PASS' build-asan/test_asan.log | tail -n 40
    status=1
fi
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' build-asan/test_asan.log | tail -n1)
total_pass=$((total_pass + $(echo "$line" | awk '{print $1 + 0}')))
total_fail=$((total_fail + $(echo "$line" | awk '{print $3 + 0}')))

echo "== make distcheck (unit tests and static checks in the unpacked tarball)"
if ( cd build && make distcheck -j2 TESTS="$unit_tests" >/tmp/libgoprof-distcheck.log 2>&1 ); then
    echo "distcheck: ok"
else
    tail -n 40 /tmp/libgoprof-distcheck.log
    # The failing tests' own logs (the unpacked tree stays after a failure).
    show_failed build/libgoprof-*/_build/sub/tests/unit/*.trs
    status=1
fi

echo "== fuzz (tests/fuzz/run.sh: regression inputs, then LIBGOPROF_FUZZ_SECONDS per target)"
# clang's libFuzzer, not the gcc build: outside make check. Any crash, leak or hang fails the run.
if "$top/tests/fuzz/run.sh" >/tmp/libgoprof-fuzz.log 2>&1; then
    grep -E '^(target|elf|buildinfo|pclntab|dwarf|cfi) ' /tmp/libgoprof-fuzz.log | sed 's/^/fuzz: /'
else
    tail -n 60 /tmp/libgoprof-fuzz.log
    status=1
fi
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' /tmp/libgoprof-fuzz.log | tail -n1)
total_pass=$((total_pass + $(echo "$line" | awk '{print $1 + 0}')))
total_fail=$((total_fail + $(echo "$line" | awk '{print $3 + 0}')))

[ $status = 0 ] || [ $total_fail -gt 0 ] || total_fail=1
echo "$total_pass passed, $total_fail failed"
exit $status
