/* fuzz_pclntab.c -- libFuzzer target: a Go pclntab and its go:func.* data (src/lib/go/pclntab.c).
 *
 * Input: text_start u64 (0: take pcHeader.textStart), pclntab length u32, the pclntab bytes,
 * then the rest as go:func.* (none when empty). Each region is its own exactly sized allocation.
 * Runs what the signal handler does (find, pcsp, pcdata) and what the collector does (expand
 * with inline frames, file/line, names) at the first, middle and last pc of up to
 * FUZZ_PCLN_FUNCS functions spread over the table, plus pcs outside it.
 * Seeds: the pclntab and go:func.* of real Go binaries, located by goexe (seeds.sh).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "lib/go/pclntab.h"

#define FUZZ_PCLN_FUNCS 128

static void fuzz_strings(const struct gopcln_frame *fr, int n)
{
    for (int i = 0; i < n; i++) {
        volatile size_t sink = strlen(fr[i].name) + (fr[i].file ? strlen(fr[i].file) : 0);
        (void)sink;
    }
}

static void fuzz_pc(const struct gopcln *t, const struct gofunc *f, uint64_t pc)
{
    int32_t v;
    const char *file;
    (void)gopcln_pcsp(t, f, pc, &v);
    (void)gopcln_pcdata(t, f, GOPCLN_PCDATA_INLTREEINDEX, pc, &v);
    (void)gopcln_pcdata(t, f, 0, pc, &v);
    (void)gopcln_fileline(t, f, pc, &file, &v);
    struct gopcln_frame fr[16];
    int n = gopcln_expand(t, pc, fr, 16);
    if (n > 16)
        abort();
    if (n > 0)
        fuzz_strings(fr, n);
    n = gopcln_expand(t, pc, fr, 1);   /* only the physical frame fits */
    if (n > 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = { data, size };
    uint64_t text_start = fz_u64(&in);
    size_t pn, gn;
    const uint8_t *p = fz_bytes(&in, fz_u32(&in), &pn);
    const uint8_t *g = fz_bytes(&in, in.n, &gn);
    uint8_t *pcl = fz_dup(p, pn), *gofunc = fz_dup(g, gn);
    struct gopcln t;
    if (pcl && gopcln_init(&t, pcl, pn, text_start, gofunc, gn) == 0) {
        uint64_t end = gopcln_text_end(&t);
        struct gofunc f;
        uint32_t step = t.nfunc / FUZZ_PCLN_FUNCS + 1;
        for (uint32_t i = 0; i < t.nfunc; i += step) {
            if (gopcln_func_at(&t, i, &f) != 0)
                continue;
            const char *name = gopcln_funcname(&t, &f);
            if (name) {
                volatile size_t sink = strlen(name);
                (void)sink;
            }
            (void)gopcln_funcid(&f);
            (void)gopcln_flag(&f);
            (void)gopcln_start_line(&f);
            (void)gopcln_funcdata(&t, &f, GOPCLN_FUNCDATA_INLTREE);
            fuzz_pc(&t, &f, f.entry);
            fuzz_pc(&t, &f, f.entry + (f.end - f.entry) / 2);
            fuzz_pc(&t, &f, f.end - 1);
        }
        uint64_t outside[] = { t.text_start - 1, end, end - 1, ~0ull, 0 };
        for (unsigned i = 0; i < sizeof outside / sizeof outside[0]; i++) {
            struct gopcln_frame fr[4];
            if (gopcln_find(&t, outside[i], &f) == 0)
                fuzz_pc(&t, &f, outside[i]);
            (void)gopcln_expand(&t, outside[i], fr, 4);
        }
        (void)gopcln_find_by_name(&t, "runtime.main", &f);
        (void)gopcln_find_by_name(&t, "", &f);
    }
    free(pcl);
    free(gofunc);
    return 0;
}
