/* unwind_native.c -- native (C/C++) frames by their CFI, handing over to Go where a return
 * address leads into Go text.
 * Context: signal
 * Must not: allocate, lock, call libc (cfi_find.c calls _dl_find_object, which is AS-Safe),
 * read the stack except through safe_read.
 *
 * Frames are stepped by our own .eh_frame unwinder (cfi.h), which follows libunwind's rules,
 * so the frames and their exactness are what unw_init_local2 + unw_step gave before, without
 * its lock and its two sigprocmask calls per frame. Go functions have no .eh_frame, so when the
 * walk reaches a return address in Go text the Go walker takes over with the registers restored
 * for that frame: in runtime.asmcgocall, RBP is asmcgocall's frame on the goroutine stack
 * (docs/go-runtime.md §3.2); in nanotime1 above the vDSO, RBP is
 * nanotime1's frame.
 */
#include "lib/base/safe_read.h"
#include "program/unwind/cfi.h"
#include "program/unwind/unwind.h"

/* User-space addresses are below 2^56 (2^47 with 4-level paging). A return address at or above
 * is a word the frame-pointer guess (cfi_fallback.c) read from a frame that keeps no frame
 * pointer, and its top bits would read as GP_PC_EXACT or GP_PC_ELIDED: a node run without its
 * CFI showed "[libgoprof] 567057512 frames left out". The walk ends there, broken. */
#define UNWIND_USER_BITS 56

/* A step of a walk with a memo, for its replay (unwind.h): the word it read its return
 * address from, and what it read. A step that cannot be replayed (its CFA not from the stack
 * pointer, a caller found otherwise, a walk broken or too deep for the memo) makes the walk
 * one that cannot; the walk's end (CFI_STEP_END) makes it one that can, unless something did. */
GP_SIGSAFE static void keep_step(struct unwind_memo *m, int step, const struct cfi_frame *f,
                                 enum cfi_step_result r)
{
    if (step >= UNWIND_MEMO_FRAMES || !f->sp_step || r == CFI_STEP_BROKEN ||
        (r == CFI_STEP_OK && !f->ra_slot)) {
        m->steps = UNWIND_MEMO_SPOILT;
        return;
    }
    if (m->steps != (uint32_t)step)
        return;   /* not replayable already */
    m->ra_at[step].slot = f->ra_slot;   /* 0 only at an end before a return address was read */
    m->ra_at[step].ra = f->ra_slot ? f->reg[CFI_RIP] : 0;
    m->steps = (uint32_t)step + 1;
    if (r == CFI_STEP_END)
        m->replayable = 1;   /* unwind_capture_at decides, once the walk is over */
}

/* Walks from *f (its registers as the caller set them up) until Go text or the end. */
GP_SIGSAFE static enum unwind_next walk(struct unwind_walk *w, struct cfi_frame *f,
                                        struct unwind_regs *next)
{
    struct unwind_out *out = w->out;
    /* An interrupted PC is exact, every other IP is a return address. Interrupted are the
     * first frame of a signal context and a frame reached through a signal trampoline; the
     * trampoline's own IP is its first instruction, exact too. Each round pushes a frame or
     * returns, so UNWIND_MAX_WALK bounds the walk. */
    for (;;) {
        uint64_t ip = f->reg[CFI_RIP];
        if (unwind_in_go_text(f->exact ? ip : ip - 1)) {   /* never the first frame: see callers */
            uint64_t bp = 0;
            (void)cfi_get_reg(w->sr, f, CFI_RBP, &bp);   /* 0 when unknown: Go's pcsp decides */
            next->ip = ip;
            next->sp = f->reg[CFI_RSP];
            next->bp = bp;
            next->have_callee_saved = 0;
            next->exact = f->exact;   /* Go code a C signal handler interrupted */
            if (w->memo)
                w->memo->steps = UNWIND_MEMO_SPOILT;   /* Go frames */
            return UNWIND_TO_GO;
        }
        if (unwind_push(out, f->exact ? (ip | GP_PC_EXACT) : ip) != 0)
            return UNWIND_STOP;
        int step = w->native_steps++;
        struct cfi_memo_frame *memo =
            w->memo && step < UNWIND_MEMO_FRAMES ? &w->memo->f[step] : 0;
        enum cfi_step_result r = cfi_step(w->sr, f, memo);
        if (r == CFI_STEP_OK && f->reg[CFI_RIP] >> UNWIND_USER_BITS)
            r = CFI_STEP_BROKEN;   /* a stack word taken for a return address (above) */
        if (w->memo)
            keep_step(w->memo, step, f, r);
        switch (r) {
        case CFI_STEP_OK:
            break;
        case CFI_STEP_END:
            return UNWIND_STOP;
        case CFI_STEP_BROKEN:
            out->flags |= GP_REC_UNWIND_BROKEN;
            return UNWIND_STOP;
        }
        if (f->exact)
            unwind_mark_last_exact(out);   /* what we just left was the trampoline */
    }
}

GP_SIGSAFE enum unwind_next unwind_native_walk(struct unwind_walk *w, const ucontext_t *uc,
                                               struct unwind_regs *next)
{
    struct cfi_frame f;
    cfi_frame_init(&f, uc, 1);
    return walk(w, &f, next);
}

GP_SIGSAFE enum unwind_next unwind_native_walk_from(struct unwind_walk *w,
                                                    const struct unwind_regs *at,
                                                    struct unwind_regs *next)
{
    /* Only what the Go walker knows is set: the other registers stay unknown, so a CFA rule
     * that needs one fails instead of reading a made-up value. The rest of reg[] and at[] is
     * left as it is: a step may copy those words along, but only a register whose known bit is
     * set is used (zeroing the 288-byte frame was a rep stos, 0.15 % of heapbench's samples at
     * 512k). */
    struct cfi_frame f;
    f.pending = 0;
    f.exact = 0;
    f.reg[CFI_RIP] = at->ip;
    f.reg[CFI_RSP] = at->sp;
    f.reg[CFI_RBP] = at->bp;
    f.known = 1u << CFI_RIP | 1u << CFI_RSP | 1u << CFI_RBP;
    if (at->have_callee_saved) {
        f.reg[CFI_RBX] = at->bx;
        f.reg[CFI_R12] = at->r12;
        f.reg[CFI_R13] = at->r13;
        f.reg[CFI_R14] = at->r14;
        f.reg[CFI_R15] = at->r15;
        f.known |= 1u << CFI_RBX | 1u << CFI_R12 | 1u << CFI_R13 | 1u << CFI_R14 | 1u << CFI_R15;
    }
    return walk(w, &f, next);
}
