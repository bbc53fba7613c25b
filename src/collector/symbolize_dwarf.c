/* symbolize_dwarf.c -- C and C++ frames from DWARF through elfutils (see symbolize_dwarf.h).
 * Context: collector
 *
 * A lookup is what `addr2line -i -f` answers: libdwfl finds the compilation unit holding the
 * address; from its DIE the scopes that contain the address are followed down (namespaces,
 * functions, lexical blocks, inlined subroutines), which gives the chain of the function and
 * the inlined calls in it, outermost first. The innermost frame's file and line come from the
 * unit's line table; each frame outside it is at its inlined callee's DW_AT_call_file and
 * DW_AT_call_line. Names are DW_AT_linkage_name (through abstract origins and
 * specifications) demangled, else DW_AT_name.
 */
#include "collector/symbolize_dwarf.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/base/grow.h"
#include "lib/base/hash.h"
#include "lib/base/log.h"
#include "collector/demangle.h"

#define DW_MAX_CHAIN 64         /* function + inlined calls followed; deeper ones are cut */
#define DW_MAX_NEST 128         /* DIE nesting followed */
#define DW_MAX_WITHOUT 4096     /* files without DWARF remembered */
#define DW_MAX_BACK 64          /* ranges searched one by one when they do not nest */
#define DW_ID_MAX 129

/* The functions used, by libdw's own prototypes. */
struct dw_api {
    __typeof__(dwfl_begin) *dwfl_begin;
    __typeof__(dwfl_end) *dwfl_end;
    __typeof__(dwfl_report_begin) *dwfl_report_begin;
    __typeof__(dwfl_report_elf) *dwfl_report_elf;
    __typeof__(dwfl_report_end) *dwfl_report_end;
    __typeof__(dwfl_module_getdwarf) *dwfl_module_getdwarf;
    __typeof__(dwfl_module_info) *dwfl_module_info;
    __typeof__(dwfl_module_addrdie) *dwfl_module_addrdie;
    __typeof__(dwfl_errmsg) *dwfl_errmsg;
    __typeof__(dwfl_build_id_find_elf) *dwfl_build_id_find_elf;
    __typeof__(dwfl_standard_find_debuginfo) *dwfl_standard_find_debuginfo;
    __typeof__(dwfl_offline_section_address) *dwfl_offline_section_address;
    __typeof__(dwarf_tag) *dwarf_tag;
    __typeof__(dwarf_child) *dwarf_child;
    __typeof__(dwarf_siblingof) *dwarf_siblingof;
    __typeof__(dwarf_haspc) *dwarf_haspc;
    __typeof__(dwarf_attr) *dwarf_attr;
    __typeof__(dwarf_attr_integrate) *dwarf_attr_integrate;
    __typeof__(dwarf_formstring) *dwarf_formstring;
    __typeof__(dwarf_formudata) *dwarf_formudata;
    __typeof__(dwarf_getsrc_die) *dwarf_getsrc_die;
    __typeof__(dwarf_linesrc) *dwarf_linesrc;
    __typeof__(dwarf_lineno) *dwarf_lineno;
    __typeof__(dwarf_getsrcfiles) *dwarf_getsrcfiles;
    __typeof__(dwarf_filesrc) *dwarf_filesrc;
    __typeof__(dwarf_dieoffset) *dwarf_dieoffset;
    __typeof__(dwarf_ranges) *dwarf_ranges;
};

static struct dw_api api;
static int api_state;           /* 0 = not tried, 1 = loaded, -1 = not available */
static Dwfl_Callbacks callbacks;
static char *debuginfo_path;    /* NULL: libdwfl's default, ":.debug:/usr/lib/debug" */

static int api_load(void)
{
    if (api_state)
        return api_state > 0;
    api_state = -1;
    /* libdwfl asks debuginfod servers when this is set (decided when it loads); the collector
     * is single-threaded and its environment its own. */
    unsetenv("DEBUGINFOD_URLS");
    void *lib = dlopen(GP_DW_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        gp_debug("symbolize", "no DWARF reader, C/C++ frames without lines: %s", dlerror());
        return 0;
    }
    static const struct { const char *name; size_t off; } syms[] = {
#define SYM(f) { #f, offsetof(struct dw_api, f) }
        SYM(dwfl_begin), SYM(dwfl_end), SYM(dwfl_report_begin), SYM(dwfl_report_elf),
        SYM(dwfl_report_end), SYM(dwfl_module_getdwarf), SYM(dwfl_module_info),
        SYM(dwfl_module_addrdie), SYM(dwfl_errmsg), SYM(dwfl_build_id_find_elf),
        SYM(dwfl_standard_find_debuginfo), SYM(dwfl_offline_section_address), SYM(dwarf_tag),
        SYM(dwarf_child), SYM(dwarf_siblingof), SYM(dwarf_haspc), SYM(dwarf_attr),
        SYM(dwarf_attr_integrate), SYM(dwarf_formstring), SYM(dwarf_formudata),
        SYM(dwarf_getsrc_die), SYM(dwarf_linesrc), SYM(dwarf_lineno), SYM(dwarf_getsrcfiles),
        SYM(dwarf_filesrc), SYM(dwarf_dieoffset), SYM(dwarf_ranges),
#undef SYM
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        void *f = dlsym(lib, syms[i].name);
        if (!f) {
            gp_debug("symbolize", "%s: no %s: C/C++ frames without lines", GP_DW_SONAME,
                     syms[i].name);
            dlclose(lib);
            return 0;
        }
        /* Each member is a function pointer; POSIX makes dlsym's object pointer convertible. */
        memcpy((char *)&api + syms[i].off, &f, sizeof f);
    }
    callbacks.find_elf = api.dwfl_build_id_find_elf;
    callbacks.find_debuginfo = api.dwfl_standard_find_debuginfo;
    callbacks.section_address = api.dwfl_offline_section_address;
    callbacks.debuginfo_path = &debuginfo_path;
    api_state = 1;
    return 1;   /* the library stays loaded for the collector's life */
}

/* A cached lookup: frames pool[first .. first+n). */
struct dw_cached {
    uint64_t vaddr;
    uint32_t first;
    uint16_t n;
    uint16_t used;
};

/* What a frame needs of a function's or an inlined call's DIE. */
struct dw_info {
    const char *function, *system_name;     /* as in struct sym_dwarf_frame */
    const char *call_file;                  /* inlined calls: where the call is */
    int call_line;
    int inlined;
};

/* A function or inlined call of a unit, and the one it is in (-1: none); its info is read
 * the first time a lookup meets it. */
struct dw_node {
    Dwarf_Die die;
    int parent;
    int have_info;
    struct dw_info info;
};

/* An address range of a node. */
struct dw_range {
    uint64_t lo, hi;
    uint32_t node, depth;
    int32_t up;                 /* the range this one lies in (index), -1: none */
};

/* One compilation unit's functions and inlined calls, by address: built the first time an
 * address falls in the unit (one walk over its DIEs), then searched by bisection. */
struct dw_unit {
    uint64_t off;               /* the unit DIE's offset; 0 = free slot */
    struct dw_node *nodes;
    size_t nnodes, nodes_cap;
    struct dw_range *ranges;    /* sorted by lo, then depth */
    size_t nranges, ranges_cap;
    int broken;                 /* building failed: walk the DIEs at each lookup */
};

/* A linkage name (a pointer into the DWARF's strings) and its demangled form (owned). */
struct dw_name {
    const char *mangled;
    char *demangled;            /* NULL: does not demangle */
};

struct sym_dwarf {
    dev_t dev;
    ino_t ino;
    char build_id[DW_ID_MAX];
    int refs;                   /* 0: a file without DWARF, remembered */
    Dwfl *dwfl;
    Dwfl_Module *mod;
    uint64_t bytes;
    struct dw_cached *tab;      /* open addressing on vaddr; cap a power of two */
    size_t tab_cap, tab_len;
    struct sym_dwarf_frame *pool;
    size_t pool_len, pool_cap;
    struct dw_name *names;      /* open addressing on the pointer */
    size_t names_cap, names_len;
    struct dw_unit *units;      /* open addressing on the unit's offset */
    size_t units_cap, units_len;
    uint64_t heap;              /* bytes of tab, pool, names and demangled strings */
};

static struct sym_dwarf **files;
static size_t nfiles, files_cap;
static size_t open_files, without_files, cached;
static uint64_t open_bytes, heap_bytes;

static void dw_free(struct sym_dwarf *d)
{
    if (d->dwfl)
        api.dwfl_end(d->dwfl);
    for (size_t i = 0; i < d->names_cap; i++)
        free(d->names[i].demangled);
    free(d->names);
    for (size_t i = 0; i < d->units_cap; i++) {
        free(d->units[i].nodes);
        free(d->units[i].ranges);
    }
    free(d->units);
    free(d->tab);
    free(d->pool);
    free(d);
}

static int remember(struct sym_dwarf *d)
{
    if (gp_grow((void **)&files, &files_cap, nfiles + 1, sizeof *files, 16) != 0)
        return -ENOMEM;
    files[nfiles++] = d;
    return 0;
}

/* Opens d's module; 0, or -1 when it has no DWARF or would exceed a limit. */
static int dw_open(struct sym_dwarf *d, const char *path)
{
    if (open_files >= SYM_DWARF_MAX_FILES) {
        gp_debug("symbolize", "%s: %d files with DWARF open already: symbol table only", path,
                 SYM_DWARF_MAX_FILES);
        return -1;
    }
    d->dwfl = api.dwfl_begin(&callbacks);
    if (!d->dwfl)
        return -1;
    api.dwfl_report_begin(d->dwfl);
    /* ET_DYN placed at its own link-time addresses (base 0 + p_vaddr), ET_EXEC where it is:
     * module addresses are link-time addresses either way. */
    d->mod = api.dwfl_report_elf(d->dwfl, path, path, -1, 0, true);
    api.dwfl_report_end(d->dwfl, NULL, NULL);
    Dwarf_Addr bias;
    if (!d->mod || !api.dwfl_module_getdwarf(d->mod, &bias)) {
        gp_debug("symbolize", "%s: no DWARF: %s", path, api.dwfl_errmsg(-1));
        return -1;
    }
    const char *main_file = NULL, *debug_file = NULL;
    api.dwfl_module_info(d->mod, NULL, NULL, NULL, NULL, NULL, &main_file, &debug_file);
    struct stat st;
    const char *from = debug_file ? debug_file : main_file ? main_file : path;
    d->bytes = stat(from, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (open_bytes + d->bytes > SYM_DWARF_MAX_BYTES) {
        gp_debug("symbolize", "%s: DWARF would exceed %llu MiB open: symbol table only", path,
                 (unsigned long long)(SYM_DWARF_MAX_BYTES >> 20));
        return -1;
    }
    gp_debug("symbolize", "%s: DWARF from %s", path, from);
    open_bytes += d->bytes;
    open_files++;
    return 0;
}

struct sym_dwarf *sym_dwarf_get(const char *path, const char *build_id)
{
    struct stat st;
    if (!path || path[0] != '/' || !api_load() || stat(path, &st) != 0)
        return NULL;
    if (!build_id)
        build_id = "";
    for (size_t i = 0; i < nfiles; i++) {
        struct sym_dwarf *d = files[i];
        if (d->dev == st.st_dev && d->ino == st.st_ino && strcmp(d->build_id, build_id) == 0) {
            if (!d->refs)
                return NULL;
            d->refs++;
            return d;
        }
    }
    struct sym_dwarf *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->dev = st.st_dev;
    d->ino = st.st_ino;
    snprintf(d->build_id, sizeof d->build_id, "%s", build_id);
    if (dw_open(d, path) != 0) {
        if (d->dwfl)
            api.dwfl_end(d->dwfl);
        d->dwfl = NULL;
        d->mod = NULL;
        if (without_files < DW_MAX_WITHOUT && remember(d) == 0) {
            without_files++;
        } else {
            free(d);
        }
        return NULL;
    }
    if (remember(d) != 0) {
        open_files--;
        open_bytes -= d->bytes;
        dw_free(d);
        return NULL;
    }
    d->refs = 1;
    return d;
}

void sym_dwarf_put(struct sym_dwarf *d)
{
    if (!d || --d->refs > 0)
        return;
    for (size_t i = 0; i < nfiles; i++) {
        if (files[i] == d) {
            files[i] = files[--nfiles];
            break;
        }
    }
    open_files--;
    open_bytes -= d->bytes;
    cached -= d->tab_len;
    heap_bytes -= d->heap;
    dw_free(d);
    if (!nfiles) {
        free(files);
        files = NULL;
        files_cap = 0;
    }
}

void sym_dwarf_stats(struct sym_dwarf_stats *st)
{
    st->files = open_files;
    st->without = without_files;
    st->debug_bytes = open_bytes;
    st->cached = cached;
    st->cache_bytes = heap_bytes;
}

int sym_dwarf_comment(char *buf, size_t size)
{
    if (!open_files && !without_files)
        return 0;
    snprintf(buf, size,
             "symbolizer: dwarf_files=%zu dwarf_mapped_kb=%llu dwarf_cached=%zu dwarf_heap_kb=%llu",
             open_files, (unsigned long long)(open_bytes >> 10), cached,
             (unsigned long long)(heap_bytes >> 10));
    return 1;
}

/* ---- names ------------------------------------------------------------------------------ */

static void account(struct sym_dwarf *d, int64_t bytes)
{
    d->heap += (uint64_t)bytes;
    heap_bytes += (uint64_t)bytes;
}

/* The three tables below (names, units, the cache) are open addressing with linear probing on
 * gp_hash_u64 of a 64-bit key, at a power-of-two capacity kept at least twice their length;
 * a slot whose key is 0 is free. */
typedef uint64_t (*slot_key_fn)(const void *slot);

/* Doubles a table of elements of size bytes (first: the capacity of an empty one). */
static int table_grow(struct sym_dwarf *d, void **tab, size_t *cap, size_t first, size_t size,
                      slot_key_fn key)
{
    size_t ncap = *cap ? 2 * *cap : first;
    unsigned char *v = calloc(ncap, size);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < *cap; i++) {
        const unsigned char *e = (const unsigned char *)*tab + i * size;
        uint64_t k = key(e);
        if (!k)
            continue;
        size_t s = gp_hash_u64(k) & (ncap - 1);
        while (key(v + s * size))
            s = (s + 1) & (ncap - 1);
        memcpy(v + s * size, e, size);
    }
    account(d, (int64_t)((ncap - *cap) * size));
    free(*tab);
    *tab = v;
    *cap = ncap;
    return 0;
}

static uint64_t name_key(const void *slot)
{
    return (uintptr_t)((const struct dw_name *)slot)->mangled;
}

/* The demangled form of a linkage name, made once per name; NULL when it does not demangle. */
static const char *demangled(struct sym_dwarf *d, const char *mangled)
{
    if (mangled[0] != '_' || mangled[1] != 'Z')
        return NULL;
    if (2 * (d->names_len + 1) > d->names_cap &&
        table_grow(d, (void **)&d->names, &d->names_cap, 256, sizeof *d->names, name_key) != 0)
        return NULL;
    size_t s = gp_hash_u64((uintptr_t)mangled) & (d->names_cap - 1);
    while (d->names[s].mangled && d->names[s].mangled != mangled)
        s = (s + 1) & (d->names_cap - 1);
    if (!d->names[s].mangled) {
        d->names[s].mangled = mangled;
        d->names[s].demangled = gp_demangle(mangled);
        d->names_len++;
        if (d->names[s].demangled)
            account(d, (int64_t)strlen(d->names[s].demangled) + 1);
    }
    return d->names[s].demangled;
}

static const char *attr_string(Dwarf_Die *die, unsigned name)
{
    Dwarf_Attribute a;
    return api.dwarf_formstring(api.dwarf_attr_integrate(die, name, &a));
}

/* A function's or an inlined call's name: pprof's name (demangled) and system name; for an
 * inlined call, where the call is. */
static void die_info(struct sym_dwarf *d, Dwarf_Die *cu, Dwarf_Die *die, struct dw_info *f)
{
    *f = (struct dw_info){ 0 };
    if (api.dwarf_tag(die) == DW_TAG_inlined_subroutine) {
        Dwarf_Attribute a;
        Dwarf_Word w;
        Dwarf_Files *srcfiles;
        size_t nsrc;
        f->inlined = 1;
        if (api.dwarf_formudata(api.dwarf_attr(die, DW_AT_call_line, &a), &w) == 0)
            f->call_line = (int)w;
        if (api.dwarf_formudata(api.dwarf_attr(die, DW_AT_call_file, &a), &w) == 0 &&
            api.dwarf_getsrcfiles(cu, &srcfiles, &nsrc) == 0 && w < nsrc)
            f->call_file = api.dwarf_filesrc(srcfiles, w, NULL, NULL);
    }
    const char *link = attr_string(die, DW_AT_linkage_name);
    if (!link)
        link = attr_string(die, DW_AT_MIPS_linkage_name);
    const char *plain = attr_string(die, DW_AT_name);
    const char *dm = link ? demangled(d, link) : NULL;
    if (dm) {
        f->function = dm;
        f->system_name = link;
        return;
    }
    /* Without a demangler, the mangled name, as the symbol table gives it. */
    f->function = link && link[0] == '_' && link[1] == 'Z' ? link : plain ? plain : link;
    f->system_name = f->function;
}

/* ---- the scopes at an address ----------------------------------------------------------- */

/* The DIE tree's walks: parent's first child into child (1), or 0 when it has none or the
 * nesting is too deep; then child becomes its next sibling (1), or 0 after the last. */
static int first_child(Dwarf_Die *parent, unsigned depth, Dwarf_Die *child)
{
    return depth < DW_MAX_NEST && api.dwarf_child(parent, child) == 0;
}

static int next_sibling(Dwarf_Die *child)
{
    Dwarf_Die next;
    if (api.dwarf_siblingof(child, &next) != 0)
        return 0;
    *child = next;
    return 1;
}

/* Follows the DIEs under parent that contain pc, appending functions and inlined calls to
 * chain (outermost first). 1 when some DIE under parent contained pc. */
static int descend(Dwarf_Die *parent, Dwarf_Addr pc, Dwarf_Die *chain, int *n, int depth)
{
    Dwarf_Die child;
    if (!first_child(parent, (unsigned)depth, &child))
        return 0;
    do {
        switch (api.dwarf_tag(&child)) {
        case DW_TAG_namespace:
        case DW_TAG_module:
            /* No addresses of its own: C++ (Clang) and Fortran put functions in here. */
            if (descend(&child, pc, chain, n, depth + 1))
                return 1;
            break;
        case DW_TAG_subprogram:
        case DW_TAG_inlined_subroutine:
        case DW_TAG_entry_point:
        case DW_TAG_lexical_block:
        case DW_TAG_try_block:
        case DW_TAG_catch_block:
        case DW_TAG_with_stmt:
            if (api.dwarf_haspc(&child, pc) == 1) {
                int tag = api.dwarf_tag(&child);
                if (tag != DW_TAG_lexical_block && tag != DW_TAG_try_block &&
                    tag != DW_TAG_catch_block && tag != DW_TAG_with_stmt && *n < DW_MAX_CHAIN)
                    chain[(*n)++] = child;
                descend(&child, pc, chain, n, depth + 1);
                return 1;
            }
            break;
        default:
            break;
        }
    } while (next_sibling(&child));
    return 0;
}

/* ---- the unit index --------------------------------------------------------------------- */

/* Adds the functions and inlined calls under parent (in node pnode, at depth) to u. */
static int index_walk(struct sym_dwarf *d, struct dw_unit *u, Dwarf_Die *parent, int pnode,
                      uint32_t depth)
{
    Dwarf_Die child;
    if (!first_child(parent, depth, &child))
        return 0;
    do {
        int tag = api.dwarf_tag(&child);
        switch (tag) {
        case DW_TAG_namespace:
        case DW_TAG_module:
        case DW_TAG_lexical_block:
        case DW_TAG_try_block:
        case DW_TAG_catch_block:
        case DW_TAG_with_stmt:
            if (index_walk(d, u, &child, pnode, depth + 1) != 0)
                return -ENOMEM;
            break;
        case DW_TAG_subprogram:
        case DW_TAG_inlined_subroutine:
        case DW_TAG_entry_point: {
            size_t old = u->nodes_cap;
            if (gp_grow((void **)&u->nodes, &u->nodes_cap, u->nnodes + 1, sizeof *u->nodes,
                        64) != 0)
                return -ENOMEM;
            account(d, (int64_t)((u->nodes_cap - old) * sizeof *u->nodes));
            int me = (int)u->nnodes++;
            u->nodes[me] = (struct dw_node){ .die = child, .parent = pnode };
            Dwarf_Addr base, lo, hi;
            ptrdiff_t off = 0;
            while ((off = api.dwarf_ranges(&child, off, &base, &lo, &hi)) > 0) {
                if (hi <= lo)
                    continue;
                old = u->ranges_cap;
                if (gp_grow((void **)&u->ranges, &u->ranges_cap, u->nranges + 1,
                            sizeof *u->ranges, 64) != 0)
                    return -ENOMEM;
                account(d, (int64_t)((u->ranges_cap - old) * sizeof *u->ranges));
                u->ranges[u->nranges++] = (struct dw_range){ lo, hi, (uint32_t)me, depth, -1 };
            }
            if (index_walk(d, u, &child, me, depth + 1) != 0)
                return -ENOMEM;
            break;
        }
        default:
            break;
        }
    } while (next_sibling(&child));
    return 0;
}

static int range_cmp(const void *a, const void *b)
{
    const struct dw_range *x = a, *y = b;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    return x->depth < y->depth ? -1 : x->depth > y->depth;
}

static uint64_t unit_key(const void *slot)
{
    return ((const struct dw_unit *)slot)->off;
}

/* The index of the unit cu, built on first use; NULL when it cannot be. */
static struct dw_unit *unit_of(struct sym_dwarf *d, Dwarf_Die *cu)
{
    uint64_t off = api.dwarf_dieoffset(cu) + 1;     /* + 1: 0 marks a free slot */
    if (2 * (d->units_len + 1) > d->units_cap &&
        table_grow(d, (void **)&d->units, &d->units_cap, 64, sizeof *d->units, unit_key) != 0)
        return NULL;
    size_t s = gp_hash_u64(off) & (d->units_cap - 1);
    while (d->units[s].off && d->units[s].off != off)
        s = (s + 1) & (d->units_cap - 1);
    struct dw_unit *u = &d->units[s];
    if (u->off)
        return u->broken ? NULL : u;
    u->off = off;
    d->units_len++;
    if (index_walk(d, u, cu, -1, 0) != 0) {
        u->broken = 1;
        return NULL;
    }
    if (u->nranges)     /* a unit without function DIEs (assembly) has no ranges array */
        qsort(u->ranges, u->nranges, sizeof *u->ranges, range_cmp);
    /* Each range's enclosing range: the nearest earlier one still open at its start. */
    int32_t *open = malloc((u->nranges ? u->nranges : 1) * sizeof *open);
    if (!open || u->nranges > INT32_MAX) {
        free(open);
        u->broken = 1;
        return NULL;
    }
    size_t top = 0;
    for (size_t i = 0; i < u->nranges; i++) {
        while (top && u->ranges[open[top - 1]].hi <= u->ranges[i].lo)
            top--;
        u->ranges[i].up = top ? open[top - 1] : -1;
        open[top++] = (int32_t)i;
    }
    free(open);
    return u;
}

/* The chain of functions and inlined calls containing pc (innermost first), from the index:
 * ranges nest, so every range holding pc holds the last range that starts at or before pc,
 * and the innermost is found going up from that one; when ranges overlap without nesting
 * (which DWARF forbids, but producers slip), the DW_MAX_BACK earlier ranges are searched one
 * by one. */
static int unit_chain(struct sym_dwarf *d, Dwarf_Die *cu, struct dw_unit *u, Dwarf_Addr pc,
                      struct dw_info *chain)
{
    size_t lo = 0, hi = u->nranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (u->ranges[mid].lo <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    int node = -1;
    for (int32_t i = lo ? (int32_t)lo - 1 : -1; i >= 0; i = u->ranges[i].up) {
        if (pc < u->ranges[i].hi) {
            node = (int)u->ranges[i].node;
            break;
        }
    }
    for (size_t i = lo, k = 0; node < 0 && i-- > 0 && k < DW_MAX_BACK; k++) {
        if (pc < u->ranges[i].hi)
            node = (int)u->ranges[i].node;
    }
    int n = 0;
    while (node >= 0 && n < DW_MAX_CHAIN) {
        struct dw_node *nd = &u->nodes[node];
        if (!nd->have_info) {
            die_info(d, cu, &nd->die, &nd->info);
            nd->have_info = 1;
        }
        chain[n++] = nd->info;
        if (!nd->info.inlined)
            break;
        node = nd->parent;
    }
    return n;
}

static int lookup_uncached(struct sym_dwarf *d, uint64_t vaddr, struct sym_dwarf_frame *out,
                           int max)
{
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = api.dwfl_module_addrdie(d->mod, vaddr, &bias);
    if (!cu)
        return 0;
    Dwarf_Addr pc = vaddr - bias;
    struct dw_info chain[DW_MAX_CHAIN];
    int nchain = 0;
    struct dw_unit *u = unit_of(d, cu);
    if (u) {
        nchain = unit_chain(d, cu, u, pc, chain);
    } else {
        Dwarf_Die dies[DW_MAX_CHAIN];
        descend(cu, pc, dies, &nchain, 0);
        for (int i = 0; i < nchain; i++)    /* innermost first */
            die_info(d, cu, &dies[nchain - 1 - i], &chain[i]);
        for (int i = 0; i < nchain; i++) {
            if (!chain[i].inlined)
                nchain = i + 1;
        }
    }
    const char *file = NULL;
    int line = 0;
    Dwarf_Line *l = api.dwarf_getsrc_die(cu, pc);
    if (l) {
        file = api.dwarf_linesrc(l, NULL, NULL);
        if (api.dwarf_lineno(l, &line) != 0)
            line = 0;
    }
    if (nchain == 0) {
        if (!file)
            return 0;
        /* Lines but no function (assembly): the caller names it from the symbol table. */
        out[0] = (struct sym_dwarf_frame){ NULL, NULL, file, line };
        return 1;
    }
    int n = 0;
    for (int i = 0; i < nchain && n < max; i++) {
        out[n++] = (struct sym_dwarf_frame){ chain[i].function, chain[i].system_name, file,
                                             line };
        /* The caller's position: where this call was inlined. */
        file = chain[i].call_file;
        line = chain[i].call_line;
    }
    return n;
}

/* ---- the cache -------------------------------------------------------------------------- */

/* A cached address's key is vaddr + 1 (vaddr 0 is an address like any other). */
static uint64_t cached_key(const void *slot)
{
    const struct dw_cached *c = slot;
    return c->used ? c->vaddr + 1 : 0;
}

static struct dw_cached *cache_find(struct sym_dwarf *d, uint64_t vaddr)
{
    if (!d->tab_cap)
        return NULL;
    size_t s = gp_hash_u64(vaddr + 1) & (d->tab_cap - 1);
    while (d->tab[s].used && d->tab[s].vaddr != vaddr)
        s = (s + 1) & (d->tab_cap - 1);
    return &d->tab[s];
}

static void cache_add(struct sym_dwarf *d, uint64_t vaddr, const struct sym_dwarf_frame *f,
                      int n)
{
    if (cached >= SYM_DWARF_MAX_CACHED || d->pool_len + (size_t)n > UINT32_MAX)
        return;
    if (2 * (d->tab_len + 1) > d->tab_cap &&
        table_grow(d, (void **)&d->tab, &d->tab_cap, 1024, sizeof *d->tab, cached_key) != 0)
        return;
    size_t old = d->pool_cap;
    if (gp_grow((void **)&d->pool, &d->pool_cap, d->pool_len + (size_t)n, sizeof *d->pool,
                1024) != 0)
        return;
    account(d, (int64_t)((d->pool_cap - old) * sizeof *d->pool));
    struct dw_cached *c = cache_find(d, vaddr);
    *c = (struct dw_cached){ vaddr, (uint32_t)d->pool_len, (uint16_t)n, 1 };
    memcpy(&d->pool[d->pool_len], f, (size_t)n * sizeof *f);
    d->pool_len += (size_t)n;
    d->tab_len++;
    cached++;
}

int sym_dwarf_lookup(struct sym_dwarf *d, uint64_t vaddr, struct sym_dwarf_frame *out, int max)
{
    if (!d || !d->mod || max < 1)
        return 0;
    struct dw_cached *c = cache_find(d, vaddr);
    if (c && c->used) {
        int n = c->n < max ? c->n : max;
        memcpy(out, &d->pool[c->first], (size_t)n * sizeof *out);
        return n;
    }
    struct sym_dwarf_frame f[DW_MAX_CHAIN];
    int n = lookup_uncached(d, vaddr, f, DW_MAX_CHAIN);
    cache_add(d, vaddr, f, n);
    if (n > max)
        n = max;
    memcpy(out, f, (size_t)n * sizeof *out);
    return n;
}
