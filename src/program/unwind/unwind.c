/* unwind.c -- entry of the stack capture: reads Go's g/m state, then alternates the Go and the
 * native walker until one of them ends the stack.
 * Context: signal
 * Must not: allocate, lock, call libc, read unwound addresses except through safe_read.
 */
#include "program/unwind/unwind.h"

#include "lib/base/safe_read.h"

struct unwind_go gp_unwind_go;

/* A stack crosses the C/Go boundary twice per cgo call level (C -> Go callback -> C ...);
 * more segments than this is a loop in corrupt data. */
#define UNWIND_MAX_SEGMENTS 32

/* Per thread: set once the TLS slot has been shown to hold a real g (g->m->g0->m == m, read
 * fault-safely). After that, g/m fields are plain loads: g, m and g0 of a live thread are never
 * freed. initial-exec: no dynamic TLS in the handler. */
static __thread int tls_g_trusted __attribute__((tls_model("initial-exec")));

/* Index in pc[] of the frame pushed as number i (0-based): the first max frames in order, then
 * the root window [leaf + 1, max) in circle. */
GP_SIGSAFE static int slot_of(const struct unwind_out *out, uint32_t i)
{
    if (i < (uint32_t)out->max)
        return (int)i;
    uint32_t first = (uint32_t)out->leaf + 1, span = (uint32_t)out->max - first;
    return (int)(first + (i - first) % span);
}

GP_SIGSAFE int unwind_push_wrapped(struct unwind_out *out, uint64_t pc)
{
    if (out->walked >= UNWIND_MAX_WALK) {
        out->flags |= GP_REC_TRUNCATED;
        return -1;
    }
    *unwind_out_frame(out, slot_of(out, out->walked++)) = pc;
    return 0;
}

GP_SIGSAFE void unwind_mark_last_exact(struct unwind_out *out)
{
    if (out->walked)
        *unwind_out_frame(out, slot_of(out, out->walked - 1)) |= GP_PC_EXACT;
}

GP_SIGSAFE static void reverse(uint64_t *a, int lo, int hi)   /* [lo, hi) */
{
    for (hi--; lo < hi; lo++, hi--) {
        uint64_t t = a[lo];
        a[lo] = a[hi];
        a[hi] = t;
    }
}

/* A stack deeper than max: frame number leaf (the first one overwritten) becomes the elision
 * word, and the root window, whose oldest frame is where the next push would go, is rotated
 * into order. The window is all in pc[] or all in more[] (split <= leaf + 1). */
GP_SIGSAFE void unwind_finish(struct unwind_out *out)
{
    if (out->walked <= (uint32_t)out->max) {
        out->n = (int)out->walked;
        return;
    }
    int first = out->leaf + 1, oldest = slot_of(out, out->walked);
    uint64_t *w = out->split ? out->more : out->pc;
    int at = out->split;   /* frame i is w[i - at] */
    reverse(w, first - at, oldest - at);
    reverse(w, oldest - at, out->max - at);
    reverse(w, first - at, out->max - at);
    *unwind_out_frame(out, out->leaf) = GP_PC_ELIDED | (out->walked - (uint32_t)out->max + 1);
    out->n = out->max;
}

static inline uint64_t load_u64(uint64_t addr)
{
    return *(const volatile uint64_t *)(uintptr_t)addr;
}

static inline int plausible_ptr(uint64_t p)
{
    return p >= 4096 && p < (1ull << 47) && (p & 7) == 0;
}

/* Adds the stacks of the interrupted thread's g0 and current goroutine to the known ranges,
 * and records m, curg and the goroutine id. Entry assumptions: the layout is known. */
GP_SIGSAFE static void go_state(struct unwind_walk *w)
{
    const struct go_layout *l = &gp_unwind_go.layout;
    uint64_t tp = (uint64_t)(uintptr_t)__builtin_thread_pointer();
    uint64_t g = load_u64(tp + (uint64_t)gp_unwind_go.g_tls_offset);
    if (!plausible_ptr(g))
        return;   /* not a Go thread, or not yet/no longer running Go */
    if (!tls_g_trusted) {
        uint64_t m, g0, g0m;
        if (safe_read_slow(gp_unwind_go.pid, &m, g + l->g_m, 8) != 0 || !plausible_ptr(m) ||
            safe_read_slow(gp_unwind_go.pid, &g0, m + l->m_g0, 8) != 0 || !plausible_ptr(g0) ||
            safe_read_slow(gp_unwind_go.pid, &g0m, g0 + l->g_m, 8) != 0 || g0m != m)
            return;
        tls_g_trusted = 1;
    }
    uint64_t m = load_u64(g + l->g_m);
    if (!plausible_ptr(m))
        return;
    uint64_t g0 = load_u64(m + l->m_g0);
    if (!plausible_ptr(g0))
        return;
    if (*(const volatile uint8_t *)(uintptr_t)(m + l->m_isextra_in_c))
        return;   /* a C thread with an extra M, running C: walked as a plain C thread */
    w->g0_lo = load_u64(g0 + l->g_stack_lo);
    w->g0_hi = load_u64(g0 + l->g_stack_hi);
    safe_reader_add(w->sr, w->g0_lo, w->g0_hi);
    w->m = m;
    uint64_t curg = load_u64(m + l->m_curg);
    if (plausible_ptr(curg) && load_u64(curg + l->g_m) == m) {
        safe_reader_add(w->sr, load_u64(curg + l->g_stack_lo), load_u64(curg + l->g_stack_hi));
        w->curg = curg;
        w->out->goid = load_u64(curg + l->g_goid);
        if (l->g_labels)
            w->out->labels = load_u64(curg + l->g_labels);
    }
}

/* The walk's set-up: the thread's known stacks and, in a Go program, its g/m state. */
GP_SIGSAFE static void walk_begin(struct unwind_walk *w, struct safe_reader *sr,
                                  const struct unwind_thread *th, struct unwind_out *out)
{
    sr->nranges = 0;
    sr->pid = gp_unwind_go.pid;
    out->n = 0;
    out->walked = 0;
    out->flags = 0;
    out->goid = 0;
    out->labels = 0;
    *w = (struct unwind_walk){ .sr = sr, .out = out, .memo = 0, .native_steps = 0, .m = 0,
                               .curg = 0, .g0_lo = 0, .g0_hi = 0 };
    safe_reader_add(sr, th->stack_lo, th->stack_hi);
    if (unwind_go_on()) {
        if (gp_unwind_go.layout.known)
            go_state(w);
        else
            out->flags |= GP_REC_GO_UNKNOWN;
    }
}

/* The segments after the first, until one of the walkers ends the stack. */
GP_SIGSAFE static void walk_segments(struct unwind_walk *w, enum unwind_next step,
                                     struct unwind_regs next)
{
    for (int seg = 1; step != UNWIND_STOP; seg++) {
        if (seg >= UNWIND_MAX_SEGMENTS) {
            w->out->flags |= GP_REC_UNWIND_BROKEN;
            break;
        }
        struct unwind_regs at = next;
        if (step == UNWIND_TO_GO)
            step = unwind_go_walk(w, at.ip, at.sp, at.bp, at.exact, &next);
        else
            step = unwind_native_walk_from(w, &at, &next);
    }
    unwind_finish(w->out);
}

GP_SIGSAFE void unwind_capture(const ucontext_t *uc, const struct unwind_thread *th,
                               struct unwind_out *out)
{
    struct safe_reader sr;
    struct unwind_walk w;
    walk_begin(&w, &sr, th, out);
    const greg_t *r = uc->uc_mcontext.gregs;
    struct unwind_regs next = { 0 };
    enum unwind_next step;
    if (unwind_in_go_text((uint64_t)r[REG_RIP]))
        step = unwind_go_walk(&w, (uint64_t)r[REG_RIP], (uint64_t)r[REG_RSP],
                              (uint64_t)r[REG_RBP], 1, &next);
    else
        step = unwind_native_walk(&w, uc, &next);
    walk_segments(&w, step, next);
}

GP_SIGSAFE void unwind_capture_at(const struct unwind_regs *at, const struct unwind_thread *th,
                                  struct unwind_memo *memo, struct unwind_out *out)
{
    struct safe_reader sr;
    struct unwind_walk w;
    walk_begin(&w, &sr, th, out);
    w.memo = memo;
    if (memo) {
        memo->ip = at->ip;
        memo->sp = at->sp;
        memo->steps = 0;
        memo->replayable = 0;   /* set by the native walker's end (keep_step) */
    }
    struct unwind_regs next = *at;
    enum unwind_next step =
        unwind_in_go_text(at->exact ? at->ip : at->ip - 1) ? UNWIND_TO_GO : UNWIND_TO_NATIVE;
    if (memo && (step == UNWIND_TO_GO || at->exact))
        memo->steps = UNWIND_MEMO_SPOILT;
    walk_segments(&w, step, next);
    if (memo)
        memo->replayable = memo->replayable && memo->steps != UNWIND_MEMO_SPOILT &&
                           !out->flags && !out->goid && !out->labels && !cfi_cache_bypass;
}

GP_SIGSAFE int unwind_memo_replays(const struct unwind_memo *memo, const struct unwind_regs *at,
                                   const struct unwind_thread *th)
{
    if (!memo->replayable || memo->ip != at->ip || memo->sp != at->sp || at->exact ||
        cfi_cache_bypass || th->stack_hi < th->stack_lo + 8)
        return 0;
    for (uint32_t k = 0; k < memo->steps; k++) {
        uint64_t slot = memo->ra_at[k].slot;
        if (!slot)
            continue;   /* the end, before a return address */
        if (slot < th->stack_lo || slot > th->stack_hi - 8 ||
            *(const volatile uint64_t *)(uintptr_t)slot != memo->ra_at[k].ra)
            return 0;
    }
    return 1;
}
