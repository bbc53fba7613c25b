#!/bin/sh
# run.sh -- builds the libFuzzer targets, replays the regression inputs, then fuzzes each target.
#   tests/fuzz/run.sh [TARGET...]        (default: elf buildinfo pclntab dwarf cfi)
# LIBGOPROF_FUZZ_SECONDS  fuzzing time per target (default 10; 0 = replay the regressions only)
# LIBGOPROF_FUZZ_JOBS     targets built and fuzzed at once (default 2)
# LIBGOPROF_FUZZ_DIR      work directory (default build-fuzz/ at the top): binaries, seeds
#                         (seeds.sh, made once), the growing corpus, crash artifacts, logs
# Needs clang with libFuzzer (Debian: clang-14 libclang-rt-14-dev, which scripts/setup.sh
# installs); without it this fails, it never skips. Prints one line per target (runs, execs/s,
# coverage, new corpus units, crashes), then "N passed, N failed"; exits 1 on any crash, leak,
# hang or sanitizer report.
set -u
export LC_ALL=C   # the fuzzer's log holds binary bytes: sed and grep must take them as bytes
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
dir=${LIBGOPROF_FUZZ_DIR:-$top/build-fuzz}
secs=${LIBGOPROF_FUZZ_SECONDS:-10}
targets=${*:-elf buildinfo pclntab dwarf cfi}
mkdir -p "$dir" || exit 1

cc=""
for c in clang-14 clang; do
    if command -v "$c" >/dev/null 2>&1; then cc=$c; break; fi
done
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }\n' \
    > "$dir/probe.c"
if [ -z "$cc" ] || ! "$cc" -fsanitize=fuzzer -o "$dir/probe" "$dir/probe.c" 2>"$dir/probe.log"; then
    echo "run.sh: no clang with libFuzzer (install clang-14 libclang-rt-14-dev: scripts/setup.sh)" >&2
    cat "$dir/probe.log" >&2 2>/dev/null
    echo "0 passed, 1 failed"
    exit 1
fi

s=$top/src
common="$here/fuzz_common.c"
go_srcs="$s/lib/elf/elf_file.c $s/lib/go/buildinfo.c $s/lib/go/goexe.c $s/lib/go/pclntab.c $s/lib/go/goruntime.c
         $s/lib/go/godwarf.c $s/lib/go/dwarf_reader.c"
srcs_elf="$go_srcs"
srcs_buildinfo="$s/lib/elf/elf_file.c $s/lib/go/buildinfo.c"
srcs_pclntab="$s/lib/go/pclntab.c"
srcs_dwarf="$s/lib/elf/elf_file.c $s/lib/go/godwarf.c $s/lib/go/dwarf_reader.c"
srcs_cfi="$s/lib/base/safe_read.c $s/program/unwind/cfi_find.c $s/program/unwind/cfi_parse.c $s/program/unwind/cfi_exec.c
          $s/program/unwind/cfi_expr.c $s/program/unwind/cfi_step.c $s/program/unwind/cfi_fallback.c $s/program/unwind/cfi_cache.c"
cflags="-std=gnu11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE
        -I $s -I $here"

if [ ! -d "$dir/seeds/elf" ]; then
    echo "== seeds (tests/fuzz/seeds.sh)"
    "$here/seeds.sh" "$dir/seeds.tmp" || { echo "seeds.sh failed"; echo "0 passed, 1 failed"; exit 1; }
    rm -rf "$dir/seeds" && mv "$dir/seeds.tmp" "$dir/seeds"
fi

# fuzz_one TARGET: build, replay the regressions, fuzz; prints the target's line (and what a
# crash printed); fails on any failure.
fuzz_one() {
    t=$1
    eval "srcs=\$srcs_$t"
    bin="$dir/fuzz_$t"
    # shellcheck disable=SC2086
    if ! "$cc" $cflags -o "$bin" "$here/fuzz_$t.c" "$common" $srcs -lz 2>"$dir/build_$t.log"; then
        cat "$dir/build_$t.log"
        printf '%-10s build failed\n' "$t"
        return 1
    fi
    log="$dir/fuzz_$t.log"
    art="$dir/artifacts/$t"
    mkdir -p "$art" "$dir/corpus/$t"
    # The regression inputs first: each once, as a plain run.
    regress=$(ls "$here/regress/$t"/* 2>/dev/null || true)
    if [ -n "$regress" ]; then
        # shellcheck disable=SC2086
        if ! "$bin" -runs=1 $regress >"$dir/regress_$t.log" 2>&1; then
            tail -n 40 "$dir/regress_$t.log"
            printf '%-10s regression input crashed (log: %s)\n' "$t" "$dir/regress_$t.log"
            return 1
        fi
    fi
    [ "$secs" -gt 0 ] || return 0
    before=$(ls "$art" | wc -l)
    # libFuzzer's default -max_len (1 MiB) would cut the whole-binary seeds, and with them
    # the section headers at their end: allow the largest seed.
    maxlen=$(for f in "$dir/seeds/$t"/*; do wc -c < "$f"; done | sort -n | tail -n 1)
    "$bin" -max_total_time="$secs" -max_len="${maxlen:-4096}" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 \
        -artifact_prefix="$art/" "$dir/corpus/$t" "$dir/seeds/$t" >"$log" 2>&1
    rc=$?
    crashes=$(( $(ls "$art" | wc -l) - before ))
    [ $rc = 0 ] || [ $crashes -gt 0 ] || crashes=1
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    new=$(sed -n 's/^stat::new_units_added: *//p' "$log")
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    if [ $crashes = 0 ]; then
        result=ok
    else
        result="CRASH (log: $log, inputs: $art)"
    fi
    printf '%-10s %8s %10s %8s %8s %8s %6s  %s\n' "$t" "$secs" "${execs:-?}" "${rate:-?}" \
        "${cov:-?}" "${ft:-?}" "${new:-?}" "$result"
    [ $crashes = 0 ] || grep -E -A 30 '^==[0-9]+==ERROR|runtime error|^SUMMARY|timeout after|out-of-memory|leak' \
        "$log" | head -n 40
    [ $crashes = 0 ]
}

# LIBGOPROF_FUZZ_JOBS targets at a time (default 2: a fuzzer is one process, and the machine
# has two cores), each its own LIBGOPROF_FUZZ_SECONDS; their lines are printed in order.
jobs=${LIBGOPROF_FUZZ_JOBS:-2}
pass=0 fail=0
printf '%-10s %8s %10s %8s %8s %8s %6s  %s\n' target seconds execs exec/s cov ft new result
set -- $targets
while [ $# -gt 0 ]; do
    batch= n=0
    while [ $# -gt 0 ] && [ $n -lt "$jobs" ]; do
        batch="$batch $1" n=$((n + 1))
        shift
    done
    for t in $batch; do
        ( fuzz_one "$t" >"$dir/result_$t" 2>&1; echo $? >"$dir/result_$t.rc" ) &
    done
    wait
    for t in $batch; do
        cat "$dir/result_$t"
        if [ "$(cat "$dir/result_$t.rc" 2>/dev/null)" = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
    done
done
echo "$pass passed, $fail failed"
[ $fail = 0 ]
