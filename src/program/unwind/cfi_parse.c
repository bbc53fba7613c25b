/* cfi_parse.c -- decodes an .eh_frame FDE and the CIE it points to.
 * Context: signal
 * Must not: allocate, lock, call libc, read outside the span it is given.
 *
 * Format: LSB 4.1 "DWARF Extensions" (.eh_frame), DWARF 4 §6.4.1. What gcc, clang, binutils
 * and glibc's hand-written CFI use on x86-64: CIE versions 1 and 3, augmentations "z" (sized
 * augmentation data, which lets us skip what we do not know), "R" (pointer encoding of the
 * FDE's addresses), "P" (personality: skipped, never dereferenced), "L" (LSDA encoding: the
 * FDE's LSDA is skipped with the augmentation data) and "S" (a signal trampoline: the caller's
 * pc is exact, libunwind's use_prev_instr = 0). 64-bit DWARF lengths are accepted.
 */
#include "program/unwind/cfi.h"
#include "program/unwind/cfi_read.h"

/* Augmentation strings longer than this are not produced by any tool we know. */
#define CFI_AUG_MAX 8

/* Length and id of an entry at c: sets *end, returns the id (CIE pointer) and its address. */
GP_SIGSAFE static uint64_t entry_header(struct cfi_cur *c, uint64_t *end, uint64_t *id_at)
{
    uint64_t len = cfi_u32(c);
    int dwarf64 = len == 0xffffffffu;
    if (dwarf64)
        len = cfi_u64(c);
    if (c->bad || len == 0 || len > c->end - c->p) {
        c->bad = 1;   /* 0: the terminator */
        return 0;
    }
    *end = c->p + len;
    *id_at = c->p;
    uint64_t id = dwarf64 ? cfi_u64(c) : cfi_u32(c);
    c->end = *end;
    return id;
}

GP_SIGSAFE static int parse_cie(struct cfi_span span, uint64_t cie, struct cfi_fde *out,
                                int *sized)
{
    struct cfi_cur c = cfi_cur_at(span, cie, span.hi);
    uint64_t end, id_at;
    uint64_t id = entry_header(&c, &end, &id_at);
    uint8_t version = cfi_u8(&c);
    if (c.bad || id != 0 || (version != 1 && version != 3 && version != 4))
        return -1;
    char aug[CFI_AUG_MAX];
    int naug = 0;
    for (;;) {   /* bounded by the entry: every round reads a byte */
        uint8_t ch = cfi_u8(&c);
        if (c.bad)
            return -1;
        if (!ch)
            break;
        if (naug < CFI_AUG_MAX)
            aug[naug++] = (char)ch;
    }
    if (version == 4) {
        (void)cfi_u8(&c);   /* address_size */
        (void)cfi_u8(&c);   /* segment_selector_size */
    }
    out->code_align = cfi_uleb(&c);
    out->data_align = cfi_sleb(&c);
    out->ra_reg = version == 1 ? cfi_u8(&c) : (uint32_t)cfi_uleb(&c);
    out->fde_enc = CFI_PE_ABSPTR;
    out->signal_frame = 0;
    *sized = naug > 0 && aug[0] == 'z';
    uint64_t aug_end = 0;
    if (*sized) {
        uint64_t n = cfi_uleb(&c);
        if (c.bad || n > c.end - c.p)
            return -1;
        aug_end = c.p + n;
    }
    for (int i = *sized; i < naug && !c.bad; i++) {
        switch (aug[i]) {
        case 'R': out->fde_enc = cfi_u8(&c); break;
        case 'L': (void)cfi_u8(&c); break;
        case 'P': cfi_skip_encoded(&c, cfi_u8(&c)); break;
        case 'S': out->signal_frame = 1; break;
        default:
            /* Unknown ('B', 'G', ...): with a size we can skip the rest, without we cannot. */
            if (!*sized)
                return -1;
            i = naug;
            break;
        }
    }
    if (*sized)
        c.p = aug_end;
    if (c.bad || c.p > end)
        return -1;
    out->cie_instr = c.p;
    out->cie_instr_end = end;
    return 0;
}

/* The entry at addr: 1 and *out for an FDE, 0 for a CIE, -1 when malformed. *next is the entry
 * after it. */
GP_SIGSAFE static int parse_entry(struct cfi_span span, uint64_t addr, struct cfi_fde *out,
                                  uint64_t *next)
{
    struct cfi_cur c = cfi_cur_at(span, addr, span.hi);
    uint64_t end, id_at;
    uint64_t id = entry_header(&c, &end, &id_at);
    if (c.bad)
        return -1;
    *next = end;
    if (id == 0)
        return 0;
    int sized;
    /* .eh_frame's CIE pointer is relative to its own field (not to a section, as in
     * .debug_frame). */
    if (id > id_at || parse_cie(span, id_at - id, out, &sized) != 0)
        return -1;
    out->start = cfi_encoded(&c, out->fde_enc, 0);
    uint64_t range = cfi_encoded(&c, out->fde_enc & 0x0f, 0);   /* a size: format only */
    if (sized) {
        uint64_t n = cfi_uleb(&c);   /* the LSDA pointer, when 'L': not needed to unwind */
        if (c.bad || n > c.end - c.p)
            return -1;
        c.p += n;
    }
    if (c.bad || out->start + range < out->start)
        return -1;
    out->end = out->start + range;
    out->fde_instr = c.p;
    out->fde_instr_end = end;
    out->span = span;
    return 1;
}

GP_SIGSAFE int cfi_parse_fde(struct cfi_span span, uint64_t fde_addr, struct cfi_fde *out)
{
    uint64_t next;
    return parse_entry(span, fde_addr, out, &next) == 1 ? 0 : -1;
}

GP_SIGSAFE int cfi_fde_range(struct cfi_span span, uint64_t fde_addr, uint64_t *start,
                             uint64_t *end, uint64_t *next)
{
    struct cfi_fde f;
    int r = parse_entry(span, fde_addr, &f, next);
    if (r == 1) {
        *start = f.start;
        *end = f.end;
    }
    return r;
}
