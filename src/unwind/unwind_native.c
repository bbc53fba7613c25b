/* unwind_native.c -- native (C/C++) frames with libunwind, handing over to Go at asmcgocall.
 * Context: signal
 * Must not: allocate, lock (libunwind's own cache lock blocks signals while held, so it can
 * never be held by the thread we interrupted), call glibc's dl_iterate_phdr (ours answers from
 * _dl_find_object between phdr_lookup_begin and _end; see phdr_lookup.h), use stdio.
 *
 * libunwind walks C frames by CFI. Go functions have no .eh_frame, so when the walk reaches a
 * return address in Go text we switch to the Go walker with the registers libunwind restored
 * for that frame: in runtime.asmcgocall, RBP is asmcgocall's frame on the goroutine stack
 * (notes/go-runtime.md §3.2, pprof-perf.md §3.3).
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "base/safe_read.h"
#include "unwind/phdr_lookup.h"
#include "unwind/unwind.h"

GP_SIGSAFE void unwind_native_walk(struct safe_reader *sr, const ucontext_t *uc,
                                   struct unwind_out *out)
{
    const greg_t *r = uc->uc_mcontext.gregs;
    uint64_t pc = (uint64_t)r[REG_RIP];
    unw_cursor_t cur;
    phdr_lookup_begin(pc);
    if (unw_init_local2(&cur, (unw_context_t *)(uintptr_t)uc, UNW_INIT_SIGNAL_FRAME) < 0) {
        unwind_push(out, pc | GP_PC_EXACT);
        out->flags |= GP_REC_UNWIND_BROKEN;
        phdr_lookup_end();
        return;
    }
    for (int first = 1;; first = 0) {
        unw_word_t ip = 0;
        unw_get_reg(&cur, UNW_REG_IP, &ip);
        if (!first && unwind_in_go_text(ip - 1)) {
            unw_word_t sp = 0, bp = 0;
            unw_get_reg(&cur, UNW_X86_64_RSP, &sp);
            unw_get_reg(&cur, UNW_X86_64_RBP, &bp);
            unwind_go_walk(sr, ip, sp, bp, 0, out);
            break;
        }
        if (unwind_push(out, first ? (ip | GP_PC_EXACT) : ip) != 0)
            break;
        phdr_lookup_begin(first ? ip : ip - 1);
        int step = unw_step(&cur);
        if (step <= 0) {
            if (step < 0)
                out->flags |= GP_REC_UNWIND_BROKEN;
            break;
        }
    }
    phdr_lookup_end();
}
