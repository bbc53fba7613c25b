#!/bin/sh
# seeds.sh -- makes the seed corpora of the fuzz targets from real binaries built here.
#   tests/fuzz/seeds.sh OUTDIR      -> OUTDIR/<target>/<seed> for elf, buildinfo, pclntab, dwarf, cfi
# Binaries: the cgo fixture tests/unit/symbolize_fixture.go built by each toolchain in
# LIBGOPROF_FUZZ_GO_VERSIONS (default 1.21 1.26) as exe and PIE, unstripped and stripped
# (-ldflags='-s -w'); a C program and a C shared library (gcc -g -O2, DWARF 5 and 4); /bin/true;
# for the CFI target also glibc's libc.so.6 (hand-written CFI with DWARF expressions).
# Truncated copies of each seed are added (the readers must refuse them, never crash). Nothing
# here is committed: the seeds are a few MB and depend on the toolchains.
set -eu
out=${1:?usage: seeds.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin="$out/.bin"
mkdir -p "$bin" "$out/elf" "$out/buildinfo" "$out/pclntab" "$out/dwarf" "$out/cfi"

srcs="$top/src/lib/elf/elf_file.c $top/src/lib/base/log.c $top/src/lib/go/buildinfo.c $top/src/lib/go/pclntab.c
      $top/src/lib/go/goexe.c $top/src/lib/go/goruntime.c $top/src/lib/go/godwarf.c $top/src/lib/go/dwarf_reader.c"
# shellcheck disable=SC2086
gcc -std=gnu11 -O1 -g -I "$top/src" -o "$bin/seed_extract" "$here/seed_extract.c" $srcs -lz

# The binaries.
cp "$top/tests/unit/symbolize_fixture.go" "$bin/main.go"
for v in ${LIBGOPROF_FUZZ_GO_VERSIONS:-1.21 1.26}; do
    goroot=$("$top/scripts/go-toolchain.sh" "$v")
    for mode in exe pie; do
        for strip in "" "-s -w"; do
            name="go$v-$mode${strip:+-strip}"
            (cd "$bin" && GOCACHE=${GOCACHE:-${LIBGOPROF_CACHE:-$HOME/.cache/libgoprof}/gocache} \
                GOFLAGS='' GOTOOLCHAIN=local GO111MODULE=off CGO_ENABLED=1 \
                "$goroot/bin/go" build -buildmode=$mode -ldflags="$strip" -o "$name" main.go)
        done
    done
done
gcc -g -O2 -o "$bin/c-exe" "$top/tests/unit/symbolize_fixture.c"
gcc -g -O2 -gdwarf-4 -o "$bin/c-exe-dwarf4" "$top/tests/unit/symbolize_fixture.c"
gcc -g -O2 -shared -fPIC -o "$bin/c-lib.so" "$top/tests/fixtures/c_threads/c_threads.c" -lpthread
cp /bin/true "$bin/true"

# truncate SRC DST: DST.half and DST.head (the first 4 KiB).
truncate_copies() {
    size=$(wc -c < "$1")
    head -c $((size / 2)) "$1" > "$2.half"
    [ "$size" -le 4096 ] || head -c 4096 "$1" > "$2.head"
}

for b in "$bin"/go* "$bin"/c-* "$bin/true"; do
    name=$(basename "$b")
    cp "$b" "$out/elf/$name"
    truncate_copies "$b" "$out/elf/$name"
    for kind in buildinfo pclntab dwarf cfi; do
        rc=0
        "$bin/seed_extract" $kind "$b" "$out/$kind/$name" || rc=$?
        [ $rc = 0 ] || [ $rc = 2 ] || exit 1
    done
done
libc=$(gcc -print-file-name=libc.so.6)
[ ! -f "$libc" ] || "$bin/seed_extract" cfi "$libc" "$out/cfi/libc.so.6"
for kind in buildinfo pclntab dwarf cfi; do
    for s in "$out/$kind"/*; do
        case $s in *.half|*.head) continue ;; esac
        size=$(wc -c < "$s")
        head -c $((size / 2)) "$s" > "$s.half"
    done
done
for t in elf buildinfo pclntab dwarf cfi; do
    printf '%s: %s seeds, %s bytes\n' "$t" "$(ls "$out/$t" | wc -l)" "$(cat "$out/$t"/* | wc -c)"
done
