/* cfi_find.c -- pc -> the FDE that describes it, through the module's .eh_frame_hdr table.
 * Context: signal
 * Must not: allocate, lock, call anything but _dl_find_object (AS-Safe, lock-free; glibc >=
 * 2.35), read CFI bytes outside the PT_LOAD segment that holds them.
 *
 * _dl_find_object gives the loaded object holding pc and its PT_GNU_EH_FRAME address; the
 * vDSO is one of them (glibc registers linux-vdso.so.1 as a link map). The .eh_frame_hdr
 * (LSB 4.1 "DWARF Extensions") holds a table of (initial location, FDE address) pairs sorted by
 * location: a binary search finds the last entry at or below pc. ld and gold emit it with
 * table_enc = datarel|sdata4, relative to the header; other encodings and a missing table fall
 * back to a bounded linear scan of .eh_frame, as libunwind does.
 *
 * Bounds: reads go to the object's own mapping, but [dlfo_map_start, dlfo_map_end) may contain
 * PROT_NONE gaps between segments, so the span each read is checked against is the PT_LOAD
 * segment (from the program headers at the start of the mapping) that holds the table or the
 * .eh_frame. Where the headers are unreadable, the whole mapping is the span.
 *
 * The executable is the exception. The dynamic linker maps a library in one reservation, its
 * gaps kept PROT_NONE, but the kernel maps the executable segment by segment, and where they
 * are not contiguous (Debian's node: 2 MiB-aligned segments, unmapped between) _dl_find_object
 * gives each segment as a mapping of its own: only the first starts with the ELF header, and
 * .eh_frame_hdr lies in another segment than the code. The executable's program headers are
 * therefore the ones the kernel gave (AT_PHDR), noted at init (gp_cfi_main), and its segments
 * are its spans: every PT_LOAD of a loaded object is mapped. Without this, node's own code was
 * walked without its CFI, and 86 of 121 stacks of a node run ended in "incomplete".
 */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>

#include "program/unwind/cfi.h"
#include "program/unwind/cfi_read.h"

/* A linear scan (no search table) gives up after this many entries: it runs per frame inside
 * a signal handler. gcc's objects always have the table. */
#define CFI_LINEAR_MAX 4096

struct cfi_main gp_cfi_main;

GP_SIGSAFE static int is_main_program(const struct cfi_module *m)
{
    return m->lm && m->lm == gp_cfi_main.lm;
}

/* Program headers of the object: the executable's from init; another's when its mapping starts
 * with an ELF header whose first PT_LOAD (file offset 0) is that mapping's start. */
GP_SIGSAFE static void module_headers(struct cfi_module *m)
{
    if (m->headers_read)
        return;
    m->headers_read = 1;
    m->phdr = 0;
    m->phnum = 0;
    m->bias = m->lm ? (uint64_t)m->lm->l_addr : 0;
    if (is_main_program(m)) {
        m->phdr = gp_cfi_main.phdr;
        m->phnum = gp_cfi_main.phnum;
        return;
    }
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)(uintptr_t)m->map_lo;
    if (m->map_hi - m->map_lo < sizeof *eh)
        return;
    if (eh->e_ident[EI_MAG0] != ELFMAG0 || eh->e_ident[EI_MAG1] != ELFMAG1 ||
        eh->e_ident[EI_MAG2] != ELFMAG2 || eh->e_ident[EI_MAG3] != ELFMAG3 ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_phentsize != sizeof(ElfW(Phdr)) ||
        eh->e_phnum == 0 || eh->e_phoff > m->map_hi - m->map_lo ||
        (uint64_t)eh->e_phnum * sizeof(ElfW(Phdr)) > m->map_hi - m->map_lo - eh->e_phoff)
        return;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(uintptr_t)(m->map_lo + eh->e_phoff);
    /* The headers are only ours if the segment mapped from offset 0 starts the mapping. */
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD || ph[i].p_offset != 0)
            continue;
        uint64_t align = ph[i].p_align > 1 ? ph[i].p_align : 1;
        uint64_t start = m->bias + (ph[i].p_vaddr & ~(align - 1));
        uint64_t start4k = m->bias + (ph[i].p_vaddr & ~0xfffull);
        if (start == m->map_lo || start4k == m->map_lo) {
            m->phdr = ph;
            m->phnum = eh->e_phnum;
        }
        return;
    }
}

/* The PT_LOAD segment holding addr, clipped to the mapping (the executable's: not clipped, its
 * mapping may be one segment); empty when none does. */
GP_SIGSAFE static struct cfi_span segment_of(struct cfi_module *m, uint64_t addr)
{
    struct cfi_span s = { 0, 0 };
    int whole = is_main_program(m);
    if (!whole && (addr < m->map_lo || addr >= m->map_hi))
        return s;
    module_headers(m);
    if (!m->phdr) {
        s.lo = m->map_lo;
        s.hi = m->map_hi;
        return s;
    }
    const ElfW(Phdr) *ph = m->phdr;
    for (int i = 0; i < m->phnum; i++) {
        if (ph[i].p_type != PT_LOAD)
            continue;
        uint64_t lo = m->bias + ph[i].p_vaddr, hi = lo + ph[i].p_memsz;
        if (addr >= lo && addr < hi) {
            s.lo = lo < m->map_lo && !whole ? m->map_lo : lo;
            s.hi = hi > m->map_hi && !whole ? m->map_hi : hi;
            return s;
        }
    }
    return s;
}

GP_SIGSAFE int cfi_module_readable(struct cfi_module *mod, uint64_t addr, uint64_t len)
{
    struct cfi_span s = segment_of(mod, addr);
    return addr + len >= addr && addr + len <= s.hi;
}

/* The i-th sdata4 of a table. The header's own encodings place the table, so it need not be
 * 4-aligned (an int32_t load there would be undefined): bytes, which compile to one load. */
GP_SIGSAFE static int64_t table_s32(uint64_t table, uint64_t i)
{
    const uint8_t *b = (const uint8_t *)(uintptr_t)(table + 4 * i);
    return (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24);
}

/* Binary search of a datarel|sdata4 table of n entries at table: the FDE of the last entry whose
 * location is <= pc. Returns 0 (found) or -1. */
GP_SIGSAFE static int table_search(uint64_t hdr, uint64_t table, uint64_t n, uint64_t pc,
                                   uint64_t *fde)
{
    int64_t rel = (int64_t)(pc - hdr);
    uint64_t lo = 0, hi = n;   /* invariant: entries below lo are <= pc, from hi on > pc */
    while (lo < hi) {          /* halves each round: at most 64 */
        uint64_t mid = lo + (hi - lo) / 2;
        if (rel < table_s32(table, 2 * mid))
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo == 0)
        return -1;
    *fde = hdr + (uint64_t)table_s32(table, 2 * (lo - 1) + 1);
    return 0;
}

/* Scans .eh_frame from its start for the FDE covering pc. Returns 0 (found) or -1. */
GP_SIGSAFE static int linear_search(struct cfi_span span, uint64_t eh_frame, uint64_t max,
                                    uint64_t pc, uint64_t *fde)
{
    uint64_t at = eh_frame;
    if (max > CFI_LINEAR_MAX)
        max = CFI_LINEAR_MAX;
    for (uint64_t i = 0; i < max && at < span.hi; i++) {
        uint64_t start, end, next;
        int r = cfi_fde_range(span, at, &start, &end, &next);
        if (r < 0)
            return -1;   /* the terminator, or bytes we cannot trust further */
        if (r == 1 && pc >= start && pc < end) {
            *fde = at;
            return 0;
        }
        at = next;
    }
    return -1;
}

GP_SIGSAFE int cfi_module_find(uint64_t pc, struct cfi_module *mod)
{
    struct dl_find_object obj;
    if (_dl_find_object((void *)(uintptr_t)pc, &obj) != 0)
        return -1;
    mod->map_lo = (uint64_t)(uintptr_t)obj.dlfo_map_start;
    mod->map_hi = (uint64_t)(uintptr_t)obj.dlfo_map_end;
    mod->lm = obj.dlfo_link_map;
    mod->bias = 0;   /* (module_headers) */
    mod->eh_frame_hdr = (uint64_t)(uintptr_t)obj.dlfo_eh_frame;
    mod->headers_read = 0;
    mod->eh_frame.lo = mod->eh_frame.hi = 0;
    return 0;
}

GP_SIGSAFE int cfi_fde_find(struct cfi_module *mod, uint64_t pc, uint64_t *fde)
{
    uint64_t hdr = mod->eh_frame_hdr;
    if (!hdr)
        return -1;   /* no .eh_frame_hdr: nothing to find .eh_frame by */
    struct cfi_span hs = segment_of(mod, hdr);
    if (hs.lo == hs.hi)
        return -1;
    struct cfi_cur c = cfi_cur_at(hs, hdr, hs.hi);
    uint8_t version = cfi_u8(&c);
    uint8_t ptr_enc = cfi_u8(&c);
    uint8_t count_enc = cfi_u8(&c);
    uint8_t table_enc = cfi_u8(&c);
    uint64_t eh_frame = cfi_encoded(&c, ptr_enc, hdr);
    uint64_t count = count_enc == CFI_PE_OMIT ? 0 : cfi_encoded(&c, count_enc, hdr);
    if (c.bad || version != 1 || ptr_enc == CFI_PE_OMIT)
        return -1;
    mod->eh_frame = segment_of(mod, eh_frame);
    if (mod->eh_frame.lo == mod->eh_frame.hi)
        return -1;
    if (table_enc == (CFI_PE_DATAREL | CFI_PE_SDATA4) && count_enc != CFI_PE_OMIT) {
        if (count > (hs.hi - c.p) / 8)
            return -1;   /* the table would run past its segment */
        return table_search(hdr, c.p, count, pc, fde);
    }
    uint64_t max = count_enc == CFI_PE_OMIT ? CFI_LINEAR_MAX : count * 2 + 16;  /* CIEs too */
    return linear_search(mod->eh_frame, eh_frame, max, pc, fde);
}
