/* interpose_floor.c -- the floor of an allocation interposer's cost, to set libgoprof's against:
 * a preloaded malloc and free that do nothing but pass each call on (RTLD_NEXT), and, by -D,
 * the two tests libgoprof's fast paths add (src/program/preload/interpose_malloc.c):
 *
 *   -DCOUNTDOWN  malloc subtracts the size from a thread's countdown (initial-exec TLS), as
 *                heap_pick does; the countdown never runs out here
 *   -DFILTER     free reads its address's bit in the summary (and, were it set, the filter
 *                word), as heap_filter_maybe does: the same word and bit arithmetic, with
 *                every bit clear
 *
 *   gcc -O2 -fPIC -shared [-DCOUNTDOWN] [-DFILTER] -o floor.so bench/heap/interpose_floor.c -ldl
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
/* 2^16 filter words (a 2 KiB window each) and a summary bit per pair of them, 32 bits a word. */
static uint64_t summary[1024], filter[65536];

__attribute__((noinline)) static void free_maybe_sampled(void *p)
{
    next_free(p);
}

void free(void *p)
{
    uint64_t a = (uint64_t)(uintptr_t)p;
    uint64_t rot = (a >> 27) * 0x9e3779b97f4a7c15ull >> 48;   /* the region's rotation */
    uint64_t w = ((a >> 11) + rot) & 0xffff, b = w >> 1;
    if (__builtin_expect((__atomic_load_n(&summary[b / 32], __ATOMIC_RELAXED) >> (b % 32)) & 1, 0) &&
        (__atomic_load_n(&filter[w], __ATOMIC_RELAXED) >> ((a >> 6) & 31)) & 1) {
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
