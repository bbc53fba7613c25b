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

/* The thread's name is read again every HEAP_NAME_REFRESH deferred CPU samples of its own (a
 * system call); the handler's own samples refresh it too. */
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

/* ln(1 + i/64), i = 0..64 (python3: math.log(1 + i / 64)). */
static const double ln_table[65] = {
    0.0, 0.015504186535965254, 0.030771658666753687, 0.0458095360312942,
    0.06062462181643484, 0.07522342123758753, 0.08961215868968714, 0.10379679368164356,
    0.11778303565638346, 0.13157635778871926, 0.1451820098444979, 0.15860503017663857,
    0.17185025692665923, 0.184922338494012, 0.19782574332991987, 0.21056476910734964,
    0.22314355131420976, 0.2355660713127669, 0.24783616390458127, 0.25995752443692605,
    0.27193371548364176, 0.2837681731306446, 0.2954642128938359, 0.3070250352949119,
    0.3184537311185346, 0.329753286372468, 0.3409265869705932, 0.3519764231571782,
    0.3629054936893685, 0.37371640979358406, 0.38441169891033206, 0.394993808240869,
    0.4054651081081644, 0.415827895143711, 0.4260843953109001, 0.43623676677491807,
    0.44628710262841953, 0.4562374334815876, 0.46608972992459924, 0.4758459048699639,
    0.4855078157817008, 0.4950772667978515, 0.5045560107523953, 0.5139457511022343,
    0.5232481437645479, 0.5324647988694718, 0.5415972824327444, 0.5506471179526623,
    0.5596157879354227, 0.5685047353526688, 0.5773153650348236, 0.5860490450035782,
    0.5947071077466928, 0.6032908514380843, 0.6118015411059929, 0.6202404097518576,
    0.6286086594223741, 0.6369074622370692, 0.6451379613735847, 0.6533012720127457,
    0.661398482245365, 0.6694306539426292, 0.6773988235918061, 0.6853040030989194,
    0.6931471805599453,
};

/* -ln(u) for u in (0, 1], without libm: u = 2^e * m, m in [1, 2); ln m from ln_table by linear
 * interpolation between its 1/64 steps (within 3e-5: a mean interval off by that much at
 * most). A division and a degree-9 series before: 0.14 % of a fast allocator's cycles at 512k,
 * by perf, in this function. */
GP_SIGSAFE static double neg_log(double u)
{
    union {
        double d;
        uint64_t i;
    } v = { .d = u };
    int e = (int)((v.i >> 52) & 0x7ff) - 1023;
    uint64_t frac = v.i & ((1ull << 52) - 1);
    unsigned k = (unsigned)(frac >> 46);                                  /* top 6 bits */
    double f = (double)(frac & ((1ull << 46) - 1)) * 0x1.0p-46;            /* the rest, [0, 1) */
    double ln_m = ln_table[k] + (ln_table[k + 1] - ln_table[k]) * f;
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
    gp_heap_thread.repeat = 0;
}

/* ---- records -------------------------------------------------------------------------------- */

GP_SIGSAFE static struct ring *heap_ring(void)
{
    if (!atomic_load_explicit(&gp_sample.enabled, memory_order_relaxed))
        return NULL;
    return __atomic_load_n(&gp_sample.ring, __ATOMIC_ACQUIRE);
}

/* The fields of a deferred CPU sample's record. */
GP_SIGSAFE static void fill_common(struct ring_record_head *h)
{
    struct sample_thread *st = &gp_thread;
    struct heap_thread *t = &gp_heap_thread;
    if (st->tid == 0)
        st->tid = (uint32_t)syscall(SYS_gettid);
    if (t->name_age++ % HEAP_NAME_REFRESH == 0)
        prctl(PR_GET_NAME, st->name, 0, 0, 0);
    h->tid = st->tid;
    h->weight = 1;
    h->nframes = 0;
    h->flags = 0;
    h->labels_len = 0;
    h->labels_left = 0;
    h->goid = 0;
    gp_copy_bytes(h->thread_name, st->name, sizeof h->thread_name);
}

GP_SIGSAFE static int in_self(uint64_t pc)
{
    pc &= ~GP_PC_EXACT;
    return pc >= gp_heap.skip_lo && pc < gp_heap.skip_hi;
}

/* The stack from the allocation's caller (at) into out, its head h and labels; libgoprof's
 * own frames at the leaf (the interposer's, where heap_sampled_call was called rather than
 * jumped to) left out. */
GP_SIGSAFE static void capture_stack(struct ring_record_head *h, uint8_t *labels,
                                     struct unwind_out *out, const struct unwind_regs *at)
{
    gp_heap_thread.repeat = 0;   /* the memo's walk is this one now */
    sample_stack_reach(&gp_thread, at->sp);
    unwind_capture_at(at, &gp_thread.unw, &heap_memo, out);
    int skip = 0;
    while (skip < out->n - 1 && in_self(*unwind_out_frame(out, skip)))
        skip++;
    if (skip) {
        for (int i = skip; i < out->n; i++)
            *unwind_out_frame(out, i - skip) = *unwind_out_frame(out, i);
    }
    h->nframes = (uint16_t)(out->n - skip);
    h->flags |= out->flags;
    h->goid = out->goid;
    labels_copy(h, labels, gp_unwind_go.pid, gp_unwind_go.layout.labels_form, out->labels);
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
        struct ring_slot *rec = ring_reserve(r, &pos);
        if (rec) {
            struct ring_spill *spill = ring_spill_of(r, pos);
            struct unwind_out out = sample_out_to(rec, spill, 0);
            fill_common(&rec->h);
            rec->h.weight = w;
            capture_stack(&rec->h, spill->labels, &out, at);
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

/* Bucket i's counters in this thread's stripe (tid 0 while the thread's id is not known yet:
 * any stripe will do). */
GP_SIGSAFE static struct heap_counts *own_counts(struct ring *r, uint32_t i)
{
    return heap_counts_at(r, i, gp_thread.tid);
}

/* The block whose meta this is (heap_set.h: its bucket and size) counts as freed. */
GP_SIGSAFE static void count_freed(struct ring *r, uint64_t meta)
{
    heap_bucket_count_free(own_counts(r, heap_meta_bucket(meta)), heap_meta_size(meta));
}

/* A counted block at addr (meta: its bucket and size) into the table of sampled blocks, so that
 * its free finds it. No room: it cannot be followed, so it counts as freed at once. A block
 * there already was freed where we did not see it (an entry point we do not interpose): it
 * leaves in-use now. */
GP_SIGSAFE static void follow(struct ring *r, uint64_t addr, uint64_t meta)
{
    uint64_t old;
    switch (heap_set_insert(&gp_heap.set, addr, meta, &old)) {
    case HEAP_SET_FULL:
        count_freed(r, meta);
        ring_heap_drop(r, GP_HEAP_DROP_SET_FULL);
        COUNT(lost_set, 1);
        break;
    case HEAP_SET_PRESENT:
        count_freed(r, old);
        COUNT(stale, 1);
        break;
    case HEAP_SET_INSERTED:
        break;
    }
}

/* ---- scratch records --------------------------------------------------------------------------
 * A sampled allocation's stack and labels are captured into a scratch record, hashed and looked
 * up (heap_bucket_find), then forgotten: a record is 8 KiB, more than the signal path's stack
 * budget, and no TLS array that large is wanted in every thread. A thread takes one of
 * HEAP_SCRATCH by a CAS of its busy word, from the one its thread id picks on: threads with
 * different ids mod HEAP_SCRATCH never meet, each on lines of its own. With every one taken
 * (HEAP_SCRATCH threads in the sampled path at once), the allocation is counted without its
 * stack. Static, untouched until used (520 KiB of address space). */
#define HEAP_SCRATCH 64
struct heap_scratch {
    _Atomic uint32_t busy;
    uint32_t pad[15];
    struct ring_record rec;
};
static struct heap_scratch heap_scratch[HEAP_SCRATCH];

GP_SIGSAFE static struct heap_scratch *scratch_take(void)
{
    uint32_t first = gp_thread.tid;
    for (uint32_t k = 0; k < HEAP_SCRATCH; k++) {
        struct heap_scratch *s = &heap_scratch[(first + k) % HEAP_SCRATCH];
        uint32_t free_ = 0;
        if (atomic_load_explicit(&s->busy, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong_explicit(&s->busy, &free_, 1, memory_order_acquire,
                                                    memory_order_relaxed))
            return s;
    }
    return NULL;
}

GP_SIGSAFE static void scratch_give(struct heap_scratch *s)
{
    atomic_store_explicit(&s->busy, 0, memory_order_release);
}

void heap_scratch_forked_child(void)
{
    for (int k = 0; k < HEAP_SCRATCH; k++)
        atomic_store_explicit(&heap_scratch[k].busy, 0, memory_order_relaxed);
}

/* The bucket of the stack from at (the overflow bucket when it cannot be had). The thread's
 * last one when the walk from at would be the last walk again (unwind.h: Replay): then neither
 * walk, nor record, nor lookup. A hot allocation site in a C program is found so: in a loop, its
 * stack is the same from the same stack pointer every time. (Not a cgo call's: its walk goes
 * through Go frames, and those are walked each time.) */
GP_SIGSAFE static uint32_t bucket_of_stack(struct ring *r, const struct unwind_regs *at)
{
    struct heap_thread *t = &gp_heap_thread;
    uint64_t gen = atomic_load_explicit(&gp_sample.ring_gen, memory_order_relaxed);
    if (t->repeat && t->repeat_gen == gen && t->last_bucket < r->nbuckets &&
        unwind_memo_replays(&heap_memo, at, &gp_thread.unw)) {
        sample_stack_reach(&gp_thread, at->sp);
        COUNT(replayed, 1);
        return t->last_bucket;
    }
    struct heap_scratch *s = scratch_take();
    if (!s) {
        ring_heap_drop(r, GP_HEAP_DROP_NO_BUCKET);
        COUNT(no_bucket, 1);
        return r->nbuckets;
    }
    struct ring_record *rec = &s->rec;
    rec->h.nframes = 0;
    rec->h.flags = 0;
    rec->h.labels_len = 0;
    rec->h.labels_left = 0;
    struct unwind_out out = { .pc = rec->pc, .max = GP_RING_MAX_FRAMES,
                              .leaf = GP_RING_LEAF_FRAMES };
    capture_stack(&rec->h, rec->labels, &out, at);
    uint32_t i = heap_bucket_find(r, rec);
    scratch_give(s);
    if (i == r->nbuckets)
        COUNT(no_bucket, 1);
    t->repeat = i < r->nbuckets && heap_memo.replayable;
    t->repeat_gen = gen;
    return i;
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

/* The bucket of the thread's last sampled allocation, likely the next sample's too and rarely
 * still in this core's cache: its counters in the thread's stripe (to be written) and, for an
 * allocation, its key (to be read). Asked for before they are needed: an allocation's walk, or
 * a free's lookup in the table, runs while they come. */
GP_SIGSAFE static void prefetch_bucket(struct ring *r, const struct heap_thread *t, int key)
{
    if (t->last_bucket > r->nbuckets)
        return;
    if (key)
        __builtin_prefetch(heap_bucket_at(r, t->last_bucket), 0, 3);
    __builtin_prefetch(own_counts(r, t->last_bucket), 1, 3);
}

/* The table's line and the bucket's (its key and counters) are asked for first: they arrive
 * while the stack is walked (cold lines: the table line's miss was the largest single cost of a
 * sampled allocation). */
GP_SIGSAFE void heap_record_alloc(uint64_t addr, uint64_t size, const struct unwind_regs *at)
{
    struct heap_thread *t = &gp_heap_thread;
    struct ring *r = heap_ring();
    if (!r || !r->nbuckets || t->busy)
        return;
    ENTER(t);
    __builtin_prefetch(&gp_heap.set.line[heap_set_home(&gp_heap.set, addr)], 1, 3);
    prefetch_bucket(r, t, 1);
    uint32_t i = bucket_of_stack(r, at);
    t->last_bucket = i;
    heap_bucket_count_alloc(own_counts(r, i), size);
    COUNT(allocs, 1);
    COUNT(alloc_bytes, size);
    follow(r, addr, heap_meta(i, size));
    LEAVE(t, at);
}

GP_SIGSAFE int heap_take(uint64_t addr, uint64_t *meta)
{
    struct ring *r = heap_ring();
    if (r && r->nbuckets)
        prefetch_bucket(r, &gp_heap_thread, 0);
    return heap_set_remove(&gp_heap.set, addr, meta);
}

/* No ENTER: counting is neither the unwinder nor a slot, which is what busy keeps our SIGPROF
 * handler away from; and nothing here changes errno. */
GP_SIGSAFE void heap_record_free(uint64_t meta)
{
    struct ring *r = heap_ring();
    if (!r || !r->nbuckets)
        return;
    count_freed(r, meta);
    COUNT(frees, 1);
}

/* The block keeps its bucket: its in-use bytes become size (its alloc figures stay, as Go's,
 * where a slice that grows is a new allocation of its own). */
GP_SIGSAFE void heap_record_move(uint64_t meta, uint64_t addr, uint64_t size,
                                 const struct unwind_regs *at)
{
    struct heap_thread *t = &gp_heap_thread;
    struct ring *r = heap_ring();
    if (!r || !r->nbuckets)
        return;
    ENTER(t);
    uint32_t i = heap_meta_bucket(meta);
    heap_bucket_count_resize(own_counts(r, i), heap_meta_size(meta), size);
    COUNT(moves, 1);
    follow(r, addr, heap_meta(i, size));
    LEAVE(t, at);
}

GP_SIGSAFE void heap_untake(uint64_t addr, uint64_t meta)
{
    struct ring *r = heap_ring();
    if (r && r->nbuckets)
        follow(r, addr, meta);
}
