#!/bin/sh
# check-exports.sh -- libgoprof.so exports exactly the interposed libc functions and the public
# API (libgoprof.map), nothing else: a library living inside other programs must not leak names.
#   scripts/check-exports.sh path/to/libgoprof.so
set -eu
lib=${1:?usage: check-exports.sh libgoprof.so}
want="_Exit _exit aligned_alloc bsd_signal calloc free goprof_active goprof_version malloc memalign posix_memalign
pthread_create pvalloc realloc reallocarray sigaction signal signalfd sigtimedwait sigwait sigwaitinfo
syscall prctl clone sysv_signal valloc"
want="$want _ZdaPv _ZdaPvRKSt9nothrow_t _ZdaPvSt11align_val_t _ZdaPvSt11align_val_tRKSt9nothrow_t _ZdaPvm _ZdaPvmSt11align_val_t _ZdlPv _ZdlPvRKSt9nothrow_t _ZdlPvSt11align_val_t _ZdlPvSt11align_val_tRKSt9nothrow_t _ZdlPvm _ZdlPvmSt11align_val_t _Znam _ZnamRKSt9nothrow_t _ZnamSt11align_val_t _ZnamSt11align_val_tRKSt9nothrow_t _Znwm _ZnwmRKSt9nothrow_t _ZnwmSt11align_val_t _ZnwmSt11align_val_tRKSt9nothrow_t"
want=$(echo "$want" | tr ' ' '\n' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')
got=$(nm -D --defined-only "$lib" | awk '{print $3}' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')
if [ "$got" != "$want" ]; then
    echo "check-exports: exported: $got" >&2
    echo "check-exports: expected: $want" >&2
    exit 1
fi
# No dynamic TLS: every __thread variable must be initial-exec (no __tls_get_addr).
if nm -D "$lib" | grep -q '__tls_get_addr'; then
    echo "check-exports: $lib uses dynamic TLS (__tls_get_addr)" >&2
    exit 1
fi
echo "check-exports: $(echo "$want" | wc -w) exports, no dynamic TLS"
