/* dwarf_reader.c -- streaming, bounded .debug_info reader (see dwarf_reader.h).
 * Context: library
 *
 * Robustness: every read is bounded by both the unit's end and the end of the inflated window.
 * Running past the window asks for a refill and the item is parsed again from its start;
 * running past the unit is malformed input. Each loop advances by at least one byte or by one
 * refill of a finite stream, so corrupt input ends in -EINVAL, never in a crash or a hang.
 */
#include "lib/go/dwarf_reader.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "lib/base/grow.h"
#include "lib/base/leb128.h"
#include "lib/elf/elf_file.h"

#define DW_MAX_WINDOW (16u << 20)   /* no DIE is this large: refuse to grow further */
#define DW_MAX_SIZE (1ull << 30)    /* as elf_file.c: bounds what a forged ch_size can do */

enum {
    DW_AT_name = 0x03, DW_AT_language = 0x13, DW_AT_data_member_location = 0x38,
    DW_AT_str_offsets_base = 0x72,
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

/* ---- .debug_info as a stream -------------------------------------------------------------- */

int dw_fill(struct dw_src *s, uint64_t keep)
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
        if (s->cap >= DW_MAX_WINDOW)
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

int dw_skip_to(struct dw_src *s, uint64_t end)
{
    while (s->base + s->have < end) {
        int r = dw_fill(s, s->base + s->have);
        if (r)
            return r;
    }
    return 0;
}

/* The zlib header is checked here and the deflate data inflated raw: the walk stops long
 * before the stream's end, so zlib's running Adler-32 (a tenth of the inflate time) would
 * never be compared with anything. */
int dw_src_open(struct dw_src *s, const struct elf_section *sec, size_t window)
{
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
    if (ch.ch_size > DW_MAX_SIZE)
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
    return 0;
}

int dw_src_rewind(struct dw_src *s)
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

/* ---- bounded cursor over the window ------------------------------------------------------- */

void dw_cur_at(const struct dw_src *s, uint64_t abs, uint64_t hard_abs, struct dw_cur *c)
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

/* LEB128 by lib/base/leb128.h's rule: running out of the window asks for a refill, out of
 * the unit or past 10 bytes is malformed. */
static uint64_t cur_leb(struct dw_cur *c, int is_signed)
{
    uint64_t v = 0;
    if (c->err)
        return 0;
    int n = gp_leb128(c->b + c->pos, (size_t)(c->end - c->pos), is_signed, &v);
    if (n == GP_LEB_SHORT)
        c->err = c->end < c->hard ? CUR_SHORT : CUR_BAD;
    else if (n == GP_LEB_BAD)
        c->err = CUR_BAD;
    else
        c->pos += (unsigned)n;
    return v;
}

static uint64_t cur_uleb(struct dw_cur *c) { return cur_leb(c, 0); }
static int64_t cur_sleb(struct dw_cur *c) { return (int64_t)cur_leb(c, 1); }

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
        if (gp_grow((void **)&t->a, &t->capa, t->na + 1, sizeof *t->a, 64))
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
            if (gp_grow((void **)&t->s, &t->caps, t->ns + 1, sizeof *t->s, 64))
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

int dw_struct_name_codes(const struct dw_abbrevs *t, uint8_t codes[][10], size_t *clen,
                         size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < t->na; i++) {
        const struct dw_abbrev *a = &t->a[i];
        if (a->tag != DW_TAG_structure_type || !a->children)
            continue;
        if (n == max || a->n == 0 || t->s[a->first].attr != DW_AT_name ||
            t->s[a->first].form != DW_FORM_string)
            return -1;
        uint64_t v = a->code;
        size_t k = 0;
        do {
            codes[n][k++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
            v >>= 7;
        } while (v && k < 10);
        if (v)
            return -1;
        clen[n++] = k;
    }
    return (int)n;
}

/* ---- attribute values --------------------------------------------------------------------- */

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

void dw_die_read(struct dw_cur *c, const struct dw_unit *u, const struct dw_abbrevs *t,
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

/* ---- sections, names, units --------------------------------------------------------------- */

int dw_sec_load(const struct elf_file *ef, const char *name, struct dw_sec *s)
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
static const char *dw_sec_str(struct dw_reader *rd, const char *name, struct dw_sec *s,
                              uint64_t off)
{
    int r = dw_sec_load(rd->ef, name, s);
    if (r == -ENOMEM)
        rd->oom = 1;
    if (r || off >= s->size || !memchr(s->data + off, 0, s->size - (size_t)off))
        return NULL;
    return (const char *)s->data + off;
}

const char *dw_name(struct dw_reader *rd, const struct dw_unit *u, const struct dw_val *v)
{
    switch (v->kind) {
    case V_STRING:
        return (const char *)v->ptr;
    case V_STRP:
        return dw_sec_str(rd, ".debug_str", &rd->str, v->u);
    case V_LINE_STRP:
        return dw_sec_str(rd, ".debug_line_str", &rd->line_str, v->u);
    case V_STRX: {
        int r = dw_sec_load(rd->ef, ".debug_str_offsets", &rd->str_offsets);
        if (r == -ENOMEM)
            rd->oom = 1;
        const struct dw_sec *so = &rd->str_offsets;
        uint64_t at = v->u * u->offset_size + u->str_offsets_base;
        if (r || v->u > so->size || at < u->str_offsets_base || at > so->size ||
            so->size - at < u->offset_size)
            return NULL;
        struct dw_cur c = { so->data, at, so->size, so->size, 0 };
        return dw_sec_str(rd, ".debug_str", &rd->str, cur_u(&c, u->offset_size));
    }
    default:
        return NULL;
    }
}

int dw_member_offset(const struct dw_die *d, uint64_t *off)
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

int dw_unit_header(struct dw_reader *rd, uint64_t off, struct dw_unit *u, uint64_t *hdr_end)
{
    struct dw_src *s = &rd->src;
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
        if (!rd->ab.valid || rd->ab.off != abbrev_off) {
            int r = dw_abbrevs_load(&rd->ab, rd->abbrev.data, rd->abbrev.size, abbrev_off);
            if (r)
                return r;
        }
        dw_abbrevs_size(&rd->ab, u);
        return 0;
    }
}

void dw_unit_bases(struct dw_unit *u, const struct dw_die *d)
{
    /* Without DW_AT_str_offsets_base, DWARF 5 strx indexes count from just past the
     * .debug_str_offsets header (8 or 16 bytes); GNU's pre-5 extension from 0. */
    if (d->has_stroff && d->stroff.kind == V_UNSIGNED)
        u->str_offsets_base = d->stroff.u;
    else if (u->version >= 5)
        u->str_offsets_base = u->offset_size == 8 ? 16 : 8;
}

void dw_reader_free(struct dw_reader *rd)
{
    if (rd->src.zlive)
        inflateEnd(&rd->src.zs);
    free(rd->src.buf);
    free(rd->ab.a);
    free(rd->ab.s);
    free(rd->abbrev.owned);
    free(rd->str.owned);
    free(rd->line_str.owned);
    free(rd->str_offsets.owned);
}
