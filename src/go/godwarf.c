/* godwarf.c -- runtime struct offsets from .debug_info (see godwarf.h).
 * Context: init
 *
 * DWARF 2-5, 32- and 64-bit units, every attribute form of DWARF 5 plus the GNU ones binutils
 * writes. Only what the walk needs is decoded: abbreviation tables, the unit DIE (language,
 * str_offsets_base), and name plus data_member_location of structure and member DIEs; every
 * other attribute is skipped by its form. Units whose DW_AT_language is not Go (gcc's C units
 * in cgo programs) are skipped whole by unit_length.
 *
 * Where the structs are: the Go linker moves every type DIE into the last compile unit of
 * package runtime (cmd/link/internal/ld/dwarf.go, movetomodule, 1.21-1.26), which sits a
 * tenth (cmd/compile) to four fifths (small programs) of the way into .debug_info. The first
 * walk therefore reads only units named "runtime", skipping the others by unit_length, and
 * ends at the last of the four structs; only if that finds nothing does a second walk read
 * every unit.
 *
 * Robustness: every read is bounded by both the unit's end and the end of the inflated window.
 * Running past the window asks for a refill and the DIE is parsed again from its start;
 * running past the unit is malformed input. Each loop advances by at least one byte or by one
 * refill of a finite stream, so corrupt input ends in -EINVAL, never in a crash or a hang.
 */
#include "go/godwarf.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/elf_file.h"

#define GODWARF_WINDOW (16u << 10)       /* larger windows measured no faster */
#define GODWARF_MAX_WINDOW (16u << 20)   /* no DIE is this large: refuse to grow further */
#define GODWARF_MAX_SIZE (1ull << 30)    /* as elf_file.c: bounds what a forged ch_size can do */

enum {
    DW_TAG_member = 0x0d, DW_TAG_structure_type = 0x13,
    DW_AT_name = 0x03, DW_AT_language = 0x13, DW_AT_data_member_location = 0x38,
    DW_AT_str_offsets_base = 0x72,
    DW_LANG_Go = 0x16,
    DW_OP_plus_uconst = 0x23,
};

enum {
    DW_FORM_addr = 0x01, DW_FORM_block2 = 0x03, DW_FORM_block4 = 0x04, DW_FORM_data2 = 0x05,
    DW_FORM_data4 = 0x06, DW_FORM_data8 = 0x07, DW_FORM_string = 0x08, DW_FORM_block = 0x09,
    DW_FORM_block1 = 0x0a, DW_FORM_data1 = 0x0b, DW_FORM_flag = 0x0c, DW_FORM_sdata = 0x0d,
    DW_FORM_strp = 0x0e, DW_FORM_udata = 0x0f, DW_FORM_ref_addr = 0x10, DW_FORM_ref1 = 0x11,
    DW_FORM_ref2 = 0x12, DW_FORM_ref4 = 0x13, DW_FORM_ref8 = 0x14, DW_FORM_ref_udata = 0x15,
    DW_FORM_indirect = 0x16, DW_FORM_sec_offset = 0x17, DW_FORM_exprloc = 0x18,
    DW_FORM_flag_present = 0x19, DW_FORM_strx = 0x1a, DW_FORM_addrx = 0x1b,
    DW_FORM_ref_sup4 = 0x1c, DW_FORM_strp_sup = 0x1d, DW_FORM_data16 = 0x1e,
    DW_FORM_line_strp = 0x1f, DW_FORM_ref_sig8 = 0x20, DW_FORM_implicit_const = 0x21,
    DW_FORM_loclistx = 0x22, DW_FORM_rnglistx = 0x23, DW_FORM_ref_sup8 = 0x24,
    DW_FORM_strx1 = 0x25, DW_FORM_strx2 = 0x26, DW_FORM_strx3 = 0x27, DW_FORM_strx4 = 0x28,
    DW_FORM_addrx1 = 0x29, DW_FORM_addrx2 = 0x2a, DW_FORM_addrx3 = 0x2b, DW_FORM_addrx4 = 0x2c,
    DW_FORM_GNU_addr_index = 0x1f01, DW_FORM_GNU_str_index = 0x1f02,
    DW_FORM_GNU_ref_alt = 0x1f20, DW_FORM_GNU_strp_alt = 0x1f21,
};

/* ---- the four structs and the members go_layout needs -------------------------------- */

enum { T_G, T_M, T_GOBUF, T_STACK, T_N };
#define T_MAX_MEMBERS 9

static const char *const t_names[T_N] = { "runtime.g", "runtime.m", "runtime.gobuf",
                                          "runtime.stack" };
static const char *const t_members[T_N][T_MAX_MEMBERS] = {
    [T_G] = { "stack", "m", "sched", "syscallsp", "syscallpc", "goid", "atomicstatus" },
    [T_M] = { "g0", "curg", "gsignal", "procid", "incgo", "isExtraInC", "ncgo", "vdsoSP",
              "vdsoPC" },
    [T_GOBUF] = { "sp", "pc", "bp" },
    [T_STACK] = { "lo", "hi" },
};
enum { G_STACK, G_M, G_SCHED, G_SYSCALLSP, G_SYSCALLPC, G_GOID, G_ATOMICSTATUS };
enum { M_G0, M_CURG, M_GSIGNAL, M_PROCID, M_INCGO, M_ISEXTRAINC, M_NCGO, M_VDSOSP, M_VDSOPC };
enum { B_SP, B_PC, B_BP };
enum { S_LO, S_HI };

static unsigned t_count(int t)
{
    unsigned n = 0;
    while (n < T_MAX_MEMBERS && t_members[t][n])
        n++;
    return n;
}

/* ---- .debug_info as a stream: a window [base, base + have) over the decompressed bytes -- */

struct dw_src {
    const uint8_t *win;
    uint8_t *buf;              /* owned window when compressed; NULL: win is the section */
    size_t cap;
    uint64_t base, have, total;
    z_stream zs;
    int zlive;
    const uint8_t *in;         /* compressed bytes not yet handed to zlib */
    uint64_t in_left;
    const uint8_t *in0;        /* the deflate data, for a rewind */
    uint64_t in_left0;
};

/* Drops the window before absolute offset keep (base <= keep <= base + have) and inflates
 * more. 0 when at least one byte was added; -EINVAL when the stream has nothing more (its
 * end, or corrupt), -ENOMEM. */
static int dw_fill(struct dw_src *s, uint64_t keep)
{
    if (!s->buf || s->base + s->have >= s->total)
        return -EINVAL;
    uint64_t drop = keep - s->base;
    if (drop) {
        memmove(s->buf, s->buf + drop, (size_t)(s->have - drop));
        s->base += drop;
        s->have -= drop;
    }
    if (s->have == s->cap) {   /* one DIE fills the window: grow it */
        if (s->cap >= GODWARF_MAX_WINDOW)
            return -EINVAL;
        uint8_t *nb = realloc(s->buf, s->cap * 2);
        if (!nb)
            return -ENOMEM;
        s->win = s->buf = nb;
        s->cap *= 2;
    }
    uint64_t room = s->cap - s->have, want = s->total - (s->base + s->have);
    if (room > want)
        room = want;   /* never produce past the declared size */
    s->zs.next_out = s->buf + s->have;
    s->zs.avail_out = (uInt)room;
    int zr = Z_OK;
    while (s->zs.avail_out) {
        if (s->zs.avail_in == 0) {
            if (s->in_left == 0)
                break;
            uInt chunk = s->in_left > (1u << 30) ? (1u << 30) : (uInt)s->in_left;
            s->zs.next_in = (Bytef *)(uintptr_t)s->in;
            s->zs.avail_in = chunk;
            s->in += chunk;
            s->in_left -= chunk;
        }
        zr = inflate(&s->zs, Z_NO_FLUSH);
        if (zr != Z_OK)   /* Z_STREAM_END, or no progress possible, or an error */
            break;
    }
    uint64_t got = room - s->zs.avail_out;
    s->have += got;
    if (zr == Z_MEM_ERROR)
        return -ENOMEM;
    return got ? 0 : -EINVAL;
}

/* ---- bounded cursor over the window ------------------------------------------------------ */

enum { CUR_SHORT = 1, CUR_BAD = 2 };

/* Positions relative to b. end: what the window holds of the current unit; hard: the unit's
 * end (may lie beyond the window). pos <= end <= hard. */
struct dw_cur {
    const uint8_t *b;
    uint64_t pos, end, hard;
    int err;                   /* 0, CUR_SHORT (refill and retry), CUR_BAD (malformed) */
};

static void dw_cur_at(const struct dw_src *s, uint64_t abs, uint64_t hard_abs, struct dw_cur *c)
{
    c->b = s->win;
    c->pos = abs - s->base;
    c->hard = hard_abs - s->base;
    c->end = s->have < c->hard ? s->have : c->hard;
    c->err = 0;
}

static int cur_need(struct dw_cur *c, uint64_t n)
{
    if (c->err)
        return 0;
    if (n > c->hard - c->pos)
        c->err = CUR_BAD;
    else if (n > c->end - c->pos)
        c->err = CUR_SHORT;
    return !c->err;
}

static void cur_skip(struct dw_cur *c, uint64_t n)
{
    if (cur_need(c, n))
        c->pos += n;
}

static uint64_t cur_u(struct dw_cur *c, unsigned n)
{
    uint64_t v = 0;
    if (!cur_need(c, n))
        return 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)c->b[c->pos + i] << (8 * i);
    c->pos += n;
    return v;
}

static uint64_t cur_uleb(struct dw_cur *c)
{
    uint64_t v = 0;
    unsigned shift = 0;
    while (cur_need(c, 1)) {
        uint8_t byte = c->b[c->pos++];
        if (shift < 64)
            v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return v;
        if (shift < 64)
            shift += 7;
    }
    return 0;
}

static int64_t cur_sleb(struct dw_cur *c)
{
    uint64_t v = 0;
    unsigned shift = 0;
    while (cur_need(c, 1)) {
        uint8_t byte = c->b[c->pos++];
        if (shift < 64)
            v |= (uint64_t)(byte & 0x7f) << shift;
        if (shift < 64)
            shift += 7;
        if (!(byte & 0x80)) {
            if (shift < 64 && (byte & 0x40))
                v |= ~0ull << shift;
            return (int64_t)v;
        }
    }
    return 0;
}

/* NUL-terminated string at the cursor. */
static const char *cur_str(struct dw_cur *c)
{
    if (c->err)
        return NULL;
    const uint8_t *p = c->b + c->pos;
    const uint8_t *nul = memchr(p, 0, (size_t)(c->end - c->pos));
    if (!nul) {
        c->err = c->end < c->hard ? CUR_SHORT : CUR_BAD;
        return NULL;
    }
    c->pos += (uint64_t)(nul - p) + 1;
    return (const char *)p;
}

/* ---- abbreviations ------------------------------------------------------------------------ */

#define DW_VAR 0xff

struct dw_spec {
    uint32_t attr, form;
    int64_t implicit;          /* DW_FORM_implicit_const: the value lives here */
    uint8_t size;              /* bytes in the DIE for the unit at hand, DW_VAR: variable */
};

struct dw_abbrev {
    uint64_t code;
    uint32_t tag;
    int children;
    size_t first, n;           /* specs[first .. first + n) */
};

struct dw_abbrevs {
    uint64_t off;
    int valid;
    unsigned sized_for;        /* unit parameters the specs' sizes were computed for */
    struct dw_abbrev *a;
    size_t na, capa;
    struct dw_spec *s;
    size_t ns, caps;
};

static int dw_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* Parses the table at off of the .debug_abbrev bytes [d, d + size) into t (reusing its arrays). */
static int dw_abbrevs_load(struct dw_abbrevs *t, const uint8_t *d, size_t size, uint64_t off)
{
    t->valid = 0;
    t->na = t->ns = 0;
    if (off >= size)
        return -EINVAL;
    struct dw_cur c = { d, off, size, size, 0 };
    for (;;) {
        uint64_t code = cur_uleb(&c);
        if (c.err)
            return -EINVAL;
        if (code == 0)
            break;
        uint64_t tag = cur_uleb(&c);
        int children = (int)cur_u(&c, 1);
        if (c.err || tag > UINT32_MAX)
            return -EINVAL;
        if (dw_grow((void **)&t->a, &t->capa, t->na + 1, sizeof *t->a))
            return -ENOMEM;
        struct dw_abbrev *a = &t->a[t->na++];
        a->code = code;
        a->tag = (uint32_t)tag;
        a->children = children != 0;
        a->first = t->ns;
        a->n = 0;
        for (;;) {
            uint64_t attr = cur_uleb(&c), form = cur_uleb(&c);
            if (c.err || attr > UINT32_MAX || form > UINT32_MAX)
                return -EINVAL;
            if (attr == 0 && form == 0)
                break;
            int64_t implicit = form == DW_FORM_implicit_const ? cur_sleb(&c) : 0;
            if (c.err)
                return -EINVAL;
            if (dw_grow((void **)&t->s, &t->caps, t->ns + 1, sizeof *t->s))
                return -ENOMEM;
            t->s[t->ns++] = (struct dw_spec){ (uint32_t)attr, (uint32_t)form, implicit, DW_VAR };
            a->n++;
        }
    }
    t->off = off;
    t->valid = 1;
    t->sized_for = 0;
    return 0;
}

static const struct dw_abbrev *dw_abbrev_find(const struct dw_abbrevs *t, uint64_t code)
{
    /* Producers number abbreviations 1, 2, 3...: try the direct slot first. */
    if (code - 1 < t->na && t->a[code - 1].code == code)
        return &t->a[code - 1];
    for (size_t i = 0; i < t->na; i++) {
        if (t->a[i].code == code)
            return &t->a[i];
    }
    return NULL;
}

/* ---- attribute values --------------------------------------------------------------------- */

struct dw_unit {
    uint64_t off, end;         /* absolute, in .debug_info */
    unsigned version, offset_size, addr_size;
    uint64_t str_offsets_base;
};

enum { V_NONE, V_UNSIGNED, V_SIGNED, V_STRING, V_STRP, V_LINE_STRP, V_STRX, V_BLOCK };

struct dw_val {
    int kind;
    uint64_t u;                /* V_UNSIGNED, V_SIGNED (as int64), V_STRP/V_LINE_STRP, V_STRX */
    const uint8_t *ptr;        /* V_STRING, V_BLOCK: into the window */
    uint64_t len;              /* V_BLOCK */
};

static void dw_block(struct dw_cur *c, uint64_t len, struct dw_val *v)
{
    if (!cur_need(c, len))
        return;
    v->kind = V_BLOCK;
    v->ptr = c->b + c->pos;
    v->len = len;
    c->pos += len;
}

/* Reads (or skips) one value of the given form; unknown forms make the cursor CUR_BAD. */
static void dw_form(struct dw_cur *c, const struct dw_unit *u, uint64_t form, int64_t implicit,
                    struct dw_val *v)
{
    v->kind = V_NONE;
    /* DW_FORM_indirect: the form is in the DIE. Chains are legal but pointless; cap them. */
    for (int hops = 0; form == DW_FORM_indirect; hops++) {
        if (hops == 4) {
            c->err = c->err ? c->err : CUR_BAD;
            return;
        }
        form = cur_uleb(c);
        if (form == DW_FORM_implicit_const)   /* its value can only live in an abbrev */
            c->err = c->err ? c->err : CUR_BAD;
        if (c->err)
            return;
    }
    switch (form) {
    case DW_FORM_flag_present:
        v->kind = V_UNSIGNED;
        v->u = 1;
        return;
    case DW_FORM_implicit_const:
        v->kind = V_SIGNED;
        v->u = (uint64_t)implicit;
        return;
    case DW_FORM_data1: case DW_FORM_data2: case DW_FORM_data4: case DW_FORM_data8:
    case DW_FORM_flag: case DW_FORM_ref1: case DW_FORM_ref2: case DW_FORM_ref4: case DW_FORM_ref8:
    case DW_FORM_ref_sup4: case DW_FORM_ref_sup8: case DW_FORM_ref_sig8: {
        static const unsigned char size[] = {
            [DW_FORM_data1] = 1, [DW_FORM_data2] = 2, [DW_FORM_data4] = 4, [DW_FORM_data8] = 8,
            [DW_FORM_flag] = 1, [DW_FORM_ref1] = 1, [DW_FORM_ref2] = 2, [DW_FORM_ref4] = 4,
            [DW_FORM_ref8] = 8, [DW_FORM_ref_sup4] = 4, [DW_FORM_ref_sup8] = 8,
            [DW_FORM_ref_sig8] = 8,
        };
        v->u = cur_u(c, size[form]);
        v->kind = V_UNSIGNED;
        return;
    }
    case DW_FORM_udata: case DW_FORM_ref_udata: case DW_FORM_addrx: case DW_FORM_loclistx:
    case DW_FORM_rnglistx: case DW_FORM_GNU_addr_index:
        v->u = cur_uleb(c);
        v->kind = V_UNSIGNED;
        return;
    case DW_FORM_sdata:
        v->u = (uint64_t)cur_sleb(c);
        v->kind = V_SIGNED;
        return;
    case DW_FORM_addr:
        cur_skip(c, u->addr_size);
        return;
    case DW_FORM_addrx1: case DW_FORM_addrx2: case DW_FORM_addrx3: case DW_FORM_addrx4:
        cur_skip(c, form - DW_FORM_addrx1 + 1);
        return;
    case DW_FORM_data16:
        cur_skip(c, 16);
        return;
    case DW_FORM_ref_addr:   /* address-sized in DWARF 2, offset-sized since 3 */
        cur_skip(c, u->version <= 2 ? u->addr_size : u->offset_size);
        return;
    case DW_FORM_sec_offset:
        v->u = cur_u(c, u->offset_size);
        v->kind = V_UNSIGNED;
        return;
    case DW_FORM_strp_sup: case DW_FORM_GNU_ref_alt:
    case DW_FORM_GNU_strp_alt:   /* strings in a supplementary file we do not have */
        cur_skip(c, u->offset_size);
        return;
    case DW_FORM_strp:
    case DW_FORM_line_strp:
        v->u = cur_u(c, u->offset_size);
        v->kind = form == DW_FORM_strp ? V_STRP : V_LINE_STRP;
        return;
    case DW_FORM_strx: case DW_FORM_GNU_str_index:
        v->u = cur_uleb(c);
        v->kind = V_STRX;
        return;
    case DW_FORM_strx1: case DW_FORM_strx2: case DW_FORM_strx3: case DW_FORM_strx4:
        v->u = cur_u(c, form - DW_FORM_strx1 + 1);
        v->kind = V_STRX;
        return;
    case DW_FORM_string:
        v->ptr = (const uint8_t *)cur_str(c);
        v->kind = V_STRING;
        return;
    case DW_FORM_block1:
        dw_block(c, cur_u(c, 1), v);
        return;
    case DW_FORM_block2:
        dw_block(c, cur_u(c, 2), v);
        return;
    case DW_FORM_block4:
        dw_block(c, cur_u(c, 4), v);
        return;
    case DW_FORM_block: case DW_FORM_exprloc:
        dw_block(c, cur_uleb(c), v);
        return;
    default:
        c->err = c->err ? c->err : CUR_BAD;
        return;
    }
}

/* Size of a value of this form in a unit, DW_VAR when it is not fixed (or unknown). */
static uint8_t dw_form_size(uint32_t form, const struct dw_unit *u)
{
    switch (form) {
    case DW_FORM_flag_present: case DW_FORM_implicit_const:
        return 0;
    case DW_FORM_data1: case DW_FORM_flag: case DW_FORM_ref1: case DW_FORM_strx1:
    case DW_FORM_addrx1:
        return 1;
    case DW_FORM_data2: case DW_FORM_ref2: case DW_FORM_strx2: case DW_FORM_addrx2:
        return 2;
    case DW_FORM_strx3: case DW_FORM_addrx3:
        return 3;
    case DW_FORM_data4: case DW_FORM_ref4: case DW_FORM_ref_sup4: case DW_FORM_strx4:
    case DW_FORM_addrx4:
        return 4;
    case DW_FORM_data8: case DW_FORM_ref8: case DW_FORM_ref_sig8: case DW_FORM_ref_sup8:
        return 8;
    case DW_FORM_data16:
        return 16;
    case DW_FORM_addr:
        return (uint8_t)u->addr_size;
    case DW_FORM_ref_addr:
        return (uint8_t)(u->version <= 2 ? u->addr_size : u->offset_size);
    case DW_FORM_sec_offset: case DW_FORM_strp: case DW_FORM_line_strp: case DW_FORM_strp_sup:
    case DW_FORM_GNU_ref_alt: case DW_FORM_GNU_strp_alt:
        return (uint8_t)u->offset_size;
    default:
        return DW_VAR;
    }
}

/* Sizes the table's specs for this unit's parameters (the same for every Go unit). */
static void dw_abbrevs_size(struct dw_abbrevs *t, const struct dw_unit *u)
{
    unsigned key = u->version << 16 | u->offset_size << 8 | u->addr_size;
    if (t->sized_for == key)
        return;
    for (size_t i = 0; i < t->ns; i++)
        t->s[i].size = dw_form_size(t->s[i].form, u);
    t->sized_for = key;
}

/* Steps over the attributes of a DIE whose values nobody needs: most of .debug_info. Fixed-
 * size runs cost one bounds check; LEB128 and strings are stepped over without decoding. */
static void dw_die_skip(struct dw_cur *c, const struct dw_unit *u, const struct dw_abbrevs *t,
                        const struct dw_abbrev *a)
{
    uint64_t fixed = 0;
    for (size_t i = 0; i < a->n; i++) {
        const struct dw_spec *sp = &t->s[a->first + i];
        if (sp->size != DW_VAR) {
            fixed += sp->size;
            continue;
        }
        cur_skip(c, fixed);
        fixed = 0;
        switch (sp->form) {
        case DW_FORM_string:
            cur_str(c);
            break;
        case DW_FORM_udata: case DW_FORM_sdata: case DW_FORM_ref_udata: case DW_FORM_strx:
        case DW_FORM_addrx: case DW_FORM_loclistx: case DW_FORM_rnglistx:
        case DW_FORM_GNU_addr_index: case DW_FORM_GNU_str_index:
            while (cur_need(c, 1) && (c->b[c->pos++] & 0x80))
                ;
            break;
        default: {
            struct dw_val v;
            dw_form(c, u, sp->form, sp->implicit, &v);
            break;
        }
        }
        if (c->err)
            return;
    }
    cur_skip(c, fixed);
}

/* ---- one DIE ------------------------------------------------------------------------------ */

struct dw_die {
    uint64_t code;             /* 0: the null entry closing a sibling list */
    uint32_t tag;
    int children;
    struct dw_val name, loc, lang, stroff;
    int has_loc, has_lang, has_stroff;
};

/* Reads the DIE at the cursor without side effects, so that it can be read again after a
 * refill. Attribute values are decoded for the unit DIE (first), structs, and members when
 * members matter; other DIEs are only stepped over. Names are resolved by the caller before
 * the window moves. */
static void dw_die_read(struct dw_cur *c, const struct dw_unit *u, const struct dw_abbrevs *t,
                        int first, int members, struct dw_die *d)
{
    memset(d, 0, sizeof *d);
    d->code = cur_uleb(c);
    if (c->err || d->code == 0)
        return;
    const struct dw_abbrev *a = dw_abbrev_find(t, d->code);
    if (!a) {
        c->err = CUR_BAD;
        return;
    }
    d->tag = a->tag;
    d->children = a->children;
    if (!first && a->tag != DW_TAG_structure_type && (a->tag != DW_TAG_member || !members)) {
        dw_die_skip(c, u, t, a);
        return;
    }
    for (size_t i = 0; i < a->n && !c->err; i++) {
        const struct dw_spec *sp = &t->s[a->first + i];
        struct dw_val v;
        dw_form(c, u, sp->form, sp->implicit, &v);
        switch (sp->attr) {
        case DW_AT_name:
            d->name = v;
            break;
        case DW_AT_data_member_location:
            d->loc = v;
            d->has_loc = 1;
            break;
        case DW_AT_language:
            d->lang = v;
            d->has_lang = 1;
            break;
        case DW_AT_str_offsets_base:
            d->stroff = v;
            d->has_stroff = 1;
            break;
        default:
            break;
        }
    }
}

/* ---- the walk ----------------------------------------------------------------------------- */

/* A whole section, decompressed on first use (strings are only needed for non-inline names,
 * which Go's own DWARF does not use for structs and members). */
struct dw_sec {
    int state;                 /* 0 not tried, 1 loaded, -errno failed */
    const uint8_t *data;
    uint8_t *owned;
    size_t size;
};

struct dw_ctx {
    const struct elf_file *ef;
    struct dw_src src;
    struct dw_abbrevs ab;
    struct dw_sec abbrev, str, line_str, str_offsets;
    int oom;
    int runtime_only;          /* first walk: only units named "runtime" */
    unsigned name_skipped;     /* units that walk skipped for their name */
    int cur, cur_level;        /* struct whose members are being read (-1: none), its level */
    unsigned seen[T_N];        /* bit i: member i of struct t read */
    int done[T_N], ndone;
    uint64_t off[T_N][T_MAX_MEMBERS];
    struct godwarf_stats *st;
};

static int dw_sec_load(const struct elf_file *ef, const char *name, struct dw_sec *s)
{
    if (s->state)
        return s->state < 0 ? s->state : 0;
    struct elf_section sec;
    int r = elf_file_section(ef, name, &sec);
    if (r == 0 && !sec.data)
        r = sec.type == SHT_NOBITS ? -ENOENT : -EINVAL;
    if (r == 0 && !(sec.flags & SHF_COMPRESSED)) {
        s->data = sec.data;    /* borrowed: the file stays mapped during the walk */
        s->size = (size_t)sec.size;
    } else if (r == 0) {
        r = elf_file_section_decompress(ef, &sec, &s->owned, &s->size);
        s->data = s->owned;
    }
    s->state = r ? r : 1;
    return r;
}

/* String at off in a string section, NUL-terminated inside it; NULL otherwise. */
static const char *dw_sec_str(struct dw_ctx *x, const char *name, struct dw_sec *s, uint64_t off)
{
    int r = dw_sec_load(x->ef, name, s);
    if (r == -ENOMEM)
        x->oom = 1;
    if (r || off >= s->size || !memchr(s->data + off, 0, s->size - (size_t)off))
        return NULL;
    return (const char *)s->data + off;
}

/* The name a DIE's DW_AT_name value designates, or NULL when absent or unreadable. */
static const char *dw_name(struct dw_ctx *x, const struct dw_unit *u, const struct dw_val *v)
{
    switch (v->kind) {
    case V_STRING:
        return (const char *)v->ptr;
    case V_STRP:
        return dw_sec_str(x, ".debug_str", &x->str, v->u);
    case V_LINE_STRP:
        return dw_sec_str(x, ".debug_line_str", &x->line_str, v->u);
    case V_STRX: {
        int r = dw_sec_load(x->ef, ".debug_str_offsets", &x->str_offsets);
        if (r == -ENOMEM)
            x->oom = 1;
        const struct dw_sec *so = &x->str_offsets;
        uint64_t at = v->u * u->offset_size + u->str_offsets_base;
        if (r || v->u > so->size || at < u->str_offsets_base || at > so->size ||
            so->size - at < u->offset_size)
            return NULL;
        struct dw_cur c = { so->data, at, so->size, so->size, 0 };
        return dw_sec_str(x, ".debug_str", &x->str, cur_u(&c, u->offset_size));
    }
    default:
        return NULL;
    }
}

/* A member offset from DW_AT_data_member_location: a constant, or (DWARF 2 style) the
 * expression DW_OP_plus_uconst N. 0 or -1 when it is something else (a location list). */
static int dw_member_offset(const struct dw_die *d, uint64_t *off)
{
    const struct dw_val *v = &d->loc;
    if (!d->has_loc) {       /* DWARF: absent means the member starts the struct */
        *off = 0;
        return 0;
    }
    switch (v->kind) {
    case V_UNSIGNED:
        *off = v->u;
        return 0;
    case V_SIGNED:
        if ((int64_t)v->u < 0)
            return -1;
        *off = v->u;
        return 0;
    case V_BLOCK: {
        struct dw_cur c = { v->ptr, 0, v->len, v->len, 0 };
        if (cur_u(&c, 1) != DW_OP_plus_uconst)
            return -1;
        *off = cur_uleb(&c);
        return c.err || c.pos != v->len ? -1 : 0;
    }
    default:
        return -1;
    }
}

static int dw_target(const char *name)
{
    for (int t = 0; t < T_N; t++) {
        if (strcmp(name, t_names[t]) == 0)
            return t;
    }
    return -1;
}

/* Acts on one DIE read at nesting level *level (the unit DIE is level 0). */
static void dw_visit(struct dw_ctx *x, const struct dw_unit *u, const struct dw_die *d,
                     int *level, uint64_t end_abs)
{
    if (d->code == 0) {
        if (*level > 0)
            (*level)--;
        if (x->cur >= 0 && *level == x->cur_level) {
            int t = x->cur;
            x->cur = -1;
            /* Incomplete definitions are ignored: a later one may still be complete. */
            if (x->seen[t] == (1u << t_count(t)) - 1 && !x->done[t]) {
                x->done[t] = 1;
                x->ndone++;
                if (x->st) {
                    x->st->struct_end = end_abs;
                    if (t == T_G)
                        x->st->types_cu = u->off;
                }
            }
        }
        return;
    }
    if (d->tag == DW_TAG_structure_type && x->cur < 0 && d->children) {
        const char *name = dw_name(x, u, &d->name);
        int t = name ? dw_target(name) : -1;
        if (t >= 0 && !x->done[t]) {
            x->cur = t;
            x->cur_level = *level;
            x->seen[t] = 0;
        }
    } else if (d->tag == DW_TAG_member && x->cur >= 0 && *level == x->cur_level + 1) {
        const char *name = dw_name(x, u, &d->name);
        uint64_t off;
        for (unsigned i = 0; name && i < t_count(x->cur); i++) {
            if (strcmp(name, t_members[x->cur][i]) == 0 && dw_member_offset(d, &off) == 0) {
                x->off[x->cur][i] = off;
                x->seen[x->cur] |= 1u << i;
                break;
            }
        }
    }
    if (d->children)
        (*level)++;
}

/* Reads the header of the unit at absolute offset off into u (u->end: where the next unit
 * starts) and loads its abbreviations; *hdr_end gets the offset of its first DIE. 0 to walk
 * the unit, 1 when it is of a kind we do not read (skip it by length), -errno. */
static int dw_unit_header(struct dw_ctx *x, uint64_t off, struct dw_unit *u, uint64_t *hdr_end)
{
    struct dw_src *s = &x->src;
    for (;;) {
        struct dw_cur c;
        dw_cur_at(s, off, s->total, &c);
        memset(u, 0, sizeof *u);
        u->off = off;
        uint64_t len = cur_u(&c, 4);
        u->offset_size = 4;
        if (len == 0xffffffffu) {
            len = cur_u(&c, 8);
            u->offset_size = 8;
        } else if (len >= 0xfffffff0u) {
            return -EINVAL;
        }
        if (!c.err && len > c.hard - c.pos)
            return -EINVAL;
        u->end = s->base + c.pos + len;
        c.hard = c.pos + len;         /* the rest of the header lies inside the unit */
        if (c.end > c.hard)
            c.end = c.hard;
        u->version = (unsigned)cur_u(&c, 2);
        int skip = 0;
        uint64_t abbrev_off = 0;
        if (u->version >= 2 && u->version <= 4) {
            abbrev_off = cur_u(&c, u->offset_size);
            u->addr_size = (unsigned)cur_u(&c, 1);
        } else if (u->version == 5) {
            unsigned type = (unsigned)cur_u(&c, 1);
            u->addr_size = (unsigned)cur_u(&c, 1);
            abbrev_off = cur_u(&c, u->offset_size);
            if (type == 2 || type == 6)        /* DW_UT_type, DW_UT_split_type */
                cur_skip(&c, 8 + u->offset_size);
            else if (type == 4 || type == 5)   /* DW_UT_skeleton, DW_UT_split_compile */
                cur_skip(&c, 8);
            else if (type != 1 && type != 3)   /* not DW_UT_compile, DW_UT_partial */
                skip = 1;
        } else {
            skip = 1;   /* a DWARF we do not know: its unit_length still skips it */
        }
        if (c.err == CUR_SHORT) {
            int r = dw_fill(s, off);
            if (r)
                return r;
            continue;
        }
        if (c.err)
            return -EINVAL;
        if (skip)
            return 1;
        if (u->addr_size < 1 || u->addr_size > 8)
            return -EINVAL;
        *hdr_end = s->base + c.pos;
        if (!x->ab.valid || x->ab.off != abbrev_off) {
            int r = dw_abbrevs_load(&x->ab, x->abbrev.data, x->abbrev.size, abbrev_off);
            if (r)
                return r;
        }
        dw_abbrevs_size(&x->ab, u);
        return 0;
    }
}

/* Consumes the stream up to absolute offset end without looking at it. */
static int dw_skip_to(struct dw_src *s, uint64_t end)
{
    while (s->base + s->have < end) {
        int r = dw_fill(s, s->base + s->have);
        if (r)
            return r;
    }
    return 0;
}

static int dw_unit(struct dw_ctx *x, uint64_t off, uint64_t *next)
{
    struct dw_src *s = &x->src;
    struct dw_unit u;
    uint64_t pos = 0;
    int r = dw_unit_header(x, off, &u, &pos);
    if (r < 0)
        return r;
    if (x->st)
        x->st->units++;
    *next = u.end;
    if (r == 1) {
        if (x->st)
            x->st->units_skipped++;
        return dw_skip_to(s, u.end);
    }
    int level = 0, first = 1;
    x->cur = -1;
    while (pos < u.end && x->ndone < T_N) {
        struct dw_die d;
        struct dw_cur c;
        for (;;) {
            dw_cur_at(s, pos, u.end, &c);
            dw_die_read(&c, &u, &x->ab, first, x->cur >= 0, &d);
            if (c.err != CUR_SHORT)
                break;
            if ((r = dw_fill(s, pos)) != 0)
                return r;
        }
        if (c.err)
            return -EINVAL;
        pos = s->base + c.pos;
        if (first) {
            first = 0;
            /* gcc's units (cgo) cannot hold Go's structs: skip them by unit_length. */
            if (d.has_lang && (d.lang.kind == V_UNSIGNED || d.lang.kind == V_SIGNED) &&
                d.lang.u != DW_LANG_Go) {
                if (x->st)
                    x->st->units_skipped++;
                return dw_skip_to(s, u.end);
            }
            if (x->runtime_only) {
                const char *name = dw_name(x, &u, &d.name);
                if (!name || strcmp(name, "runtime") != 0) {
                    x->name_skipped++;
                    if (x->st)
                        x->st->units_skipped++;
                    return x->oom ? -ENOMEM : dw_skip_to(s, u.end);
                }
            }
            /* Without DW_AT_str_offsets_base, DWARF 5 strx indexes count from just past the
             * .debug_str_offsets header (8 or 16 bytes); GNU's pre-5 extension from 0. */
            if (d.has_stroff && d.stroff.kind == V_UNSIGNED)
                u.str_offsets_base = d.stroff.u;
            else if (u.version >= 5)
                u.str_offsets_base = u.offset_size == 8 ? 16 : 8;
        }
        dw_visit(x, &u, &d, &level, pos);
        if (x->oom)
            return -ENOMEM;
    }
    return 0;
}

/* Offsets a + b into *dst, refusing what does not fit go_layout's 16-bit fields. */
static int dw_put(uint16_t *dst, uint64_t a, uint64_t b)
{
    if (a > 0xffff || b > 0xffff || a + b > 0xffff)
        return -EINVAL;
    *dst = (uint16_t)(a + b);
    return 0;
}

static int dw_layout(const struct dw_ctx *x, struct go_layout *l)
{
    const uint64_t *g = x->off[T_G], *m = x->off[T_M], *b = x->off[T_GOBUF];
    const uint64_t *st = x->off[T_STACK];
    int bad = 0;
    bad |= dw_put(&l->g_stack_lo, g[G_STACK], st[S_LO]);
    bad |= dw_put(&l->g_stack_hi, g[G_STACK], st[S_HI]);
    bad |= dw_put(&l->g_m, g[G_M], 0);
    bad |= dw_put(&l->g_sched_sp, g[G_SCHED], b[B_SP]);
    bad |= dw_put(&l->g_sched_pc, g[G_SCHED], b[B_PC]);
    bad |= dw_put(&l->g_sched_bp, g[G_SCHED], b[B_BP]);
    bad |= dw_put(&l->g_syscallsp, g[G_SYSCALLSP], 0);
    bad |= dw_put(&l->g_syscallpc, g[G_SYSCALLPC], 0);
    bad |= dw_put(&l->g_goid, g[G_GOID], 0);
    bad |= dw_put(&l->g_atomicstatus, g[G_ATOMICSTATUS], 0);
    bad |= dw_put(&l->m_g0, m[M_G0], 0);
    bad |= dw_put(&l->m_curg, m[M_CURG], 0);
    bad |= dw_put(&l->m_gsignal, m[M_GSIGNAL], 0);
    bad |= dw_put(&l->m_procid, m[M_PROCID], 0);
    bad |= dw_put(&l->m_incgo, m[M_INCGO], 0);
    bad |= dw_put(&l->m_isextra_in_c, m[M_ISEXTRAINC], 0);
    bad |= dw_put(&l->m_ncgo, m[M_NCGO], 0);
    bad |= dw_put(&l->m_vdso_sp, m[M_VDSOSP], 0);
    bad |= dw_put(&l->m_vdso_pc, m[M_VDSOPC], 0);
    if (bad)
        return -EINVAL;
    l->known = 1;
    return 0;
}

/* Sets up the stream over .debug_info: the section itself, or a zlib window. The zlib
 * header is checked here and the deflate data inflated raw: the walk stops long before the
 * stream's end, so zlib's running Adler-32 (a tenth of the inflate time) would never be
 * compared with anything. */
static int dw_src_open(struct dw_ctx *x, const struct elf_section *sec, size_t window)
{
    struct dw_src *s = &x->src;
    if (!(sec->flags & SHF_COMPRESSED)) {
        s->win = sec->data;
        s->total = s->have = sec->size;
        return 0;
    }
    Elf64_Chdr ch;
    if (sec->size < sizeof ch + 2)
        return -EINVAL;
    memcpy(&ch, sec->data, sizeof ch);   /* section data need not be 8-aligned in the file */
    if (ch.ch_type != ELFCOMPRESS_ZLIB)
        return -ENOTSUP;
    if (ch.ch_size > GODWARF_MAX_SIZE)
        return -EINVAL;
    const uint8_t *z = sec->data + sizeof ch;
    /* RFC 1950: CM 8 (deflate), window <= 32 KiB, check bits, no preset dictionary. */
    if ((z[0] & 0x0f) != 8 || (z[0] >> 4) > 7 || ((z[0] << 8) | z[1]) % 31 != 0 || (z[1] & 0x20))
        return -EINVAL;
    s->total = ch.ch_size;
    s->in = z + 2;
    s->in_left = sec->size - sizeof ch - 2;
    s->cap = window < s->total ? window : (size_t)s->total;
    if (s->cap == 0)
        s->cap = 1;
    s->win = s->buf = malloc(s->cap);
    if (!s->buf)
        return -ENOMEM;
    if (inflateInit2(&s->zs, -15) != Z_OK)
        return -ENOMEM;
    s->zlive = 1;
    s->in0 = s->in;
    s->in_left0 = s->in_left;
    if (x->st)
        x->st->compressed = 1;
    return 0;
}

/* Back to the start of .debug_info, for a second walk. */
static int dw_src_rewind(struct dw_src *s)
{
    if (!s->buf)
        return 0;
    if (inflateReset(&s->zs) != Z_OK)
        return -EINVAL;
    s->zs.avail_in = 0;
    s->in = s->in0;
    s->in_left = s->in_left0;
    s->base = s->have = 0;
    return 0;
}

static void dw_ctx_free(struct dw_ctx *x)
{
    if (x->src.zlive)
        inflateEnd(&x->src.zs);
    free(x->src.buf);
    free(x->ab.a);
    free(x->ab.s);
    free(x->abbrev.owned);
    free(x->str.owned);
    free(x->line_str.owned);
    free(x->str_offsets.owned);
}

static int dw_walk(struct dw_ctx *x)
{
    uint64_t off = 0;
    int r = 0;
    x->ndone = 0;
    memset(x->done, 0, sizeof x->done);
    while (r == 0 && off < x->src.total && x->ndone < T_N) {
        uint64_t next = off;
        r = dw_unit(x, off, &next);
        off = next;
    }
    if (x->st && !x->src.buf) {   /* uncompressed: how far the walk got */
        uint64_t reach = x->ndone == T_N ? x->st->struct_end : off;
        if (reach > x->st->info_read)
            x->st->info_read = reach;
    }
    return r ? r : x->ndone == T_N ? 0 : -ENOENT;
}

int godwarf_layout_ex(const struct elf_file *ef, struct go_layout *out, size_t window,
                      struct godwarf_stats *stats)
{
    memset(out, 0, sizeof *out);
    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->types_cu = ~0ull;
    }
    struct elf_section info;
    if (elf_file_section(ef, ".debug_info", &info) != 0 || info.type == SHT_NOBITS)
        return -ENOENT;   /* stripped (-s -w), or DWARF moved to a separate debug file */
    if (!info.data)
        return -EINVAL;
    struct dw_ctx x;
    memset(&x, 0, sizeof x);
    x.ef = ef;
    x.st = stats;
    x.cur = -1;
    int r = dw_sec_load(ef, ".debug_abbrev", &x.abbrev);
    if (r == -ENOENT)
        r = -EINVAL;   /* .debug_info without its abbreviations cannot be read */
    if (r == 0)
        r = dw_src_open(&x, &info, window ? window : GODWARF_WINDOW);
    if (r == 0) {
        /* The Go linker puts every type DIE into the last unit of package runtime
         * (cmd/link/internal/ld/dwarf.go, movetomodule): walk only those first. Should a
         * linker put them elsewhere, a second walk reads every unit. */
        x.runtime_only = 1;
        r = dw_walk(&x);
        if (r == -ENOENT && x.name_skipped) {
            if (stats)
                stats->second_walk = 1;
            x.runtime_only = 0;
            r = dw_src_rewind(&x.src);
            if (r == 0)
                r = dw_walk(&x);
        }
    }
    if (r == 0)
        r = dw_layout(&x, out);
    if (stats) {
        stats->info_size = x.src.total;
        if (x.src.buf)
            stats->info_read = x.src.base + x.src.have;
        stats->window_peak = x.src.cap;
    }
    dw_ctx_free(&x);
    if (r)
        memset(out, 0, sizeof *out);
    return r;
}

int godwarf_layout(const struct elf_file *ef, struct go_layout *out)
{
    return godwarf_layout_ex(ef, out, 0, NULL);
}
