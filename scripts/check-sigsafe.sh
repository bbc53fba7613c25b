#!/bin/sh
# check-sigsafe.sh -- the objects built from "Context: signal" files may call only what is
# async-signal-safe: each other, raw syscall wrappers and _dl_find_object. Catches a stray
# malloc/printf, and memcpy/memset the compiler synthesizes.
#   scripts/check-sigsafe.sh BUILDDIR
set -eu
build=${1:-build}
objs=$(find "$build/src" -path '*/.libs/*' -name 'libgp_signal_la-*.o')
[ -n "$objs" ] || { echo "check-sigsafe: no signal objects under $build/src" >&2; exit 1; }
allow='_GLOBAL_OFFSET_TABLE_ __errno_location __stack_chk_fail syscall getpid prctl
       _dl_find_object clock_gettime'
# shellcheck disable=SC2086
defined=$(nm --defined-only $objs | awk 'NF==3 {print $3}' | sort -u)
status=0
for o in $objs; do
    for sym in $(nm -u "$o" | awk '{print $2}'); do
        case " $(echo $allow) " in *" $sym "*) continue ;; esac
        echo "$defined" | grep -qx "$sym" && continue
        echo "check-sigsafe: $(basename "$o") calls $sym, which is not async-signal-safe" >&2
        status=1
    done
done
# Every signal-path source says so in its header.
top=$(cd "$(dirname "$0")/.." && pwd)
for o in $objs; do
    src=$(basename "$o" .o | sed 's/^libgp_signal_la-//')
    f=$(find "$top/src" -name "$src.c")
    grep -q '^ \* Context: \(signal\|library, signal-safe\)' "$f" || {
        echo "check-sigsafe: $f is built for the signal path but its header says otherwise" >&2
        status=1
    }
done
[ $status = 0 ] && echo "check-sigsafe: $(echo "$objs" | wc -l) signal-path objects clean"
exit $status
