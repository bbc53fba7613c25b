/* godwarf.c -- runtime struct offsets from .debug_info (see godwarf.h).
 * Context: library
 *
 * The Go side of it: the four structs and their members, and the walk over the units that
 * finds them, reading with dwarf_reader.h. Units whose DW_AT_language is not Go (gcc's C
 * units in cgo programs) are skipped whole by unit_length.
 *
 * Where the structs are: the Go linker moves every type DIE into the last compile unit of
 * package runtime (cmd/link/internal/ld/dwarf.go, movetomodule, 1.21-1.26), which sits a
 * tenth (cmd/compile) to four fifths (small programs) of the way into .debug_info. The first
 * walk therefore reads only units named "runtime", skipping the others by unit_length, and
 * ends at the last of the four structs; only if that finds nothing does a second walk read
 * every unit.
 *
 * Scanning instead of walking: a walk must decode every DIE of the "runtime" units to know
 * where the next one starts, and the first of them holds all of the runtime's functions (half
 * of .debug_info in a small program; decoding it took 40 % of godwarf_layout, the rest being
 * zlib). When the unit's abbreviation table writes every struct DIE as its code, then its name
 * inline (DW_FORM_string first: Go's linker does), a struct named runtime.g is the bytes
 * "<code>runtime.g\0", and the first walk looks for those bytes with memchr instead, decoding
 * only from each match: the struct and its members, exactly as the walk would. Every struct
 * DIE the walk would see is found so (a match inside other data, which no Go binary has, is a
 * candidate that fails to parse as a complete struct, or is at worst another complete struct
 * by that name, still checked by go_layout_check); units with any other struct abbreviation
 * are walked. A budget of decoded DIEs bounds the work on hostile input: spent, the second
 * walk reads every unit the old way.
 *
 * Robustness: the reader bounds every read (dwarf_reader.h); each loop here advances by at
 * least one DIE or one refill of a finite stream, so corrupt input ends in -EINVAL, never in a
 * crash or a hang.
 */
#include "lib/go/godwarf.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#include "lib/elf/elf_file.h"
#include "lib/go/dwarf_reader.h"

#define GODWARF_WINDOW (16u << 10)       /* larger windows measured no faster */
#define GODWARF_SCAN_CODES 4               /* struct abbreviations a scanned unit may have */
#define GODWARF_SCAN_BUDGET (1u << 16)     /* DIEs decoded from matches, in all */

enum { DW_LANG_Go = 0x16 };

/* ---- the four structs and the members go_layout needs -------------------------------- */

enum { T_G, T_M, T_GOBUF, T_STACK, T_N };
#define T_MAX_MEMBERS 9

static const char *const t_names[T_N] = { "runtime.g", "runtime.m", "runtime.gobuf",
                                          "runtime.stack" };
static const char *const t_members[T_N][T_MAX_MEMBERS] = {
    [T_G] = { "stack", "m", "sched", "syscallsp", "syscallpc", "goid", "atomicstatus",
              "labels" },
    [T_M] = { "g0", "curg", "gsignal", "procid", "incgo", "isExtraInC", "ncgo", "vdsoSP",
              "vdsoPC" },
    [T_GOBUF] = { "sp", "pc", "bp" },
    [T_STACK] = { "lo", "hi" },
};
enum { G_STACK, G_M, G_SCHED, G_SYSCALLSP, G_SYSCALLPC, G_GOID, G_ATOMICSTATUS, G_LABELS };
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

/* ---- the walk ----------------------------------------------------------------------------- */

struct dw_ctx {
    struct dw_reader r;
    int runtime_only;          /* first walk: only units named "runtime", scanned if they can be */
    unsigned scan_dies;        /* DIEs the scans decoded (GODWARF_SCAN_BUDGET) */
    int scan_spent;            /* the budget ran out: the second walk reads every unit */
    unsigned name_skipped;     /* units that walk skipped for their name */
    int cur, cur_level;        /* struct whose members are being read (-1: none), its level */
    unsigned seen[T_N];        /* bit i: member i of struct t read */
    int done[T_N], ndone;
    uint64_t off[T_N][T_MAX_MEMBERS];
    struct godwarf_stats *st;
};

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
        const char *name = dw_name(&x->r, u, &d->name);
        int t = name ? dw_target(name) : -1;
        if (t >= 0 && !x->done[t]) {
            x->cur = t;
            x->cur_level = *level;
            x->seen[t] = 0;
        }
    } else if (d->tag == DW_TAG_member && x->cur >= 0 && *level == x->cur_level + 1) {
        const char *name = dw_name(&x->r, u, &d->name);
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

/* From a match at absolute offset at: decodes the DIE there and, if it is one of the structs
 * still wanted, its children up to its end, through dw_visit as the walk does. 1 with *end past
 * the struct when that completed one of them; 0 otherwise: not such a struct, an incomplete
 * one, or bytes that do not parse (a match inside other data) or run past the stream's end,
 * after which the scan goes on from at + 1, so that what such a match took for its children
 * is searched too. -ENOMEM, or -E2BIG when the budget is spent. */
static int dw_scan_struct(struct dw_ctx *x, const struct dw_unit *u, uint64_t at,
                          uint64_t *end)
{
    struct dw_src *s = &x->r.src;
    int level = 1, ndone = x->ndone, r;
    uint64_t pos = at;
    x->cur = -1;
    for (unsigned n = 0;; n++) {
        if (++x->scan_dies > GODWARF_SCAN_BUDGET) {
            x->cur = -1;
            x->scan_spent = 1;
            return -E2BIG;
        }
        struct dw_die d;
        struct dw_cur c;
        for (;;) {
            dw_cur_at(s, pos, u->end, &c);
            dw_die_read(&c, u, &x->r.ab, 0, x->cur >= 0, &d);
            if (c.err != CUR_SHORT)
                break;
            /* The stream's end (or corrupt data) ends a match, not the scan: the walk too
             * would have found what follows the match but lies before that point. */
            if ((r = dw_fill(s, at)) != 0 && r != -EINVAL)
                return r;
            if (r)
                break;
        }
        if (c.err || (n == 0 && d.tag != DW_TAG_structure_type)) {
            x->cur = -1;
            return 0;
        }
        pos = s->base + c.pos;
        dw_visit(x, u, &d, &level, pos);
        if (x->r.oom)
            return -ENOMEM;
        if (x->cur < 0) {   /* not a wanted struct, or its end */
            *end = pos;
            return x->ndone > ndone;
        }
    }
}

/* Whether the bytes at p (avail of them) are one of codes followed by the name of a struct
 * still wanted and its NUL. */
static int dw_scan_match(const struct dw_ctx *x, const uint8_t *p, uint64_t avail,
                         uint8_t codes[][10], const size_t *clen, size_t ncodes)
{
    for (size_t k = 0; k < ncodes; k++) {
        if (avail < clen[k] || memcmp(p, codes[k], clen[k]) != 0)
            continue;
        for (int t = 0; t < T_N; t++) {
            size_t len = strlen(t_names[t]) + 1;
            if (!x->done[t] && avail - clen[k] >= len && memcmp(p + clen[k], t_names[t], len) == 0)
                return 1;
        }
    }
    return 0;
}

/* The first walk's way through a "runtime" unit whose struct DIEs all start with an inline
 * name (see the header comment): from absolute offset pos to u->end, the window sliding as
 * the scan goes. 0, or -errno (-E2BIG: the budget is spent). */
static int dw_unit_scan(struct dw_ctx *x, const struct dw_unit *u, uint64_t pos,
                        uint8_t codes[][10], const size_t *clen, size_t ncodes)
{
    struct dw_src *s = &x->r.src;
    size_t need = 0;   /* bytes that decide a match */
    for (size_t k = 0; k < ncodes; k++) {
        for (int t = 0; t < T_N; t++) {
            size_t len = clen[k] + strlen(t_names[t]) + 1;
            need = len > need ? len : need;
        }
    }
    while (pos < u->end && x->ndone < T_N && ncodes) {
        uint64_t lim = s->base + s->have < u->end ? s->base + s->have : u->end;
        /* matches are decided at [pos, upto): further on, the window may cut them short */
        uint64_t upto = lim == u->end ? lim : lim - pos > need ? lim - need : pos;
        const uint8_t *from = s->win + (pos - s->base), *hit = NULL;
        for (size_t k = 0; k < ncodes && upto > pos; k++) {
            const uint8_t *h = memchr(from, codes[k][0], (size_t)(upto - pos));
            if (h && (!hit || h < hit))
                hit = h;
        }
        if (!hit) {
            if (lim == u->end)
                break;
            pos = upto;
            int r = dw_fill(s, pos);
            if (r)
                return r;
            continue;
        }
        uint64_t at = pos + (uint64_t)(hit - from), end = at + 1;
        if (dw_scan_match(x, hit, lim - at, codes, clen, ncodes)) {
            int r = dw_scan_struct(x, u, at, &end);
            if (r < 0)
                return r;
            if (r == 0)
                end = at + 1;
        }
        pos = end;
    }
    return 0;
}

static int dw_unit(struct dw_ctx *x, uint64_t off, uint64_t *next)
{
    struct dw_src *s = &x->r.src;
    struct dw_unit u;
    uint64_t pos = 0;
    int r = dw_unit_header(&x->r, off, &u, &pos);
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
            dw_die_read(&c, &u, &x->r.ab, first, x->cur >= 0, &d);
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
                const char *name = dw_name(&x->r, &u, &d.name);
                if (!name || strcmp(name, "runtime") != 0) {
                    x->name_skipped++;
                    if (x->st)
                        x->st->units_skipped++;
                    return x->r.oom ? -ENOMEM : dw_skip_to(s, u.end);
                }
            }
            dw_unit_bases(&u, &d);
            uint8_t codes[GODWARF_SCAN_CODES][10];
            size_t clen[GODWARF_SCAN_CODES];
            int nc;
            if (x->runtime_only && !x->scan_spent &&
                (nc = dw_struct_name_codes(&x->r.ab, codes, clen, GODWARF_SCAN_CODES)) >= 0) {
                if (x->st)
                    x->st->units_scanned++;
                r = dw_unit_scan(x, &u, pos, codes, clen, (size_t)nc);
                /* as the walk: the rest of the unit is not needed once all are found */
                return r ? r : x->ndone == T_N ? 0 : dw_skip_to(s, u.end);
            }
        }
        dw_visit(x, &u, &d, &level, pos);
        if (x->r.oom)
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
    bad |= dw_put(&l->g_labels, g[G_LABELS], 0);
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

static int dw_walk(struct dw_ctx *x)
{
    uint64_t off = 0;
    int r = 0;
    x->ndone = 0;
    memset(x->done, 0, sizeof x->done);
    while (r == 0 && off < x->r.src.total && x->ndone < T_N) {
        uint64_t next = off;
        r = dw_unit(x, off, &next);
        off = next;
    }
    if (x->st && !x->r.src.buf) {   /* uncompressed: how far the walk got */
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
    x.r.ef = ef;
    x.st = stats;
    x.cur = -1;
    int r = dw_sec_load(ef, ".debug_abbrev", &x.r.abbrev);
    if (r == -ENOENT)
        r = -EINVAL;   /* .debug_info without its abbreviations cannot be read */
    if (r == 0)
        r = dw_src_open(&x.r.src, &info, window ? window : GODWARF_WINDOW);
    if (r == 0) {
        /* The Go linker puts every type DIE into the last unit of package runtime
         * (cmd/link/internal/ld/dwarf.go, movetomodule): walk only those first. Should a
         * linker put them elsewhere, a second walk reads every unit. */
        x.runtime_only = 1;
        r = dw_walk(&x);
        if ((r == -ENOENT && x.name_skipped) || x.scan_spent) {
            if (stats)
                stats->second_walk = 1;
            x.runtime_only = 0;
            r = dw_src_rewind(&x.r.src);
            if (r == 0)
                r = dw_walk(&x);
        }
    }
    if (r == 0)
        r = dw_layout(&x, out);
    if (stats) {
        stats->info_size = x.r.src.total;
        if (x.r.src.buf)
            stats->info_read = x.r.src.base + x.r.src.have;
        stats->window_peak = x.r.src.cap;
        stats->compressed = x.r.src.zlive;   /* a zlib stream was opened */
    }
    dw_reader_free(&x.r);
    if (r)
        memset(out, 0, sizeof *out);
    return r;
}

int godwarf_layout(const struct elf_file *ef, struct go_layout *out)
{
    return godwarf_layout_ex(ef, out, 0, NULL);
}
