/* interpose_floor.c -- the floor of an allocation interposer's cost, to set libgoprof's against:
 * a preloaded malloc and free that do nothing but pass each call on (RTLD_NEXT), and, by -D,
 * the two tests libgoprof's fast paths add (src/program/preload/interpose_malloc.c):
 *
 *   -DCOUNTDOWN  malloc subtracts the size from a thread's countdown (initial-exec TLS), as
 *                heap_pick does; the countdown never runs out here
 *   -DFILTER     free asks heap_filter_maybe (src/program/sample/heap_set.h, the interposers'
 *                own test) of a filter and summary of the interposers' size, every bit clear
 *
 *   gcc -O2 -fPIC -shared -I src [-DCOUNTDOWN] [-DFILTER] -o floor.so \
 *       bench/heap/interpose_floor.c -ldl
 *   LD_PRELOAD=./floor.so heapab 2 1000     (bench/heap/heapab.c: the A/B ratio, interleaved
 *                                            with runs without it and with libgoprof.so)
 * Runs in the benchmarked program (preloaded); it is a measurement, not part of libgoprof.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>

static void *(*next_malloc)(size_t);
static void (*next_free)(void *);

__attribute__((constructor)) static void resolve(void)
{
    next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
}

#ifdef COUNTDOWN
static __thread uint64_t left __attribute__((tls_model("initial-exec"))) = (uint64_t)1 << 62;

__attribute__((noinline)) static void *malloc_slow(size_t n)
{
    return next_malloc(n);
}

void *malloc(size_t n)
{
    if (__builtin_expect(n < left, 1)) {
        left -= n;
        return next_malloc(n);
    }
    return malloc_slow(n);
}
#else
void *malloc(size_t n)
{
    return next_malloc(n);
}
#endif

#ifdef FILTER
#include "program/sample/heap_set.h"

/* As interpose_malloc.c's: SET_BITS 20, SET_SPAN 36, static, zero-filled. */
#define FILTER_BITS 20
#define SUMMARY_SPAN 36
static _Atomic uint64_t filter[(size_t)1 << FILTER_BITS];
static _Atomic uint64_t summary[HEAP_SET_SUMMARY_WORDS(SUMMARY_SPAN)];

__attribute__((noinline)) static void free_maybe_sampled(void *p)
{
    next_free(p);
}

void free(void *p)
{
    if (heap_filter_maybe(filter, summary, FILTER_BITS, SUMMARY_SPAN, (uintptr_t)p)) {
        free_maybe_sampled(p);
        return;
    }
    next_free(p);
}
#else
void free(void *p)
{
    next_free(p);
}
#endif
