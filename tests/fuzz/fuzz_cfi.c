/* fuzz_cfi.c -- libFuzzer target: the .eh_frame unwinder's parsers (src/program/unwind/cfi_*.c).
 *
 * Input: the offset of .eh_frame (u32) and a pc (i32), both relative to the region, then the
 * region: a module's bytes from its .eh_frame_hdr to the end of its .eh_frame, as they lie in
 * memory.
 * The region stands in for a loaded object whose program headers are unreadable (so every
 * read is bounded by the whole region, cfi_find.c's weakest case); it is its own exactly
 * sized allocation, so a read outside it is reported. Runs what cfi_step() does per frame:
 *   - the .eh_frame_hdr table search for the pc, and for the start of the first FDEs;
 *   - a linear walk of .eh_frame (cfi_fde_range), as for objects without a table;
 *   - each FDE with its CIE parsed, its CFA program run to its first, middle and last pc and to
 *     the end, and the resulting row's CFA and register rules evaluated on a fake frame whose
 *     registers point into a small stack (expressions run; loads go through safe_read).
 * Seeds: .eh_frame_hdr + .eh_frame of real executables and libraries (seeds.sh).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/safe_read.h"
#include "fuzz_common.h"
#include "program/unwind/cfi.h"

#define FUZZ_CFI_ENTRIES 256   /* entries of the linear walk */
#define FUZZ_CFI_FINDS 32      /* FDE starts also looked up through the table */

struct fuzz_ctx {
    struct cfi_span span;
    struct safe_reader sr;
    uint64_t stack[64];
};

static void fuzz_frame(struct fuzz_ctx *x, struct cfi_frame *f)
{
    for (int r = 0; r < CFI_NREGS; r++) {
        f->reg[r] = (uint64_t)(uintptr_t)&x->stack[8 + 2 * r];
        f->at[r] = 0;
    }
    f->known = (1u << CFI_NREGS) - 1;
    f->pending = 0;
    f->exact = 0;
}

/* What apply() in cfi_step.c computes from a row, minus committing the frame. */
static void fuzz_eval(struct fuzz_ctx *x, const struct cfi_fde *fde, const struct cfi_row *row)
{
    struct cfi_frame f;
    uint64_t cfa = 0, v;
    int is_reg;
    fuzz_frame(x, &f);
    if (row->cfa_kind == CFI_CFA_REG) {
        if (cfi_get_reg(&x->sr, &f, (int)row->cfa_reg, &v) == 0)
            cfa = v + (uint64_t)row->cfa_off;
    } else if (row->cfa_kind == CFI_CFA_EXPR) {
        (void)cfi_expr_eval(fde->span, row->cfa_expr, 0, &x->sr, &f, &cfa, &is_reg);
    }
    for (int r = 0; r < CFI_NREGS; r++) {
        if (row->kind[r] == CFI_EXPR || row->kind[r] == CFI_VAL_EXPR)
            (void)cfi_expr_eval(fde->span, (uint64_t)row->val[r], cfa, &x->sr, &f, &v, &is_reg);
        else if (row->kind[r] == CFI_OFFSET)
            (void)safe_read_word(&x->sr, cfa + (uint64_t)row->val[r], &v);
    }
}

static void fuzz_fde(struct fuzz_ctx *x, uint64_t addr, uint64_t pc)
{
    struct cfi_fde fde;
    struct cfi_row row;
    if (cfi_parse_fde(x->span, addr, &fde) != 0)
        return;
    uint64_t pcs[] = { fde.start, fde.start + (fde.end - fde.start) / 2, fde.end - 1, pc, ~0ull };
    for (unsigned i = 0; i < sizeof pcs / sizeof pcs[0]; i++) {
        if (cfi_exec(&fde, pcs[i], &row) == 0)
            fuzz_eval(x, &fde, &row);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = { data, size };
    uint32_t eh_off = fz_u32(&in), pc_off = fz_u32(&in);
    size_t n;
    const uint8_t *p = fz_bytes(&in, in.n, &n);
    uint8_t *buf = fz_dup(p, n);
    if (!buf)
        return 0;
    struct fuzz_ctx *x = calloc(1, sizeof *x);
    if (!x) {
        free(buf);
        return 0;
    }
    uint64_t base = (uint64_t)(uintptr_t)buf;
    x->span.lo = base;
    x->span.hi = base + n;
    x->sr.pid = getpid();
    for (int i = 0; i < 64; i++)   /* words that point back into the stack and the region */
        x->stack[i] = i & 1 ? (uint64_t)(uintptr_t)&x->stack[(i * 7) & 63] : base + 8 * (uint64_t)i;
    safe_reader_add(&x->sr, (uint64_t)(uintptr_t)x->stack, (uint64_t)(uintptr_t)(x->stack + 64));

    struct cfi_module mod;
    memset(&mod, 0, sizeof mod);
    mod.map_lo = base;
    mod.map_hi = base + n;
    mod.eh_frame_hdr = base;
    mod.headers_read = 1;   /* no program headers: the whole region is the span */
    uint64_t pc = base + (uint64_t)(int64_t)(int32_t)pc_off, fde;
    if (cfi_fde_find(&mod, pc, &fde) == 0)
        fuzz_fde(x, fde, pc);

    uint64_t at = base + eh_off;
    for (unsigned i = 0; i < FUZZ_CFI_ENTRIES && at < x->span.hi; i++) {
        uint64_t start, end, next;
        int r = cfi_fde_range(x->span, at, &start, &end, &next);
        if (r < 0)
            break;
        if (next <= at)
            abort();   /* the walk must move forward */
        if (r == 1) {
            fuzz_fde(x, at, pc);
            if (i < FUZZ_CFI_FINDS && cfi_fde_find(&mod, start, &fde) == 0)
                fuzz_fde(x, fde, start);
        }
        at = next;
    }
    free(x);
    free(buf);
    return 0;
}
