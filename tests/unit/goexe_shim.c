/* goexe_shim.c -- LD_PRELOAD test shim: runs goexe_analyze in-process from a constructor.
 * Context: init (test only)
 *
 * Loaded into the Go fixture by run_symbolize.sh. Before the Go runtime starts, it analyses
 * /proc/self/exe with the main program's load bias, checks the result against expectations
 * passed in the environment (link-time addresses from `go tool nm`), symbolizes through the
 * pclntab in live memory and the symbolizer, and prints "goexe_shim: N passed, N failed".
 *   GOEXE_SHIM_TEXT, GOEXE_SHIM_NOINLINE  hex link-time addresses of runtime.text and
 *                                         main.fixtureNoInline
 *   GOEXE_SHIM_VERSION                    e.g. go1.26
 *   GOEXE_SHIM_LINES                      noinline,inlined,inlined_body,caller
 */
#ifndef _GNU_SOURCE   /* config.h (the build) defines it already */
#define _GNU_SOURCE
#endif
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/go/goexe.h"
#include "lib/go/pclntab.h"
#include "collector/symbolize.h"

static int shim_passed, shim_failed;

#define SHIM_CHECK(cond, ...) do { \
    if (cond) shim_passed++; \
    else { shim_failed++; fprintf(stderr, "goexe_shim: FAIL %s: ", #cond); \
           fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); } \
} while (0)

struct shim_main { int found; uint64_t bias; void *tls_data; };

static int shim_phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct shim_main *m = arg;
    (void)size;
    if (!m->found) {  /* the first entry is the main program */
        m->found = 1;
        m->bias = info->dlpi_addr;
    }
    if (info->dlpi_tls_modid == 1)
        m->tls_data = info->dlpi_tls_data;
    return 0;
}

static uint64_t shim_env_hex(const char *name)
{
    const char *s = getenv(name);
    return s ? strtoull(s, NULL, 16) : 0;
}

static void shim_inline(const struct goexe *g, const int *lines)
{
    struct gofunc c;
    int found = 0;
    SHIM_CHECK(gopcln_find_by_name(&g->pcln, "main.fixtureCaller", &c) == 0, "caller");
    for (uint64_t pc = c.entry; pc < c.end && !found; pc++) {
        struct gopcln_frame fr[4];
        if (gopcln_expand(&g->pcln, pc, fr, 4) != 2)
            continue;
        found = 1;
        SHIM_CHECK(strcmp(fr[0].name, "main.fixtureInlined") == 0 && fr[0].line == lines[2] &&
                   strcmp(fr[1].name, "main.fixtureCaller") == 0, "inline %s:%d", fr[0].name, fr[0].line);
    }
    SHIM_CHECK(found, "no inlined pc in main.fixtureCaller");
}

static void shim_symbolizer(const struct goexe *g, uint64_t noinline)
{
    struct symbolizer *s = symbolizer_new();
    SHIM_CHECK(symbolizer_update_maps(s, getpid()) == 0, "maps");
    symbolizer_set_go(s, &g->pcln, g->text_start, g->text_end);
    struct sym_frame fr[8];
    int n = symbolizer_lookup(s, noinline + 5, 1, fr, 8);
    SHIM_CHECK(n == 1 && strcmp(fr[0].function, "main.fixtureNoInline") == 0 && fr[0].filename &&
               fr[0].line > 0, "symbolizer lookup n=%d", n);
    n = symbolizer_lookup(s, (uint64_t)(uintptr_t)&getpid, 0, fr, 8);
    SHIM_CHECK(n == 1 && strstr(fr[0].function, "getpid"), "libc lookup");
    if (n > 0) {
        struct sym_mapping m;
        symbolizer_mapping_get(s, (size_t)fr[0].mapping_index, &m);
        SHIM_CHECK(m.has_functions && strstr(m.path, "libc"), "libc mapping %s", m.path);
    }
    int go_maps = 0;
    for (size_t i = 0; i < symbolizer_mapping_count(s); i++) {
        struct sym_mapping m;
        symbolizer_mapping_get(s, i, &m);
        if (m.has_inline_frames && !strstr(m.path, "libc")) {   /* libc: DWARF from libc6-dbg */
            go_maps++;
            SHIM_CHECK(m.has_functions && m.has_filenames, "go mapping flags");
        }
    }
    SHIM_CHECK(go_maps == 1, "go mappings %d", go_maps);
    symbolizer_free(s);
}

__attribute__((constructor)) static void goexe_shim_init(void)
{
    struct shim_main m = { 0, 0, NULL };
    dl_iterate_phdr(shim_phdr_cb, &m);
    struct goexe g;
    int r = goexe_analyze("/proc/self/exe", m.bias, &g);
    SHIM_CHECK(r == 0 && g.is_go, "goexe_analyze: %d", r);
    if (r == 0) {
        int lines[4] = { 0, 0, 0, 0 };
        const char *ls = getenv("GOEXE_SHIM_LINES"), *ver = getenv("GOEXE_SHIM_VERSION");
        if (ls)
            sscanf(ls, "%d,%d,%d,%d", &lines[0], &lines[1], &lines[2], &lines[3]);
        SHIM_CHECK(ver && strncmp(g.version, ver, strlen(ver)) == 0, "version %s", g.version);
        SHIM_CHECK(g.text_start - m.bias == shim_env_hex("GOEXE_SHIM_TEXT"), "text %#llx bias %#llx",
                   (unsigned long long)g.text_start, (unsigned long long)m.bias);
        SHIM_CHECK(g.moduledata != 0 && g.gofunc != 0, "moduledata %#llx gofunc %#llx",
                   (unsigned long long)g.moduledata, (unsigned long long)g.gofunc);
        struct gofunc f;
        uint64_t want = shim_env_hex("GOEXE_SHIM_NOINLINE") + m.bias;
        SHIM_CHECK(gopcln_find_by_name(&g.pcln, "main.fixtureNoInline", &f) == 0 && f.entry == want,
                   "noinline entry");
        const char *file = NULL;
        int32_t line = 0;
        SHIM_CHECK(gopcln_find(&g.pcln, want + 4, &f) == 0 &&
                   gopcln_fileline(&g.pcln, &f, f.entry, &file, &line) == 0 &&
                   gopcln_start_line(&f) == lines[0] && line >= lines[0] && line <= lines[0] + 2,
                   "fileline %s:%d", file ? file : "?", line);
        /* g's slot must lie inside the executable's static TLS block, just below tp. */
        char *tp = __builtin_thread_pointer();
        char *slot = tp + g.g_tls_offset;
        SHIM_CHECK(g.g_tls_offset == -8 && m.tls_data && slot >= (char *)m.tls_data && slot < tp,
                   "tls offset %lld data %p tp %p", (long long)g.g_tls_offset, m.tls_data, (void *)tp);
        shim_inline(&g, lines);
        shim_symbolizer(&g, want);
    }
    fprintf(stderr, "goexe_shim: %d passed, %d failed\n", shim_passed, shim_failed);
}
