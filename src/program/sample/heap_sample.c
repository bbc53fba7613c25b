/* heap_sample.c -- the sampled path of C memory profiling (see heap.h).
 * Context: signal (malloc hook sampling path: runs inside malloc/free on any thread, maybe in
 * a signal handler of the program's)
 * Must not: allocate, lock, use stdio, touch dynamic TLS, change errno, call libc, use more
 * than GP_SIGNAL_STACK_BUDGET bytes of stack.
 */
#include <errno.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "lib/base/clock.h"
#include "lib/ring/ring.h"
#include "program/sample/heap.h"
#include "program/sample/labels.h"
#include "program/sample/sample_internal.h"
#include "program/unwind/unwind.h"

__thread struct heap_thread gp_heap_thread __attribute__((tls_model("initial-exec")));
struct heap_state gp_heap;
int gp_heap_on;

#define THREAD_NAME_REFRESH 64

/* The process's own counts, for GOPROF_DEBUG's line at exit: atomics on one line shared by
 * every sampling thread, so kept only when that line is asked for. */
#define COUNT(field, n)                                                                     \
    do {                                                                                    \
        if (gp_heap.count_stats)                                                            \
            atomic_fetch_add_explicit(&gp_heap.stats.field, (n), memory_order_relaxed);     \
    } while (0)

/* ---- the registers of the caller, without getcontext's rt_sigprocmask ------------------------
 * gp_heap_regs(gregs) fills gregs[REG_RIP] with its return address, gregs[REG_RSP] with the
 * caller's stack pointer after the return, and the callee-saved registers (unchanged by a
 * call): what getcontext gives, minus the signal mask (a system call we do not need). The
 * other registers are left alone (the unwinder needs none of them at a call site). */
_Static_assert(REG_R12 == 4 && REG_R13 == 5 && REG_R14 == 6 && REG_R15 == 7 && REG_RBP == 10 &&
               REG_RBX == 11 && REG_RSP == 15 && REG_RIP == 16, "ucontext gregs layout");
__asm__(".text\n"
        ".p2align 4\n"
        ".hidden gp_heap_regs\n"
        ".globl gp_heap_regs\n"
        ".type gp_heap_regs, @function\n"
        "gp_heap_regs:\n"
        "    movq %r12, 32(%rdi)\n"
        "    movq %r13, 40(%rdi)\n"
        "    movq %r14, 48(%rdi)\n"
        "    movq %r15, 56(%rdi)\n"
        "    movq %rbp, 80(%rdi)\n"
        "    movq %rbx, 88(%rdi)\n"
        "    leaq 8(%rsp), %rax\n"
        "    movq %rax, 120(%rdi)\n"
        "    movq (%rsp), %rax\n"
        "    movq %rax, 128(%rdi)\n"
        "    ret\n"
        ".size gp_heap_regs, . - gp_heap_regs\n");
void gp_heap_regs(greg_t *gregs);

/* ---- intervals ------------------------------------------------------------------------------ */

GP_SIGSAFE static uint64_t next_random(struct heap_thread *t)
{
    if (!t->rng) {
        struct sample_thread *st = &gp_thread;
        if (st->tid == 0)
            st->tid = (uint32_t)syscall(SYS_gettid);
        uint64_t seed = (uint64_t)gp_clock_ns(CLOCK_MONOTONIC) ^
                        ((uint64_t)st->tid * 0x9e3779b97f4a7c15ull) ^ (uint64_t)(uintptr_t)t;
        t->rng = seed ? seed : 0x2545f4914f6cdd1dull;
    }
    uint64_t x = t->rng;   /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    t->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* -ln(u) for u in (0, 1], without libm: u = 2^e * m, m in [1, 2); ln m = 2 atanh(s) with
 * s = (m - 1) / (m + 1) in [0, 1/3), whose series to s^9 is good to ~1e-7. */
GP_SIGSAFE static double neg_log(double u)
{
    union {
        double d;
        uint64_t i;
    } v = { .d = u };
    int e = (int)((v.i >> 52) & 0x7ff) - 1023;
    v.i = (v.i & ((1ull << 52) - 1)) | (1023ull << 52);
    double s = (v.d - 1.0) / (v.d + 1.0), s2 = s * s;
    double ln_m = 2.0 * s * (1.0 + s2 * (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 / 9))));
    return -((double)e * 0.69314718055994530942 + ln_m);
}

/* An exponentially distributed interval of mean gp_heap.rate bytes. */
GP_SIGSAFE static uint64_t next_interval(struct heap_thread *t)
{
    double u = (double)((next_random(t) >> 11) + 1) * 0x1.0p-53;   /* (0, 1] */
    double x = neg_log(u) * (double)gp_heap.rate;
    if (x >= 0x1.0p62)
        return 1ull << 62;
    return (uint64_t)x;
}

GP_SIGSAFE int heap_pick_slow(uint64_t n)
{
    struct heap_thread *t = &gp_heap_thread;
    if (t->busy) {   /* an allocation inside our own path (a signal handler's): not sampled */
        COUNT(nested, 1);
        return 0;
    }
    if (!t->rng) {
        /* The thread's first interval: drawn now, not sampled yet (a countdown starting at 0
         * would sample every thread's first allocation). */
        t->left = next_interval(t);
        if (n < t->left) {
            t->left -= n;
            return 0;
        }
    }
    t->left = next_interval(t);
    return 1;
}

/* ---- records -------------------------------------------------------------------------------- */

GP_SIGSAFE static struct ring *heap_ring(void)
{
    if (!atomic_load_explicit(&gp_sample.enabled, memory_order_relaxed))
        return NULL;
    return __atomic_load_n(&gp_sample.ring, __ATOMIC_ACQUIRE);
}

/* The fields every heap record has. */
GP_SIGSAFE static void fill_common(struct ring_record *rec, uint16_t flags)
{
    struct sample_thread *st = &gp_thread;
    if (st->tid == 0)
        st->tid = (uint32_t)syscall(SYS_gettid);
    if (st->name_age++ % THREAD_NAME_REFRESH == 0)
        prctl(PR_GET_NAME, st->name, 0, 0, 0);
    rec->tid = st->tid;
    rec->weight = 1;
    rec->nframes = 0;
    rec->flags = flags;
    rec->labels_len = 0;
    rec->labels_left = 0;
    rec->goid = 0;
    gp_copy_bytes(rec->thread_name, st->name, sizeof rec->thread_name);
    rec->heap_addr = 0;
    rec->heap_size = 0;
    rec->heap_old = 0;
}

GP_SIGSAFE static int in_self(uint64_t pc)
{
    pc &= ~GP_PC_EXACT;
    return pc >= gp_heap.skip_lo && pc < gp_heap.skip_hi;
}

/* The stack of the caller's caller's ... into rec, libgoprof's own frames left out at the leaf.
 * noinline: its own frame is one of those left out, whatever inlining did above it. */
__attribute__((noinline)) GP_SIGSAFE static void capture_stack(struct ring_record *rec)
{
    ucontext_t uc;
    for (int i = 0; i < NGREG; i++)
        uc.uc_mcontext.gregs[i] = 0;
    gp_heap_regs(uc.uc_mcontext.gregs);
    sample_stack_reach(&gp_thread, (uint64_t)uc.uc_mcontext.gregs[REG_RSP]);
    struct unwind_out out = { .pc = rec->pc, .max = GP_RING_MAX_FRAMES,
                              .leaf = GP_RING_LEAF_FRAMES };
    unwind_capture(&uc, &gp_thread.unw, &out);
    int skip = 0;
    while (skip < out.n - 1 && in_self(rec->pc[skip]))
        skip++;
    for (int i = skip; i < out.n; i++)
        rec->pc[i - skip] = rec->pc[i];
    rec->nframes = (uint16_t)(out.n - skip);
    rec->flags |= out.flags;
    rec->goid = out.goid;
    labels_copy(rec, gp_unwind_go.pid, gp_unwind_go.layout.labels_form, out.labels);
}

/* CPU samples our handler left to us while the thread was busy here: recorded on the stack
 * of the allocation's caller (where the thread was: in its malloc). */
GP_SIGSAFE static void flush_deferred(struct heap_thread *t)
{
    for (int round = 0; round < 4 && t->deferred; round++) {
        uint32_t w = t->deferred;
        t->deferred = 0;
        struct ring *r = heap_ring();
        if (!r)
            return;
        t->busy = 1;
        atomic_signal_fence(memory_order_seq_cst);
        uint64_t pos;
        struct ring_record *rec = ring_reserve(r, &pos);
        if (rec) {
            fill_common(rec, 0);
            rec->weight = w;
            capture_stack(rec);
            ring_commit(r, pos);
            COUNT(deferred_cpu, w);
        } else {
            ring_drop(r, GP_DROP_RING_FULL, w);
        }
        atomic_signal_fence(memory_order_seq_cst);
        t->busy = 0;
    }
}

GP_SIGSAFE int heap_defer_cpu_sample(uint32_t weight)
{
    struct heap_thread *t = &gp_heap_thread;
    if (!t->busy)
        return 0;
    t->deferred += weight;
    return 1;
}

/* A FREE or MOVE record; 0, or -1 when the ring had no room (counted). */
GP_SIGSAFE static int write_event(struct ring *r, uint16_t flags, uint64_t old, uint64_t addr,
                                  uint64_t size)
{
    uint64_t pos;
    struct ring_record *rec = ring_reserve(r, &pos);
    if (!rec) {
        ring_heap_drop(r, GP_HEAP_DROP_FREE_LOST);
        COUNT(lost_free, 1);
        return -1;
    }
    fill_common(rec, flags);
    rec->heap_old = old;
    rec->heap_addr = addr;
    rec->heap_size = size;
    ring_commit(r, pos);
    return 0;
}

/* The table of sampled blocks had no room for an address: the allocation (or the block a
 * realloc moved) cannot be followed. */
GP_SIGSAFE static void set_full(struct ring *r)
{
    ring_heap_drop(r, GP_HEAP_DROP_SET_FULL);
    COUNT(lost_set, 1);
}

/* busy around every use of the ring and the unwinder, errno kept. */
#define ENTER(t)                                    \
    int saved_errno_ = errno;                       \
    (t)->busy = 1;                                  \
    atomic_signal_fence(memory_order_seq_cst)
#define LEAVE(t)                                    \
    atomic_signal_fence(memory_order_seq_cst);      \
    (t)->busy = 0;                                  \
    if ((t)->deferred)                              \
        flush_deferred(t);                          \
    errno = saved_errno_

GP_SIGSAFE void heap_record_alloc(uint64_t addr, uint64_t size)
{
    struct heap_thread *t = &gp_heap_thread;
    struct ring *r = heap_ring();
    if (!r || t->busy)
        return;
    ENTER(t);
    enum heap_set_insert_result in = heap_set_insert(&gp_heap.set, addr);
    if (in == HEAP_SET_FULL) {
        set_full(r);
    } else {
        if (in == HEAP_SET_PRESENT) {
            /* The block that had this address was freed where we did not see it (an entry
             * point we do not interpose): it is freed now. */
            COUNT(stale, 1);
            write_event(r, GP_REC_HEAP_FREE, 0, addr, 0);
        }
        uint64_t pos;
        struct ring_record *rec = ring_reserve(r, &pos);
        if (!rec) {
            heap_set_remove(&gp_heap.set, addr);
            ring_heap_drop(r, GP_HEAP_DROP_RING_FULL);
            COUNT(lost_ring, 1);
        } else {
            fill_common(rec, GP_REC_HEAP_ALLOC);
            rec->heap_addr = addr;
            rec->heap_size = size;
            capture_stack(rec);
            ring_commit(r, pos);
            COUNT(allocs, 1);
            COUNT(alloc_bytes, size);
        }
    }
    LEAVE(t);
}

GP_SIGSAFE int heap_take(uint64_t addr)
{
    return heap_set_remove(&gp_heap.set, addr);
}

GP_SIGSAFE void heap_record_free(uint64_t addr)
{
    struct heap_thread *t = &gp_heap_thread;
    struct ring *r = heap_ring();
    if (!r)
        return;
    ENTER(t);
    if (write_event(r, GP_REC_HEAP_FREE, 0, addr, 0) == 0)
        COUNT(frees, 1);
    LEAVE(t);
}

GP_SIGSAFE void heap_record_move(uint64_t old, uint64_t addr, uint64_t size)
{
    struct heap_thread *t = &gp_heap_thread;
    struct ring *r = heap_ring();
    if (!r)
        return;
    ENTER(t);
    enum heap_set_insert_result in = heap_set_insert(&gp_heap.set, addr);
    if (in == HEAP_SET_FULL) {
        set_full(r);   /* cannot follow it any more: for the collector it is freed */
        if (write_event(r, GP_REC_HEAP_FREE, 0, old, 0) == 0)
            COUNT(frees, 1);
    } else if (write_event(r, GP_REC_HEAP_MOVE, old, addr, size) == 0) {
        COUNT(moves, 1);
    } else {
        heap_set_remove(&gp_heap.set, addr);
    }
    LEAVE(t);
}

GP_SIGSAFE void heap_untake(uint64_t addr)
{
    if (heap_set_insert(&gp_heap.set, addr) == HEAP_SET_FULL) {
        struct ring *r = heap_ring();
        if (r)
            ring_heap_drop(r, GP_HEAP_DROP_FREE_LOST);
        COUNT(lost_free, 1);
    }
}
