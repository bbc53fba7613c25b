/* got_rebind.c -- binding the loaded objects' calls of an interposed function straight to the
 * definition behind it; and which definition the calls of a name go to.
 * Context: program (got_rebind: the constructor, before the program's threads;
 * got_call_definition: the allocation interposers' lookups, on any thread, from the first
 * allocation of the process on)
 *
 * Why. An LD_PRELOAD interposer costs every call one more jump, taken or not: about 1 ns on a
 * malloc/free pair, ~1 % of an allocation-heavy C program, with C memory profiling off. Once
 * the constructor knows it is off, the calls need not come to us at all: each object calls
 * through its GOT, and a slot that holds our malloc is set to the next one, as if libgoprof.so
 * had not defined malloc. (An IFUNC export would decide at relocation, but libc is relocated
 * before the preloaded object, whose resolver could then not read anything; glibc also warns
 * on stderr when that happens.)
 *
 * Which slots. Relocations of type GLOB_DAT (a call through the GOT, how libc calls malloc)
 * and JUMP_SLOT (a PLT entry) naming a target:
 *  - a slot holding the target's address was bound to it by the dynamic linker;
 *  - a JUMP_SLOT still holding an address inside its own object (its PLT), other than its own
 *    definition of the name, is lazy, not yet called: the dynamic linker would bind it to the
 *    global lookup's definition, ours (the caller checks that), so it is bound ahead, except
 *    in an object linked -Bsymbolic (its own definition would come first).
 * Nothing else is touched: a slot holding another definition (an executable's own malloc, a
 * library's protected one), data pointers (R_X86_64_64), ld.so's own malloc pointer,
 * libgoprof.so's own slots. Slots in the RELRO part (read-only after relocation) are made
 * writable for the stores, one mprotect for each object's, and read-only again; where mprotect
 * refuses, they keep ours and are counted.
 *
 * Finding them. A relocation names a symbol by index. The indices of the targets' names come
 * from the object's hash table, but DT_GNU_HASH leaves the undefined symbols out (below its
 * symoffset; in a non-PIE executable, every symbol may be beyond its chains): a relocation
 * naming one of those is checked by name.
 *
 * The store is one aligned word: a thread calling through the slot meanwhile (one started by a
 * library's constructor) takes ours or the next, both correct.
 */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "program/preload/got_rebind.h"

#if defined(__x86_64__)
#define R_GLOB_DAT R_X86_64_GLOB_DAT
#define R_JUMP_SLOT R_X86_64_JUMP_SLOT
#elif defined(__aarch64__)
#define R_GLOB_DAT R_AARCH64_GLOB_DAT
#define R_JUMP_SLOT R_AARCH64_JUMP_SLOT
#endif

struct object {
    uintptr_t base, lo, hi;         /* load bias, extent of the PT_LOAD segments */
    uintptr_t relro_lo, relro_hi;   /* the pages ld.so made read-only */
    const Elf64_Sym *symtab;
    const char *strtab;
    size_t strsz;
    const uint32_t *gnu_hash, *sysv_hash;
    const Elf64_Half *versym;       /* DT_VERSYM, or NULL */
    /* DT_GNU_HASH: buckets, chains (indexed from symoffset); they hold symbols [lo, hi) only */
    uint32_t nbuckets, symoffset;
    const uint32_t *buckets, *chain;
    uint32_t hashed_lo, hashed_hi;
    int symbolic;
};

/* The object's hashed symbol table entries of the targets' names (several versions may share
 * one). */
#define MAX_HITS 64
struct hits {
    uint64_t mask;   /* bit (sym % 64) of each: most relocations are ruled out by it */
    size_t n;
    uint32_t sym[MAX_HITS];
    uint16_t target[MAX_HITS];
};

struct walk {
    struct got_target *targets;
    size_t n;
    got_next_fn next_of;
    struct got_rebind_stats *stats;
    size_t page;
};

/* A dynamic entry's address: glibc relocates them in place, but not the vDSO's. */
static uintptr_t dyn_addr(const struct object *o, Elf64_Addr p)
{
    return p < o->base ? o->base + p : p;
}

static const char *sym_name(const struct object *o, uint32_t i)
{
    Elf64_Word off = o->symtab[i].st_name;
    return off < o->strsz ? o->strtab + off : "";
}

static void add_hit(struct hits *h, uint32_t sym, size_t target)
{
    if (h->n == MAX_HITS)
        return;   /* (cannot happen with ~30 names; a slot left to us is still correct) */
    h->sym[h->n] = sym;
    h->target[h->n++] = (uint16_t)target;
    h->mask |= 1ull << (sym % 64);
}

/* Symbols named `name`, by the object's hash table (which holds them all with DT_HASH; with
 * DT_GNU_HASH, those of [hashed_lo, hashed_hi): the defined ones). */
static void find_hashed(const struct object *o, const char *name, size_t target, struct hits *h)
{
    if (o->gnu_hash) {
        uint32_t hash = 5381;
        for (const unsigned char *c = (const unsigned char *)name; *c; c++)
            hash = hash * 33 + *c;
        if (o->nbuckets == 0)
            return;
        for (uint32_t i = o->buckets[hash % o->nbuckets]; i >= o->symoffset && i != 0; i++) {
            uint32_t ch = o->chain[i - o->symoffset];
            if ((ch | 1) == (hash | 1) && strcmp(sym_name(o, i), name) == 0)
                add_hit(h, i, target);
            if (ch & 1)
                break;
        }
    } else if (o->sysv_hash) {
        const uint32_t *sh = o->sysv_hash;
        uint32_t nbucket = sh[0], nchain = sh[1], hash = 0;
        for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
            hash = (hash << 4) + *c;
            hash = (hash ^ ((hash & 0xf0000000u) >> 24)) & 0x0fffffffu;
        }
        if (nbucket == 0)
            return;
        for (uint32_t i = sh[2 + hash % nbucket], steps = 0; i != 0 && i < nchain && steps < nchain;
             i = sh[2 + nbucket + i], steps++)
            if (strcmp(sym_name(o, i), name) == 0)
                add_hit(h, i, target);
    }
}

/* DT_GNU_HASH's layout, and the symbols its chains hold: from its symoffset to the end of its
 * last chain. The others (the undefined ones, below symoffset; in a non-PIE executable all of
 * them, beyond empty chains) are found by name when a relocation names them. */
static void gnu_hashed_range(struct object *o)
{
    const uint32_t *g = o->gnu_hash;
    o->nbuckets = g[0];
    o->symoffset = g[1];
    o->buckets = (const uint32_t *)((const Elf64_Addr *)(g + 4) + g[2]);   /* after the bloom */
    o->chain = o->buckets + o->nbuckets;
    uint32_t last = 0;
    for (uint32_t b = 0; b < o->nbuckets; b++)
        if (o->buckets[b] > last)
            last = o->buckets[b];
    o->hashed_lo = o->hashed_hi = o->symoffset;
    if (last < o->symoffset)
        return;
    while (!(o->chain[last - o->symoffset] & 1))
        last++;
    o->hashed_hi = last + 1;
}

/* The target a relocation's symbol names, or -1. */
static int target_of(const struct walk *w, const struct object *o, const struct hits *h,
                     uint32_t sym)
{
    if (sym >= o->hashed_lo && sym < o->hashed_hi) {
        if (!(h->mask >> (sym % 64) & 1))
            return -1;
        for (size_t k = 0; k < h->n; k++)
            if (h->sym[k] == sym)
                return h->target[k];
        return -1;
    }
    const char *name = sym_name(o, sym);
    for (size_t t = 0; t < w->n; t++)
        if (name[0] == w->targets[t].name[0] && strcmp(name, w->targets[t].name) == 0)
            return (int)t;
    return -1;
}

/* The slots of one object to set, stored together: the read-only ones under one mprotect. */
#define MAX_STORES 64
struct stores {
    size_t n;
    uintptr_t *slot[MAX_STORES];
    uintptr_t value[MAX_STORES];
    unsigned lazy[MAX_STORES];
};

static void store_all(const struct walk *w, const struct object *o, const struct stores *st)
{
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (size_t i = 0; i < st->n; i++) {
        uintptr_t a = (uintptr_t)st->slot[i];
        if (a >= o->relro_lo && a < o->relro_hi) {
            lo = a < lo ? a : lo;
            hi = a + sizeof(uintptr_t) > hi ? a + sizeof(uintptr_t) : hi;
        }
    }
    int writable = 1;
    if (hi > lo) {
        lo &= ~(w->page - 1);
        hi = (hi + w->page - 1) & ~(w->page - 1);
        writable = mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE) == 0;
    }
    for (size_t i = 0; i < st->n; i++) {
        uintptr_t a = (uintptr_t)st->slot[i];
        if (!writable && a >= lo && a < hi) {
            w->stats->failed++;
            continue;
        }
        __atomic_store_n(st->slot[i], st->value[i], __ATOMIC_RELAXED);
        w->stats->slots++;
        w->stats->lazy += st->lazy[i];
    }
    if (hi > lo && writable)
        (void)mprotect((void *)lo, hi - lo, PROT_READ);
    w->stats->objects += st->n > 0;
}

static void rebind_relocs(const struct walk *w, const struct object *o, const struct hits *h,
                          const Elf64_Rela *r, size_t bytes, struct stores *st)
{
    for (size_t i = 0; i < bytes / sizeof *r; i++) {
        Elf64_Xword type = ELF64_R_TYPE(r[i].r_info);
        uint32_t sym = (uint32_t)ELF64_R_SYM(r[i].r_info);
        if (type != R_GLOB_DAT && type != R_JUMP_SLOT)
            continue;
        int k = target_of(w, o, h, sym);
        if (k < 0)
            continue;
        struct got_target *t = &w->targets[k];
        uintptr_t *slot = (uintptr_t *)(o->base + r[i].r_offset);
        uintptr_t v = __atomic_load_n(slot, __ATOMIC_RELAXED);
        /* (inside its own object, bound to its own definition is not lazy) */
        const Elf64_Sym *s = &o->symtab[sym];
        int lazy = type == R_JUMP_SLOT && v >= o->lo && v < o->hi && !o->symbolic &&
                   (s->st_shndx == SHN_UNDEF || v != o->base + s->st_value);
        if (v != t->ours && !lazy)
            continue;
        if (!t->asked) {
            t->next = w->next_of(t);
            t->asked = 1;
        }
        if (!t->next || st->n == MAX_STORES)
            continue;
        st->slot[st->n] = slot;
        st->value[st->n] = t->next;
        st->lazy[st->n++] = (unsigned)lazy;
    }
}

/* An object's relocation tables (RELA, and the PLT's when it is RELA too). */
struct relocs {
    const Elf64_Rela *rela, *jmprel;
    size_t relasz, pltrelsz;
};

/* Reads an object's extent, RELRO, dynamic symbols and hash table into o (and its relocation
 * tables into rel, if asked). 0: it has no dynamic symbols to look at. */
static int object_read(struct dl_phdr_info *info, size_t page, struct object *o,
                       struct relocs *rel)
{
    *o = (struct object){ .base = info->dlpi_addr, .lo = UINTPTR_MAX };
    const Elf64_Dyn *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const Elf64_Phdr *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD) {
            if (o->base + ph->p_vaddr < o->lo)
                o->lo = o->base + ph->p_vaddr;
            if (o->base + ph->p_vaddr + ph->p_memsz > o->hi)
                o->hi = o->base + ph->p_vaddr + ph->p_memsz;
        } else if (ph->p_type == PT_DYNAMIC) {
            dyn = (const Elf64_Dyn *)(o->base + ph->p_vaddr);
        } else if (ph->p_type == PT_GNU_RELRO) {
            /* as ld.so rounds it: the last partial page stays writable */
            o->relro_lo = (o->base + ph->p_vaddr) & ~(page - 1);
            o->relro_hi = (o->base + ph->p_vaddr + ph->p_memsz) & ~(page - 1);
        }
    }
    if (!dyn)
        return 0;
    struct relocs r = { 0 };
    Elf64_Sxword pltrel = DT_RELA;
    for (const Elf64_Dyn *d = dyn; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: o->symtab = (const Elf64_Sym *)dyn_addr(o, d->d_un.d_ptr); break;
        case DT_STRTAB: o->strtab = (const char *)dyn_addr(o, d->d_un.d_ptr); break;
        case DT_STRSZ: o->strsz = d->d_un.d_val; break;
        case DT_GNU_HASH: o->gnu_hash = (const uint32_t *)dyn_addr(o, d->d_un.d_ptr); break;
        case DT_HASH: o->sysv_hash = (const uint32_t *)dyn_addr(o, d->d_un.d_ptr); break;
        case DT_VERSYM: o->versym = (const Elf64_Half *)dyn_addr(o, d->d_un.d_ptr); break;
        case DT_RELA: r.rela = (const Elf64_Rela *)dyn_addr(o, d->d_un.d_ptr); break;
        case DT_RELASZ: r.relasz = d->d_un.d_val; break;
        case DT_JMPREL: r.jmprel = (const Elf64_Rela *)dyn_addr(o, d->d_un.d_ptr); break;
        case DT_PLTRELSZ: r.pltrelsz = d->d_un.d_val; break;
        case DT_PLTREL: pltrel = (Elf64_Sxword)d->d_un.d_val; break;
        case DT_SYMBOLIC: o->symbolic = 1; break;
        case DT_FLAGS: o->symbolic |= (d->d_un.d_val & DF_SYMBOLIC) != 0; break;
        default: break;
        }
    }
    if (!o->symtab || !o->strtab || (!o->gnu_hash && !o->sysv_hash))
        return 0;
    if (o->gnu_hash)
        gnu_hashed_range(o);
    else
        o->hashed_hi = UINT32_MAX;   /* DT_HASH holds every symbol */
    if (pltrel != DT_RELA)
        r.jmprel = NULL;
    if (rel)
        *rel = r;
    return 1;
}

static int rebind_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    const struct walk *w = arg;
    struct object o;
    struct relocs r;
    /* Not libgoprof.so itself: its own few calls can come through its interposers, and its
     * 500 relocations and RELRO page would cost a tenth of the time here. */
    if (!object_read(info, w->page, &o, &r) ||
        ((uintptr_t)got_rebind >= o.lo && (uintptr_t)got_rebind < o.hi))
        return 0;
    struct hits h = { 0 };
    for (size_t t = 0; t < w->n; t++)
        find_hashed(&o, w->targets[t].name, t, &h);
    struct stores st = { 0 };
    if (r.rela)
        rebind_relocs(w, &o, &h, r.rela, r.relasz, &st);
    if (r.jmprel)
        rebind_relocs(w, &o, &h, r.jmprel, r.pltrelsz, &st);
    store_all(w, &o, &st);
    return 0;
}

void got_rebind(struct got_target *targets, size_t n, got_next_fn next_of,
                struct got_rebind_stats *stats)
{
    memset(stats, 0, sizeof *stats);
#if defined(R_GLOB_DAT)
    struct walk w = { targets, n, next_of, stats, (size_t)sysconf(_SC_PAGESIZE) };
    dl_iterate_phdr(rebind_object, &w);
#else
    (void)targets, (void)n, (void)next_of;
#endif
}

/* ---- where calls of a name go -------------------------------------------------------------- */

struct definition_walk {
    const char *name;
    uintptr_t found;    /* the global lookup's address for name */
    size_t page;
    int stand_in;       /* found is an object's undefined symbol with a value (below) */
    int unknown;        /* the first definition is an IFUNC: its address is its resolver's */
    uintptr_t first;    /* the first definition in load order */
};

static int find_definition(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct definition_walk *d = arg;
    struct object o;
    if (!object_read(info, d->page, &o, NULL))
        return 0;
    struct hits h = { 0 };
    find_hashed(&o, d->name, 0, &h);
    for (size_t k = 0; k < h.n; k++) {
        uint32_t i = h.sym[k];
        const Elf64_Sym *s = &o.symtab[i];
        if (s->st_value == 0 || (o.versym && (o.versym[i] & 0x8000)))   /* hidden version */
            continue;
        uintptr_t a = o.base + s->st_value;
        if (s->st_shndx == SHN_UNDEF) {
            d->stand_in |= a == d->found;
            continue;
        }
        if (d->first || d->unknown)
            continue;
        if (ELF64_ST_TYPE(s->st_info) == STT_GNU_IFUNC)
            d->unknown = 1;
        else
            d->first = a;
    }
    return d->stand_in && (d->first || d->unknown);
}

uintptr_t got_call_definition(const char *name, uintptr_t found)
{
    /* Only a non-PIE executable (ET_EXEC) has such entries, and it is the one object loaded
     * at its link-time addresses (l_addr 0). Not its ELF header: the start of the mapping
     * _dl_find_object gives is the header only where the executable's segments are contiguous.
     * Where they are not (Debian's node: 2 MiB-aligned segments), each is a mapping of its own,
     * and a stand-in in the .plt segment's looked like no executable's: node's malloc then jumped
     * to itself. */
    struct dl_find_object fo;
    if (!found || _dl_find_object((void *)found, &fo) != 0 || !fo.dlfo_link_map ||
        fo.dlfo_link_map->l_addr != 0)
        return found;
    struct definition_walk d = { name, found, (size_t)sysconf(_SC_PAGESIZE), 0, 0, 0 };
    dl_iterate_phdr(find_definition, &d);
    return d.stand_in && d.first ? d.first : found;
}
