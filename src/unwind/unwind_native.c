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
 * (notes/go-runtime.md §3.2, pprof-perf.md §3.3); in nanotime1 above the vDSO, RBP is
 * nanotime1's frame.
 */
#include "base/safe_read.h"
#include "unwind/cfi.h"
#include "unwind/unwind.h"

GP_SIGSAFE enum unwind_next unwind_native_walk(struct unwind_walk *w, const ucontext_t *uc,
                                               int signal_frame, struct unwind_regs *next)
{
    struct unwind_out *out = w->out;
    struct cfi_frame f;
    cfi_frame_init(&f, uc, signal_frame);
    /* An interrupted PC is exact, every other IP is a return address. Interrupted are the
     * first frame of a signal context and a frame reached through a signal trampoline; the
     * trampoline's own IP is its first instruction, exact too. Each round pushes a frame or
     * returns, so out->max bounds the walk. */
    for (;;) {
        uint64_t ip = f.reg[CFI_RIP];
        if (unwind_in_go_text(f.exact ? ip : ip - 1)) {   /* never the first frame: see callers */
            uint64_t bp = 0;
            (void)cfi_get_reg(w->sr, &f, CFI_RBP, &bp);   /* 0 when unknown: Go's pcsp decides */
            next->ip = ip;
            next->sp = f.reg[CFI_RSP];
            next->bp = bp;
            next->have_callee_saved = 0;
            next->exact = f.exact;   /* Go code a C signal handler interrupted */
            return UNWIND_TO_GO;
        }
        if (unwind_push(out, f.exact ? (ip | GP_PC_EXACT) : ip) != 0)
            return UNWIND_STOP;
        switch (cfi_step(w->sr, &f)) {
        case CFI_STEP_OK:
            break;
        case CFI_STEP_END:
            return UNWIND_STOP;
        case CFI_STEP_BROKEN:
            out->flags |= GP_REC_UNWIND_BROKEN;
            return UNWIND_STOP;
        }
        if (f.exact)
            out->pc[out->n - 1] |= GP_PC_EXACT;   /* what we just left was the trampoline */
    }
}
