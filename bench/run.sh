#!/bin/sh
# run.sh -- sets up, builds and runs libgoprof's benchmarks; prints one table (bench/README.md).
#
#   bench/run.sh                  full budget (about 11-16 minutes on a 2-core VM)
#   BENCH_QUICK=1 bench/run.sh    quick budget (about 3-4 minutes; coarse, for trying changes)
#   make bench [BENCH_QUICK=1]    the same from a configured build tree
#
# Environment (all optional):
#   BENCH_QUICK=1        the quick budget
#   BENCH_ONLY=1,2,...   run only these sections (3 and 6 reuse section 2's runs)
#   BENCH_WORK=DIR       scratch directory for binaries, profiles and runs.log (default: mktemp)
#   BENCH_TABLE=FILE     also write the header and the table to FILE
#   BENCH_BASELINE=SO    another build's libgoprof.so: section 10 runs it and this build side by
#                        side (e.g. a worktree of the commit before a change, built)
#   BENCH_KEEP=1         keep every profile in BENCH_WORK
#   BENCH_BUILDDIR=DIR   a configured and built tree (make bench sets it); default: build/,
#                        configured and built by scripts/build.sh
#   LIBGOPROF_CACHE      cache of Go toolchains (scripts/go-toolchain.sh)
# Needs, and installs as root when missing: libgoogle-perftools-dev (gperftools' libprofiler.so,
# the reference profiler for C workloads, and tcmalloc with its heap profiler), libjemalloc2
# (jemalloc's heap profiler, section 9) and linux-perf (perf stat: the overhead section counts
# cycles, which the VM's other tenants do not move as they move CPU time). Without root and
# without them, those rows are skipped and overhead is judged on CPU time.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${LIBGOPROF_CACHE:-$HOME/.cache/libgoprof}

# gperftools and perf: Debian's packages, installed once.
for pkg in libgoogle-perftools-dev libjemalloc2 linux-perf; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" && continue
    if [ "$(id -u)" = 0 ]; then
        echo "bench: installing $pkg" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 &&
              apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1; } ||
            echo "bench: could not install $pkg; its rows are skipped" >&2
    else
        echo "bench: $pkg is not installed (needs root); its rows are skipped" >&2
    fi
done
libprofiler=$(find /usr/lib -name libprofiler.so.0 2>/dev/null | head -n1)

goroot=$("$top/scripts/go-toolchain.sh" 1.26)
GO=$goroot/bin/go
export GOFLAGS='' GOTOOLCHAIN=local GOCACHE="$cache/gocache" GOPATH="$cache/gopath" GOPROXY=off GOSUMDB=off
unset LD_PRELOAD

# The library and bench/writeout (which links the collector's code).
if [ -n "${BENCH_BUILDDIR:-}" ]; then
    builddir=$BENCH_BUILDDIR
else
    "$top/scripts/build.sh" >/dev/null
    builddir=$top/build
    make -C "$builddir" bench/writeout/writeout >/dev/null
fi
lib=$builddir/.libs/libgoprof.so
[ -f "$lib" ] || { echo "bench: no $lib" >&2; exit 1; }

work=${BENCH_WORK:-$(mktemp -d /tmp/libgoprof-bench.XXXXXX)}
mkdir -p "$work/bin"
bin=$work/bin
cp "$builddir/bench/writeout/writeout" "$bin/writeout"
gcc -std=gnu11 -O2 -g -Wall -Wextra -pthread -o "$bin/cwork" "$top/bench/cwork/cwork.c"
gcc -std=gnu11 -O2 -g -Wall -Wextra -pthread -o "$bin/heapbench" "$top/bench/heap/heapbench.c"
gcc -std=gnu11 -O2 -g -Wall -Wextra -pthread -o "$bin/heapab" "$top/bench/heap/heapab.c" -ldl
gcc -std=gnu11 -O2 -g -Wall -Wextra -o "$bin/floor" "$top/bench/floor/floor.c"
gcc -std=gnu11 -O2 -g -Wall -Wextra -o "$bin/waitall" "$top/bench/waitall/waitall.c"
gcc -std=gnu11 -O2 -g -Wall -Wextra -o "$bin/ctrivial" "$top/bench/cwork/trivial.c"
(cd "$top/bench/gowork" && CGO_ENABLED=1 "$GO" build -o "$bin/gowork" .)
(cd "$top/bench/gowork" && CGO_ENABLED=1 "$GO" build -o "$bin/cgotrivial" ./trivial)
(cd "$top/tests/tools/profcheck" && CGO_ENABLED=0 "$GO" build -o "$bin/profcheck" .)
(cd "$top/bench/driver" && CGO_ENABLED=0 "$GO" build -o "$bin/benchdriver" .)
# The pprof writer's unit benchmark (tests/unit/test_pprof.c, as Makefile.am builds it: config.h
# first, which defines _GNU_SOURCE for O_TMPFILE in atomic_file.c).
# shellcheck disable=SC2046
gcc -std=gnu11 -O2 -g -include "$builddir/config.h" -I"$builddir/src" -I"$top/src" \
    $(pkg-config --cflags libprotobuf-c zlib) \
    -o "$bin/test_pprof" "$top/tests/unit/test_pprof.c" \
    "$top/src/lib/pprof/pprof.c" "$top/src/lib/pprof/pprof_emit.c" "$top/src/lib/pprof/strtab.c" \
    "$top/src/lib/pprof/gzwriter.c" "$top/src/lib/outname/outpath.c" "$top/src/lib/base/log.c" \
    "$top/src/lib/pprof/pprof_read.c" "$top/src/lib/pprof/pprof_view.c" \
    "$top/src/lib/pprof/folded.c" "$top/src/lib/pprof/atomic_file.c" \
    "$builddir/src/lib/pprof/profile.pb-c.c" $(pkg-config --libs libprotobuf-c zlib) ||
    { echo "bench: could not build test_pprof; its rows are skipped" >&2; rm -f "$bin/test_pprof"; }

quick=false
[ "${BENCH_QUICK:-0}" = 1 ] && quick=true
if [ -n "${BENCH_BUILDDIR:-}" ]; then
    cmd="make bench"
    [ "$quick" = false ] || cmd="make bench BENCH_QUICK=1"
else
    cmd="bench/run.sh"
    [ "$quick" = false ] || cmd="BENCH_QUICK=1 bench/run.sh"
fi
keep=false
[ "${BENCH_KEEP:-0}" = 1 ] && keep=true
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
exec "$bin/benchdriver" -bin "$bin" -lib "$lib" -profcheck "$bin/profcheck" -go "$GO" \
    -libprofiler "$libprofiler" -quick="$quick" -only "${BENCH_ONLY:-}" -work "$work" \
    -table "${BENCH_TABLE:-}" -baseline "${BENCH_BASELINE:-}" -keep="$keep" -command "$cmd (libgoprof $commit)"
