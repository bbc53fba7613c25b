/* symbolize.c -- addresses of a target process to function/file/line (see symbolize.h).
 * Context: collector
 *
 * Load bias of a mapping: the PT_LOAD whose file range contains the mapping's offset maps
 * file offset x to vaddr x - p_offset + p_vaddr, and the mapping puts offset o at start, so
 * runtime = vaddr + (start - o + p_offset - p_vaddr).
 */
#include "collector/symbolize.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "lib/elf/elf_file.h"
#include "lib/base/grow.h"
#include "lib/base/log.h"
#include "lib/go/goexe.h"
#include "lib/go/pclntab.h"
#include "collector/maps.h"
#include "collector/symbolize_dwarf.h"

/* Go inlines a few levels at most; deeper chains are truncated by gopcln_expand. */
#define SYM_MAX_GO_FRAMES 64
#define SYM_BUILD_ID_MAX 129    /* 64-byte id as hex + NUL; GNU ids are 20 bytes */

struct sym_map {
    uint64_t start, limit, offset, inode;
    char *path;
    int open_state;             /* 0 = not tried, 1 = open, -1 = failed */
    struct elf_file *elf;
    struct elf_file *debug;     /* separate debug file found by build id, or NULL */
    uint64_t bias;              /* runtime = link-time vaddr + bias */
    char build_id[SYM_BUILD_ID_MAX];
    unsigned long lookups, fn_misses, file_misses, line_misses;
    int go_frames;              /* some lookup used the pclntab */
    int dwarf_state;            /* 0 = not tried, 1 = open, -1 = none */
    struct sym_dwarf *dwarf;    /* the file's DWARF (shared, counted), or NULL */
    int dwarf_frames;           /* some lookup used the DWARF */
    int go_checked;             /* looked at as a Go library (go_library) */
};

struct symbolizer {
    struct sym_map *maps;
    size_t nmaps, cap;
    int have_go;
    struct gopcln go;
    uint64_t go_start, go_end;
    char *go_file;              /* NULL: runtime addresses; else the tables are this file's, at
                                 * link-time addresses (symbolizer_set_go_file) */
    struct goexe *go_lib;       /* a Go shared library's tables found here (go_library), owned */
    int wrapper_funcid;         /* funcID of compiler-generated wrappers, -1 when unknown */
};

struct symbolizer *symbolizer_new(void)
{
    struct symbolizer *s = calloc(1, sizeof *s);
    if (!s)
        errno = ENOMEM;
    return s;
}

void symbolizer_free(struct symbolizer *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nmaps; i++) {
        elf_file_close(s->maps[i].elf);
        elf_file_close(s->maps[i].debug);
        sym_dwarf_put(s->maps[i].dwarf);
        free(s->maps[i].path);
    }
    free(s->maps);
    free(s->go_file);
    if (s->go_lib) {
        goexe_release(s->go_lib);
        free(s->go_lib);
    }
    free(s);
}

int symbolizer_add_mapping(struct symbolizer *s, const struct maps_entry *e)
{
    for (size_t i = 0; i < s->nmaps; i++) {
        const struct sym_map *m = &s->maps[i];
        if (m->start == e->start && m->limit == e->limit && m->offset == e->offset &&
            m->inode == e->inode && strcmp(m->path, e->path) == 0)
            return (int)i;
    }
    if (gp_grow((void **)&s->maps, &s->cap, s->nmaps + 1, sizeof *s->maps, 32) != 0)
        return -ENOMEM;
    struct sym_map *m = &s->maps[s->nmaps];
    memset(m, 0, sizeof *m);
    m->path = strdup(e->path);
    if (!m->path)
        return -ENOMEM;
    m->start = e->start;
    m->limit = e->limit;
    m->offset = e->offset;
    m->inode = e->inode;
    return (int)s->nmaps++;
}

int symbolizer_covers(const struct symbolizer *s, uint64_t addr)
{
    for (size_t i = 0; i < s->nmaps; i++)
        if (addr >= s->maps[i].start && addr < s->maps[i].limit)
            return 1;
    return 0;
}

int symbolizer_update_maps(struct symbolizer *s, pid_t pid)
{
    struct maps_entry *v;
    size_t n;
    int r = maps_read(pid, &v, &n);
    if (r)
        return r;
    for (size_t i = 0; i < n && r >= 0; i++)
        r = symbolizer_add_mapping(s, &v[i]);
    maps_free(v, n);
    return r < 0 ? r : 0;
}

int symbolizer_set_go_file(struct symbolizer *s, const struct gopcln *t, uint64_t text_start,
                           uint64_t text_end, const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    symbolizer_set_go(s, t, text_start, text_end);
    s->go_file = copy;
    return 0;
}

void symbolizer_set_go(struct symbolizer *s, const struct gopcln *t, uint64_t text_start,
                       uint64_t text_end)
{
    free(s->go_file);
    s->go_file = NULL;
    s->go = *t;
    s->go_start = text_start;
    s->go_end = text_end;
    s->have_go = 1;
    /* FuncIDs are renumbered between versions, but Wrapper always directly follows
     * systemstack_switch (internal/abi/symtab.go, 1.21-1.26). */
    struct gofunc f;
    s->wrapper_funcid = -1;
    if (gopcln_find_by_name(t, "runtime.systemstack_switch", &f) == 0)
        s->wrapper_funcid = gopcln_funcid(&f) + 1;
}

/* Our own vDSO is the target's too (same kernel). Its image size is not recorded anywhere,
 * so bound it by the farthest header table or segment the image itself declares. */
static struct elf_file *sym_open_vdso(void)
{
    const uint8_t *base = (const uint8_t *)getauxval(AT_SYSINFO_EHDR);
    if (!base)
        return NULL;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
    if (memcmp(base, ELFMAG, SELFMAG) != 0 || eh->e_phentsize != sizeof(Elf64_Phdr) ||
        eh->e_phoff > 4096 || eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > 4096)
        return NULL;
    uint64_t size = (uint64_t)eh->e_shoff + (uint64_t)eh->e_shnum * eh->e_shentsize;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && ph[i].p_offset + ph[i].p_filesz > size)
            size = ph[i].p_offset + ph[i].p_filesz;
    }
    if (size > (64u << 20))
        return NULL;
    return elf_file_open_mem(base, (size_t)size);
}

/* Distributions strip shared libraries and ship their symbols apart (Debian's *-dbg and
 * *-dbgsym packages, e.g. libc6-dbg), found by build id; local functions such as libc's
 * start_thread are only there. Same link-time addresses as the stripped file. */
static void open_debug_file(struct sym_map *m)
{
    size_t n = strlen(m->build_id);
    if (n < 4)
        return;
    char path[sizeof m->build_id + 64];
    snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%.2s/%s.debug", m->build_id,
             m->build_id + 2);
    if (access(path, R_OK) == 0)
        m->debug = elf_file_open(path);
}

static void sym_open(struct sym_map *m)
{
    m->open_state = -1;
    if (strcmp(m->path, "[vdso]") == 0)
        m->elf = sym_open_vdso();
    else if (m->path[0] == '/')
        m->elf = elf_file_open(m->path);
    if (!m->elf) {
        if (m->path[0] == '/')
            gp_debug("symbolize", "cannot open %s: %s", m->path, strerror(errno));
        return;
    }
    /* Prefer the executable segment: that is what an "x" mapping holds. */
    Elf64_Phdr ph, best;
    int found = 0;
    for (unsigned i = 0; elf_file_phdr(m->elf, i, &ph) == 0; i++) {
        uint64_t page_off = ph.p_offset & ~(uint64_t)4095;
        if (ph.p_type != PT_LOAD || m->offset < page_off || m->offset >= ph.p_offset + ph.p_filesz)
            continue;
        if (!found || ((ph.p_flags & PF_X) && !(best.p_flags & PF_X))) {
            best = ph;
            found = 1;
        }
    }
    if (!found) {
        gp_debug("symbolize", "no PT_LOAD for offset %#llx in %s",
                 (unsigned long long)m->offset, m->path);
        elf_file_close(m->elf);
        m->elf = NULL;
        return;
    }
    m->bias = m->start - m->offset + best.p_offset - best.p_vaddr;
    if (elf_file_build_id(m->elf, m->build_id, sizeof m->build_id) != 0)
        m->build_id[0] = 0;
    m->open_state = 1;
    open_debug_file(m);
}

/* Newest mapping containing addr (later mappings replace earlier ones at the same place). */
static int sym_find_map(const struct symbolizer *s, uint64_t addr)
{
    for (size_t i = s->nmaps; i-- > 0;) {
        if (addr >= s->maps[i].start && addr < s->maps[i].limit)
            return (int)i;
    }
    return -1;
}

static int sym_lookup_go(struct symbolizer *s, struct sym_map *m, int idx, uint64_t pc,
                         struct sym_frame *out, int max)
{
    struct gopcln_frame fr[SYM_MAX_GO_FRAMES];
    int n = gopcln_expand(&s->go, pc, fr, max < SYM_MAX_GO_FRAMES ? max : SYM_MAX_GO_FRAMES);
    if (n <= 0)
        return 0;
    m->go_frames = 1;
    for (int i = 0; i < n; i++) {
        out[i] = (struct sym_frame){ .function = fr[i].name, .filename = fr[i].file,
                                     .line = fr[i].line, .start_line = fr[i].start_line,
                                     .mapping_index = idx,
                                     .go_wrapper = fr[i].funcid == s->wrapper_funcid };
        if (!fr[i].file)
            m->file_misses++;
        if (fr[i].line <= 0)
            m->line_misses++;
    }
    return n;
}

static const char *sym_elf_name(struct sym_map *m, uint64_t pc)
{
    const char *name = NULL;
    if (m->open_state > 0)
        name = elf_file_symbol_lookup(m->elf, pc - m->bias, NULL);
    if (!name && m->debug)
        name = elf_file_symbol_lookup(m->debug, pc - m->bias, NULL);
    return name;
}

/* C and C++ through the file's DWARF: the count, 0 when the DWARF does not cover pc (the
 * symbol tables are tried), -1 when it does but no function is named there. */
static int sym_lookup_dwarf(struct sym_map *m, int idx, uint64_t pc, struct sym_frame *out,
                            int max)
{
    struct sym_dwarf_frame df[SYM_MAX_GO_FRAMES];
    int n = sym_dwarf_lookup(m->dwarf, pc - m->bias, df,
                             max < SYM_MAX_GO_FRAMES ? max : SYM_MAX_GO_FRAMES);
    if (n <= 0)
        return 0;
    if (!df[0].function) {
        /* Lines without a function (assembly): named from the symbol tables. */
        df[0].function = df[0].system_name = sym_elf_name(m, pc);
        if (!df[0].function) {
            m->fn_misses++;
            return -1;
        }
    }
    m->dwarf_frames = 1;
    for (int i = 0; i < n; i++) {
        out[i] = (struct sym_frame){
            .function = df[i].function,
            .system_name = df[i].system_name != df[i].function ? df[i].system_name : NULL,
            .filename = df[i].filename, .line = df[i].line, .mapping_index = idx,
        };
        if (!df[i].filename)
            m->file_misses++;
        if (df[i].line <= 0)
            m->line_misses++;
    }
    return n;
}

/* A process with no Go tables given (a C program) may have loaded a Go shared library: by
 * dlopen after its constructor's analysis (Python's ctypes), or as a member of the session,
 * whose libraries the constructor's analysis never saw. Such a mapping's file (Go's build
 * info section, and an analysis that succeeds) gives its tables, at link-time addresses. */
static void go_library(struct symbolizer *s, struct sym_map *m)
{
    struct elf_section sec;
    m->go_checked = 1;
    if (m->open_state == 0)
        sym_open(m);
    if (m->open_state <= 0 || elf_file_section(m->elf, ".go.buildinfo", &sec) != 0)
        return;
    struct goexe *g = calloc(1, sizeof *g);
    if (g && goexe_analyze_file(m->path, g) == 0 && g->is_go &&
        symbolizer_set_go_file(s, &g->pcln, g->text_start, g->text_end, m->path) == 0) {
        s->go_lib = g;
        return;
    }
    if (g) {
        goexe_release(g);
        free(g);
    }
}

/* pc as the Go tables' address: itself, or, for tables at link-time addresses, the file's
 * (0 in another mapping). */
static uint64_t go_address(struct symbolizer *s, struct sym_map *m, uint64_t pc)
{
    if (!s->have_go && !m->go_checked)
        go_library(s, m);
    if (!s->have_go)
        return 0;
    if (!s->go_file)
        return pc;
    if (strcmp(m->path, s->go_file) != 0)
        return 0;
    if (m->open_state == 0)
        sym_open(m);
    return m->open_state > 0 ? pc - m->bias : 0;
}

int symbolizer_lookup(struct symbolizer *s, uint64_t addr, int is_return_address,
                      struct sym_frame *out, int max)
{
    if (max < 1)
        return -EINVAL;
    uint64_t pc = is_return_address && addr ? addr - 1 : addr;
    int idx = sym_find_map(s, pc);
    if (idx < 0)
        return 0;
    struct sym_map *m = &s->maps[idx];
    m->lookups++;
    uint64_t go_pc = go_address(s, m, pc);
    if (s->have_go && go_pc >= s->go_start && go_pc < s->go_end) {
        int n = sym_lookup_go(s, m, idx, go_pc, out, max);
        if (n > 0)
            return n;
        /* Padding between functions and the like: try the ELF symbols below. */
    }
    if (m->open_state == 0)
        sym_open(m);
    if (m->open_state > 0 && m->dwarf_state == 0) {
        m->dwarf = sym_dwarf_get(m->path, m->build_id);
        m->dwarf_state = m->dwarf ? 1 : -1;
    }
    if (m->dwarf) {
        int n = sym_lookup_dwarf(m, idx, pc, out, max);
        if (n != 0)
            return n > 0 ? n : 0;
    }
    const char *name = sym_elf_name(m, pc);
    m->file_misses++;
    m->line_misses++;
    if (!name) {
        m->fn_misses++;
        return 0;
    }
    out[0] = (struct sym_frame){ .function = name, .mapping_index = idx };
    return 1;
}

size_t symbolizer_mapping_count(const struct symbolizer *s)
{
    return s->nmaps;
}

int symbolizer_mapping_get(struct symbolizer *s, size_t i, struct sym_mapping *out)
{
    if (i >= s->nmaps)
        return -ENOENT;
    struct sym_map *m = &s->maps[i];
    if (m->open_state == 0)
        sym_open(m);
    out->start = m->start;
    out->limit = m->limit;
    out->offset = m->offset;
    out->path = m->path;
    out->build_id = m->build_id;
    /* Named from the file, as far as the file names anything: an address with no name here
     * (a stripped executable's C code) has none in the file either, and a tool that takes the
     * flag's absence as "symbolize this mapping again" replaces every name in it. go tool
     * pprof's were wrong: for a stripped cgo executable it reads Go's table from the start of
     * .text, not of runtime.text, and named every location by its neighbour (go1.26's
     * cmd/internal/objfile; go tool addr2line shows it). Go's own profiles set the flag only
     * when every lookup named a function, but they hold no C frames. Left clear where nothing
     * was named (a file we could not read): another tool may do better there. */
    out->has_functions = m->lookups > m->fn_misses;
    out->has_filenames = out->has_functions && m->file_misses == 0;
    out->has_line_numbers = out->has_functions && m->line_misses == 0;
    out->has_inline_frames = m->go_frames || m->dwarf_frames ||
        (s->have_go && !s->go_file && s->go_start >= m->start && s->go_start < m->limit);
    return 0;
}
