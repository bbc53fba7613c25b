#!/bin/sh
# checks.sh -- static checks of the built library: signal-path calls, exports, layering.
# Run by make check (top_srcdir and top_builddir come from the test environment).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/build}
passed=0 failed=0
run() {
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}
run "$top_srcdir/scripts/check-sigsafe.sh" "$top_builddir"
run "$top_srcdir/scripts/check-exports.sh" "$top_builddir/.libs/libgoprof.so"
run "$top_srcdir/scripts/check-layers.sh"
run "$top_srcdir/scripts/check-layers.sh" --self-test
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
