/* unwind_native.c -- native (C/C++) frames with libunwind, handing over to Go where a return
 * address leads into Go text.
 * Context: signal
 * Must not: allocate, lock (libunwind's own cache lock blocks signals while held, so it can
 * never be held by the thread we interrupted), call glibc's dl_iterate_phdr (ours answers from
 * _dl_find_object between phdr_lookup_begin and _end; see phdr_lookup.h), use stdio.
 *
 * libunwind walks C frames by CFI. Go functions have no .eh_frame, so when the walk reaches a
 * return address in Go text the Go walker takes over with the registers libunwind restored
 * for that frame: in runtime.asmcgocall, RBP is asmcgocall's frame on the goroutine stack
 * (notes/go-runtime.md §3.2, pprof-perf.md §3.3); in nanotime1 above the vDSO, RBP is
 * nanotime1's frame.
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "base/safe_read.h"
#include "unwind/phdr_lookup.h"
#include "unwind/unwind.h"

GP_SIGSAFE enum unwind_next unwind_native_walk(struct unwind_walk *w, const ucontext_t *uc,
                                               int signal_frame, struct unwind_regs *next)
{
    struct unwind_out *out = w->out;
    uint64_t pc = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
    unw_cursor_t cur;
    enum unwind_next result = UNWIND_STOP;
    phdr_lookup_begin(signal_frame ? pc : pc - 1);
    if (unw_init_local2(&cur, (unw_context_t *)(uintptr_t)uc,
                        signal_frame ? UNW_INIT_SIGNAL_FRAME : 0) < 0) {
        unwind_push(out, signal_frame ? (pc | GP_PC_EXACT) : pc);
        out->flags |= GP_REC_UNWIND_BROKEN;
        phdr_lookup_end();
        return UNWIND_STOP;
    }
    /* An interrupted PC is exact, every other IP is a return address. Interrupted are the
     * first frame of a signal context and a frame libunwind reached through a signal
     * trampoline (unw_is_signal_frame is true for that frame); the trampoline's own IP is
     * its first instruction, exact too. */
    for (int first = 1;; first = 0) {
        unw_word_t ip = 0;
        unw_get_reg(&cur, UNW_REG_IP, &ip);
        int exact = (first && signal_frame) || (!first && unw_is_signal_frame(&cur) > 0);
        if (unwind_in_go_text(exact ? ip : ip - 1)) {   /* never the first frame: see callers */
            unw_word_t sp = 0, bp = 0;
            unw_get_reg(&cur, UNW_X86_64_RSP, &sp);
            unw_get_reg(&cur, UNW_X86_64_RBP, &bp);
            next->ip = ip;
            next->sp = sp;
            next->bp = bp;
            next->have_callee_saved = 0;
            next->exact = exact;   /* Go code a C signal handler interrupted */
            result = UNWIND_TO_GO;
            break;
        }
        if (unwind_push(out, exact ? (ip | GP_PC_EXACT) : ip) != 0)
            break;
        phdr_lookup_begin(exact ? ip : ip - 1);
        int step = unw_step(&cur);
        if (step <= 0) {
            if (step < 0)
                out->flags |= GP_REC_UNWIND_BROKEN;
            break;
        }
        if (unw_is_signal_frame(&cur) > 0)
            out->pc[out->n - 1] |= GP_PC_EXACT;   /* what we just left was the trampoline */
    }
    phdr_lookup_end();
    return result;
}
