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
#include <unistd.h>

#include "lib/base/clock.h"
#include "lib/ring/ring.h"
#include "program/sample/heap.h"
#include "program/sample/labels.h"
#include "program/sample/sample_internal.h"
#include "program/unwind/unwind.h"

__thread struct heap_thread gp_heap_thread __attribute__((tls_model("initial-exec")));
/* The rows of the thread's last sampled stack (unwind.h): a hot allocation site's next sample
 * walks without looking its frames up. */
static __thread struct unwind_memo heap_memo __attribute__((tls_model("initial-exec")));
struct heap_state gp_heap;
int gp_heap_on;

/* The thread's name is read again every HEAP_NAME_REFRESH records of its own (a system call:
 * 0.1 % of a fast allocator's time when it was every 64); CPU samples refresh it too. */
#define HEAP_NAME_REFRESH 1024

/* The process's own counts, for GOPROF_DEBUG's line at exit: atomics on one line shared by
 * every sampling thread, so kept only when that line is asked for. */
#define COUNT(field, n)                                                                     \
    do {                                                                                    \
        if (gp_heap.count_stats)                                                            \
            atomic_fetch_add_explicit(&gp_heap.stats.field, (n), memory_order_relaxed);     \
    } while (0)

/* ---- the entry: the allocation's caller's registers -----------------------------------------
 * heap_sampled_call(body, a, b, c) calls body(a, b, c, &at), at holding the registers of its own
 * caller as they were at the call: the return address, the stack pointer after the return, and
 * the callee-saved registers (which nothing has changed yet). An interposer reaches it by a tail
 * call (`return heap_sampled_call(...)` once the interposer's frame is gone: gcc -O2 makes it a
 * jump), so that caller is the program's call of malloc, and the walk starts there: none of
 * libgoprof's frames is stepped (three CFI lookups of cold memory per sample). Where the compiler
 * made a real call, the walk starts in the interposer and capture_stack leaves our frames out.
 * `at` is a struct unwind_regs (have_callee_saved 1, exact 0) on heap_sampled_call's frame. */
_Static_assert(offsetof(struct unwind_regs, ip) == 0 && offsetof(struct unwind_regs, sp) == 8 &&
               offsetof(struct unwind_regs, bp) == 16 && offsetof(struct unwind_regs, bx) == 24 &&
               offsetof(struct unwind_regs, r12) == 32 && offsetof(struct unwind_regs, r15) == 56 &&
               offsetof(struct unwind_regs, have_callee_saved) == 64 &&
               offsetof(struct unwind_regs, exact) == 68 && sizeof(struct unwind_regs) == 72,
               "heap_sampled_call's layout of struct unwind_regs");
__asm__(".text\n"
        ".p2align 4\n"
        ".hidden heap_sampled_call\n"
        ".globl heap_sampled_call\n"
        ".type heap_sampled_call, @function\n"
        ".hidden heap_sampled_call_int\n"
        ".globl heap_sampled_call_int\n"
        ".type heap_sampled_call_int, @function\n"
        "heap_sampled_call:\n"
        "heap_sampled_call_int:\n"
        "    .cfi_startproc\n"
        "    subq $72, %rsp\n"             /* at; and the stack 16-byte aligned for the call */
        "    .cfi_adjust_cfa_offset 72\n"
        "    movq 72(%rsp), %rax\n"
        "    movq %rax, 0(%rsp)\n"         /* ip: the return address */
        "    leaq 80(%rsp), %rax\n"
        "    movq %rax, 8(%rsp)\n"         /* sp: after the return */
        "    movq %rbp, 16(%rsp)\n"
        "    movq %rbx, 24(%rsp)\n"
        "    movq %r12, 32(%rsp)\n"
        "    movq %r13, 40(%rsp)\n"
        "    movq %r14, 48(%rsp)\n"
        "    movq %r15, 56(%rsp)\n"
        "    movl $1, 64(%rsp)\n"          /* have_callee_saved */
        "    movl $0, 68(%rsp)\n"          /* exact: ip is a return address */
        "    movq %rdi, %rax\n"
        "    movq %rsi, %rdi\n"
        "    movq %rdx, %rsi\n"
        "    movq %rcx, %rdx\n"
        "    movq %rsp, %rcx\n"
        "    call *%rax\n"
        "    addq $72, %rsp\n"
        "    .cfi_adjust_cfa_offset -72\n"
        "    ret\n"
        "    .cfi_endproc\n"
        ".size heap_sampled_call, . - heap_sampled_call\n"
        ".size heap_sampled_call_int, . - heap_sampled_call_int\n");

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
    if (!heap_on()) {   /* the interposers leave this test to us: see heap.h */
        t->left = HEAP_OFF_LEFT;
        return 0;
    }
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

void heap_thread_restart(void)
{
    gp_heap_thread.left = 0;
    gp_heap_thread.rng = 0;
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
    struct heap_thread *t = &gp_heap_thread;
    if (st->tid == 0)
        st->tid = (uint32_t)syscall(SYS_gettid);
    if (t->name_age++ % HEAP_NAME_REFRESH == 0)
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
}

GP_SIGSAFE static int in_self(uint64_t pc)
{
    pc &= ~GP_PC_EXACT;
    return pc >= gp_heap.skip_lo && pc < gp_heap.skip_hi;
}

/* The stack from the allocation's caller (at) into rec; libgoprof's own frames at the leaf (the
 * interposer's, where heap_sampled_call was called rather than jumped to) left out. */
GP_SIGSAFE static void capture_stack(struct ring_record *rec, const struct unwind_regs *at)
{
    sample_stack_reach(&gp_thread, at->sp);
    struct unwind_out out = { .pc = rec->pc, .max = GP_RING_MAX_FRAMES,
                              .leaf = GP_RING_LEAF_FRAMES };
    unwind_capture_at(at, &gp_thread.unw, &heap_memo, &out);
    int skip = 0;
    while (skip < out.n - 1 && in_self(rec->pc[skip]))
        skip++;
    if (skip) {
        for (int i = skip; i < out.n; i++)
            rec->pc[i - skip] = rec->pc[i];
    }
    rec->nframes = (uint16_t)(out.n - skip);
    rec->flags |= out.flags;
    rec->goid = out.goid;
    labels_copy(rec, gp_unwind_go.pid, gp_unwind_go.layout.labels_form, out.labels);
}

/* CPU samples our handler left to us while the thread was busy here: recorded on the stack
 * of the allocation's caller (where the thread was: in its malloc). */
GP_SIGSAFE static void flush_deferred(struct heap_thread *t, const struct unwind_regs *at)
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
            capture_stack(rec, at);
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

/* The free of a block taken out of the table: into the free log (lib/ring/ring.h), which puts
 * it after the block's own record. */
GP_SIGSAFE static void log_free(struct ring *r, uint64_t addr)
{
    if (ring_log_free(r, addr) == 0) {
        COUNT(frees, 1);
    } else {
        ring_heap_drop(r, GP_HEAP_DROP_FREE_LOST);
        COUNT(lost_free, 1);
    }
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
#define LEAVE(t, at)                                \
    atomic_signal_fence(memory_order_seq_cst);      \
    (t)->busy = 0;                                  \
    if ((t)->deferred)                              \
        flush_deferred(t, at);                      \
    errno = saved_errno_

/* The table's line comes last: asked for first, it arrives while the stack is walked (a cold
 * line: its miss was the largest single cost of a sampled allocation). */
GP_SIGSAFE void heap_record_alloc(uint64_t addr, uint64_t size, const struct unwind_regs *at)
{
    struct heap_thread *t = &gp_heap_thread;
    struct ring *r = heap_ring();
    if (!r || t->busy)
        return;
    ENTER(t);
    __builtin_prefetch(&gp_heap.set.line[heap_set_home(&gp_heap.set, addr)], 1, 3);
    uint64_t pos;
    struct ring_record *rec = ring_reserve(r, &pos);
    if (!rec) {
        ring_heap_drop(r, GP_HEAP_DROP_RING_FULL);
        COUNT(lost_ring, 1);
    } else {
        fill_common(rec, GP_REC_HEAP_ALLOC);
        rec->heap_addr = addr;
        rec->heap_size = size;
        capture_stack(rec, at);
        /* Present already: the block that had this address was freed where we did not see it
         * (an entry point we do not interpose). The collector, given an allocation at a live
         * address, lets the old block go. */
        enum heap_set_insert_result in = heap_set_insert(&gp_heap.set, addr);
        if (in == HEAP_SET_FULL) {
            rec->weight = 0;   /* cannot be followed: the slot is given up (ring.h) */
            set_full(r);
        } else {
            if (in == HEAP_SET_PRESENT)
                COUNT(stale, 1);
            COUNT(allocs, 1);
            COUNT(alloc_bytes, size);
        }
        ring_commit(r, pos);
        ring_prefetch_next(r, pos);
    }
    LEAVE(t, at);
}

GP_SIGSAFE int heap_take(uint64_t addr)
{
    return heap_set_remove(&gp_heap.set, addr);
}

/* No ENTER: the free log is neither the unwinder nor a slot, which is what busy keeps our
 * SIGPROF handler away from; and nothing here changes errno. */
GP_SIGSAFE void heap_record_free(uint64_t addr)
{
    struct ring *r = heap_ring();
    if (r)
        log_free(r, addr);
}

/* The record is reserved before addr goes into the table, as an allocation's: a free of addr
 * that finds it there is logged after the record's position. */
GP_SIGSAFE void heap_record_move(uint64_t old, uint64_t addr, uint64_t size,
                                 const struct unwind_regs *at)
{
    struct heap_thread *t = &gp_heap_thread;
    struct ring *r = heap_ring();
    if (!r)
        return;
    ENTER(t);
    uint64_t pos;
    struct ring_record *rec = ring_reserve(r, &pos);
    if (!rec) {
        ring_heap_drop(r, GP_HEAP_DROP_FREE_LOST);   /* for the collector, old stays */
        COUNT(lost_free, 1);
    } else {
        fill_common(rec, GP_REC_HEAP_MOVE);
        rec->heap_old = old;
        rec->heap_addr = addr;
        rec->heap_size = size;
        int full = heap_set_insert(&gp_heap.set, addr) == HEAP_SET_FULL;
        if (full) {
            rec->weight = 0;   /* given up: the block cannot be followed, for the collector */
            set_full(r);       /* it is freed */
        } else {
            COUNT(moves, 1);
        }
        ring_commit(r, pos);
        if (full)
            log_free(r, old);
        ring_prefetch_next(r, pos);
    }
    LEAVE(t, at);
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
