#!/bin/sh
# run.sh -- heapbench without libgoprof, with it and heap profiling off, and at 512k; REPS
# alternating runs of each, the median CPU ns per malloc/free pair of each, and the overheads.
#   LIBGOPROF=build/.libs/libgoprof.so bench/heap/run.sh [THREADS [PAIRS] [REPS]]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
lib=${LIBGOPROF:-$here/../../build/.libs/libgoprof.so}
threads=${1:-2} pairs=${2:-15000000} reps=${3:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -pthread -o "$tmp/heapbench" "$here/heapbench.c"
for r in $(seq "$reps"); do
    env -u LD_PRELOAD "$tmp/heapbench" "$threads" "$pairs" | awk '/^cpu_ns/ {print $2}' >>"$tmp/none"
    LD_PRELOAD=$lib GOPROF_OUT=$tmp/off.pb.gz "$tmp/heapbench" "$threads" "$pairs" |
        awk '/^cpu_ns/ {print $2}' >>"$tmp/off"
    LD_PRELOAD=$lib GOPROF_OUT=$tmp/on.pb.gz GOPROF_HEAP_RATE=512k "$tmp/heapbench" "$threads" \
        "$pairs" | awk '/^cpu_ns/ {print $2}' >>"$tmp/on"
done
med() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
none=$(med "$tmp/none") off=$(med "$tmp/off") on=$(med "$tmp/on")
echo "heapbench: $threads threads x $pairs malloc/free pairs of 16-4096 bytes, median of $reps"
echo "  without libgoprof:           $none ns/pair (CPU)"
echo "  libgoprof, heap off:         $off ns/pair ($(echo "$off $none" | awk '{printf "%+.2f %%", ($1/$2-1)*100}'))"
echo "  libgoprof, GOPROF_HEAP_RATE=512k: $on ns/pair ($(echo "$on $none" | awk '{printf "%+.2f %%", ($1/$2-1)*100}'))"
