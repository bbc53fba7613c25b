/* unwind_go.c -- Go frames by the function table, across the runtime's stack switches.
 * Context: signal
 * Must not: allocate, lock, call libc, dereference an unwound address except via safe_read.
 *
 * Each frame is (pc, sp): the table's SP delta at pc (pcsp) gives the return address at
 * [sp+delta] and the caller's SP sp+delta+8, exactly, also in frameless leaves, prologues and
 * epilogues where frame pointers lose the caller. Where they switch stacks, Go functions are
 * flagged SPWRITE and their delta describes the stack they were entered on; there the frame
 * record BP points at (pushed before the switch) is used (docs/go-runtime.md §3):
 *   systemstack  fn on g0 was called with BP = systemstack's frame on the goroutine stack;
 *   asmcgocall   reached from C: BP (restored by CFI) is its frame on the goroutine stack;
 *   cgocallback  reached from cgocallbackg on the goroutine: BP is its frame on g0, whose
 *                return address leads into crosscall2 and from there to the C caller;
 *   nanotime1    reached from the vDSO: BP is its frame on the goroutine stack.
 * morestack has no frame of its own: the goroutine's context is in curg.sched.
 */
#include <stdatomic.h>

#include "lib/base/hash.h"
#include "lib/base/safe_read.h"
#include "program/unwind/cfi.h"
#include "program/unwind/unwind.h"

GP_SIGSAFE static int special_kind(uint64_t pc)
{
    for (int i = 0; i < gp_unwind_go.nspecial; i++)
        if (pc >= gp_unwind_go.special[i].lo && pc < gp_unwind_go.special[i].hi)
            return gp_unwind_go.special[i].kind;
    return 0;
}

GP_SIGSAFE static enum unwind_next broken(struct unwind_walk *w)
{
    w->out->flags |= GP_REC_UNWIND_BROKEN;
    return UNWIND_STOP;
}

/* crosscall2's frame at the CALL into cgocallback: the C caller's callee-saved registers
 * are in the save area above the 24 bytes of cgocallback's arguments (BX, R12..R15;
 * PUSH_REGS_HOST_TO_ABI0 in runtime/cgo/abi_amd64.h, same in 1.21-1.26). */
GP_SIGSAFE static void crosscall2_saved(struct unwind_walk *w, uint64_t sp, struct unwind_regs *r)
{
    uint64_t v[5];
    r->have_callee_saved = 0;
    for (int i = 0; i < 5; i++)
        if (safe_read_word(w->sr, sp + 24 + 8 * (uint64_t)i, &v[i]) != 0)
            return;
    r->bx = v[0];
    r->r12 = v[1];
    r->r13 = v[2];
    r->r14 = v[3];
    r->r15 = v[4];
    r->have_callee_saved = 1;
}

/* What the walk needs of the function table at one PC. Looking it up (a binary search over
 * every function, then decoding the pcsp table from the function's entry) costs far more
 * than the rest of a frame, and the same PCs recur sample after sample: the answers are kept
 * in a table shared by all threads. An entry is one 64-bit word (pc | delta/8 << 48 |
 * spwrite << 60 | kind << 61), read and written atomically, so a racing writer can replace an
 * entry but never tear one; a lookup that does not find its own pc computes the answer. */
struct frame_info {
    uint64_t delta;     /* pcsp at the PC */
    int spwrite;        /* the function switches stacks (FuncFlag SPWRITE) */
    int kind;           /* enum go_special, or 0 */
};

#define FRAME_CACHE_BITS 13
#define FRAME_CACHE_SIZE (1u << FRAME_CACHE_BITS)   /* entries; 64 KiB */
#define FRAME_CACHE_PC_MASK ((1ull << 48) - 1)
#define FRAME_CACHE_MAX_DELTA (((1ull << 12) - 1) * 8)

static _Atomic uint64_t frame_cache[FRAME_CACHE_SIZE];

void unwind_go_warm(void)
{
    for (size_t i = 0; i < FRAME_CACHE_SIZE; i += 4096 / sizeof frame_cache[0])
        atomic_fetch_or_explicit(&frame_cache[i], 0, memory_order_relaxed);
}

GP_SIGSAFE static int frame_info_at(uint64_t at, struct frame_info *fi)
{
    _Atomic uint64_t *slot = &frame_cache[gp_hash_index(at, FRAME_CACHE_BITS)];
    uint64_t e = atomic_load_explicit(slot, memory_order_relaxed);
    if (e && (e & FRAME_CACHE_PC_MASK) == at) {
        fi->delta = ((e >> 48) & 0xfff) * 8;
        fi->spwrite = (int)((e >> 60) & 1);
        fi->kind = (int)(e >> 61);
        return 1;
    }
    fi->kind = special_kind(at);
    fi->spwrite = 0;
    fi->delta = 0;
    struct gofunc f;
    int32_t delta;
    if (gopcln_find(&gp_unwind_go.pcln, at, &f) != 0 ||
        gopcln_pcsp(&gp_unwind_go.pcln, &f, at, &delta) != 0 || delta < 0 || (delta & 7))
        return 0;
    fi->delta = (uint64_t)delta;
    fi->spwrite = (gopcln_flag(&f) & GOPCLN_FLAG_SPWRITE) != 0;
    if (at <= FRAME_CACHE_PC_MASK && fi->delta <= FRAME_CACHE_MAX_DELTA)
        atomic_store_explicit(slot,
                              at | (fi->delta / 8) << 48 | (uint64_t)fi->spwrite << 60 |
                                  (uint64_t)fi->kind << 61,
                              memory_order_relaxed);
    return 1;
}

/* One step by the frame record at bp: [bp] caller's BP, [bp+8] return address. */
GP_SIGSAFE static int fp_step(struct unwind_walk *w, uint64_t bp, uint64_t *ra, uint64_t *nsp,
                              uint64_t *nbp)
{
    if (bp < 4096 || (bp & 7) || safe_read_word(w->sr, bp, nbp) != 0 ||
        safe_read_word(w->sr, bp + 8, ra) != 0)
        return -1;
    *nsp = bp + 16;
    return 0;
}

/* Go 1.21-1.25 (amd64) call duffzero and duffcopy, which have no frame of their own, as
 *     MOVQ BP, -16(SP); LEAQ -16(SP), BP; CALL runtime.duffxxx; MOVQ 0(BP), BP
 * (cmd/internal/obj/x86/asm6.go, bpduff1/bpduff2; 1.26 has no duff devices). Interrupted at the
 * CALL or at the MOVQ after it, BP points 16 bytes below SP at a record whose saved BP is the
 * frame's own record (at sp+d-8) and whose return address is the CALL's: the frame has saved
 * its caller's BP, and BP is not it. Taken for the caller's, it sends a caller that steps by
 * BP (systemstack's fn on g0) back into this frame: fn <- systemstack <- fn <- systemstack.
 * Nowhere else is BP below SP. */
GP_SIGSAFE static int in_duff_call(struct unwind_walk *w, uint64_t sp, uint64_t bp, uint64_t d)
{
    uint64_t saved;
    return bp == sp - 16 && safe_read_word(w->sr, bp, &saved) == 0 && saved == sp + d - 8;
}

/* An SPWRITE function interrupted right after its prologue's PUSHQ BP (MOVQ SP, BP not yet
 * run): pcsp is 8, the word at SP is BP, still the caller's, and SP and BP are on the same
 * stack. Following BP there would skip the caller. Every switch (systemstack, asmcgocall,
 * cgocallback, nanotime1) is between g0 and a goroutine and leaves BP on the stack it left,
 * so a switched frame has SP and BP on different sides of g0's bounds (unknown bounds: assume
 * switched). Same-stack states with SP moved in ways pcsp does not describe (ANDQ $~15, SP on
 * g0 in asmcgocall and nanotime1) have pcsp above 8 and keep following BP. */
GP_SIGSAFE static int after_push_bp(struct unwind_walk *w, uint64_t sp, uint64_t bp, uint64_t d)
{
    uint64_t top;
    if (d != 8 || w->g0_lo >= w->g0_hi ||
        (sp >= w->g0_lo && sp < w->g0_hi) != (bp >= w->g0_lo && bp < w->g0_hi))
        return 0;
    return safe_read_word(w->sr, sp, &top) == 0 && top == bp;
}

GP_SIGSAFE enum unwind_next unwind_go_walk(struct unwind_walk *w, uint64_t pc, uint64_t sp,
                                           uint64_t bp, int exact, struct unwind_regs *next)
{
    const struct go_layout *l = &gp_unwind_go.layout;
    for (;;) {
        if (unwind_push(w->out, exact ? (pc | GP_PC_EXACT) : pc) != 0)
            return UNWIND_STOP;
        uint64_t at = exact ? pc : pc - 1;
        struct frame_info fi;
        int known = frame_info_at(at, &fi);
        int kind = fi.kind;
        uint64_t ra, nsp, nbp;
        if (kind == GO_ROOT)
            return UNWIND_STOP;
        if (kind == GO_MORESTACK && (!exact || (sp >= w->g0_lo && sp < w->g0_hi))) {
            /* newstack runs on g0 for the goroutine whose prologue called morestack; that
             * function (not yet in its frame: delta 0 at the call) resumes at sched.pc.
             * Interrupted in morestack itself, sched is set once SP is on g0. */
            if (!w->curg)
                return UNWIND_STOP;   /* descheduled from here (gopreempt_m): like mcall */
            pc = *(const volatile uint64_t *)(uintptr_t)(w->curg + l->g_sched_pc);
            sp = *(const volatile uint64_t *)(uintptr_t)(w->curg + l->g_sched_sp);
            bp = *(const volatile uint64_t *)(uintptr_t)(w->curg + l->g_sched_bp);
            exact = 0;
            if (!unwind_in_go_text(pc - 1))
                return broken(w);
            continue;
        }
        if (!known) {
            /* Not in the table (padding, a corrupt entry): the frame pointer is the fallback. */
            if (exact || fp_step(w, bp, &ra, &nsp, &nbp) != 0)
                return broken(w);
            goto next_frame;
        }
        uint64_t d = fi.delta;
        int has_record = d > 0 && (bp == sp + d - 8 ||   /* BP points at this frame's record */
                                   (exact && in_duff_call(w, sp, bp, d)));
        if (fi.spwrite && !has_record && !(exact && (d == 0 || after_push_bp(w, sp, bp, d)))) {
            /* Switched stacks: follow the record pushed before the switch. */
            if (fp_step(w, bp, &ra, &nsp, &nbp) != 0)
                return broken(w);
        } else {
            if (safe_read_word(w->sr, sp + d, &ra) != 0)
                return broken(w);
            nsp = sp + d + 8;
            nbp = bp;
            /* A return address above us means the callee saved our BP at [sp+d-8]; an
             * interrupted frame has saved it only once BP points at its record. */
            if (d > 0 && (!exact || has_record) && safe_read_word(w->sr, sp + d - 8, &nbp) != 0)
                return broken(w);
        }
    next_frame:
        if (ra == 0)
            return broken(w);
        if (!unwind_in_go_text(ra - 1)) {
            /* Back in C code that called Go: through crosscall2 (a callback), or, interrupted
             * in it, a Go assembly function C calls directly (_cgo_topofstack from cgo's
             * stubs), whose return address must lie in a loaded object. */
            struct cfi_module mod;
            if (kind != GO_CROSSCALL2 && !(exact && cfi_module_find(ra - 1, &mod) == 0))
                return broken(w);
            next->ip = ra;
            next->sp = nsp;
            next->bp = nbp;
            next->exact = 0;
            next->have_callee_saved = 0;
            if (kind == GO_CROSSCALL2)
                crosscall2_saved(w, sp, next);
            return UNWIND_TO_NATIVE;
        }
        exact = kind == GO_TRAP;
        pc = ra;
        sp = nsp;
        bp = nbp;
    }
}
