#!/bin/bash
# bench-capture.sh -- per-sample cost of unwind_capture inside the real SIGPROF handler, on the
# mixed Go/C stacks of the stacks corpus, for one or more revisions of libgoprof.
#
#   scripts/bench-capture.sh [-c] [-g GOVERSION] [-s SECONDS] [-p "PROGRAMS"] REV...
#   e.g. scripts/bench-capture.sh b7cd2d3 HEAD     (libunwind before, own CFI after)
#
# Each revision is exported with git archive into a scratch directory, patched with
# tests/bench/capture_timing.patch (clock_gettime around unwind_capture; every duration goes
# to the mmapped file GP_BENCH_FILE names) and built. The corpus programs (default: cgo_nested,
# callback, vdso) are built once with Go GOVERSION (default 1.26) and run under each build at
# 500 Hz for SECONDS (default 4). Prints, per program and revision: samples, frames per sample,
# broken share, median / p90 / p99 / max in microseconds. -c: thread CPU time instead of wall
# time (leaves out preemption, which a loaded machine adds to the tail; the CPU clock is a
# syscall and adds ~0.3 us to every entry). The C-only counterpart is
# `tests/unit/test_cfi --bench` (own CFI against libunwind's unw_step in one handler).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
gover=1.26 seconds=4 programs="cgo_nested callback vdso" cpu=
while getopts cg:s:p: o; do
    case $o in
    c) cpu=1 ;;
    g) gover=$OPTARG ;;
    s) seconds=$OPTARG ;;
    p) programs=$OPTARG ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-c] [-g GOVERSION] [-s SECONDS] [-p PROGRAMS] REV..." >&2; exit 2; }
goroot=$("$top/scripts/go-toolchain.sh" "$gover")
export GOCACHE=${GOCACHE:-${LIBGOPROF_CACHE:-$HOME/.cache/libgoprof}/gocache}
work=$(mktemp -d "${TMPDIR:-/tmp}/libgoprof-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

for p in $programs; do
    mkdir -p "$work/go/$p"
    cp "$top/tests/stacks/$p"/*.go "$work/go/$p/"
    for f in "$top/tests/stacks/$p"/*.[ch]; do [ -f "$f" ] && cp "$f" "$work/go/$p/"; done
    cp "$top/tests/stacks/common/gopprof.go" "$work/go/$p/"
    printf 'module corpus\n\ngo 1.21\n' >"$work/go/$p/go.mod"
    (cd "$work/go/$p" && "$goroot/bin/go" build -o "$work/bin-$p" .)
done

stats() { # FILE -> "samples frames broken% median p90 p99 max"
    od -An -v -t u8 "$1" | tr -s ' ' '\n' | awk '$1 > 0 {
            ns = int($1 / 65536); fr = int($1 / 16) % 4096; fl = $1 % 16
            print ns, fr, (fl % 8 >= 4) }' | sort -n | awk '
        { ns[NR] = $1; fr += $2; br += $3 }
        END {
            if (NR == 0) { print "0 - - - - - -"; exit }
            printf "%d %.1f %.2f %.2f %.2f %.2f %.2f\n", NR, fr / NR, 100 * br / NR,
                ns[int(NR * 0.5) + 1] / 1e3, ns[int(NR * 0.9) + 1] / 1e3,
                ns[int(NR * 0.99) + 1] / 1e3, ns[NR] / 1e3 }'
}

printf '%-12s %-10s %8s %7s %7s %8s %8s %8s %8s\n' program rev samples frames broken% \
    median_us p90_us p99_us max_us
for rev in "$@"; do
    src=$work/rev-$(echo "$rev" | tr -c 'A-Za-z0-9._\n-' '_')
    if [ ! -f "$src/.libs/libgoprof.so" ]; then   # a revision named twice (A B A B) is built once
        mkdir -p "$src"
        git -C "$top" archive "$rev" | tar -x -C "$src"
        patch -s -d "$src" -p1 <"$top/tests/bench/capture_timing.patch"
        (cd "$src" && autoreconf -fi >/dev/null 2>&1 && ./configure >/dev/null &&
            make -j"$(nproc)" >/dev/null 2>&1) || { echo "$rev: build failed" >&2; exit 1; }
    fi
    for p in $programs; do
        env LD_PRELOAD="$src/.libs/libgoprof.so" GOPROF_HZ=500 GOPROF_OUT="$work/$p.pb.gz" \
            GP_BENCH_FILE="$work/bench-$p" ${cpu:+GP_BENCH_CPU=1} "$work/bin-$p" -d "${seconds}s" \
            >/dev/null 2>&1 || true
        # shellcheck disable=SC2046
        printf '%-12s %-10s %8s %7s %7s %8s %8s %8s %8s\n' "$p" "$rev" $(stats "$work/bench-$p")
    done
done
