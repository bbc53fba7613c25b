#!/bin/sh
# run_symbolize.sh -- build the symbolize fixtures (C, and Go+cgo with each toolchain in
# LIBGOPROF_TEST_GO_VERSIONS, default "1.26 1.21", set and empty: none; default, pie,
# stripped, stripped pie, internal-link pie), then
# run test_symbolize on each and the goexe_shim LD_PRELOAD check inside each Go binary.
# test_symbolize and goexe_shim.so are built by Makefile.am (make check); top_builddir (set by
# make check) says where, and defaults to the tree's build/ when run by hand.
# Usage: tests/unit/run_symbolize.sh   (from anywhere; needs gcc, readelf, nm)
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${top_builddir:-$top/build}
total_fail=0
total_pass=0
note() { printf '%s\n' "$*"; }
fail() { note "FAIL: $*"; total_fail=$((total_fail + 1)); }
buildid() { readelf -n "$1" | awk '/Build ID/ { id = $3; exit } END { print id ? id : "-" }'; }

test_symbolize=$build/tests/unit/test_symbolize
shim=$build/tests/unit/.libs/goexe_shim.so
for f in "$test_symbolize" "$shim"; do
    [ -f "$f" ] && continue
    note "run_symbolize: no $f (build it: make -C $build check TESTS=)"
    echo "0 passed, 1 failed"
    exit 1
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/symbolize.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

run() {  # run NAME CMD...: show the test's summary line, count a failure
    out=$("$@" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -v '^[0-9]* passed' | sed 's/^/    /'
    note "  $1 ${3:-} ${4:-}: $(printf '%s\n' "$out" | tail -n 1)"
    if [ $rc -eq 0 ]; then total_pass=$((total_pass + 1)); else fail "$*"; fi
}

gcc -O1 -g -o "$tmp/cfix" "$here/symbolize_fixture.c" || exit 1
nm "$tmp/cfix" > "$tmp/cfix.nm"
# PLT stubs as objdump names them, type 'P': test_c expects the same names.
objdump -d -j .plt -j .plt.sec "$tmp/cfix" |
    sed -n 's/^\([0-9a-f]*\) <\([^>+-]*@plt\)>:$/\1 P \2/p' >> "$tmp/cfix.nm"
run "$test_symbolize" c "$tmp/cfix" "$tmp/cfix.nm" "$(buildid "$tmp/cfix")"
run "$test_symbolize" self "$(buildid "$test_symbolize")"

src="$here/symbolize_fixture.go"
line() { grep -n "LINE:$1\$" "$src" | cut -d: -f1; }
lines="$(line noinline),$(line inlined),$(line inlined_body),$(line caller)"
for v in ${LIBGOPROF_TEST_GO_VERSIONS-1.26 1.21}; do
    goroot=$("$top/scripts/go-toolchain.sh" "$v") || { fail "toolchain $v"; continue; }
    mkdir -p "$tmp/go$v" && cp "$src" "$tmp/go$v/main.go"
    for kind in default pie strip pie-strip ipie; do
        case $kind in
            default) mode=exe; ld="" ;; pie) mode=pie; ld="" ;;
            strip) mode=exe; ld="-s -w" ;; pie-strip) mode=pie; ld="-s -w" ;;
            ipie) mode=pie; ld="-linkmode=internal" ;;
        esac
        bin="$tmp/go$v/$kind"
        (cd "$tmp/go$v" && GOCACHE=${GOCACHE:-${LIBGOPROF_CACHE:-$HOME/.cache/libgoprof}/gocache} GOFLAGS= GO111MODULE=off CGO_ENABLED=1 \
            "$goroot/bin/go" build -buildmode=$mode -ldflags="$ld" -o "$bin" main.go) || { fail "build go$v $kind"; continue; }
    done
    for kind in default pie strip pie-strip ipie; do
        bin="$tmp/go$v/$kind"
        [ -x "$bin" ] || continue
        # nm of the unstripped twin: -s -w removes symbols but does not move code.
        case $kind in
            strip) twin="$tmp/go$v/default"; stripped=1 ;;
            pie-strip) twin="$tmp/go$v/pie"; stripped=1 ;;
            *) twin=$bin; stripped=0 ;;
        esac
        "$goroot/bin/go" tool nm "$twin" > "$bin.nm"
        run "$test_symbolize" go "$bin" "$bin.nm" "go$v" "$lines" "$(buildid "$bin")" $stripped
        # In-process: the shim analyses the Go program from its constructor.
        text=$(awk '$3 == "runtime.text" { print $1 }' "$bin.nm")
        main=$(awk '$3 == "main.fixtureNoInline" { print $1 }' "$bin.nm")
        out=$(GOEXE_SHIM_TEXT=$text GOEXE_SHIM_NOINLINE=$main GOEXE_SHIM_VERSION=go$v \
              GOEXE_SHIM_LINES=$lines LD_PRELOAD="$shim" "$bin" 2>&1 >/dev/null)
        printf '%s\n' "$out" | grep -v '^goexe_shim: [0-9]* passed' | sed 's/^/    /'
        note "  shim go$v $kind: $(printf '%s\n' "$out" | grep 'passed' | tail -n 1)"
        if printf '%s\n' "$out" | grep -q '^goexe_shim: [0-9]* passed, 0 failed'; then
            total_pass=$((total_pass + 1))
        else
            fail "shim go$v $kind"
        fi
    done
done
if [ $total_fail -eq 0 ]; then note "run_symbolize: all passed"; else note "run_symbolize: $total_fail failed"; fi
echo "$total_pass passed, $total_fail failed"   # one per test program run
[ $total_fail -eq 0 ]
