/* test_godwarf.c -- godwarf (g/m offsets from DWARF), go_layout_check, and goexe's choice
 * between DWARF and the version table.
 * Context: tests
 *
 *   test_godwarf                      synthetic DWARF 4/5, 32/64-bit, every form, compressed or
 *                                     not; every truncation and byte flip; go_layout_check
 *   test_godwarf dwarf BIN 1.NN       DWARF layout == table for 1.NN, for every window size,
 *                                     compressed and not; goexe takes DWARF
 *   test_godwarf strip BIN 1.NN       no DWARF: -ENOENT; goexe falls back to the table
 *   test_godwarf goffs BIN K=V,...    DWARF layout == debug/dwarf's (godwarf_offsets.go)
 *   test_godwarf corrupt BIN 1.NN     flipped bytes and cuts in .debug_info (raw, recompressed
 *                                     and compressed), forged sizes, a cut file: no crash, a
 *                                     clean error or a deterministic layout; goexe falls back
 *   test_godwarf bench BIN [RUNS [WINDOW]]  prints time, stream statistics and (under
 *                                     malloc_peak.so) the peak heap of godwarf_layout
 * Prints "N passed, N failed" (check.h) and exits non-zero on any failure.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/base/leb128.h"
#include "lib/elf/elf_file.h"
#include "check.h"
#include "lib/go/goexe.h"
#include "lib/go/godwarf.h"
#include "lib/go/goruntime.h"

#define LAYOUT_FIELDS(X) \
    X(g_stack_lo) X(g_stack_hi) X(g_m) X(g_sched_sp) X(g_sched_pc) X(g_sched_bp) \
    X(g_syscallsp) X(g_syscallpc) X(g_goid) X(g_atomicstatus) X(g_labels) \
    X(m_g0) X(m_curg) X(m_gsignal) X(m_procid) X(m_incgo) X(m_isextra_in_c) X(m_ncgo) \
    X(m_vdso_sp) X(m_vdso_pc)

/* 1 when equal; otherwise prints the differing fields (what names which side). */
static int layout_equal(const struct go_layout *a, const struct go_layout *b, const char *what)
{
    int eq = a->known == b->known;
#define X(f) if (a->f != b->f) { eq = 0; printf("  %s: %s %u != %u\n", what, #f, a->f, b->f); }
    LAYOUT_FIELDS(X)
#undef X
    return eq;
}

static int parse_version(const char *s, int *minor)
{
    return sscanf(s, "1.%d", minor) == 1 ? 0 : -1;
}

/* ---- byte buffers and a DWARF writer ------------------------------------------------------ */

struct buf {
    uint8_t *p;
    size_t n, cap;
};

static void b_put(struct buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void b_le(struct buf *b, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        b_put(b, &c, 1);
    }
}

static void b_uleb(struct buf *b, uint64_t v)
{
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        if (v)
            c |= 0x80;
        b_put(b, &c, 1);
    } while (v);
}

static void b_sleb(struct buf *b, int64_t v)
{
    for (;;) {
        uint8_t c = v & 0x7f;
        v = v < 0 ? ~(~v >> 7) : v >> 7;   /* floor(v / 128) without shifting a negative */
        int done = (v == 0 && !(c & 0x40)) || (v == -1 && (c & 0x40));
        if (!done)
            c |= 0x80;
        b_put(b, &c, 1);
        if (done)
            return;
    }
}

static void b_str(struct buf *b, const char *s)
{
    b_put(b, s, strlen(s) + 1);
}

enum {
    F_addr = 0x01, F_block2 = 0x03, F_block4 = 0x04, F_data2 = 0x05, F_data4 = 0x06,
    F_data8 = 0x07, F_string = 0x08, F_block = 0x09, F_block1 = 0x0a, F_data1 = 0x0b,
    F_flag = 0x0c, F_sdata = 0x0d, F_strp = 0x0e, F_udata = 0x0f, F_ref_addr = 0x10,
    F_ref1 = 0x11, F_ref2 = 0x12, F_ref4 = 0x13, F_ref8 = 0x14, F_ref_udata = 0x15,
    F_indirect = 0x16, F_sec_offset = 0x17, F_exprloc = 0x18, F_flag_present = 0x19,
    F_strx = 0x1a, F_addrx = 0x1b, F_ref_sup4 = 0x1c, F_strp_sup = 0x1d, F_data16 = 0x1e,
    F_line_strp = 0x1f, F_ref_sig8 = 0x20, F_implicit_const = 0x21, F_loclistx = 0x22,
    F_rnglistx = 0x23, F_ref_sup8 = 0x24, F_strx1 = 0x25, F_strx2 = 0x26, F_strx3 = 0x27,
    F_strx4 = 0x28, F_addrx1 = 0x29, F_addrx2 = 0x2a, F_addrx3 = 0x2b, F_addrx4 = 0x2c,
    F_GNU_addr_index = 0x1f01, F_GNU_str_index = 0x1f02, F_GNU_ref_alt = 0x1f20,
    F_GNU_strp_alt = 0x1f21,
};
enum { AT_name = 0x03, AT_byte_size = 0x0b, AT_language = 0x13, AT_declaration = 0x3c,
       AT_dml = 0x38, AT_type = 0x49, AT_stroff = 0x72 };
enum { TAG_member = 0x0d, TAG_struct = 0x13, TAG_cu = 0x11, TAG_typedef = 0x16,
       TAG_base = 0x24, TAG_subprogram = 0x2e, TAG_type_unit = 0x41 };
enum { A_CU = 1, A_JUNK, A_NEST, A_STRUCT, A_STRUCT_STRP, A_MEM, A_MEM_STRP, A_MEM_STRX1,
       A_MEM_LSTRP8, A_MEM_BLOCK, A_MEM_INDIRECT, A_MEM_NOLOC, A_MEM_STRX_DATA2, A_MEM_EXPR,
       A_STRUCT_DECL, A_TYPEDEF };

/* Every form the junk DIE carries, each with a distinct (user-range) attribute number. */
static const unsigned junk_forms[] = {
    F_addr, F_block2, F_block4, F_data2, F_data4, F_data8, F_block, F_block1, F_flag, F_sdata,
    F_ref_addr, F_ref1, F_ref2, F_ref4, F_ref8, F_ref_udata, F_indirect, F_sec_offset,
    F_exprloc, F_flag_present, F_strx, F_addrx, F_ref_sup4, F_strp_sup, F_data16, F_ref_sig8,
    F_implicit_const, F_loclistx, F_rnglistx, F_ref_sup8, F_strx2, F_strx3, F_strx4, F_addrx1,
    F_addrx2, F_addrx3, F_addrx4, F_GNU_addr_index, F_GNU_str_index, F_GNU_ref_alt,
    F_GNU_strp_alt, F_string, F_strp, F_line_strp, F_strx1, F_udata, F_data1, F_indirect,
};

static void ab_attr(struct buf *b, unsigned at, unsigned form)
{
    b_uleb(b, at);
    b_uleb(b, form);
}

static void ab_begin(struct buf *b, unsigned code, unsigned tag, int children)
{
    b_uleb(b, code);
    b_uleb(b, tag);
    b_le(b, children ? 1 : 0, 1);
}

static void ab_end(struct buf *b)
{
    b_uleb(b, 0);
    b_uleb(b, 0);
}

static void ab_junk(struct buf *b)
{
    ab_begin(b, A_JUNK, TAG_base, 0);
    for (size_t i = 0; i < sizeof junk_forms / sizeof junk_forms[0]; i++) {
        ab_attr(b, 0x2100 + (unsigned)i, junk_forms[i]);
        if (junk_forms[i] == F_implicit_const)
            b_sleb(b, -3);
    }
    ab_end(b);
}

/* .debug_abbrev: the main table at 0, a second one (for the type unit) at *second. */
static void build_abbrev(struct buf *b, size_t *second)
{
    ab_begin(b, A_CU, TAG_cu, 1);
    ab_attr(b, AT_name, F_string); ab_attr(b, AT_language, F_data1);
    ab_attr(b, AT_stroff, F_sec_offset); ab_end(b);
    ab_junk(b);
    ab_begin(b, A_NEST, TAG_subprogram, 1);
    ab_attr(b, AT_name, F_string); ab_end(b);
    ab_begin(b, A_STRUCT, TAG_struct, 1);
    ab_attr(b, AT_name, F_string); ab_attr(b, AT_byte_size, F_udata); ab_end(b);
    ab_begin(b, A_STRUCT_STRP, TAG_struct, 1);
    ab_attr(b, AT_name, F_strp); ab_end(b);
    ab_begin(b, A_MEM, TAG_member, 0);
    ab_attr(b, AT_name, F_string); ab_attr(b, AT_dml, F_udata); ab_attr(b, AT_type, F_ref4);
    ab_end(b);
    ab_begin(b, A_MEM_STRP, TAG_member, 0);
    ab_attr(b, AT_name, F_strp); ab_attr(b, AT_dml, F_data1); ab_end(b);
    ab_begin(b, A_MEM_STRX1, TAG_member, 0);
    ab_attr(b, AT_name, F_strx1); ab_attr(b, AT_dml, F_sdata); ab_end(b);
    ab_begin(b, A_MEM_LSTRP8, TAG_member, 0);
    ab_attr(b, AT_name, F_line_strp); ab_attr(b, AT_dml, F_implicit_const); b_sleb(b, 8);
    ab_end(b);
    ab_begin(b, A_MEM_BLOCK, TAG_member, 0);
    ab_attr(b, AT_name, F_string); ab_attr(b, AT_dml, F_block1); ab_end(b);
    ab_begin(b, A_MEM_INDIRECT, TAG_member, 0);
    ab_attr(b, AT_name, F_indirect); ab_attr(b, AT_dml, F_indirect); ab_end(b);
    ab_begin(b, A_MEM_NOLOC, TAG_member, 0);
    ab_attr(b, AT_name, F_string); ab_end(b);
    ab_begin(b, A_MEM_STRX_DATA2, TAG_member, 0);
    ab_attr(b, AT_name, F_strx); ab_attr(b, AT_dml, F_data2); ab_end(b);
    ab_begin(b, A_MEM_EXPR, TAG_member, 0);
    ab_attr(b, AT_name, F_string); ab_attr(b, AT_dml, F_exprloc); ab_end(b);
    ab_begin(b, A_STRUCT_DECL, TAG_struct, 0);
    ab_attr(b, AT_name, F_string); ab_attr(b, AT_declaration, F_flag_present); ab_end(b);
    ab_begin(b, A_TYPEDEF, TAG_typedef, 0);
    ab_attr(b, AT_name, F_string); ab_attr(b, AT_type, F_ref_addr); ab_end(b);
    b_uleb(b, 0);
    *second = b->n;
    ab_begin(b, 1, TAG_type_unit, 0);
    ab_attr(b, AT_name, F_string); ab_end(b);
    b_uleb(b, 0);
}

/* String sections: .debug_str, .debug_line_str, .debug_str_offsets (with a DWARF 5 header). */
struct strs {
    struct buf str, line_str, offs;
    unsigned osize;
    unsigned nidx;
};

static uint64_t str_add(struct buf *b, const char *s)
{
    uint64_t off = b->n;
    b_str(b, s);
    return off;
}

static unsigned strx_add(struct strs *s, const char *name)
{
    b_le(&s->offs, str_add(&s->str, name), s->osize);
    return s->nidx++;
}

struct dw {
    struct buf info;
    struct strs s;
    int version, dwarf64;
    size_t abbrev2;
};

static unsigned osz(const struct dw *d)
{
    return d->dwarf64 ? 8 : 4;
}

static size_t unit_begin(struct dw *d, int version, int unit_type, uint64_t abbrev_off)
{
    struct buf *b = &d->info;
    size_t at;
    if (d->dwarf64) {
        b_le(b, 0xffffffffu, 4);
        at = b->n;
        b_le(b, 0, 8);
    } else {
        at = b->n;
        b_le(b, 0, 4);
    }
    b_le(b, (uint64_t)version, 2);
    if (version >= 5) {
        b_le(b, (uint64_t)unit_type, 1);
        b_le(b, 8, 1);
        b_le(b, abbrev_off, osz(d));
        if (unit_type == 2) {   /* DW_UT_type: signature, type offset */
            b_le(b, 0x1122334455667788ull, 8);
            b_le(b, 0, osz(d));
        }
    } else {
        b_le(b, abbrev_off, osz(d));
        b_le(b, 8, 1);
    }
    return at;
}

static void unit_end(struct dw *d, size_t at)
{
    uint64_t len = d->info.n - at - osz(d);
    for (unsigned i = 0; i < osz(d); i++)
        d->info.p[at + i] = (uint8_t)(len >> (8 * i));
}

static void die_junk(struct dw *d)
{
    struct buf *b = &d->info;
    int indirect_seen = 0;
    b_uleb(b, A_JUNK);
    for (size_t i = 0; i < sizeof junk_forms / sizeof junk_forms[0]; i++) {
        switch (junk_forms[i]) {
        case F_addr: b_le(b, 0x401000, 8); break;
        case F_block2: b_le(b, 3, 2); b_le(b, 0xffffff, 3); break;
        case F_block4: b_le(b, 2, 4); b_le(b, 0, 2); break;
        case F_data2: case F_ref2: case F_strx2: case F_addrx2: b_le(b, 0xfffe, 2); break;
        case F_data4: case F_ref4: case F_ref_sup4: case F_strx4: case F_addrx4:
            b_le(b, 0xfffffff0u, 4); break;
        case F_data8: case F_ref8: case F_ref_sup8: case F_ref_sig8: b_le(b, ~0ull, 8); break;
        case F_block: b_uleb(b, 2); b_le(b, 0x0303, 2); break;
        case F_block1: b_le(b, 1, 1); b_le(b, 0, 1); break;
        case F_flag: case F_ref1: case F_strx1: case F_addrx1: case F_data1: b_le(b, 0xff, 1);
            break;
        case F_sdata: b_sleb(b, -5); break;
        case F_ref_addr: case F_sec_offset: case F_strp_sup: case F_GNU_ref_alt:
        case F_GNU_strp_alt:
            b_le(b, 0x12345678, osz(d)); break;
        case F_indirect:
            if (!indirect_seen++) {   /* indirect -> data16 */
                b_uleb(b, F_data16);
                b_le(b, 0, 8); b_le(b, 0, 8);
            } else {                  /* indirect -> indirect -> udata */
                b_uleb(b, F_indirect); b_uleb(b, F_udata); b_uleb(b, 300);
            }
            break;
        case F_exprloc: b_uleb(b, 2); b_le(b, 0x9f30, 2); break;
        case F_flag_present: case F_implicit_const: break;
        case F_strx: case F_addrx: case F_loclistx: case F_rnglistx: case F_ref_udata:
        case F_GNU_addr_index: case F_GNU_str_index:
            b_uleb(b, 1000000); break;
        case F_strx3: case F_addrx3: b_le(b, 0xabcdef, 3); break;
        case F_data16: b_le(b, 1, 8); b_le(b, 2, 8); break;
        case F_string: b_str(b, "runtime.g"); break;   /* not a name: attribute 0x21xx */
        case F_strp: case F_line_strp: b_le(b, 0, osz(d)); break;
        case F_udata: b_uleb(b, ~0ull); break;
        default: abort();
        }
    }
}

static void die_struct(struct dw *d, const char *name, unsigned size)
{
    b_uleb(&d->info, A_STRUCT);
    b_str(&d->info, name);
    b_uleb(&d->info, size);
}

static void die_mem(struct dw *d, const char *name, uint64_t off)
{
    b_uleb(&d->info, A_MEM);
    b_str(&d->info, name);
    b_uleb(&d->info, off);
    b_le(&d->info, 0, 4);
}

static void die_null(struct dw *d)
{
    b_uleb(&d->info, 0);
}

/* The 1.26 table's values, written with as many forms as possible. */
static void unit_go(struct dw *d, const char *name, unsigned lang, int decoys)
{
    struct buf *b = &d->info;
    size_t at = unit_begin(d, d->version, 1, 0);
    b_uleb(b, A_CU);
    b_str(b, name);
    b_le(b, lang, 1);
    b_le(b, d->version >= 5 ? (d->dwarf64 ? 16 : 8) : 0, osz(d));   /* str_offsets_base */
    die_junk(d);
    if (decoys) {
        b_uleb(b, A_NEST);
        b_str(b, "main.f");
        die_junk(d);
        die_struct(d, "main.local", 16);
        die_mem(d, "lo", 1);
        die_null(d);
        die_null(d);
        b_uleb(b, A_STRUCT_DECL);
        b_str(b, "runtime.g");
        die_struct(d, "runtime.m", 2000);   /* incomplete: ignored */
        die_mem(d, "g0", 0);
        die_mem(d, "curg", 184);
        die_null(d);
    }
    die_struct(d, "runtime.g", 456);
    b_uleb(b, A_MEM_NOLOC);               /* stack: no location = offset 0 */
    b_str(b, "stack");
    die_mem(d, "m", 48);
    b_uleb(b, A_MEM_STRP);                /* sched: strp, data1 */
    b_le(b, str_add(&d->s.str, "sched"), osz(d));
    b_le(b, 56, 1);
    b_uleb(b, A_MEM_STRX1);               /* syscallsp: strx1, sdata */
    b_le(b, strx_add(&d->s, "syscallsp"), 1);
    b_sleb(b, 104);
    b_uleb(b, A_MEM_BLOCK);               /* syscallpc: DW_OP_plus_uconst 112 */
    b_str(b, "syscallpc");
    b_le(b, 2, 1);
    b_le(b, 0x23, 1);
    b_uleb(b, 112);
    die_junk(d);                          /* a non-member child */
    b_uleb(b, A_MEM_INDIRECT);            /* goid: indirect string, indirect udata */
    b_uleb(b, F_string);
    b_str(b, "goid");
    b_uleb(b, F_udata);
    b_uleb(b, 152);
    b_uleb(b, A_MEM_STRX_DATA2);          /* atomicstatus: strx, data2 */
    b_uleb(b, strx_add(&d->s, "atomicstatus"));
    b_le(b, 144, 2);
    die_mem(d, "labels", 352);
    die_null(d);
    b_uleb(b, A_TYPEDEF);
    b_str(b, "runtime.g");
    b_le(b, 0, osz(d));
    b_uleb(b, A_STRUCT_STRP);             /* runtime.stack by strp */
    b_le(b, str_add(&d->s.str, "runtime.stack"), osz(d));
    b_uleb(b, A_MEM_EXPR);                /* lo: exprloc DW_OP_plus_uconst 0 */
    b_str(b, "lo");
    b_uleb(b, 2);
    b_le(b, 0x23, 1);
    b_uleb(b, 0);
    b_uleb(b, A_MEM_LSTRP8);              /* hi: line_strp, implicit_const 8 */
    b_le(b, str_add(&d->s.line_str, "hi"), osz(d));
    die_null(d);
    die_struct(d, "runtime.gobuf", 48);
    die_mem(d, "sp", 0);
    die_mem(d, "pc", 8);
    die_mem(d, "g", 16);
    die_mem(d, "bp", 40);
    die_null(d);
    die_struct(d, "runtime.m", 1824);
    static const struct { const char *n; unsigned off; } mm[] = {
        { "g0", 0 }, { "procid", 64 }, { "gsignal", 72 }, { "curg", 184 }, { "incgo", 280 },
        { "isExtraInC", 282 }, { "ncgo", 328 }, { "vdsoSP", 896 }, { "vdsoPC", 904 },
    };
    for (size_t i = 0; i < sizeof mm / sizeof mm[0]; i++)
        die_mem(d, mm[i].n, mm[i].off);
    die_null(d);
    die_null(d);   /* end of the unit DIE's children */
    unit_end(d, at);
}

/* A C unit whose runtime.g (wrong offsets) must be skipped by language. */
static void unit_c(struct dw *d)
{
    size_t at = unit_begin(d, d->version, 1, 0);
    b_uleb(&d->info, A_CU);
    b_str(&d->info, "cgo.c");
    b_le(&d->info, 0x0c, 1);   /* DW_LANG_C99 */
    b_le(&d->info, 0, osz(d));
    static const char *const names[] = { "stack", "m", "sched", "syscallsp", "syscallpc", "goid",
                                         "atomicstatus" };
    die_struct(d, "runtime.g", 100);
    for (unsigned i = 0; i < 7; i++)
        die_mem(d, names[i], 3 + i);
    die_null(d);
    die_null(d);
    unit_end(d, at);
}

/* Units we must skip by length: a type unit (own abbrevs) and an unknown DWARF version. */
static void unit_others(struct dw *d)
{
    if (d->version >= 5) {
        size_t at = unit_begin(d, 5, 2, d->abbrev2);
        b_uleb(&d->info, 1);
        b_str(&d->info, "tu");
        unit_end(d, at);
    }
    size_t at = unit_begin(d, d->version, 1, 0);
    d->info.p[at + osz(d)] = 9;   /* version 9: not ours, skipped by unit_length */
    b_str(&d->info, "garbage that is not DWARF");
    unit_end(d, at);
}

/* ---- ELF images --------------------------------------------------------------------------- */

struct sec {
    const char *name;
    const uint8_t *data;
    size_t size;
    uint64_t flags;
};

/* ELF64 header, the sections' data, .shstrtab, the section header table. */
static uint8_t *elf_build(const struct sec *s, unsigned n, size_t *size)
{
    struct buf b = { 0 }, names = { 0 };
    Elf64_Ehdr eh;
    memset(&eh, 0, sizeof eh);
    b_put(&b, &eh, sizeof eh);
    Elf64_Shdr sh[16];
    memset(sh, 0, sizeof sh);
    b_le(&names, 0, 1);
    for (unsigned i = 0; i <= n; i++) {
        const char *nm = i < n ? s[i].name : ".shstrtab";
        while (b.n % 8)
            b_le(&b, 0, 1);
        sh[i + 1].sh_name = (uint32_t)names.n;
        b_str(&names, nm);
        sh[i + 1].sh_type = SHT_PROGBITS;
        sh[i + 1].sh_offset = b.n;
        if (i < n) {
            sh[i + 1].sh_flags = s[i].flags;
            sh[i + 1].sh_size = s[i].size;
            b_put(&b, s[i].data, s[i].size);
        }
    }
    sh[n + 1].sh_type = SHT_STRTAB;
    sh[n + 1].sh_offset = b.n;
    sh[n + 1].sh_size = names.n;
    b_put(&b, names.p, names.n);
    while (b.n % 8)
        b_le(&b, 0, 1);
    eh.e_shoff = b.n;
    b_put(&b, sh, (n + 2) * sizeof sh[0]);
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_ehsize = sizeof eh;
    eh.e_shentsize = sizeof sh[0];
    eh.e_shnum = (uint16_t)(n + 2);
    eh.e_shstrndx = (uint16_t)(n + 1);
    memcpy(b.p, &eh, sizeof eh);
    free(names.p);
    *size = b.n;
    return b.p;
}

/* Elf64_Chdr + zlib stream of d (ch_type and ch_size as given, for forgeries). */
static uint8_t *zsec(const uint8_t *d, size_t n, uint32_t type, uint64_t ch_size, size_t *out)
{
    uLongf zn = compressBound(n);
    uint8_t *z = malloc(sizeof(Elf64_Chdr) + zn);
    if (!z || compress2(z + sizeof(Elf64_Chdr), &zn, d, n, 6) != Z_OK)
        abort();
    Elf64_Chdr ch = { .ch_type = type, .ch_size = ch_size, .ch_addralign = 1 };
    memcpy(z, &ch, sizeof ch);
    *out = sizeof ch + zn;
    return z;
}

/* Where run_image puts godwarf's statistics (NULL: nowhere). */
static struct godwarf_stats *run_stats;

/* godwarf on an image with the given .debug_info (compressed or not) and the dw's other
 * sections; abbrev == NULL leaves .debug_abbrev out. */
static int run_image(const struct dw *d, const struct buf *abbrev, const uint8_t *info,
                     size_t info_n, uint64_t info_flags, size_t window, struct go_layout *out)
{
    struct sec s[5] = {
        { ".debug_info", info, info_n, info_flags },
        { ".debug_str", d->s.str.p, d->s.str.n, 0 },
        { ".debug_line_str", d->s.line_str.p, d->s.line_str.n, 0 },
        { ".debug_str_offsets", d->s.offs.p, d->s.offs.n, 0 },
        { ".debug_abbrev", abbrev ? abbrev->p : NULL, abbrev ? abbrev->n : 0, 0 },
    };
    size_t size;
    uint8_t *img = elf_build(s, abbrev ? 5 : 4, &size);
    struct elf_file *ef = elf_file_open_mem(img, size);
    int r = ef ? godwarf_layout_ex(ef, out, window, run_stats) : -EBADF;
    elf_file_close(ef);
    free(img);
    return r;
}

static void dw_init(struct dw *d, int version, int dwarf64, size_t abbrev2)
{
    memset(d, 0, sizeof *d);
    d->version = version;
    d->dwarf64 = dwarf64;
    d->abbrev2 = abbrev2;
    d->s.osize = dwarf64 ? 8 : 4;
    b_le(&d->s.str, 0, 1);
    b_le(&d->s.line_str, 0, 1);
    if (dwarf64) {   /* .debug_str_offsets header; unit_length is patched by nobody: unused */
        b_le(&d->s.offs, 0xffffffffu, 4);
        b_le(&d->s.offs, 0, 8);
    } else {
        b_le(&d->s.offs, 0, 4);
    }
    b_le(&d->s.offs, 5, 2);
    b_le(&d->s.offs, 0, 2);
    if (version < 5)   /* GNU's pre-5 strx: indexes from the start of the section */
        d->s.offs.n = 0;
}

static void dw_free(struct dw *d)
{
    free(d->info.p);
    free(d->s.str.p);
    free(d->s.line_str.p);
    free(d->s.offs.p);
}

/* Outcome of one corrupted input, for determinism and the summary. */
enum { O_SAME, O_OTHER_OK, O_OTHER_BAD, O_EINVAL, O_ENOENT, O_ENOTSUP, O_N };
static const char *const o_names[O_N] = { "same layout", "other layout passing the check",
                                          "layout failing the check", "-EINVAL", "-ENOENT",
                                          "-ENOTSUP" };

static int outcome(int r, const struct go_layout *l, const struct go_layout *want)
{
    if (r == 0) {
        if (memcmp(l, want, sizeof *l) == 0)
            return O_SAME;
        return go_layout_check(l) == 0 ? O_OTHER_OK : O_OTHER_BAD;
    }
    if (r == -EINVAL)
        return O_EINVAL;
    if (r == -ENOENT)
        return O_ENOENT;
    if (r == -ENOTSUP)
        return O_ENOTSUP;
    printf("  unexpected result %d\n", r);
    return -1;
}

static void print_outcomes(const char *what, const unsigned *n)
{
    printf("  %s:", what);
    for (int i = 0; i < O_N; i++) {
        if (n[i])
            printf(" %u %s;", n[i], o_names[i]);
    }
    printf("\n");
}

/* ---- synthetic tests ---------------------------------------------------------------------- */

static void test_check(void)
{
    struct go_layout l, t;
    for (int minor = 21; minor <= 26; minor++) {
        CHECK(go_layout_for_version(1, minor, &t) == 0);
        CHECK(go_layout_check(&t) == 0);
    }
    CHECK(go_layout_for_version(1, 20, &t) == -ENOTSUP && go_layout_check(&t) == -EINVAL);
    go_layout_for_version(1, 26, &t);
#define MUTATE(stmt) do { l = t; stmt; CHECK(go_layout_check(&l) == -EINVAL); } while (0)
    MUTATE(l.known = 0);
    MUTATE(l.g_stack_hi = 16);                    /* hi != lo + 8 (and overlaps g.m? no: 16) */
    MUTATE(l.g_m = 8);                            /* overlaps stack.hi */
    MUTATE(l.g_goid = 148);                       /* misaligned */
    MUTATE(l.g_atomicstatus = 154);               /* misaligned u32 */
    MUTATE(l.g_atomicstatus = l.g_goid + 4);      /* inside goid */
    MUTATE(l.g_syscallpc = l.g_syscallsp);        /* same offset */
    MUTATE(l.g_sched_pc = l.g_sched_sp + 16);     /* gobuf.pc not after sp */
    MUTATE(l.g_sched_bp = l.g_sched_sp);          /* bp before pc */
    MUTATE(l.g_sched_bp = l.g_sched_sp + 64);     /* bp outside a gobuf */
    MUTATE(l.m_g0 = 8);
    MUTATE(l.m_isextra_in_c = l.m_incgo);
    MUTATE(l.m_ncgo = 330);                       /* misaligned i32 */
    MUTATE(l.m_vdso_pc = 4096);                   /* too far */
    MUTATE(l.m_vdso_pc = 4090);                   /* ends past 4096 */
    MUTATE(l.m_curg = l.m_gsignal);
#undef MUTATE
    l = t;
    l.m_incgo = 281;   /* bools need no alignment */
    CHECK(go_layout_check(&l) == 0);
}

static void build_synthetic(struct dw *d, struct buf *abbrev, int version, int dwarf64)
{
    size_t second;
    memset(abbrev, 0, sizeof *abbrev);
    build_abbrev(abbrev, &second);
    dw_init(d, version, dwarf64, second);
    unit_c(d);
    unit_others(d);
    unit_go(d, "runtime", 0x16, 1);
}

static void test_synthetic_one(int version, int dwarf64)
{
    struct dw d;
    struct buf abbrev;
    struct go_layout want, got;
    build_synthetic(&d, &abbrev, version, dwarf64);
    go_layout_for_version(1, 26, &want);
    want.labels_form = 0;   /* godwarf reads offsets; the labels' form comes from the version */
    int r = run_image(&d, &abbrev, d.info.p, d.info.n, 0, 0, &got);
    CHECK(r == 0);
    CHECK(layout_equal(&got, &want, "synthetic"));

    size_t zn;
    uint8_t *z = zsec(d.info.p, d.info.n, ELFCOMPRESS_ZLIB, d.info.n, &zn);
    static const size_t windows[] = { 0, 1, 2, 3, 5, 8, 13, 40, 100, 333, 4096 };
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        r = run_image(&d, &abbrev, z, zn, SHF_COMPRESSED, windows[i], &got);
        CHECK(r == 0 && memcmp(&got, &want, sizeof got) == 0);
    }
    /* Compressed .debug_abbrev too. */
    size_t an;
    uint8_t *za = zsec(abbrev.p, abbrev.n, ELFCOMPRESS_ZLIB, abbrev.n, &an);
    struct buf zab = { za, an, an };
    {
        struct sec s[5] = {
            { ".debug_info", z, zn, SHF_COMPRESSED },
            { ".debug_abbrev", zab.p, zab.n, SHF_COMPRESSED },
            { ".debug_str", d.s.str.p, d.s.str.n, 0 },
            { ".debug_line_str", d.s.line_str.p, d.s.line_str.n, 0 },
            { ".debug_str_offsets", d.s.offs.p, d.s.offs.n, 0 },
        };
        size_t size;
        uint8_t *img = elf_build(s, 5, &size);
        struct elf_file *ef = elf_file_open_mem(img, size);
        struct godwarf_stats st;
        CHECK(godwarf_layout_ex(ef, &got, 0, &st) == 0 && memcmp(&got, &want, sizeof got) == 0);
        CHECK(st.compressed == 1 && st.info_size == d.info.n);
        CHECK(st.units == (version >= 5 ? 4u : 3u));
        /* skipped: the C unit (language), version 9 (length), the type unit (name) */
        CHECK(st.units_skipped == (version >= 5 ? 3u : 2u) && st.second_walk == 0);
        elf_file_close(ef);
        free(img);
    }
    free(za);

    /* Errors: no abbrevs, zstd, forged sizes, unknown form. */
    CHECK(run_image(&d, NULL, d.info.p, d.info.n, 0, 0, &got) == -EINVAL);
    CHECK(got.known == 0 && got.m_vdso_pc == 0);
    uint8_t *zz = zsec(d.info.p, d.info.n, 2 /* ELFCOMPRESS_ZSTD */, d.info.n, &zn);
    CHECK(run_image(&d, &abbrev, zz, zn, SHF_COMPRESSED, 0, &got) == -ENOTSUP);
    free(zz);
    zz = zsec(d.info.p, d.info.n, ELFCOMPRESS_ZLIB, 3ull << 30, &zn);
    CHECK(run_image(&d, &abbrev, zz, zn, SHF_COMPRESSED, 0, &got) == -EINVAL);
    free(zz);
    zz = zsec(d.info.p, d.info.n, ELFCOMPRESS_ZLIB, d.info.n + 1000, &zn);   /* ends early */
    CHECK(run_image(&d, &abbrev, zz, zn, SHF_COMPRESSED, 64, &got) == 0);  /* found before */
    free(zz);
    zz = zsec(d.info.p, d.info.n, ELFCOMPRESS_ZLIB, d.info.n - 20, &zn);   /* cut in m */
    CHECK(run_image(&d, &abbrev, zz, zn, SHF_COMPRESSED, 64, &got) == -EINVAL);
    free(zz);
    CHECK(run_image(&d, &abbrev, z, 10, SHF_COMPRESSED, 0, &got) == -EINVAL);   /* Chdr cut */
    free(z);

    /* Every prefix of .debug_info (as its sh_size): an error until the last struct is read. */
    unsigned n[O_N] = { 0 };
    int ok = 1;
    for (size_t cut = 0; cut < d.info.n; cut++) {
        int o = outcome(run_image(&d, &abbrev, d.info.p, cut, 0, 0, &got), &got, &want);
        if (o < 0 || (o != O_EINVAL && o != O_ENOENT && cut < d.info.n - 2))
            ok = 0, printf("  cut %zu: %s\n", cut, o < 0 ? "?" : o_names[o]);
        if (o >= 0)
            n[o]++;
    }
    CHECK(ok);
    /* Every byte flipped (two patterns), raw and through a 16-byte zlib window. */
    static const uint8_t pats[] = { 0xff, 0x80 };
    for (size_t p = 0; p < 2; p++) {
        for (size_t i = 0; i < d.info.n; i++) {
            d.info.p[i] ^= pats[p];
            struct go_layout g2;
            int r1 = run_image(&d, &abbrev, d.info.p, d.info.n, 0, 0, &got);
            z = zsec(d.info.p, d.info.n, ELFCOMPRESS_ZLIB, d.info.n, &zn);
            int r2 = run_image(&d, &abbrev, z, zn, SHF_COMPRESSED, 16, &g2);
            free(z);
            d.info.p[i] ^= pats[p];
            int o = outcome(r1, &got, &want);
            if (o < 0 || r1 != r2 || memcmp(&got, &g2, sizeof got) != 0)
                ok = 0, printf("  flip %zu: %d vs %d\n", i, r1, r2);
            if (o >= 0)
                n[o]++;
        }
    }
    CHECK(ok);
    char what[64];
    snprintf(what, sizeof what, "DWARF %d%s, %zu bytes, cut+flipped", version,
             dwarf64 ? " (64-bit)" : "", d.info.n);
    print_outcomes(what, n);

    /* Every byte of .debug_abbrev flipped. */
    memset(n, 0, sizeof n);
    for (size_t i = 0; i < abbrev.n; i++) {
        abbrev.p[i] ^= 0xff;
        int o = outcome(run_image(&d, &abbrev, d.info.p, d.info.n, 0, 0, &got), &got, &want);
        abbrev.p[i] ^= 0xff;
        if (o < 0)
            ok = 0;
        else
            n[o]++;
    }
    CHECK(ok);
    print_outcomes("  .debug_abbrev flipped", n);

    /* An unknown form; a member offset beyond 16 bits; no runtime.m at all. */
    struct buf bad = { 0 };
    b_put(&bad, abbrev.p, abbrev.n);
    for (size_t i = 0; i + 1 < bad.n; i++) {
        if (bad.p[i] == 0x49 && bad.p[i + 1] == F_ref4) {   /* A_MEM's DW_AT_type */
            bad.p[i + 1] = 0x2d;                             /* no such form */
            break;
        }
    }
    CHECK(run_image(&d, &bad, d.info.p, d.info.n, 0, 0, &got) == -EINVAL);
    free(bad.p);
    dw_free(&d);

    dw_init(&d, version, dwarf64, d.abbrev2);
    size_t at = unit_begin(&d, version, 1, 0);
    b_uleb(&d.info, A_CU);
    b_str(&d.info, "runtime");
    b_le(&d.info, 0x16, 1);
    b_le(&d.info, 0, osz(&d));
    die_struct(&d, "runtime.gobuf", 48);
    die_mem(&d, "sp", 0);
    die_mem(&d, "pc", 8);
    die_mem(&d, "bp", 70000);
    die_null(&d);
    die_null(&d);
    unit_end(&d, at);
    unit_go(&d, "runtime", 0x16, 0);
    CHECK(run_image(&d, &abbrev, d.info.p, d.info.n, 0, 0, &got) == -EINVAL);
    dw_free(&d);
    dw_init(&d, version, dwarf64, d.abbrev2);
    unit_c(&d);
    CHECK(run_image(&d, &abbrev, d.info.p, d.info.n, 0, 0, &got) == -ENOENT);
    /* Types outside a unit named "runtime": found by the second walk, compressed or not. */
    unit_go(&d, "main", 0x16, 1);
    CHECK(run_image(&d, &abbrev, d.info.p, d.info.n, 0, 0, &got) == 0);
    CHECK(layout_equal(&got, &want, "types in unit main"));
    z = zsec(d.info.p, d.info.n, ELFCOMPRESS_ZLIB, d.info.n, &zn);
    for (size_t w = 1; w < 300; w += 37) {
        CHECK(run_image(&d, &abbrev, z, zn, SHF_COMPRESSED, w, &got) == 0);
        CHECK(memcmp(&got, &want, sizeof got) == 0);
    }
    free(z);
    dw_free(&d);
    free(abbrev.p);
}

/* lib/base/leb128.h, which the DWARF reader, the CFI reader and the Go readers share. */
static void test_leb128(void)
{
    static const uint8_t u624485[] = { 0xe5, 0x8e, 0x26 }, neg[] = { 0x7f };
    static const uint8_t neg128[] = { 0x80, 0x7f };
    static const uint8_t max[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
    static const uint8_t over[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                    0x00 };
    uint64_t u = 1;
    int64_t v = 1;
    CHECK(gp_uleb128(u624485, 3, &u) == 3 && u == 624485);
    CHECK(gp_sleb128(neg, 1, &v) == 1 && v == -1);
    CHECK(gp_sleb128(neg128, 2, &v) == 2 && v == -128);
    CHECK(gp_uleb128(max, 10, &u) == 10 && u == UINT64_MAX);
    u = 1;
    CHECK(gp_uleb128(u624485, 2, &u) == GP_LEB_SHORT && u == 0);     /* truncated */
    CHECK(gp_uleb128(u624485, 0, &u) == GP_LEB_SHORT && u == 0);
    u = 1;
    CHECK(gp_uleb128(over, sizeof over, &u) == GP_LEB_BAD && u == 0);   /* 11 bytes */
    v = 1;
    CHECK(gp_sleb128(over, sizeof over, &v) == GP_LEB_BAD && v == 0);
}

/* A table godwarf scans "runtime" units with: its only struct abbreviation with children
 * (A_STRUCT) names the DIE inline, first. The codes are the main table's. */
static void build_abbrev_scan(struct buf *b)
{
    ab_begin(b, A_CU, TAG_cu, 1);
    ab_attr(b, AT_name, F_string); ab_attr(b, AT_language, F_data1);
    ab_attr(b, AT_stroff, F_sec_offset); ab_end(b);
    ab_junk(b);
    ab_begin(b, A_NEST, TAG_subprogram, 1);
    ab_attr(b, AT_name, F_string); ab_end(b);
    ab_begin(b, A_STRUCT, TAG_struct, 1);
    ab_attr(b, AT_name, F_string); ab_attr(b, AT_byte_size, F_udata); ab_end(b);
    ab_begin(b, A_MEM, TAG_member, 0);
    ab_attr(b, AT_name, F_string); ab_attr(b, AT_dml, F_udata); ab_attr(b, AT_type, F_ref4);
    ab_end(b);
    ab_begin(b, A_MEM_STRP, TAG_member, 0);
    ab_attr(b, AT_name, F_strp); ab_attr(b, AT_dml, F_data1); ab_end(b);
    ab_begin(b, A_STRUCT_DECL, TAG_struct, 0);
    ab_attr(b, AT_name, F_string); ab_attr(b, AT_declaration, F_flag_present); ab_end(b);
    b_uleb(b, 0);
}

static const struct { const char *n; unsigned off; } m126[] = {
    { "g0", 0 }, { "procid", 64 }, { "gsignal", 72 }, { "curg", 184 }, { "incgo", 280 },
    { "isExtraInC", 282 }, { "ncgo", 328 }, { "vdsoSP", 896 }, { "vdsoPC", 904 },
};

/* The 1.26 table's values in a unit the scan reads: decoys first (a match inside a string that
 * takes what follows for its children, a declaration, an incomplete runtime.m, runtime.gobuf
 * nested in a function), then `incomplete` more incomplete runtime.g (to spend the scan's
 * budget), then the structs. */
static void unit_go_scan(struct dw *d, unsigned incomplete)
{
    struct buf *b = &d->info;
    size_t at = unit_begin(d, d->version, 1, 0);
    b_uleb(b, A_CU);
    b_str(b, "runtime");
    b_le(b, 0x16, 1);
    b_le(b, d->version >= 5 ? (d->dwarf64 ? 16 : 8) : 0, osz(d));
    die_junk(d);
    b_uleb(b, A_NEST);                      /* its name holds A_STRUCT's code + "runtime.g" */
    char decoy[16] = { A_STRUCT };
    strcpy(decoy + 1, "runtime.g");
    b_str(b, decoy);
    die_null(d);
    b_uleb(b, A_STRUCT_DECL);
    b_str(b, "runtime.m");
    die_struct(d, "runtime.m", 2000);       /* incomplete */
    die_mem(d, "g0", 0);
    die_mem(d, "curg", 184);
    die_null(d);
    b_uleb(b, A_NEST);
    b_str(b, "main.f");
    die_struct(d, "runtime.gobuf", 48);     /* nested in a function: the walk takes it too */
    die_mem(d, "sp", 0);
    die_mem(d, "pc", 8);
    die_mem(d, "bp", 40);
    die_null(d);
    die_null(d);
    for (unsigned i = 0; i < incomplete; i++) {
        die_struct(d, "runtime.g", 8);
        die_mem(d, "stack", 0);
        die_null(d);
    }
    die_struct(d, "runtime.g", 456);
    die_mem(d, "stack", 0);
    die_mem(d, "m", 48);
    b_uleb(b, A_MEM_STRP);                  /* a member named by strp */
    b_le(b, str_add(&d->s.str, "sched"), osz(d));
    b_le(b, 56, 1);
    die_mem(d, "syscallsp", 104);
    die_mem(d, "syscallpc", 112);
    die_junk(d);                            /* a non-member child */
    die_mem(d, "goid", 152);
    die_mem(d, "atomicstatus", 144);
    die_mem(d, "labels", 352);
    die_null(d);
    die_struct(d, "runtime.stack", 16);
    die_mem(d, "lo", 0);
    die_mem(d, "hi", 8);
    die_null(d);
    die_struct(d, "runtime.m", 1824);
    for (size_t i = 0; i < sizeof m126 / sizeof m126[0]; i++)
        die_mem(d, m126[i].n, m126[i].off);
    die_null(d);
    die_null(d);
    unit_end(d, at);
}

/* The scan of "runtime" units finds what the walk finds, whatever the window; a spent budget
 * falls back to the walk. */
static void test_synthetic_scan(int version, int dwarf64, unsigned incomplete)
{
    struct dw d;
    struct buf abbrev = { 0 };
    struct go_layout want, got;
    build_abbrev_scan(&abbrev);
    dw_init(&d, version, dwarf64, 0);
    unit_c(&d);
    unit_go_scan(&d, incomplete);
    go_layout_for_version(1, 26, &want);
    want.labels_form = 0;   /* godwarf reads offsets; the labels' form comes from the version */
    struct godwarf_stats st;
    run_stats = &st;
    int r = run_image(&d, &abbrev, d.info.p, d.info.n, 0, 0, &got);
    CHECK(r == 0 && layout_equal(&got, &want, "synthetic scan"));
    CHECK(st.units_scanned == 1 && st.second_walk == (incomplete > 30000));
    size_t zn;
    uint8_t *z = zsec(d.info.p, d.info.n, ELFCOMPRESS_ZLIB, d.info.n, &zn);
    static const size_t windows[] = { 0, 1, 2, 3, 5, 8, 13, 40, 100, 333, 4096 };
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        memset(&st, 0, sizeof st);
        r = run_image(&d, &abbrev, z, zn, SHF_COMPRESSED, windows[i], &got);
        CHECK(r == 0 && memcmp(&got, &want, sizeof got) == 0);
        CHECK(st.units_scanned == 1 && st.second_walk == (incomplete > 30000));
    }
    run_stats = NULL;
    /* Cut anywhere: the layout if the structs were whole before the cut, else an error. */
    unsigned found = 0, failed = 0;
    for (size_t cut = 0; incomplete == 0 && cut < d.info.n; cut++) {
        size_t cn;
        uint8_t *c = zsec(d.info.p, cut, ELFCOMPRESS_ZLIB, d.info.n, &cn);
        r = run_image(&d, &abbrev, c, cn, SHF_COMPRESSED, 16, &got);
        if (r == 0)
            found++, CHECK(memcmp(&got, &want, sizeof got) == 0);
        else
            failed++, CHECK(got.known == 0);
        free(c);
    }
    CHECK(incomplete || (found > 0 && failed > 0));
    free(z);
    free(abbrev.p);
    dw_free(&d);
}

static void test_synthetic(void)
{
    test_leb128();
    test_check();
    test_synthetic_one(4, 0);
    test_synthetic_one(5, 0);
    test_synthetic_one(5, 1);
    test_synthetic_one(3, 1);
    test_synthetic_scan(4, 0, 0);
    test_synthetic_scan(5, 0, 0);
    test_synthetic_scan(5, 1, 0);
    test_synthetic_scan(4, 0, 33000);   /* 3 DIEs each: more than the budget */
    /* No .debug_info at all. */
    struct sec s[1] = { { ".text", (const uint8_t *)"\xc3", 1, 0 } };
    size_t size;
    uint8_t *img = elf_build(s, 1, &size);
    struct elf_file *ef = elf_file_open_mem(img, size);
    struct go_layout l;
    CHECK(godwarf_layout(ef, &l) == -ENOENT && l.known == 0);
    elf_file_close(ef);
    free(img);
}

/* ---- real binaries ------------------------------------------------------------------------ */

static size_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (size_t)sb.st_size : 0;
}

static void test_dwarf(const char *bin, int minor)
{
    struct go_layout tab, got, g2;
    CHECK(go_layout_for_version(1, minor, &tab) == 0);
    struct elf_file *ef = elf_file_open(bin);
    if (!CHECK(ef != NULL))
        return;
    struct godwarf_stats st;
    int r = godwarf_layout_ex(ef, &got, 0, &st);
    if (!CHECK(r == 0))
        printf("  %s: godwarf_layout: %s\n", bin, strerror(-r));
    CHECK(go_layout_check(&got) == 0);
    CHECK(layout_equal(&got, &tab, "DWARF vs table"));
    CHECK(st.compressed == 1 && st.types_cu < st.struct_end && st.struct_end <= st.info_read);
    CHECK(st.units_scanned > 0 && st.second_walk == 0);   /* Go's linker: the scan applies */
    static const size_t windows[] = { 1, 7, 100, 4096, 1 << 20 };
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        r = godwarf_layout_ex(ef, &g2, windows[i], NULL);
        CHECK(r == 0 && memcmp(&got, &g2, sizeof got) == 0);
    }
    /* The same DWARF uncompressed. */
    struct elf_section sec;
    uint8_t *raw;
    size_t rawn;
    CHECK(elf_file_section(ef, ".debug_info", &sec) == 0 &&
          elf_file_section_decompress(ef, &sec, &raw, &rawn) == 0);
    const Elf64_Ehdr *eh = elf_file_header(ef);
    size_t fsize = file_size(bin);
    uint8_t *img = malloc(fsize + 8 + rawn);
    memcpy(img, elf_file_bytes(ef, 0, fsize), fsize);
    size_t at = (fsize + 7) & ~(size_t)7;
    memcpy(img + at, raw, rawn);
    Elf64_Shdr *sh = (Elf64_Shdr *)(img + eh->e_shoff) + sec.index;
    sh->sh_offset = at;
    sh->sh_size = rawn;
    sh->sh_flags &= ~(uint64_t)SHF_COMPRESSED;
    struct elf_file *ef2 = elf_file_open_mem(img, at + rawn);
    CHECK(godwarf_layout(ef2, &g2) == 0 && memcmp(&got, &g2, sizeof got) == 0);
    elf_file_close(ef2);
    free(img);
    free(raw);
    elf_file_close(ef);

    struct goexe g;
    r = goexe_analyze_file(bin, &g);
    /* a version the table knows: goexe takes the table (no DWARF read at start), equal to it */
    CHECK(r == 0 && g.layout_from_dwarf == 0 && g.layout.known == 1);
    CHECK(g.layout.labels_form == (minor < 24 ? GO_LABELS_MAP : GO_LABELS_SLICE));
    got.labels_form = g.layout.labels_form;   /* (from the version, not from the DWARF) */
    CHECK(memcmp(&g.layout, &got, sizeof got) == 0);
    goexe_release(&g);
}

static void test_strip(const char *bin, int minor)
{
    struct go_layout tab, got;
    CHECK(go_layout_for_version(1, minor, &tab) == 0);
    struct elf_file *ef = elf_file_open(bin);
    if (!CHECK(ef != NULL))
        return;
    CHECK(godwarf_layout(ef, &got) == -ENOENT && got.known == 0);
    elf_file_close(ef);
    struct goexe g;
    int r = goexe_analyze_file(bin, &g);
    CHECK(r == 0 && g.layout_from_dwarf == 0 && g.layout.known == 1);
    CHECK(layout_equal(&g.layout, &tab, "goexe (stripped) vs table"));
    goexe_release(&g);
}

static void test_goffs(const char *bin, const char *kv)
{
    struct elf_file *ef = elf_file_open(bin);
    if (!CHECK(ef != NULL))
        return;
    struct go_layout got;
    CHECK(godwarf_layout(ef, &got) == 0);
    elf_file_close(ef);
    unsigned fields = 0;
#define X(f) { \
        const char *p = strstr(kv, #f "="); \
        long v = p ? strtol(p + strlen(#f) + 1, NULL, 10) : -1; \
        if (!CHECK(v == got.f)) \
            printf("  %s: debug/dwarf says %s=%ld, godwarf %u\n", bin, #f, v, got.f); \
        fields++; \
    }
    LAYOUT_FIELDS(X)
#undef X
    CHECK(fields == 20);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A copy of the file with .debug_info replaced by data (flags as given), appended at the end. */
struct variant {
    uint8_t *img;
    size_t base;               /* where the replacement goes */
    size_t cap;
    uint64_t shdr;             /* file offset of .debug_info's section header */
};

static struct elf_file *variant_open(struct variant *v, const uint8_t *data, size_t n,
                                     uint64_t flags, uint64_t sh_size)
{
    if (v->base + n > v->cap) {
        v->cap = v->base + n;
        v->img = realloc(v->img, v->cap);
    }
    if (data)
        memcpy(v->img + v->base, data, n);
    Elf64_Shdr sh;
    memcpy(&sh, v->img + v->shdr, sizeof sh);
    sh.sh_offset = v->base;
    sh.sh_size = sh_size;
    sh.sh_flags = flags;
    memcpy(v->img + v->shdr, &sh, sizeof sh);
    return elf_file_open_mem(v->img, v->base + n);
}

/* godwarf twice on the variant: the same answer both times, and a known kind of answer. */
static int probe(struct elf_file *ef, const struct go_layout *want, size_t window, unsigned *n)
{
    struct go_layout a, b;
    int r1 = godwarf_layout_ex(ef, &a, window, NULL);
    int r2 = godwarf_layout_ex(ef, &b, window, NULL);
    int o = outcome(r1, &a, want);
    elf_file_close(ef);
    if (r1 != r2 || memcmp(&a, &b, sizeof a) != 0 || o < 0) {
        printf("  nondeterministic or unexpected: %d %d\n", r1, r2);
        return 0;
    }
    if (r1 != 0 && a.known != 0)
        return 0;
    n[o]++;
    return 1;
}

static void test_corrupt(const char *bin, int minor, const char *tmpdir)
{
    struct elf_file *ef = elf_file_open(bin);
    if (!CHECK(ef != NULL))
        return;
    struct go_layout want;
    struct godwarf_stats st;
    CHECK(godwarf_layout_ex(ef, &want, 0, &st) == 0);
    struct elf_section sec;
    uint8_t *raw;
    size_t rawn;
    if (!CHECK(elf_file_section(ef, ".debug_info", &sec) == 0 &&
               elf_file_section_decompress(ef, &sec, &raw, &rawn) == 0))
        return;
    const Elf64_Ehdr *eh = elf_file_header(ef);
    size_t fsize = file_size(bin);
    struct variant v = { NULL, (fsize + 7) & ~(size_t)7, 0,
                         eh->e_shoff + (uint64_t)sec.index * sizeof(Elf64_Shdr) };
    v.cap = v.base + rawn;
    v.img = calloc(1, v.cap);
    memcpy(v.img, elf_file_bytes(ef, 0, fsize), fsize);
    size_t zn = sec.size;
    uint8_t *z = malloc(zn);
    memcpy(z, sec.data, zn);
    elf_file_close(ef);

    /* Flips land before the end of the structs, where they can change what we read. */
    uint64_t span = st.struct_end + 64 < rawn ? st.struct_end + 64 : rawn;
    unsigned n[O_N] = { 0 };
    int ok = 1;
    for (int i = 0; i < 400; i++) {   /* raw .debug_info, one to three bytes changed */
        size_t pos[3];
        uint8_t old[3];
        int k = 1 + (int)(rng() % 3);
        for (int j = 0; j < k; j++) {
            pos[j] = (size_t)(i < 200 ? st.types_cu + rng() % (span - st.types_cu) : rng() % span);
            old[j] = raw[pos[j]];
            raw[pos[j]] ^= (uint8_t)(1 + rng() % 255);
        }
        ok &= probe(variant_open(&v, raw, rawn, 0, rawn), &want, 0, n);
        for (int j = k - 1; j >= 0; j--)
            raw[pos[j]] = old[j];
    }
    print_outcomes("raw .debug_info, 400 x 1-3 bytes", n);
    memset(n, 0, sizeof n);
    for (int i = 0; i < 12; i++) {   /* the same, recompressed: the streaming path */
        size_t p = (size_t)(st.types_cu + rng() % (span - st.types_cu));
        raw[p] ^= 0xff;
        size_t cn;
        uint8_t *c = zsec(raw, rawn, ELFCOMPRESS_ZLIB, rawn, &cn);
        raw[p] ^= 0xff;
        ok &= probe(variant_open(&v, c, cn, SHF_COMPRESSED, cn), &want, 0, n);
        ok &= probe(variant_open(&v, c, cn, SHF_COMPRESSED, cn), &want, 97, n);
        free(c);
    }
    print_outcomes("recompressed .debug_info, 12 flips x 2 windows", n);
    memset(n, 0, sizeof n);
    size_t zspan = (size_t)((double)zn * st.info_read / rawn) + 1;
    for (int i = 0; i < 200; i++) {   /* the zlib stream itself */
        size_t p = sizeof(Elf64_Chdr) + (size_t)(rng() % (zspan < zn - 24 ? zspan : zn - 24));
        uint8_t o = z[p];
        z[p] ^= (uint8_t)(1 + rng() % 255);
        ok &= probe(variant_open(&v, z, zn, SHF_COMPRESSED, zn), &want, 0, n);
        z[p] = o;
    }
    print_outcomes("compressed stream, 200 flips", n);
    memset(n, 0, sizeof n);
    for (int i = 0; i <= 64; i++) {   /* cuts, raw and compressed; forged ch_size */
        size_t cut = (size_t)((double)rawn * i / 64);
        ok &= probe(variant_open(&v, raw, rawn, 0, cut), &want, 0, n);
        size_t zc = (size_t)((double)zn * i / 64);
        ok &= probe(variant_open(&v, z, zn, SHF_COMPRESSED, zc), &want, 0, n);
        Elf64_Chdr ch;
        memcpy(&ch, z, sizeof ch);
        uint64_t real = ch.ch_size;
        ch.ch_size = (uint64_t)((double)real * i / 32);
        memcpy(z, &ch, sizeof ch);
        ok &= probe(variant_open(&v, z, zn, SHF_COMPRESSED, zn), &want, 0, n);
        ch.ch_size = real;
        memcpy(z, &ch, sizeof ch);
    }
    print_outcomes("195 cuts and forged sizes", n);
    /* The file cut short: first the original (its section headers go first), then the copy
     * whose headers stay while .debug_info runs past the end. */
    memset(n, 0, sizeof n);
    uint8_t *orig = malloc(fsize);
    FILE *in = fopen(bin, "rb");
    CHECK(in && fread(orig, 1, fsize, in) == fsize);
    if (in)
        fclose(in);
    elf_file_close(variant_open(&v, raw, rawn, 0, rawn));
    unsigned not_elf = 0;
    for (int i = 0; i < 32; i++) {
        struct elf_file *a = elf_file_open_mem(orig, fsize * (size_t)i / 32);
        struct elf_file *b = elf_file_open_mem(v.img, v.base + rawn * (size_t)i / 32);
        if (a)
            ok &= probe(a, &want, 0, n);
        else
            not_elf++;
        if (b)
            ok &= probe(b, &want, 0, n);
        else
            not_elf++;
    }
    free(orig);
    print_outcomes("64 cut files", n);
    CHECK(not_elf == 1);   /* the empty file */
    CHECK(ok);

    /* goexe on corrupt files: never a crash; a rejected DWARF layout means the table. */
    struct go_layout tab;
    go_layout_for_version(1, minor, &tab);
    char path[4096];
    snprintf(path, sizeof path, "%s/godwarf-corrupt.%d", tmpdir, (int)getpid());
    unsigned from_dwarf = 0, from_table = 0;
    for (int i = 0; i < 24; i++) {
        size_t p = (size_t)(st.types_cu + rng() % (span - st.types_cu));
        raw[p] ^= 0x5a;
        memcpy(v.img + v.base, raw, rawn);
        raw[p] ^= 0x5a;
        elf_file_close(variant_open(&v, NULL, rawn, 0, i == 0 ? rawn / 2 : rawn));
        FILE *fp = fopen(path, "wb");
        if (!CHECK(fp && fwrite(v.img, 1, v.base + rawn, fp) == v.base + rawn && fclose(fp) == 0))
            break;
        struct goexe g;
        int r = goexe_analyze_file(path, &g);
        CHECK(r == 0 && g.layout.known == 1 && go_layout_check(&g.layout) == 0);
        if (g.layout_from_dwarf)
            from_dwarf++;
        else
            from_table++, CHECK(memcmp(&g.layout, &tab, sizeof tab) == 0);
        goexe_release(&g);
    }
    unlink(path);
    printf("  goexe on 24 corrupt files: %u DWARF, %u table\n", from_dwarf, from_table);
    free(v.img);
    free(raw);
    free(z);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench(const char *bin, int runs, size_t window)
{
    size_t (*peak_reset)(void) = (size_t (*)(void))dlsym(RTLD_DEFAULT, "malloc_peak_reset");
    size_t (*peak_get)(void) = (size_t (*)(void))dlsym(RTLD_DEFAULT, "malloc_peak_get");
    struct elf_file *ef = elf_file_open(bin);
    if (!CHECK(ef != NULL))
        return;
    struct go_layout l;
    struct godwarf_stats st;
    size_t base = peak_reset ? peak_reset() : 0;
    double t0 = now_us();
    CHECK(godwarf_layout_ex(ef, &l, window, &st) == 0);   /* the first: pages are cold */
    double tfirst = now_us() - t0;
    size_t peak = peak_get ? peak_get() - base : 0;
    double *t = calloc((size_t)runs, sizeof *t);
    for (int i = 0; i < runs; i++) {
        double t1 = now_us();
        godwarf_layout_ex(ef, &l, window, NULL);
        t[i] = now_us() - t1;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    /* For comparison: inflating the whole section, as elf_file_section_decompress does. */
    struct elf_section sec;
    uint8_t *raw = NULL;
    size_t rawn = 0;
    elf_file_section(ef, ".debug_info", &sec);
    if (peak_reset)
        base = peak_reset();
    t0 = now_us();
    elf_file_section_decompress(ef, &sec, &raw, &rawn);
    double tfull = now_us() - t0;
    size_t peak_full = peak_get ? peak_get() - base : 0;
    free(raw);
    printf("bench %s: godwarf_layout first %.0f us, then min %.0f us, median %.0f us (%d runs)\n",
           bin, tfirst, t[0], t[runs / 2], runs);
    printf("  .debug_info %llu bytes (%llu compressed); inflated %llu (%.0f%%); runtime.g's "
           "unit at %llu (%.0f%%); structs end at %llu (%.0f%%); %u units read, %u skipped\n",
           (unsigned long long)st.info_size, (unsigned long long)sec.size,
           (unsigned long long)st.info_read, 100.0 * st.info_read / st.info_size,
           (unsigned long long)st.types_cu, 100.0 * st.types_cu / st.info_size,
           (unsigned long long)st.struct_end, 100.0 * st.struct_end / st.info_size, st.units,
           st.units_skipped);
    if (peak_get)
        printf("  peak heap: %zu bytes (window %zu); whole-section inflate: %.0f us, %zu bytes\n",
               peak, st.window_peak, tfull, peak_full);
    else
        printf("  window %zu bytes; whole-section inflate: %.0f us (no malloc_peak.so: no heap "
               "figures)\n", st.window_peak, tfull);
    free(t);
    elf_file_close(ef);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int minor = 0;
    if (argc == 1) {
        test_synthetic();
    } else if (argc == 4 && strcmp(argv[1], "dwarf") == 0 && parse_version(argv[3], &minor) == 0) {
        test_dwarf(argv[2], minor);
    } else if (argc == 4 && strcmp(argv[1], "strip") == 0 && parse_version(argv[3], &minor) == 0) {
        test_strip(argv[2], minor);
    } else if (argc == 4 && strcmp(argv[1], "goffs") == 0) {
        test_goffs(argv[2], argv[3]);
    } else if (argc == 4 && strcmp(argv[1], "corrupt") == 0 &&
               parse_version(argv[3], &minor) == 0) {
        const char *tmp = getenv("TMPDIR");
        test_corrupt(argv[2], minor, tmp ? tmp : "/tmp");
    } else if (argc >= 3 && argc <= 5 && strcmp(argv[1], "bench") == 0) {
        int runs = argc >= 4 ? atoi(argv[3]) : 20;
        bench(argv[2], runs > 0 ? runs : 1, argc == 5 ? (size_t)atol(argv[4]) : 0);
    } else {
        fprintf(stderr, "usage: test_godwarf [dwarf|strip|corrupt BIN 1.NN | goffs BIN K=V,... | "
                        "bench BIN [RUNS [WINDOW]]]\n");
        return 2;
    }
    return check_done();
}
