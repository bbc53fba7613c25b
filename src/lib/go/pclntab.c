/* pclntab.c -- allocation-free lookups in a Go 1.20+ pclntab (see pclntab.h).
 * Context: library, signal-safe
 *
 * Layout (runtime/symtab.go): pcHeader, then funcnametab, cutab, filetab, pctab and
 * pclntable, located by header offsets. pclntable begins with ftab[nfunc+1] =
 * {entryoff u32, funcoff u32} sorted by entryoff; _func records follow.
 * Calls no libc function (not even memcpy/strlen: the collector and the SIGPROF handler
 * both use it, and scripts/check-sigsafe.sh runs nm -u on the object).
 */
#include "lib/go/pclntab.h"

#include <errno.h>

#include "lib/base/leb128.h"

#define PCLN_MAGIC_120 0xfffffff1u
#define PCLN_HDR_SIZE 72        /* magic..pclnOffset: 8 + 8 * 8 */
#define PCLN_FUNC_SIZE 44       /* _func up to and including nfuncdata */
#define PCLN_INLCALL_SIZE 16    /* runtime.inlinedCall */
/* Go nests inlining only as deep as the inliner's budget allows; 64 levels is generous and
 * bounds the walk on a corrupt tree. */
#define PCLN_MAX_INLINE_DEPTH 64

/* _func field offsets (docs/go-runtime.md §6.3). */
enum {
    FN_ENTRY = 0, FN_NAME = 4, FN_PCSP = 16, FN_PCFILE = 20, FN_PCLN = 24, FN_NPCDATA = 28,
    FN_CUOFF = 32, FN_STARTLINE = 36, FN_FUNCID = 40, FN_FLAG = 41, FN_NFUNCDATA = 43,
};

static uint32_t pcln_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t pcln_u64(const uint8_t *p)
{
    return (uint64_t)pcln_u32(p) | (uint64_t)pcln_u32(p + 4) << 32;
}

/* NUL-terminated string at off inside [tab, tab+size), or NULL. */
static const char *pcln_str(const uint8_t *tab, size_t size, uint64_t off)
{
    if (!tab || off >= size)
        return 0;
    for (size_t i = (size_t)off; i < size; i++) {
        if (tab[i] == 0)
            return (const char *)tab + off;
    }
    return 0;
}

int gopcln_init(struct gopcln *t, const void *pclntab, size_t size, uint64_t text_start,
                const void *gofunc, size_t gofunc_size)
{
    const uint8_t *b = pclntab;
    if (!b || size < PCLN_HDR_SIZE)
        return -EINVAL;
    if (pcln_u32(b) != PCLN_MAGIC_120 || b[4] != 0 || b[5] != 0 || b[7] != 8)
        return -ENOTSUP;
    if (b[6] != 1 && b[6] != 2 && b[6] != 4)
        return -EINVAL;
    uint64_t nfunc = pcln_u64(b + 8);
    uint64_t off[5];  /* funcname, cu, filetab, pctab, pcln; Go writes them in this order */
    for (int i = 0; i < 5; i++) {
        off[i] = pcln_u64(b + 32 + 8 * i);
        if (off[i] < PCLN_HDR_SIZE - 8 || off[i] > size || (i && off[i] < off[i - 1]))
            return -EINVAL;
    }
    if (nfunc >= 0x7fffffff || (nfunc + 1) * 8 > size - off[4])
        return -EINVAL;
    if (text_start == 0)
        text_start = pcln_u64(b + 24);
    if (text_start == 0)
        return -EINVAL;
    t->base = b;
    t->size = size;
    t->text_start = text_start;
    t->nfunc = (uint32_t)nfunc;
    t->quantum = b[6];
    t->funcnametab = b + off[0]; t->funcnametab_size = off[1] - off[0];
    t->cutab = b + off[1];       t->cutab_size = off[2] - off[1];
    t->filetab = b + off[2];     t->filetab_size = off[3] - off[2];
    t->pctab = b + off[3];       t->pctab_size = off[4] - off[3];
    t->pclntable = b + off[4];   t->pclntable_size = size - off[4];
    t->gofunc = gofunc;
    t->gofunc_size = gofunc ? gofunc_size : 0;
    return 0;
}

static uint32_t pcln_ftab_entry(const struct gopcln *t, uint32_t i)
{
    return pcln_u32(t->pclntable + 8 * (size_t)i);
}

uint64_t gopcln_text_end(const struct gopcln *t)
{
    return t->text_start + pcln_ftab_entry(t, t->nfunc);
}

int gopcln_func_at(const struct gopcln *t, uint32_t i, struct gofunc *out)
{
    if (!t->base || i >= t->nfunc)
        return -ENOENT;
    uint32_t entryoff = pcln_ftab_entry(t, i);
    uint32_t next = pcln_ftab_entry(t, i + 1);
    uint32_t funcoff = pcln_u32(t->pclntable + 8 * (size_t)i + 4);
    if (next < entryoff || funcoff > t->pclntable_size ||
        t->pclntable_size - funcoff < PCLN_FUNC_SIZE)
        return -ENOENT;
    const uint8_t *f = t->pclntable + funcoff;
    if (pcln_u32(f + FN_ENTRY) != entryoff)  /* cheap consistency check against corruption */
        return -ENOENT;
    out->f = f;
    out->entry = t->text_start + entryoff;
    out->end = t->text_start + next;
    return 0;
}

int gopcln_find(const struct gopcln *t, uint64_t pc, struct gofunc *out)
{
    if (!t->base || t->nfunc == 0 || pc < t->text_start)
        return -ENOENT;
    uint64_t off = pc - t->text_start;
    if (off >= pcln_ftab_entry(t, t->nfunc))
        return -ENOENT;
    uint32_t lo = 0, hi = t->nfunc;  /* find the last entry with entryoff <= off */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (pcln_ftab_entry(t, mid) <= off)
            lo = mid;
        else
            hi = mid;
    }
    if (pcln_ftab_entry(t, lo) > off || gopcln_func_at(t, lo, out) != 0 || pc >= out->end)
        return -ENOENT;
    return 0;
}

const char *gopcln_funcname(const struct gopcln *t, const struct gofunc *f)
{
    return pcln_str(t->funcnametab, t->funcnametab_size, pcln_u32(f->f + FN_NAME));
}

uint8_t gopcln_funcid(const struct gofunc *f)
{
    return f->f[FN_FUNCID];
}

uint8_t gopcln_flag(const struct gofunc *f)
{
    return f->f[FN_FLAG];
}

int32_t gopcln_start_line(const struct gofunc *f)
{
    return (int32_t)pcln_u32(f->f + FN_STARTLINE);
}

/* Reads a uvarint from p[*i..size): at most 5 bytes, 32 bits, as Go's readvarint writes. */
static int pcln_uvarint(const uint8_t *p, size_t size, size_t *i, uint32_t *v)
{
    uint64_t r;
    int n = *i < size ? gp_uleb128(p + *i, size - *i, &r) : GP_LEB_SHORT;
    if (n <= 0 || n > 5)
        return -1;
    *i += (size_t)n;
    *v = (uint32_t)r;
    return 0;
}

/* runtime.pcvalue: value of the table at pctab offset tab for target pc. */
static int pcln_value(const struct gopcln *t, const struct gofunc *f, uint32_t tab,
                      uint64_t target, int32_t *out)
{
    if (tab == 0)
        return -ENOENT;
    if (target < f->entry || target >= f->end || tab >= t->pctab_size)
        return -EINVAL;
    const uint8_t *p = t->pctab;
    size_t size = t->pctab_size, i = tab;
    int32_t val = -1;
    uint64_t pc = f->entry;
    /* Each step consumes at least two bytes, so the table size bounds the loop. */
    while (i < size) {
        uint32_t uv, pcdelta;
        if (p[i] == 0 && pc != f->entry)
            return -ENOENT;  /* end of table before reaching target */
        if (pcln_uvarint(p, size, &i, &uv) || pcln_uvarint(p, size, &i, &pcdelta))
            return -EINVAL;
        /* Go's int32 addition wraps; C's signed overflow is undefined: add unsigned. */
        val = (int32_t)((uint32_t)val + (-(uv & 1) ^ (uv >> 1)));
        pc += (uint64_t)pcdelta * t->quantum;
        if (target < pc) {
            *out = val;
            return 0;
        }
    }
    return -EINVAL;
}

int gopcln_pcsp(const struct gopcln *t, const struct gofunc *f, uint64_t pc, int32_t *delta)
{
    return pcln_value(t, f, pcln_u32(f->f + FN_PCSP), pc, delta);
}

/* Byte offset of the u32 at pcdata/funcdata slot k after the fixed _func, or 0 when the
 * record would extend past pclntable. */
static const uint8_t *pcln_func_slot(const struct gopcln *t, const struct gofunc *f, uint64_t k)
{
    uint64_t fo = (uint64_t)(f->f - t->pclntable);
    uint64_t at = fo + PCLN_FUNC_SIZE + 4 * k;
    if (at + 4 > t->pclntable_size)
        return 0;
    return t->pclntable + at;
}

int gopcln_pcdata(const struct gopcln *t, const struct gofunc *f, uint32_t table, uint64_t pc,
                  int32_t *val)
{
    if (table >= pcln_u32(f->f + FN_NPCDATA))
        return -ENOENT;
    const uint8_t *slot = pcln_func_slot(t, f, table);
    if (!slot)
        return -EINVAL;
    return pcln_value(t, f, pcln_u32(slot), pc, val);
}

const uint8_t *gopcln_funcdata(const struct gopcln *t, const struct gofunc *f, uint32_t idx)
{
    if (!t->gofunc || idx >= f->f[FN_NFUNCDATA])
        return 0;
    const uint8_t *slot = pcln_func_slot(t, f, (uint64_t)pcln_u32(f->f + FN_NPCDATA) + idx);
    if (!slot)
        return 0;
    uint32_t off = pcln_u32(slot);
    if (off == 0xffffffffu || (t->gofunc_size && off >= t->gofunc_size))
        return 0;
    return t->gofunc + off;
}

int gopcln_fileline(const struct gopcln *t, const struct gofunc *f, uint64_t pc,
                    const char **file, int32_t *line)
{
    int32_t fileno, ln;
    int r = pcln_value(t, f, pcln_u32(f->f + FN_PCFILE), pc, &fileno);
    if (r == 0)
        r = pcln_value(t, f, pcln_u32(f->f + FN_PCLN), pc, &ln);
    if (r)
        return r;
    uint64_t cu = (uint64_t)pcln_u32(f->f + FN_CUOFF) + (uint32_t)fileno;
    if (fileno < 0 || cu >= t->cutab_size / 4)
        return -EINVAL;
    uint32_t foff = pcln_u32(t->cutab + 4 * cu);
    const char *name = foff == 0xffffffffu ? "?" : pcln_str(t->filetab, t->filetab_size, foff);
    if (!name)
        return -EINVAL;
    *file = name;
    *line = ln;
    return 0;
}

/* One logical frame at pc of physical function f with the given name/funcid/start line. */
static void pcln_frame(const struct gopcln *t, const struct gofunc *f, uint64_t pc,
                       const char *name, uint8_t funcid, int32_t start_line,
                       struct gopcln_frame *out)
{
    out->name = name ? name : "?";
    out->funcid = funcid;
    out->start_line = start_line;
    if (gopcln_fileline(t, f, pc, &out->file, &out->line) != 0) {
        out->file = 0;
        out->line = 0;
    }
}

int gopcln_expand(const struct gopcln *t, uint64_t pc, struct gopcln_frame *out, int max)
{
    struct gofunc f;
    if (max < 1)
        return -EINVAL;
    int r = gopcln_find(t, pc, &f);
    if (r)
        return r;
    int n = 0;
    const uint8_t *tree = gopcln_funcdata(t, &f, GOPCLN_FUNCDATA_INLTREE);
    int32_t idx = -1;
    if (tree && gopcln_pcdata(t, &f, GOPCLN_PCDATA_INLTREEINDEX, pc, &idx) != 0)
        idx = -1;
    for (int depth = 0; idx >= 0 && depth < PCLN_MAX_INLINE_DEPTH; depth++) {
        uint64_t at = (uint64_t)idx * PCLN_INLCALL_SIZE;
        if (t->gofunc_size &&
            (uint64_t)(tree - t->gofunc) + at + PCLN_INLCALL_SIZE > t->gofunc_size)
            break;
        const uint8_t *ic = tree + at;
        if (n < max - 1) {
            const char *name = pcln_str(t->funcnametab, t->funcnametab_size, pcln_u32(ic + 4));
            pcln_frame(t, &f, pc, name, ic[0], (int32_t)pcln_u32(ic + 12), &out[n++]);
        }
        uint64_t parent = f.entry + (uint64_t)(int64_t)(int32_t)pcln_u32(ic + 8);
        if (parent < f.entry || parent >= f.end)
            break;
        pc = parent;
        if (gopcln_pcdata(t, &f, GOPCLN_PCDATA_INLTREEINDEX, pc, &idx) != 0)
            idx = -1;
    }
    pcln_frame(t, &f, pc, gopcln_funcname(t, &f), gopcln_funcid(&f), gopcln_start_line(&f),
               &out[n++]);
    return n;
}

static int pcln_streq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

int gopcln_find_by_name(const struct gopcln *t, const char *name, struct gofunc *out)
{
    for (uint32_t i = 0; i < t->nfunc; i++) {
        if (gopcln_func_at(t, i, out) != 0)
            continue;
        const char *s = gopcln_funcname(t, out);
        if (s && pcln_streq(s, name))
            return 0;
    }
    return -ENOENT;
}
