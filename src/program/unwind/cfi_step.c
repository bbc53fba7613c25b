/* cfi_step.c -- one frame up by CFI: find the row for the pc, compute the CFA, recover the
 * caller's registers.
 * Context: signal
 * Must not: allocate, lock, call libc, read the stack except through safe_read.
 *
 * Semantics are libunwind 1.6.2's (dwarf_step + the x86-64 unw_step around it), so walks agree:
 *   - the pc looked up is the interrupted pc for an exact frame (the first frame of a signal
 *     context, or the frame a signal trampoline returns to), else the return address minus 1
 *     (inside the call, which may be a function's last instruction);
 *   - the caller's SP is the CFA, whatever rule the CFI gives RSP;
 *   - an undefined return address ends the stack (_start, clone3: DW_CFA_undefined rip), and
 *     so does an undefined RBP; a return address of 0 too (the psABI's outermost frame);
 *   - a step that changes neither pc nor CFA is broken (a loop);
 *   - a frame whose FDE has augmentation 'S' is a signal trampoline: its caller's pc is exact.
 * No FDE for the pc: cfi_fallback.c. Malformed CFI: broken, no guessing.
 */
#include "lib/base/safe_read.h"
#include "program/unwind/cfi.h"

#define BIT(r) (1u << (r))

/* ucontext gregs index of each DWARF register. */
static const int greg_of[CFI_NREGS] = {
    REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI, REG_RBP, REG_RSP,
    REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP,
};

GP_SIGSAFE void cfi_frame_init(struct cfi_frame *f, const ucontext_t *uc, int signal_frame)
{
    for (int r = 0; r < CFI_NREGS; r++) {
        f->reg[r] = (uint64_t)uc->uc_mcontext.gregs[greg_of[r]];
        f->at[r] = 0;
    }
    f->known = BIT(CFI_NREGS) - 1;
    f->pending = 0;
    f->exact = signal_frame != 0;
}

GP_SIGSAFE int cfi_frame_from_sigframe(struct safe_reader *sr, struct cfi_frame *f, uint64_t uc)
{
    uint64_t gregs = uc + (uint64_t)__builtin_offsetof(ucontext_t, uc_mcontext.gregs);
    for (int r = 0; r < CFI_NREGS; r++)
        f->at[r] = gregs + 8 * (uint64_t)greg_of[r];
    f->known = BIT(CFI_NREGS) - 1;
    f->pending = BIT(CFI_NREGS) - 1;
    uint64_t sp, ip;
    if (cfi_get_reg(sr, f, CFI_RSP, &sp) != 0 || cfi_get_reg(sr, f, CFI_RIP, &ip) != 0)
        return -1;
    f->exact = 1;   /* the pc the signal interrupted */
    return 0;
}

/* (inline: apply_compact, a warm frame's whole step, calls it twice) */
static inline int get_reg(struct safe_reader *sr, struct cfi_frame *f, int r, uint64_t *v)
{
    if (r < 0 || r >= CFI_NREGS || !(f->known & BIT(r)))
        return -1;
    if (f->pending & BIT(r)) {
        if (safe_read_word(sr, f->at[r], &f->reg[r]) != 0)
            return -1;
        f->pending &= ~BIT(r);
    }
    *v = f->reg[r];
    return 0;
}

GP_SIGSAFE int cfi_get_reg(struct safe_reader *sr, struct cfi_frame *f, int r, uint64_t *v)
{
    return get_reg(sr, f, r, v);
}

/* Register r of the caller takes over register src of this frame (value or pending slot). */
GP_SIGSAFE static void take_reg(struct cfi_frame *n, int r, const struct cfi_frame *f, int src)
{
    n->reg[r] = f->reg[src];
    n->at[r] = f->at[src];
    n->known = (n->known & ~BIT(r)) | (((f->known >> src) & 1u) << r);
    n->pending = (n->pending & ~BIT(r)) | (((f->pending >> src) & 1u) << r);
}

GP_SIGSAFE static void set_value(struct cfi_frame *n, int r, uint64_t v)
{
    n->reg[r] = v;
    n->known |= BIT(r);
    n->pending &= ~BIT(r);
}

GP_SIGSAFE static void set_slot(struct cfi_frame *n, int r, uint64_t at)
{
    n->at[r] = at;
    n->known |= BIT(r);
    n->pending |= BIT(r);
}

/* Applies the row to *f (the callee) giving its caller. Rules read the callee's registers. */
GP_SIGSAFE static enum cfi_step_result apply(struct safe_reader *sr, struct cfi_frame *f,
                                             const struct cfi_fde *fde,
                                             const struct cfi_row *row)
{
    uint64_t cfa, v;
    int is_reg;
    if (row->cfa_kind == CFI_CFA_REG) {
        if (row->cfa_reg >= CFI_NREGS || cfi_get_reg(sr, f, (int)row->cfa_reg, &v) != 0)
            return CFI_STEP_BROKEN;
        cfa = v + (uint64_t)row->cfa_off;
    } else if (row->cfa_kind == CFI_CFA_EXPR) {
        if (cfi_expr_eval(fde->span, row->cfa_expr, 0, sr, f, &cfa, &is_reg) != 0 || is_reg)
            return CFI_STEP_BROKEN;
    } else {
        return CFI_STEP_BROKEN;   /* the CIE never defined the CFA */
    }
    struct cfi_frame n;
    for (int r = 0; r < CFI_NREGS; r++) {
        n.reg[r] = f->reg[r];
        n.at[r] = f->at[r];
    }
    n.known = f->known;
    n.pending = f->pending;
    for (int r = 0; r < CFI_NREGS; r++) {
        int64_t val = row->val[r];
        switch (row->kind[r]) {
        case CFI_SAME:
            break;
        case CFI_UNDEF:
            n.known &= ~BIT(r);
            n.pending &= ~BIT(r);
            break;
        case CFI_OFFSET:
            set_slot(&n, r, cfa + (uint64_t)val);
            break;
        case CFI_VAL_OFFSET:
            set_value(&n, r, cfa + (uint64_t)val);
            break;
        case CFI_REGISTER:
            take_reg(&n, r, f, (int)val);   /* cfi_exec checked val < CFI_NREGS */
            break;
        case CFI_EXPR:
        case CFI_VAL_EXPR:
            if (cfi_expr_eval(fde->span, (uint64_t)val, cfa, sr, f, &v, &is_reg) != 0)
                return CFI_STEP_BROKEN;
            if (is_reg && (row->kind[r] == CFI_VAL_EXPR || v >= CFI_NREGS))
                return CFI_STEP_BROKEN;
            if (is_reg)
                take_reg(&n, r, f, (int)v);
            else if (row->kind[r] == CFI_EXPR)
                set_slot(&n, r, v);
            else
                set_value(&n, r, v);
            break;
        default:
            return CFI_STEP_BROKEN;
        }
    }
    set_value(&n, CFI_RSP, cfa);
    uint64_t ra;
    if (fde->ra_reg >= CFI_NREGS)
        return CFI_STEP_BROKEN;
    if (!(n.known & BIT(fde->ra_reg)))
        return CFI_STEP_END;
    if (cfi_get_reg(sr, &n, (int)fde->ra_reg, &ra) != 0)
        return CFI_STEP_BROKEN;
    if (ra == f->reg[CFI_RIP] && cfa == f->reg[CFI_RSP])
        return CFI_STEP_BROKEN;
    if (!(n.known & BIT(CFI_RBP)) || ra == 0)
        return CFI_STEP_END;
    set_value(&n, CFI_RIP, ra);
    n.exact = fde->signal_frame;
    for (int r = 0; r < CFI_NREGS; r++) {
        f->reg[r] = n.reg[r];
        f->at[r] = n.at[r];
    }
    f->known = n.known;
    f->pending = n.pending;
    f->exact = n.exact;
    return CFI_STEP_OK;
}

/* apply() for a row in compact form (struct cfi_packed), in place: only the compact form's
 * registers change, so the frame is not copied (on END or BROKEN the caller drops *f anyway).
 * Same results as apply() on the equivalent row. The rule bits are taken straight from the
 * packed words, and known/pending stay in registers until the end: when the row was unpacked
 * into a struct first and the masks were updated in memory slot by slot, a warm frame cost ~65
 * cycles, 60 % of them here and in the unpacking; ~40 now (a 7-frame walk in a loop, rdtsc). */
GP_SIGSAFE static inline enum cfi_step_result apply_compact(struct safe_reader *sr,
                                                            struct cfi_frame *f,
                                                            const struct cfi_packed *p)
{
    uint64_t old_ip = f->reg[CFI_RIP], old_sp = f->reg[CFI_RSP], base, ra;
    if (get_reg(sr, f, (int)(uint8_t)(p->cfa >> 32), &base) != 0)
        return CFI_STEP_BROKEN;
    uint64_t cfa = base + (uint64_t)(int64_t)(int32_t)(uint32_t)p->cfa;
    uint32_t known = f->known, pending = f->pending;
#pragma GCC unroll 7
    for (int i = 0; i < CFI_COMPACT_SLOTS; i++) {
        uint32_t r = cfi_compact_reg[i];
        unsigned kind = (unsigned)(p->cfa >> (40 + 2 * i)) & 3;
        if (kind == CFI_UNDEF) {
            known &= ~BIT(r);
            pending &= ~BIT(r);
        } else if (kind == CFI_OFFSET) {
            int16_t off = (int16_t)(uint16_t)(p->off[i >> 2] >> (16 * (i & 3)));
            f->at[r] = cfa + (uint64_t)(int64_t)off;
            known |= BIT(r);
            pending |= BIT(r);
        }
    }
    f->reg[CFI_RSP] = cfa;
    f->known = known | BIT(CFI_RSP);
    f->pending = pending & ~BIT(CFI_RSP);
    f->sp_step = (uint8_t)(p->cfa >> 32) == CFI_RSP;
    if (!(f->known & BIT(CFI_RIP)))
        return CFI_STEP_END;
    uint64_t ra_at = f->pending & BIT(CFI_RIP) ? f->at[CFI_RIP] : 0;
    if (get_reg(sr, f, CFI_RIP, &ra) != 0)
        return CFI_STEP_BROKEN;
    f->ra_slot = ra_at;
    if (ra == old_ip && cfa == old_sp)
        return CFI_STEP_BROKEN;
    if (!(f->known & BIT(CFI_RBP)) || ra == 0)
        return CFI_STEP_END;
    f->exact = 0;
    return CFI_STEP_OK;
}

/* A memo's row for this step: remembered unless it is so already (a walk that matches its memo
 * writes nothing to it). */
GP_SIGSAFE static void memo_keep(struct cfi_memo_frame *m, uint64_t pc, const struct cfi_packed *p)
{
    if (m && (m->pc != pc || m->row.cfa != p->cfa || m->row.off[0] != p->off[0] ||
              m->row.off[1] != p->off[1])) {
        m->pc = pc;
        m->row = *p;
    }
}

GP_SIGSAFE static void memo_forget(struct cfi_memo_frame *m)
{
    if (m && m->pc)
        m->pc = 0;
}

/* cfi_step for a pc its memo row does not cover: the cache, else the FDE. Apart, so that a memo
 * hit does not pay for this part's stack frame (~0.8 KiB, five saved registers). */
GP_SIGSAFE static __attribute__((noinline)) enum cfi_step_result
step_looked_up(struct safe_reader *sr, struct cfi_frame *f, struct cfi_memo_frame *memo,
               uint64_t pc)
{
    struct cfi_module mod;
    struct cfi_fde fde;
    struct cfi_row row;
    struct cfi_packed packed;
    uint64_t fde_addr;
    if (cfi_module_find(pc, &mod) != 0) {
        memo_forget(memo);
        return cfi_fallback_step(sr, f, 0);
    }
    if (mod.eh_frame_hdr && cfi_cache_get(pc, mod.eh_frame_hdr, &packed) == 0) {
        memo_keep(memo, pc, &packed);
        return apply_compact(sr, f, &packed);
    }
    memo_forget(memo);
    if (cfi_fde_find(&mod, pc, &fde_addr) != 0)
        return cfi_fallback_step(sr, f, &mod);
    if (cfi_parse_fde(mod.eh_frame, fde_addr, &fde) != 0)
        return CFI_STEP_BROKEN;
    if (pc < fde.start || pc >= fde.end)
        return cfi_fallback_step(sr, f, &mod);   /* a gap between FDEs: code without CFI */
    if (cfi_exec(&fde, pc, &row) != 0)
        return CFI_STEP_BROKEN;
    if (cfi_compact_pack(&fde, &row, &packed) == 0) {   /* (an FDE found: eh_frame_hdr set) */
        cfi_cache_put(pc, mod.eh_frame_hdr, &packed);
        memo_keep(memo, pc, &packed);
    }
    return apply(sr, f, &fde, &row);
}

GP_SIGSAFE enum cfi_step_result cfi_step(struct safe_reader *sr, struct cfi_frame *f,
                                         struct cfi_memo_frame *memo)
{
    uint64_t pc = f->exact ? f->reg[CFI_RIP] : f->reg[CFI_RIP] - 1;
    f->sp_step = 0;
    f->ra_slot = 0;
    if (cfi_cache_bypass)
        memo = 0;
    if (memo && memo->pc == pc)
        return apply_compact(sr, f, &memo->row);
    return step_looked_up(sr, f, memo, pc);
}
