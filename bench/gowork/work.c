/* work.c -- C half of the Go workloads (bench/gowork). Built by cgo at -O2 without frame
 * pointers (as distribution C code is), so only .eh_frame CFI can unwind these frames.
 * noinline/noclone and the empty asm after each call keep every frame (no tail calls, no
 * recursion turned into a loop); each leaf adds its own constant so that identical code folding
 * cannot merge them. */
#include <time.h>

#include "work.h"

#if defined(__GNUC__) && !defined(__clang__)
#define W_NOINLINE __attribute__((noinline, noclone))
#else
#define W_NOINLINE __attribute__((noinline))
#endif

volatile uint64_t gowork_c_sink;

W_NOINLINE static uint64_t c_leaf(long n)
{
    uint64_t x = gowork_c_sink | 1;
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x += 1;
    }
    gowork_c_sink = x;
    return x;
}

W_NOINLINE uint64_t c_rec(int depth, long n)
{
    uint64_t r = depth <= 0 ? c_leaf(n) : c_rec(depth - 1, n);
    __asm__ volatile("" : "+r"(r) : : "memory");
    return r + 1;
}

W_NOINLINE uint64_t c_work(long n)
{
    uint64_t x = gowork_c_sink | 1;
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x += 3;
    }
    gowork_c_sink = x;
    return x;
}

W_NOINLINE uint64_t c_probe(long n)
{
    uint64_t x = gowork_c_sink | 1;
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x += 5;
    }
    gowork_c_sink = x;
    return x;
}

int64_t c_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
