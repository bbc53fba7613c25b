/* callback.c -- C side of the callback program, compiled with -O2 -fno-omit-frame-pointer
 * (cgo_nested covers C without frame pointers); C11, -Wall -Wextra clean. noinline/noclone keeps every function a real
 * frame; the empty asm after a call keeps it from becoming a tail jump. */
#include <pthread.h>
#include <stdatomic.h>
#include "callback.h"

#if defined(__GNUC__) && !defined(__clang__)
#define CB_NOINLINE __attribute__((noinline, noclone))
#else
#define CB_NOINLINE __attribute__((noinline))
#endif

/* One sink per path, on separate cache lines: the two paths run in parallel, and a shared
 * line would slow the C loops several-fold. */
static volatile uint64_t sink_goroutine __attribute__((aligned(64)));
static volatile uint64_t sink_thread __attribute__((aligned(64)));
static volatile uint64_t sink_probe __attribute__((aligned(64)));
static volatile uint64_t sink_nested __attribute__((aligned(64)));

static inline uint64_t spin(volatile uint64_t *sink, long n)
{
    for (long i = 0; i < n; i++)
        *sink += (uint64_t)i ^ (*sink >> 3);
    return *sink;
}

CB_NOINLINE uint64_t c_leaf_goroutine(long n) { return spin(&sink_goroutine, n); }
CB_NOINLINE uint64_t c_leaf_thread(long n) { return spin(&sink_thread, n); }
CB_NOINLINE uint64_t c_probe(long n) { return spin(&sink_probe, n); }
CB_NOINLINE uint64_t c_leaf_nested(long n) { return spin(&sink_nested, n); }

/* Go -> C -> Go on a goroutine. */
CB_NOINLINE void c_call_go(long n)
{
    goCb(n);
    __asm__ volatile("" : : : "memory");
}

/* Go -> C -> Go -> C -> Go, inside goCb. */
CB_NOINLINE void c_call_go_nested(long n)
{
    goNested(n);
    __asm__ volatile("" : : : "memory");
}

static pthread_t thread;
static atomic_int stop_flag;
static long thread_n;

/* The C-created thread: C -> Go (goFromThread) -> C (c_leaf_thread). */
static CB_NOINLINE void *c_thread_main(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&stop_flag, memory_order_acquire))
        goFromThread(thread_n);
    __asm__ volatile("" : : : "memory");
    return NULL;
}

int c_thread_start(long n)
{
    thread_n = n;
    atomic_store_explicit(&stop_flag, 0, memory_order_release);
    return pthread_create(&thread, NULL, c_thread_main, NULL);
}

int c_thread_stop(void)
{
    atomic_store_explicit(&stop_flag, 1, memory_order_release);
    return pthread_join(thread, NULL);
}
