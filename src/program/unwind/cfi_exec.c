/* cfi_exec.c -- runs a CIE's and an FDE's call frame instructions up to a pc.
 * Context: signal
 * Must not: allocate, lock, call libc, read outside the FDE's span, loop without a bound.
 *
 * DWARF 4 §6.4.2 plus the GNU extensions gcc emits (args_size, negative_offset_extended). The
 * row starts with every register "same value" and the CFA undefined, as libunwind's setup_fde;
 * the CIE's instructions make the initial row (the one DW_CFA_restore returns to); the FDE's
 * run while the location is <= pc. libunwind 1.6.2 (src/dwarf/Gparser.c) is followed where the
 * standard leaves room, so both walk to the same frames. Rules for registers we do not track
 * (17 and up: xmm, st, k) are skipped: no x86-64 ABI makes them matter for a return address.
 */
#include "program/unwind/cfi.h"
#include "program/unwind/cfi_read.h"

/* DW_CFA_* (DWARF 4 table 7.23). The top two bits carry the three compact opcodes. */
enum {
    CFA_ADVANCE_LOC = 0x40, CFA_OFFSET = 0x80, CFA_RESTORE = 0xc0,
    CFA_NOP = 0x00, CFA_SET_LOC = 0x01, CFA_ADVANCE_LOC1 = 0x02, CFA_ADVANCE_LOC2 = 0x03,
    CFA_ADVANCE_LOC4 = 0x04, CFA_OFFSET_EXTENDED = 0x05, CFA_RESTORE_EXTENDED = 0x06,
    CFA_UNDEFINED = 0x07, CFA_SAME_VALUE = 0x08, CFA_REGISTER = 0x09,
    CFA_REMEMBER_STATE = 0x0a, CFA_RESTORE_STATE = 0x0b, CFA_DEF_CFA = 0x0c,
    CFA_DEF_CFA_REGISTER = 0x0d, CFA_DEF_CFA_OFFSET = 0x0e, CFA_DEF_CFA_EXPRESSION = 0x0f,
    CFA_EXPRESSION = 0x10, CFA_OFFSET_EXTENDED_SF = 0x11, CFA_DEF_CFA_SF = 0x12,
    CFA_DEF_CFA_OFFSET_SF = 0x13, CFA_VAL_OFFSET = 0x14, CFA_VAL_OFFSET_SF = 0x15,
    CFA_VAL_EXPRESSION = 0x16, CFA_GNU_ARGS_SIZE = 0x2e,
    CFA_GNU_NEGATIVE_OFFSET_EXTENDED = 0x2f,
};

/* Register numbers above this are malformed, not just untracked. */
#define CFI_REG_LIMIT 128

struct exec {
    const struct cfi_fde *fde;
    struct cfi_row *row;
    const struct cfi_row *initial;   /* NULL while running the CIE */
    struct cfi_row stack[CFI_STATE_STACK];
    int depth;
};

GP_SIGSAFE static void copy_row(struct cfi_row *d, const struct cfi_row *s)
{
    for (int r = 0; r < CFI_NREGS; r++) {
        d->val[r] = s->val[r];
        d->kind[r] = s->kind[r];
    }
    d->cfa_kind = s->cfa_kind;
    d->cfa_reg = s->cfa_reg;
    d->cfa_off = s->cfa_off;
    d->cfa_expr = s->cfa_expr;
}

/* v times the data alignment factor, wrapping instead of overflowing on garbage input. */
GP_SIGSAFE static inline int64_t factored(uint64_t v, const struct cfi_fde *f)
{
    return (int64_t)(v * (uint64_t)f->data_align);
}

/* Sets a rule; registers we do not track are accepted and dropped. */
GP_SIGSAFE static int set_rule(struct exec *e, uint64_t reg, int kind, int64_t val)
{
    if (reg >= CFI_REG_LIMIT)
        return -1;
    if (reg < CFI_NREGS) {
        e->row->kind[reg] = (uint8_t)kind;
        e->row->val[reg] = val;
    }
    return 0;
}

GP_SIGSAFE static int restore_rule(struct exec *e, uint64_t reg)
{
    if (reg >= CFI_REG_LIMIT)
        return -1;
    if (reg < CFI_NREGS) {
        e->row->kind[reg] = e->initial ? e->initial->kind[reg] : CFI_SAME;
        e->row->val[reg] = e->initial ? e->initial->val[reg] : 0;
    }
    return 0;
}

/* Skips a DW_FORM_block (ULEB128 length, bytes); returns the address of its length. */
GP_SIGSAFE static uint64_t skip_block(struct cfi_cur *c)
{
    uint64_t at = c->p;
    uint64_t len = cfi_uleb(c);
    if (!c->bad && len > c->end - c->p)
        c->bad = 1;
    if (!c->bad)
        c->p += len;
    return at;
}

/* Runs instructions from c while *loc <= pc. Each round consumes at least one byte of a range
 * inside the FDE's span, so the loop ends. */
GP_SIGSAFE static int run(struct exec *e, struct cfi_cur *c, uint64_t *loc, uint64_t pc)
{
    const struct cfi_fde *f = e->fde;
    struct cfi_row *row = e->row;
    while (*loc <= pc && c->p < c->end && !c->bad) {
        uint8_t op = cfi_u8(c);
        uint64_t reg, u;
        int r = 0;
        switch (op & 0xc0) {
        case CFA_ADVANCE_LOC:
            *loc += (op & 0x3f) * f->code_align;
            continue;
        case CFA_OFFSET:
            u = cfi_uleb(c);
            r = set_rule(e, op & 0x3f, CFI_OFFSET, factored(u, f));
            break;
        case CFA_RESTORE:
            r = restore_rule(e, op & 0x3f);
            break;
        default:
            switch (op) {
            case CFA_NOP:
                break;
            case CFA_SET_LOC:
                *loc = cfi_encoded(c, f->fde_enc, 0);
                break;
            case CFA_ADVANCE_LOC1: *loc += cfi_u8(c) * f->code_align; break;
            case CFA_ADVANCE_LOC2: *loc += cfi_u16(c) * f->code_align; break;
            case CFA_ADVANCE_LOC4: *loc += cfi_u32(c) * f->code_align; break;
            case CFA_OFFSET_EXTENDED:
                reg = cfi_uleb(c);
                u = cfi_uleb(c);
                r = set_rule(e, reg, CFI_OFFSET, factored(u, f));
                break;
            case CFA_OFFSET_EXTENDED_SF:
                reg = cfi_uleb(c);
                r = set_rule(e, reg, CFI_OFFSET, factored((uint64_t)cfi_sleb(c), f));
                break;
            case CFA_GNU_NEGATIVE_OFFSET_EXTENDED:
                reg = cfi_uleb(c);
                u = cfi_uleb(c);
                r = set_rule(e, reg, CFI_OFFSET, factored(-u, f));
                break;
            case CFA_VAL_OFFSET:
                reg = cfi_uleb(c);
                u = cfi_uleb(c);
                r = set_rule(e, reg, CFI_VAL_OFFSET, factored(u, f));
                break;
            case CFA_VAL_OFFSET_SF:
                reg = cfi_uleb(c);
                r = set_rule(e, reg, CFI_VAL_OFFSET, factored((uint64_t)cfi_sleb(c), f));
                break;
            case CFA_RESTORE_EXTENDED:
                r = restore_rule(e, cfi_uleb(c));
                break;
            case CFA_UNDEFINED:
                r = set_rule(e, cfi_uleb(c), CFI_UNDEF, 0);
                break;
            case CFA_SAME_VALUE:
                r = set_rule(e, cfi_uleb(c), CFI_SAME, 0);
                break;
            case CFA_REGISTER:
                reg = cfi_uleb(c);
                u = cfi_uleb(c);
                r = u < CFI_NREGS ? set_rule(e, reg, CFI_REGISTER, (int64_t)u) : -1;
                break;
            case CFA_EXPRESSION:
                reg = cfi_uleb(c);
                r = set_rule(e, reg, CFI_EXPR, (int64_t)skip_block(c));
                break;
            case CFA_VAL_EXPRESSION:
                reg = cfi_uleb(c);
                r = set_rule(e, reg, CFI_VAL_EXPR, (int64_t)skip_block(c));
                break;
            case CFA_REMEMBER_STATE:
                if (e->depth >= CFI_STATE_STACK)
                    return -1;
                copy_row(&e->stack[e->depth++], row);
                break;
            case CFA_RESTORE_STATE:
                if (e->depth <= 0)
                    return -1;
                copy_row(row, &e->stack[--e->depth]);
                break;
            case CFA_DEF_CFA:
                row->cfa_kind = CFI_CFA_REG;
                row->cfa_reg = (uint32_t)cfi_uleb(c);
                row->cfa_off = (int64_t)cfi_uleb(c);   /* not factored */
                break;
            case CFA_DEF_CFA_SF:
                row->cfa_kind = CFI_CFA_REG;
                row->cfa_reg = (uint32_t)cfi_uleb(c);
                row->cfa_off = factored((uint64_t)cfi_sleb(c), f);
                break;
            case CFA_DEF_CFA_REGISTER:
                row->cfa_kind = CFI_CFA_REG;
                row->cfa_reg = (uint32_t)cfi_uleb(c);
                break;
            case CFA_DEF_CFA_OFFSET:
                row->cfa_off = (int64_t)cfi_uleb(c);
                break;
            case CFA_DEF_CFA_OFFSET_SF:
                row->cfa_off = factored((uint64_t)cfi_sleb(c), f);
                break;
            case CFA_DEF_CFA_EXPRESSION:
                row->cfa_kind = CFI_CFA_EXPR;
                row->cfa_expr = skip_block(c);
                break;
            case CFA_GNU_ARGS_SIZE:
                (void)cfi_uleb(c);   /* only for unw_resume's stack adjustment */
                break;
            default:
                return -1;   /* DW_CFA_GNU_window_save (SPARC), vendor or garbage */
            }
        }
        if (r != 0)
            return -1;
    }
    return c->bad ? -1 : 0;
}

GP_SIGSAFE int cfi_exec(const struct cfi_fde *fde, uint64_t pc, struct cfi_row *row)
{
    struct exec e;
    e.fde = fde;
    e.row = row;
    e.initial = 0;
    e.depth = 0;
    for (int r = 0; r < CFI_NREGS; r++) {
        row->kind[r] = CFI_SAME;
        row->val[r] = 0;
    }
    row->cfa_kind = 0xff;   /* undefined until the CIE defines it */
    row->cfa_reg = 0;
    row->cfa_off = 0;
    row->cfa_expr = 0;
    struct cfi_cur c = cfi_cur_at(fde->span, fde->cie_instr, fde->cie_instr_end);
    uint64_t loc = 0;
    if (run(&e, &c, &loc, ~0ull) != 0)
        return -1;
    struct cfi_row initial;
    copy_row(&initial, row);
    e.initial = &initial;
    e.depth = 0;   /* the state stack does not carry from the CIE into the FDE */
    c = cfi_cur_at(fde->span, fde->fde_instr, fde->fde_instr_end);
    loc = fde->start;
    return run(&e, &c, &loc, pc);
}
