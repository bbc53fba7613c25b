#!/bin/sh
# run.sh -- whole runs of heapbench without libgoprof, with CPU profiling alone (100 Hz) and with
# C memory profiling at RATE too, interleaved: each profiled run set against the run without a
# profiler of the same round, and the median of those paired ratios with its 95 % interval.
#   LIBGOPROF=build/.libs/libgoprof.so RATE=512k bench/heap/run.sh [THREADS [PAIRS [REPS]]]
# (defaults: 2 threads, 5 000 000 pairs each, 40 rounds). Context: the developer's shell, by
# hand (a measurement, not part of libgoprof): what the in-process A/B (heapab.c) cannot see.
#
# Why paired, and why so many rounds: on a shared VM whole runs move by ±10 % against each
# other, faster than a run lasts, so a handful of runs cannot resolve 3 %. The interval is the
# sign test's (the order statistics around the median: no assumption about the spread), so with
# 40 rounds it spanned about ±1.5 points on the development VM, with 150 about ±1.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
lib=${LIBGOPROF:-$here/../../build/.libs/libgoprof.so}
rate=${RATE:-512k}
threads=${1:-2} pairs=${2:-5000000} reps=${3:-40}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -pthread -o "$tmp/heapbench" "$here/heapbench.c"
ps_of() { awk -F= '/^pair_cpu_ps=/ {print $2}'; }
for r in $(seq "$reps"); do
    none=$(env -u LD_PRELOAD "$tmp/heapbench" "$threads" "$pairs" | ps_of)
    cpu=$(LD_PRELOAD=$lib GOPROF_HZ=100 GOPROF_OUT=$tmp/cpu.pb.gz \
        "$tmp/heapbench" "$threads" "$pairs" | ps_of)
    heap=$(LD_PRELOAD=$lib GOPROF_HZ=100 GOPROF_OUT=$tmp/heap.pb.gz \
        GOPROF_HEAP_OUT=$tmp/heap.heap.pb.gz GOPROF_HEAP_RATE=$rate \
        "$tmp/heapbench" "$threads" "$pairs" | ps_of)
    echo "$none" >>"$tmp/none"
    echo "$cpu $none" | awk '{print $1 / $2 - 1}' >>"$tmp/cpu"
    echo "$heap $none" | awk '{print $1 / $2 - 1}' >>"$tmp/heap"
done
# median [low, high]: the sign test's 95 % interval, order statistics k and n + 1 - k
summary() {
    sort -g "$1" | awk '{x[NR] = $1}
        END {
            n = NR; m = (n % 2) ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
            k = int(n / 2 - 0.98 * sqrt(n)); if (k < 1) k = 1
            printf "%+.2f %% [%+.2f, %+.2f] (median of %d paired ratios, 95 %% interval)",
                100 * m, 100 * x[k], 100 * x[n + 1 - k], n
        }'
}
echo "heapbench: $threads threads x $pairs malloc/free pairs of 16-4096 bytes, $reps rounds"
printf '  %-30s %s ns a pair (CPU, median)\n' "without a profiler:" \
    "$(sort -n "$tmp/none" | awk '{x[NR] = $1} END {printf "%.1f", x[int((NR + 1) / 2)] / 1000}')"
printf '  %-30s %s\n' "CPU profiling at 100 Hz:" "$(summary "$tmp/cpu")"
printf '  %-30s %s\n' "and C memory at $rate:" "$(summary "$tmp/heap")"
