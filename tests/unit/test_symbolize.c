/* test_symbolize.c -- unit tests for elf_file, buildinfo, pclntab, goexe, maps, symbolize.
 * Context: any (test program)
 *
 * Driven by run_symbolize.sh, which builds the fixtures and passes expectations:
 *   test_symbolize go BIN NMFILE VERSION LINES BUILDID STRIPPED   (BUILDID "-" = none)
 *       LINES = noinline,inlined,inlined_body,caller (source lines of symbolize_fixture.go)
 *   test_symbolize c BIN NMFILE BUILDID
 *   test_symbolize self BUILDID        (this process: maps, symbolizer, vDSO, corrupt ELF)
 * Prints "N passed, N failed" and exits non-zero on any failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/elf/elf_file.h"
#include "lib/go/buildinfo.h"
#include "lib/go/goexe.h"
#include "lib/go/pclntab.h"
#include "collector/maps.h"
#include "collector/symbolize.h"

static int passed, failed;

void test_asm_marker(void);     /* symbolize_asm.S */

#define CHECK(cond, ...) do { \
    if (cond) passed++; \
    else { failed++; printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
           printf(__VA_ARGS__); printf("\n"); } \
} while (0)

struct nm_sym { uint64_t addr; char type; char name[256]; };

static struct nm_sym *nm_load(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "r");
    struct nm_sym *v = NULL;
    size_t cap = 0;
    char line[512];
    *n = 0;
    while (fp && fgets(line, sizeof line, fp)) {
        struct nm_sym s;
        unsigned long long a;
        int pos = 0;
        if (sscanf(line, "%llx %c %n", &a, &s.type, &pos) != 2 || pos == 0)
            continue;
        snprintf(s.name, sizeof s.name, "%.*s", (int)strcspn(line + pos, "\n"), line + pos);
        s.addr = a;
        if (*n == cap) {
            cap = cap ? 2 * cap : 1024;
            v = realloc(v, cap * sizeof *v);
        }
        v[(*n)++] = s;
    }
    if (fp)
        fclose(fp);
    return v;
}

static uint64_t nm_addr(const struct nm_sym *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return v[i].addr;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Every Go text symbol nm knows must resolve to itself through pclntab. */
static void test_go_nm(const struct goexe *g, const struct nm_sym *v, size_t n)
{
    size_t tried = 0, ok = 0;
    for (size_t i = 0; i < n; i++) {
        if ((v[i].type != 'T' && v[i].type != 't') || v[i].addr < g->text_start ||
            v[i].addr >= g->text_end || strcmp(v[i].name, "runtime.text") == 0 ||
            strchr(v[i].name, '.') == NULL)
            continue;
        tried++;
        struct gofunc f;
        char want[256];
        snprintf(want, sizeof want, "%s", v[i].name);
        if (ends_with(want, ".abi0"))
            want[strlen(want) - 5] = 0;
        const char *name = gopcln_find(&g->pcln, v[i].addr, &f) == 0 ? gopcln_funcname(&g->pcln, &f) : NULL;
        if (name && f.entry == v[i].addr && strcmp(name, want) == 0)
            ok++;
        else if (tried - ok <= 5)
            printf("  nm mismatch %#llx %s -> %s\n", (unsigned long long)v[i].addr, v[i].name, name ? name : "(none)");
    }
    CHECK(tried > 1000 && ok * 100 >= tried * 99, "%zu of %zu nm symbols resolved", ok, tried);
}

static void test_go_funcs(const struct goexe *g, const struct nm_sym *v, size_t n, const int *lines)
{
    struct gofunc f;
    CHECK(gopcln_find_by_name(&g->pcln, "main.fixtureNoInline", &f) == 0, "find_by_name");
    uint64_t want = nm_addr(v, n, "main.fixtureNoInline");
    CHECK(f.entry == want, "entry %#llx nm %#llx", (unsigned long long)f.entry, (unsigned long long)want);
    const char *file = NULL;
    int32_t line = 0, delta = -1;
    /* The entry's line is the func line (<= 1.25) or the first statement's (1.26). */
    CHECK(gopcln_fileline(&g->pcln, &f, f.entry, &file, &line) == 0 && ends_with(file, ".go") &&
          line >= lines[0] && line <= lines[0] + 2, "fileline %s:%d want line %d", file ? file : "?", line, lines[0]);
    CHECK(gopcln_start_line(&f) == lines[0], "start line %d", gopcln_start_line(&f));
    CHECK(gopcln_pcsp(&g->pcln, &f, f.entry, &delta) == 0 && delta == 0, "pcsp at entry %d", delta);
    CHECK(gopcln_find(&g->pcln, f.end - 1, &f) == 0 && f.entry == want, "find at end-1");

    struct gofunc gx, ss;
    CHECK(gopcln_find_by_name(&g->pcln, "runtime.goexit", &gx) == 0 && gopcln_funcid(&gx) != 0 &&
          (gopcln_flag(&gx) & GOPCLN_FLAG_TOPFRAME), "goexit funcid/flag");
    CHECK(gopcln_find_by_name(&g->pcln, "runtime.systemstack", &ss) == 0 &&
          (gopcln_flag(&ss) & GOPCLN_FLAG_SPWRITE), "systemstack SPWRITE");
    CHECK(gopcln_find(&g->pcln, g->text_end, &f) == -ENOENT, "past text end");
    CHECK(gopcln_find(&g->pcln, g->text_start - 1, &f) == -ENOENT, "before text");

    /* Inline expansion: some pc of fixtureCaller is inside the inlined fixtureInlined. */
    struct gofunc c;
    int found = 0;
    CHECK(gopcln_find_by_name(&g->pcln, "main.fixtureCaller", &c) == 0, "caller");
    for (uint64_t pc = c.entry; pc < c.end && !found; pc++) {
        struct gopcln_frame fr[4];
        int k = gopcln_expand(&g->pcln, pc, fr, 4);
        if (k != 2)
            continue;
        found = 1;
        CHECK(strcmp(fr[0].name, "main.fixtureInlined") == 0 && fr[0].line == lines[2] &&
              fr[0].start_line == lines[1], "inner %s:%d start %d", fr[0].name, fr[0].line, fr[0].start_line);
        CHECK(strcmp(fr[1].name, "main.fixtureCaller") == 0 && fr[1].start_line == lines[3] &&
              fr[1].line > lines[3] && fr[1].file && ends_with(fr[1].file, ".go"),
              "outer %s:%d start %d", fr[1].name, fr[1].line, fr[1].start_line);
        struct gopcln_frame one;
        CHECK(gopcln_expand(&g->pcln, pc, &one, 1) == 1 && strcmp(one.name, "main.fixtureCaller") == 0,
              "max=1 keeps physical frame");
    }
    CHECK(found, "no inlined pc found in main.fixtureCaller");
}

/* Symbolizer over the file image: one fake mapping per executable PT_LOAD at link addresses. */
static void test_go_symbolizer(const char *bin, const struct goexe *g, int stripped,
                               const struct nm_sym *v, size_t nv)
{
    struct symbolizer *s = symbolizer_new();
    Elf64_Phdr ph;
    for (unsigned i = 0; elf_file_phdr(g->file, i, &ph) == 0; i++) {
        if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
            continue;
        uint64_t pad = ph.p_offset & 4095;
        struct maps_entry e = { ph.p_vaddr - pad, ph.p_vaddr + ph.p_memsz, ph.p_offset - pad, 1, (char *)bin };
        CHECK(symbolizer_add_mapping(s, &e) == 0, "add mapping");
        CHECK(symbolizer_add_mapping(s, &e) == 0, "dedupe mapping");
    }
    symbolizer_set_go(s, &g->pcln, g->text_start, g->text_end);
    struct gofunc f;
    struct sym_frame fr[8];
    gopcln_find_by_name(&g->pcln, "main.fixtureNoInline", &f);
    int n = symbolizer_lookup(s, f.entry + 1, 1, fr, 8);
    CHECK(n == 1 && strcmp(fr[0].function, "main.fixtureNoInline") == 0 && fr[0].filename && fr[0].line > 0,
          "go lookup n=%d", n);
    if (!stripped) {
        /* The cgo wrapper _cgo_<hash>_Cfunc_fixture_c_spin is C code in the Go executable. */
        const char *cname = NULL;
        uint64_t csym = 0;
        for (size_t i = 0; i < nv && !cname; i++)
            if (ends_with(v[i].name, "_Cfunc_fixture_c_spin") && v[i].name[0] == '_')
                cname = v[i].name, csym = v[i].addr;
        CHECK(cname != NULL, "cgo C symbol in nm");
        n = cname ? symbolizer_lookup(s, csym + 2, 0, fr, 8) : 0;
        /* cgo compiles C with -g: file and line from the executable's DWARF when the host
         * linker wrote it (external linking; Go's internal linker leaves the C's out). */
        CHECK(n >= 1 && strcmp(fr[n - 1].function, cname) == 0 && (!fr[0].filename || fr[0].line > 0),
              "C in go exe n=%d", n);
    }
    CHECK(symbolizer_lookup(s, 0x10, 0, fr, 8) == 0, "unknown address");
    struct sym_mapping m;
    CHECK(symbolizer_mapping_count(s) == 1 && symbolizer_mapping_get(s, 0, &m) == 0, "mapping");
    CHECK(m.has_functions && m.has_inline_frames, "flags %d %d %d",
          m.has_functions, m.has_inline_frames, m.has_filenames);
    symbolizer_free(s);
}

static int test_go(char **argv)
{
    const char *bin = argv[0], *version = argv[2], *buildid = argv[4];
    int stripped = atoi(argv[5]);
    int lines[4];
    sscanf(argv[3], "%d,%d,%d,%d", &lines[0], &lines[1], &lines[2], &lines[3]);
    size_t n;
    struct nm_sym *v = nm_load(argv[1], &n);
    CHECK(n > 1000, "nm file %s has %zu symbols", argv[1], n);
    struct goexe g;
    int r = goexe_analyze_file(bin, &g);
    CHECK(r == 0 && g.is_go, "goexe_analyze_file %s: %d", bin, r);
    if (r)
        return 1;
    CHECK(strncmp(g.version, version, strlen(version)) == 0, "version %s want %s", g.version, version);
    CHECK(g.text_start == nm_addr(v, n, "runtime.text"), "text %#llx", (unsigned long long)g.text_start);
    CHECK(g.text_end > g.text_start && g.pcln.nfunc > 1000, "text end / nfunc");
    CHECK(g.g_tls_offset == -8 && (g.g_tls_exact || stripped), "tls %lld exact %d",
          (long long)g.g_tls_offset, g.g_tls_exact);
    CHECK(g.gofunc != 0, "gofunc");
    char bid[160];
    if (strcmp(buildid, "-") == 0)  /* Go's internal linker (<= 1.25) writes no GNU build id */
        CHECK(elf_file_build_id(g.file, bid, sizeof bid) == -ENOENT, "no build id");
    else
        CHECK(elf_file_build_id(g.file, bid, sizeof bid) == 0 && strcmp(bid, buildid) == 0, "build id %s", bid);
    test_go_nm(&g, v, n);
    test_go_funcs(&g, v, n, lines);
    test_go_symbolizer(bin, &g, stripped, v, n);
    goexe_release(&g);
    free(v);
    return 0;
}

static int test_c(char **argv)
{
    size_t n;
    struct nm_sym *v = nm_load(argv[1], &n);
    struct elf_file *f = elf_file_open(argv[0]);
    CHECK(f != NULL, "open %s", argv[0]);
    if (!f)
        return 1;
    uint64_t a = 0, off = 0;
    CHECK(elf_file_symbol_addr(f, "fixture_c_function", &a) == 0 && a == nm_addr(v, n, "fixture_c_function"), "addr");
    const char *name = elf_file_symbol_lookup(f, a + 3, &off);
    CHECK(name && strcmp(name, "fixture_c_function") == 0 && off == 3, "lookup %s", name ? name : "-");
    name = elf_file_symbol_lookup(f, nm_addr(v, n, "main"), &off);
    CHECK(name && strcmp(name, "main") == 0 && off == 0, "main");
    char bid[160];
    CHECK(elf_file_build_id(f, bid, sizeof bid) == 0 && strcmp(bid, argv[2]) == 0, "build id %s", bid);
    CHECK(elf_file_build_id(f, bid, 8) == -ERANGE, "small buffer");
    int ma, mi;
    CHECK(go_buildinfo_version(f, bid, sizeof bid, &ma, &mi) == -ENOENT, "not Go");
    struct goexe g;
    CHECK(goexe_analyze_file(argv[0], &g) == -ENOENT && !g.is_go, "goexe not Go");
    struct elf_section s;
    CHECK(elf_file_section(f, ".text", &s) == 0 && s.data && (s.flags & SHF_EXECINSTR), ".text");
    /* PLT stubs (type P, from objdump): "<target>@plt", anywhere in the stub; the resolver's
     * entry at the start of .plt: "[.plt]". */
    int nplt = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].type != 'P')
            continue;
        nplt++;
        name = elf_file_symbol_lookup(f, v[i].addr + 6, &off);
        CHECK(name && strcmp(name, v[i].name) == 0 && off == 6, "plt stub %s: %s", v[i].name,
              name ? name : "-");
    }
    CHECK(nplt >= 1, "the fixture calls through the PLT (%d stubs)", nplt);
    if (elf_file_section(f, ".plt", &s) == 0) {
        name = elf_file_symbol_lookup(f, s.addr + 2, &off);
        CHECK(name && strcmp(name, "[.plt]") == 0, "PLT0: %s", name ? name : "-");
    }
    elf_file_close(f);
    free(v);
    return 0;
}


__attribute__((noinline)) int test_self_marker(int x);
__attribute__((noinline)) int test_self_marker(int x)
{
    return x * 7 + 1;
}

static void test_maps_parse(void)
{
    struct maps_entry e;
    CHECK(maps_parse_line("7f0000001000-7f0000002000 r-xp 00001000 08:01 1234   /usr/lib/x b.so\n", &e) == 1 &&
          e.start == 0x7f0000001000 && e.limit == 0x7f0000002000 && e.offset == 0x1000 && e.inode == 1234 &&
          strcmp(e.path, "/usr/lib/x b.so") == 0, "parse exec line");
    free(e.path);
    CHECK(maps_parse_line("7f0000001000-7f0000002000 rw-p 00000000 00:00 0\n", &e) == 0, "skip rw");
    CHECK(maps_parse_line("7ffc00000000-7ffc00002000 r-xp 00000000 00:00 0                  [vdso]\n", &e) == 1 &&
          strcmp(e.path, "[vdso]") == 0, "vdso line");
    free(e.path);
    CHECK(maps_parse_line("garbage\n", &e) == 0, "garbage");
    CHECK(maps_parse_line("7f00-7e00 r-xp 0 0:0 0 x\n", &e) == 0, "inverted range");
}

/* A segment one of whose pages was patched (made writable, written, made executable again, as
 * the exit hook does to Go's runtime.exit) is three lines of /proc/self/maps, and one mapping
 * of the file: maps_read gives it whole, as pprof wants it (maps.c). */
static void test_maps_patched(const char *exe)
{
    long page = sysconf(_SC_PAGESIZE);
    int fd = open(exe, O_RDONLY);
    unsigned char *seg = fd >= 0 ? mmap(NULL, 3 * (size_t)page, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, page)
                                 : MAP_FAILED;
    if (fd >= 0)
        close(fd);
    CHECK(seg != MAP_FAILED, "map 3 pages of %s", exe);
    if (seg == MAP_FAILED)
        return;
    CHECK(mprotect(seg + page, (size_t)page, PROT_READ | PROT_WRITE | PROT_EXEC) == 0, "mprotect rwx");
    seg[page] ^= 1;
    CHECK(mprotect(seg + page, (size_t)page, PROT_READ | PROT_EXEC) == 0, "mprotect rx");
    uint64_t lo = (uint64_t)(uintptr_t)seg, hi = lo + 3 * (uint64_t)page;
    int lines = 0;
    char want[32];
    snprintf(want, sizeof want, "%" PRIx64 "-", lo);
    FILE *fp = fopen("/proc/self/maps", "r");
    char line[4096];
    while (fp && fgets(line, sizeof line, fp)) {
        unsigned long long a, b;
        if (sscanf(line, "%llx-%llx", &a, &b) == 2 && a >= lo && b <= hi)
            lines++;
    }
    if (fp)
        fclose(fp);
    CHECK(lines == 3, "the patched segment is %d lines of maps (the kernel's split, expected 3)", lines);
    struct maps_entry *me;
    size_t n, found = 0;
    if (maps_read(getpid(), &me, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            if (me[i].start < hi && me[i].limit > lo) {
                found++;
                CHECK(me[i].start == lo && me[i].limit == hi && me[i].offset == (uint64_t)page,
                      "one mapping: %" PRIx64 "-%" PRIx64 " offset %" PRIx64, me[i].start,
                      me[i].limit, me[i].offset);
            }
        maps_free(me, n);
    }
    CHECK(found == 1, "maps_read: the patched segment as %zu mappings", found);
    munmap(seg, 3 * (size_t)page);
}

/* Truncations and byte flips of a real ELF must never crash any reader. */
static void test_corrupt(const char *path)
{
    FILE *fp = fopen(path, "rb");
    static unsigned char buf[4 << 20];
    size_t n = fp ? fread(buf, 1, sizeof buf, fp) : 0;
    if (fp)
        fclose(fp);
    CHECK(n > 4096, "read %s", path);
    static unsigned char mut[4 << 20];
    unsigned seed = 12345;
    int opened = 0;
    for (int it = 0; it < 400; it++) {
        size_t len = n;
        memcpy(mut, buf, n);
        if (it % 4 == 0) {
            len = (size_t)(rand_r(&seed) % n);
        } else {
            for (int k = 0; k < 1 + it % 16; k++) {
                /* Mostly hit the headers and tables, where offsets live. */
                size_t at = (k & 1) ? (size_t)(rand_r(&seed) % 256) : (size_t)(rand_r(&seed) % n);
                mut[at] = (unsigned char)rand_r(&seed);
            }
        }
        struct elf_file *f = elf_file_open_mem(mut, len);
        if (!f)
            continue;
        opened++;
        char b[200];
        struct elf_section s;
        Elf64_Phdr ph;
        uint64_t a;
        (void)elf_file_build_id(f, b, sizeof b);
        (void)elf_file_section(f, ".text", &s);
        (void)elf_file_phdr_find(f, PT_TLS, &ph);
        (void)elf_file_symbol_addr(f, "runtime.text", &a);
        for (uint64_t x = 0; x < 0x2000; x += 0x40)
            (void)elf_file_symbol_lookup(f, 0x1000 + x, NULL);
        for (unsigned i = 0; i < elf_file_section_count(f) && i < 64; i++) {
            uint8_t *d;
            size_t dn;
            if (elf_file_section_at(f, i, &s) == 0 && (s.flags & SHF_COMPRESSED) &&
                elf_file_section_decompress(f, &s, &d, &dn) == 0)
                free(d);
        }
        int ma, mi;
        (void)go_buildinfo_version(f, b, sizeof b, &ma, &mi);
        elf_file_close(f);
    }
    CHECK(opened > 100, "corrupt images opened %d", opened);
}

static void test_self(const char *buildid)
{
    test_maps_parse();
    struct symbolizer *s = symbolizer_new();
    CHECK(symbolizer_update_maps(s, getpid()) == 0, "update maps");
    size_t n0 = symbolizer_mapping_count(s);
    CHECK(symbolizer_update_maps(s, getpid()) == 0 && symbolizer_mapping_count(s) == n0, "merge is idempotent");
    struct sym_frame fr[4];
    int n = symbolizer_lookup(s, (uint64_t)(uintptr_t)&test_self_marker + 1, 0, fr, 4);
    CHECK(n == 1 && strcmp(fr[0].function, "test_self_marker") == 0, "self function n=%d %s", n, n > 0 ? fr[0].function : "");
    n = symbolizer_lookup(s, (uint64_t)(uintptr_t)&test_self_marker, 1, fr, 4);
    CHECK(n == 0 || strcmp(fr[0].function, "test_self_marker") != 0, "return address uses addr-1");
    /* A function in an assembled unit: DWARF has lines but no function, the name comes from
     * the symbol table (the unit's empty index once tripped UBSan in the collector). Twice:
     * the second lookup goes through what the first left behind. */
    for (int k = 0; k < 2; k++) {
        n = symbolizer_lookup(s, (uint64_t)(uintptr_t)&test_asm_marker + 2, 0, fr, 4);
        CHECK(n == 1 && strcmp(fr[0].function, "test_asm_marker") == 0,
              "assembly function, lookup %d: n=%d %s", k, n, n > 0 ? fr[0].function : "");
    }
    n = symbolizer_lookup(s, (uint64_t)(uintptr_t)&getpid + 2, 0, fr, 4);
    CHECK(n == 1 && strstr(fr[0].function, "getpid"), "libc getpid: %s", n > 0 ? fr[0].function : "-");
    /* vDSO: its clock_gettime, found through our own image. */
    size_t vdso_size = 0, nm_;
    struct maps_entry *me;
    if (maps_read(getpid(), &me, &nm_) == 0) {
        for (size_t i = 0; i < nm_; i++)
            if (strcmp(me[i].path, "[vdso]") == 0)
                vdso_size = me[i].limit - me[i].start;
        maps_free(me, nm_);
    }
    struct elf_file *vd = elf_file_open_mem((void *)getauxval(AT_SYSINFO_EHDR), vdso_size);
    uint64_t cg = 0;
    CHECK(vd && elf_file_symbol_addr(vd, "__vdso_clock_gettime", &cg) == 0, "vdso symbol");
    elf_file_close(vd);
    n = symbolizer_lookup(s, getauxval(AT_SYSINFO_EHDR) + cg + 1, 0, fr, 4);
    CHECK(n == 1 && strstr(fr[0].function, "clock_gettime"), "vdso lookup %s", n > 0 ? fr[0].function : "-");
    CHECK(symbolizer_lookup(s, 8, 0, fr, 4) == 0, "unknown");
    int seen_exe = 0;
    for (size_t i = 0; i < symbolizer_mapping_count(s); i++) {
        struct sym_mapping m;
        symbolizer_mapping_get(s, i, &m);
        if ((uint64_t)(uintptr_t)&test_self_marker >= m.start && (uint64_t)(uintptr_t)&test_self_marker < m.limit) {
            seen_exe = 1;
            CHECK(strcmp(m.build_id, buildid) == 0, "exe build id %s", m.build_id);
            /* Files, lines and inline frames too when built with -g (DWARF). */
            CHECK(m.has_functions, "exe flags");
        }
        if (strcmp(m.path, "[vdso]") == 0)
            CHECK(m.has_functions && m.build_id[0], "vdso mapping flags, build id %s", m.build_id);
    }
    CHECK(seen_exe, "exe mapping");
    symbolizer_free(s);
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[len > 0 ? len : 0] = 0;
    test_corrupt(exe);
    test_maps_patched(exe);
}

int main(int argc, char **argv)
{
    if (argc >= 8 && strcmp(argv[1], "go") == 0)
        test_go(argv + 2);
    else if (argc >= 5 && strcmp(argv[1], "c") == 0)
        test_c(argv + 2);
    else if (argc >= 3 && strcmp(argv[1], "self") == 0)
        test_self(argv[2]);
    else {
        fprintf(stderr, "usage: see test_symbolize.c\n");
        return 2;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
