/* heap.h -- sampled C memory profiling: what the allocation interposers call.
 * Context: signal (malloc hook sampling path: the functions marked GP_SIGSAFE follow the
 * signal path's rules -- no malloc, no locks, no stdio, no dynamic TLS, bounded stack,
 * fault-safe reads; they run inside malloc/free on any thread, maybe in a signal handler)
 *
 * Sampling (as Go's mallocgc and tcmalloc): every thread counts down the bytes it allocates
 * from an exponentially distributed interval of mean GOPROF_HEAP_RATE bytes; the allocation
 * that reaches zero is sampled and a new interval is drawn. So a block of size s is sampled
 * with probability 1 - exp(-s / rate): the collector divides by that to estimate totals.
 *
 * The interposers (program/preload/interpose_malloc.c) keep the fast path inline: a
 * subtraction from the thread's countdown (heap_pick), or, in free(), one filter bit
 * (heap_filter_maybe). Whether profiling is on at all is asked out of line, when a countdown
 * runs out or a bit is set. Everything else is out of line, here.
 *
 * Counts (lib/ring/heap_buckets.h): a sampled allocation's stack (leaf: the allocation's
 * caller, libgoprof's own frames left out) and goroutine labels are captured into a scratch
 * record (one of HEAP_SCRATCH, heap_sample.c) and name its bucket in the ring's table, whose
 * alloc counters it adds to (one, and the bytes asked for: n * size for calloc); the block goes
 * into the table of sampled blocks with its bucket and size (heap_set.h), so that its free
 * subtracts the same from the same bucket, and a realloc of it keeps its bucket and changes its
 * bytes. A freed block that was never sampled costs nothing more. No record reaches the ring.
 * A walk that would replay the thread's last one (unwind.h: Replay) takes its bucket without
 * walking (heap_sample.c, bucket_of_stack).
 *
 * Our SIGPROF handler must not run the unwinder or reserve a slot on a thread that is inside
 * the sampled path: instead of blocking SIGPROF (two system calls per sample) the path sets
 * gp_heap_thread.busy, and the handler, seeing it, leaves its sample's weight in
 * gp_heap_thread.deferred; the sampled path records it, on its own stack, when it is done.
 */
#ifndef GP_HEAP_H
#define GP_HEAP_H

#include <stdatomic.h>
#include <stdint.h>

#include "lib/base/sigsafe.h"
#include "program/sample/heap_set.h"

struct heap_thread {
    uint64_t left;       /* bytes until this thread's next sampled allocation */
    uint64_t rng;        /* xorshift64* state; 0 before the thread's first interval */
    uint32_t busy;       /* in the sampled path (see above) */
    uint32_t deferred;   /* weight of our SIGPROFs that arrived while busy */
    uint32_t name_age;   /* records since the thread's name was read */
    uint32_t last_bucket;   /* of its last sampled allocation: likely its next one's too */
    /* last_bucket is the bucket of the walk in the thread's memo, found in the ring set while
     * gp_sample.ring_gen was repeat_gen: an allocation whose walk replays that one
     * (unwind_memo_replays) counts there without walking (heap_sample.c, bucket_of_stack). */
    uint32_t repeat;
    uint64_t repeat_gen;
};
extern __thread struct heap_thread gp_heap_thread __attribute__((tls_model("initial-exec")));

struct heap_stats {   /* this process's own counts, for GOPROF_DEBUG */
    _Atomic uint64_t allocs, alloc_bytes, frees, moves, stale, no_bucket, lost_set, nested,
        deferred_cpu, replayed;
};

struct heap_state {
    struct heap_set set;
    uint64_t rate;               /* GOPROF_HEAP_RATE */
    uint64_t skip_lo, skip_hi;   /* libgoprof's text: its frames are left out at the leaf */
    int count_stats;             /* GOPROF_DEBUG: keep stats (shared atomics) */
    struct heap_stats stats;
};
extern struct heap_state gp_heap;
/* Nonzero while heap events are counted. Read out of line only: in heap_pick_slow (a thread's
 * countdown starts at 0, so its first allocation gets there) and in the sampled paths of free
 * and realloc (the filter has no bit set before the first sampled block). */
extern int gp_heap_on;

/* Expected on: where C memory profiling is off, the constructor bound the objects' allocation
 * calls past the interposers (heap_bind_direct), so the calls that still come are profiled
 * ones. */
static inline int heap_on(void)
{
    return __builtin_expect(__atomic_load_n(&gp_heap_on, __ATOMIC_RELAXED) != 0, 1);
}

/* While C memory profiling is off, a thread whose countdown runs out looks again after this
 * many bytes: gp_heap_on is read there, not in every malloc. So when it comes on (at start,
 * in a fork child) a thread that allocated while it was off may leave up to this many bytes
 * unsampled before its first interval starts: heap_start and heap_resume restart the calling
 * thread's, the only one there usually is. */
#define HEAP_OFF_LEFT ((uint64_t)64 * 1024)

/* Out of line: n reached the thread's countdown. 1: sample this allocation. */
GP_SIGSAFE int heap_pick_slow(uint64_t n);

/* The calling thread draws a new first interval at its next allocation (and reseeds: a fork
 * child's would repeat its parent's). */
void heap_thread_restart(void);

/* Whether an allocation of n bytes is sampled: 0 while C memory profiling is off. */
static inline int heap_pick(uint64_t n)
{
    struct heap_thread *t = &gp_heap_thread;
    if (__builtin_expect(n < t->left, 1)) {
        t->left -= n;
        return 0;
    }
    return heap_pick_slow(n);
}

/* The sampled path's entry (heap_sample.c): calls body(a, b, c, at), `at` the registers of
 * heap_sampled_call's caller at the call, where the walk of a sampled allocation's stack
 * starts. Reach it by a tail call from the interposer (`return heap_sampled_call(...)`), so that
 * its caller is the program's. */
struct unwind_regs;
typedef uint64_t heap_sampled_body(uint64_t a, uint64_t b, uint64_t c,
                                   const struct unwind_regs *at);
GP_SIGSAFE uint64_t heap_sampled_call(heap_sampled_body *body, uint64_t a, uint64_t b,
                                      uint64_t c);
/* The same, for an int result (posix_memalign's): a cast of the result would keep gcc from
 * making the call a jump. */
GP_SIGSAFE int heap_sampled_call_int(heap_sampled_body *body, uint64_t a, uint64_t b, uint64_t c);

/* A sampled allocation of size bytes at addr: counted in the bucket of the stack from at, and
 * into the table. (The at of heap_record_move is for CPU samples deferred meanwhile.) */
GP_SIGSAFE void heap_record_alloc(uint64_t addr, uint64_t size, const struct unwind_regs *at);
/* Takes addr out of the table: 1 if it was a sampled block, *meta its bucket and size (then
 * the caller says what became of it: heap_record_free, heap_record_move, or heap_untake), 0 if
 * not. Call before the block is given back to the allocator: another thread may get the
 * address at once. */
GP_SIGSAFE int heap_take(uint64_t addr, uint64_t *meta);
GP_SIGSAFE void heap_record_free(uint64_t meta);
/* A taken block (meta) now lives at addr (the same address when it was resized in place),
 * size bytes. */
GP_SIGSAFE void heap_record_move(uint64_t meta, uint64_t addr, uint64_t size,
                                 const struct unwind_regs *at);
/* A taken block stays where it was (realloc failed). */
GP_SIGSAFE void heap_untake(uint64_t addr, uint64_t meta);
/* In a fork child: the scratch records other threads held at the fork are free again. */
void heap_scratch_forked_child(void);
/* Called by the SIGPROF handler: 1 if the thread is in the sampled path (the weight is then
 * deferred, recorded when the path ends). */
GP_SIGSAFE int heap_defer_cpu_sample(uint32_t weight);

#endif
