/* unwind_go.c -- Go frames: pclntab for the innermost frame, frame pointers above it.
 * Context: signal
 * Must not: allocate, lock, call libc, dereference an unwound address except via safe_read.
 *
 * Go keeps frame pointers on amd64: every function with a frame runs PUSHQ BP; MOVQ SP, BP, so
 * [bp] is the caller's BP and [bp+8] the return address. Two places break that chain and are
 * fixed with the function table's SP delta (pcsp): a frameless leaf (delta 0, the return address
 * is at [sp]) and a prologue before BP is saved (BP still belongs to the caller).
 * systemstack leaves BP untouched when it switches to g0, so the chain crosses g0 -> goroutine by
 * itself (notes/go-runtime.md §3.1).
 */
#include "base/safe_read.h"
#include "unwind/unwind.h"

/* Limits: a chain may hop between known stacks (g0 -> goroutine) a few times, never loop. */
#define GO_MAX_STACK_SWITCHES 8

GP_SIGSAFE static int is_root(uint64_t pc)
{
    for (int i = 0; i < gp_unwind_go.nroots; i++)
        if (pc >= gp_unwind_go.roots[i].lo && pc < gp_unwind_go.roots[i].hi)
            return 1;
    return 0;
}

/* Entry assumptions: pc is the exact interrupted PC, in Go text. On return: *ra and *bp hold the
 * caller's return address and frame pointer when the frame record of the function at pc is not
 * established (frameless leaf or prologue); returns 1 then, 0 when plain FP applies, -1 when the
 * return address could not be read. */
GP_SIGSAFE static int leaf_frame(struct safe_reader *sr, uint64_t pc, uint64_t sp, uint64_t *bp,
                                 uint64_t *ra)
{
    struct gofunc f;
    int32_t delta;
    if (gopcln_find(&gp_unwind_go.pcln, pc, &f) != 0 ||
        gopcln_pcsp(&gp_unwind_go.pcln, &f, pc, &delta) != 0 || delta < 0)
        return 0;
    if (delta > 0 && *bp == sp + (uint64_t)delta - 8)
        return 0;   /* BP already points at this frame's record */
    if (safe_read_word(sr, sp + (uint64_t)delta, ra) != 0)
        return -1;
    return 1;       /* *bp is still the caller's frame pointer */
}

GP_SIGSAFE void unwind_go_walk(struct safe_reader *sr, uint64_t pc, uint64_t sp, uint64_t bp,
                               int pc_exact, struct unwind_out *out)
{
    if (unwind_push(out, pc_exact ? (pc | GP_PC_EXACT) : pc) != 0)
        return;
    uint64_t lookup = pc_exact ? pc : pc - 1;
    if (is_root(lookup))
        return;
    if (pc_exact) {
        uint64_t ra;
        int r = leaf_frame(sr, pc, sp, &bp, &ra);
        if (r < 0) {
            out->flags |= GP_REC_UNWIND_BROKEN;
            return;
        }
        if (r == 1) {
            if (unwind_push(out, ra) != 0 || is_root(ra - 1))
                return;
            if (!unwind_in_go_text(ra - 1)) {
                out->flags |= GP_REC_UNWIND_BROKEN;
                return;
            }
        }
    }
    uint64_t prev = 0;
    int prev_range = -2, switches = 0;
    for (;;) {
        if (bp == 0 || (bp & 7)) {
            out->flags |= GP_REC_UNWIND_BROKEN;
            return;
        }
        int range = safe_reader_range_of(sr, bp, 16);
        if (range == prev_range) {
            if (bp <= prev) {   /* frames must move toward the stack base */
                out->flags |= GP_REC_UNWIND_BROKEN;
                return;
            }
        } else if (++switches > GO_MAX_STACK_SWITCHES) {
            out->flags |= GP_REC_UNWIND_BROKEN;
            return;
        }
        uint64_t next_bp, ra;
        if (safe_read_word(sr, bp, &next_bp) != 0 || safe_read_word(sr, bp + 8, &ra) != 0 ||
            ra == 0) {
            out->flags |= GP_REC_UNWIND_BROKEN;
            return;
        }
        if (unwind_push(out, ra) != 0 || is_root(ra - 1))
            return;
        if (!unwind_in_go_text(ra - 1)) {
            /* Back into C (a cgo callback's crosscall2): crossed by the exact unwinder. */
            out->flags |= GP_REC_UNWIND_BROKEN;
            return;
        }
        prev = bp;
        prev_range = range;
        bp = next_bp;
    }
}
