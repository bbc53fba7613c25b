#!/bin/sh
# run_godwarf.sh -- build the cgo fixture (symbolize_fixture.go) with each toolchain in
# LIBGOPROF_TEST_GO_VERSIONS (default 1.21 to 1.26) as default, -buildmode=pie and stripped
# (-ldflags='-s -w') executables, then run test_godwarf on each:
#   default, pie  the DWARF layout equals the version table and Go's debug/dwarf
#                 (godwarf_offsets.go); goexe takes the DWARF one
#   strip         -ENOENT; goexe falls back to the table
#   default       corrupt copies, under ASan+UBSan when the compiler has them
# and prints the cost of godwarf_layout (time, heap via malloc_peak.so) for each default build,
# and for LIBGOPROF_TEST_GODWARF_BIG (e.g. a build of cmd/go) when set.
# test_godwarf and malloc_peak.so are built by Makefile.am (make check); top_builddir (set by
# make check) says where, and defaults to the tree's build/ when run by hand. The corrupt
# inputs run under ASan+UBSan in a copy of test_godwarf compiled here with the sanitizers: the
# sanitizer build (scripts/test.sh, build-asan) runs only test_godwarf's synthetic tests, not
# these on real Go binaries.
# Usage: tests/unit/run_godwarf.sh   (from anywhere; needs gcc, zlib)
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${top_builddir:-$top/build}
CFLAGS="-std=gnu11 -O2 -g -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror"
SAN="-O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
srcs="$top/src/lib/elf/elf_file.c $top/src/lib/base/log.c $top/src/lib/go/buildinfo.c $top/src/lib/go/pclntab.c
      $top/src/lib/go/goexe.c $top/src/lib/go/goruntime.c $top/src/lib/go/godwarf.c $top/src/lib/go/dwarf_reader.c"
total_fail=0
total_pass=0
note() { printf '%s\n' "$*"; }
fail() { note "FAIL: $*"; total_fail=$((total_fail + 1)); }
gobuild() {  # gobuild CGO GOROOT DIR ARGS...: go build as the tests run it (no network)
    c=$1 r=$2 d=$3; shift 3
    (cd "$d" && GOCACHE=${GOCACHE:-${LIBGOPROF_CACHE:-$HOME/.cache/libgoprof}/gocache} GOFLAGS='' \
        GOTOOLCHAIN=local GO111MODULE=off CGO_ENABLED=$c "$r/bin/go" build "$@")
}

test_godwarf=$build/tests/unit/test_godwarf
malloc_peak=$build/tests/unit/.libs/malloc_peak.so
for f in "$test_godwarf" "$malloc_peak"; do
    [ -f "$f" ] && continue
    note "run_godwarf: no $f (build it: make -C $build check TESTS=)"
    echo "0 passed, 1 failed"
    exit 1
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/godwarf.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
san="$test_godwarf"
# shellcheck disable=SC2086
if gcc $CFLAGS $SAN -I "$top/src" -o "$tmp/test_godwarf_san" "$here/test_godwarf.c" $srcs \
        -lz -ldl 2>/dev/null; then
    san="$tmp/test_godwarf_san"
else
    note "  (no ASan/UBSan here: corrupt inputs run unsanitized)"
fi

run() {  # run LABEL CMD...: show the test's output and summary line, count a failure
    label=$1; shift
    out=$("$@" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -v '^[0-9]* passed' | sed 's/^/    /'
    note "  $label: $(printf '%s\n' "$out" | tail -n 1)"
    if [ $rc -eq 0 ]; then total_pass=$((total_pass + 1)); else fail "$label"; fi
}

run "synthetic" "$test_godwarf"
[ "$san" = "$test_godwarf" ] || run "synthetic (sanitized)" "$san"

versions=${LIBGOPROF_TEST_GO_VERSIONS:-1.21 1.22 1.23 1.24 1.25 1.26}
offsets=""
for v in $versions; do   # debug/dwarf's view, built once with the newest toolchain listed
    goroot=$("$top/scripts/go-toolchain.sh" "$v" 2>/dev/null) || continue
    mkdir -p "$tmp/offsets" && cp "$here/godwarf_offsets.go" "$tmp/offsets/main.go"
    gobuild 0 "$goroot" "$tmp/offsets" -o "$tmp/offsets/offsets" main.go &&
        offsets="$tmp/offsets/offsets"
done
[ -n "$offsets" ] || fail "build godwarf_offsets.go"

for v in $versions; do
    goroot=$("$top/scripts/go-toolchain.sh" "$v") || { fail "toolchain $v"; continue; }
    mkdir -p "$tmp/go$v" && cp "$here/symbolize_fixture.go" "$tmp/go$v/main.go"
    for kind in default pie strip; do
        case $kind in
            default) mode=exe; ld="" ;; pie) mode=pie; ld="" ;; strip) mode=exe; ld="-s -w" ;;
        esac
        gobuild 1 "$goroot" "$tmp/go$v" -buildmode="$mode" -ldflags="$ld" \
            -o "$tmp/go$v/$kind" main.go || fail "build go$v $kind"
    done
    for kind in default pie; do
        bin="$tmp/go$v/$kind"
        [ -x "$bin" ] || continue
        run "dwarf go$v $kind" "$test_godwarf" dwarf "$bin" "$v"
        if [ -n "$offsets" ]; then
            kv=$("$offsets" "$bin") || fail "godwarf_offsets go$v $kind"
            run "debug/dwarf go$v $kind" "$test_godwarf" goffs "$bin" "$kv"
        fi
    done
    bin="$tmp/go$v/strip"
    [ -x "$bin" ] && run "strip go$v" "$test_godwarf" strip "$bin" "$v"
    bin="$tmp/go$v/default"
    [ -x "$bin" ] || continue
    run "corrupt go$v" env TMPDIR="$tmp" "$san" corrupt "$bin" "$v"
    run "bench go$v" env LD_PRELOAD="$malloc_peak" "$test_godwarf" bench "$bin" 20
done
if [ -n "${LIBGOPROF_TEST_GODWARF_BIG:-}" ]; then
    run "bench big" env LD_PRELOAD="$malloc_peak" "$test_godwarf" bench \
        "$LIBGOPROF_TEST_GODWARF_BIG" 20
fi
if [ $total_fail -eq 0 ]; then note "run_godwarf: all passed"
else note "run_godwarf: $total_fail failed"; fi
echo "$total_pass passed, $total_fail failed"   # one per test program run
[ $total_fail -eq 0 ]
