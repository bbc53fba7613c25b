/* fuzz_elf.c -- libFuzzer target: a whole ELF file, through everything that reads one.
 *
 * Input: the bytes of a file, as the collector (src/collector/) and the constructor
 * (src/lib/go/goexe.c) see the programs and libraries they open. Runs the elf_file API the way its
 * callers do (sections, decompression, program headers, notes, the symbol index and lookups),
 * then the Go path: .go.buildinfo and goexe's whole analysis in file mode (pclntab, moduledata,
 * runtime.text, TLS, DWARF layout), and a few pclntab lookups on what it found.
 * Seeds: real executables and libraries, Go and C, and truncations of them (seeds.sh).
 */
#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/elf/elf_file.h"
#include "fuzz_common.h"
#include "lib/go/buildinfo.h"
#include "lib/go/goexe.h"
#include "lib/go/pclntab.h"

/* Decompressing costs time per input: a few sections are enough to reach every path. */
#define FUZZ_ELF_MAX_SECTIONS 256
#define FUZZ_ELF_MAX_INFLATE 8

static void fuzz_sections(const struct elf_file *f)
{
    unsigned n = elf_file_section_count(f), inflated = 0;
    for (unsigned i = 0; i < n && i < FUZZ_ELF_MAX_SECTIONS; i++) {
        struct elf_section s;
        if (elf_file_section_at(f, i, &s) != 0)
            continue;
        volatile size_t sink = strlen(s.name);
        (void)sink;
        if ((s.flags & SHF_COMPRESSED) && inflated < FUZZ_ELF_MAX_INFLATE) {
            inflated++;
            uint8_t *out = NULL;
            size_t out_size = 0;
            if (elf_file_section_decompress(f, &s, &out, &out_size) == 0) {
                if (out_size)   /* the whole buffer must be readable */
                    sink = out[0] + out[out_size - 1];
                free(out);
            }
        }
    }
    struct elf_section s;
    if (elf_file_section(f, ".debug_abbrev", &s) == 0 && s.data && !(s.flags & SHF_COMPRESSED)) {
        uint8_t *out = NULL;
        size_t out_size = 0;
        if (elf_file_section_decompress(f, &s, &out, &out_size) == 0)
            free(out);
    }
}

static void fuzz_symbols(struct elf_file *f)
{
    Elf64_Sym sym;
    uint64_t addr = 0, off;
    (void)elf_file_symbol_find(f, "main", &sym);
    (void)elf_file_symbol_addr(f, "runtime.text", &addr);
    if (elf_file_symbol_count(f) <= 0)
        return;
    const Elf64_Ehdr *eh = elf_file_header(f);
    uint64_t probes[] = { eh->e_entry, eh->e_entry + 1, addr, addr + 16, 0, ~0ull };
    for (unsigned i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        const char *name = elf_file_symbol_lookup(f, probes[i], &off);
        if (name) {
            volatile size_t sink = strlen(name);
            (void)sink;
        }
    }
    /* Every executable section's start and middle, as the collector's pcs would land. */
    struct elf_section s;
    for (unsigned i = 1; i < FUZZ_ELF_MAX_SECTIONS && elf_file_section_at(f, i, &s) == 0; i++) {
        if (!(s.flags & SHF_EXECINSTR))
            continue;
        (void)elf_file_symbol_lookup(f, s.addr, &off);
        (void)elf_file_symbol_lookup(f, s.addr + s.size / 2, &off);
    }
}

static void fuzz_phdrs(const struct elf_file *f)
{
    Elf64_Phdr ph;
    for (unsigned i = 0; elf_file_phdr(f, i, &ph) == 0; i++)
        (void)elf_file_bytes(f, ph.p_offset, ph.p_filesz);
    (void)elf_file_phdr_find(f, PT_TLS, &ph);
    char id[41], small[8];
    (void)elf_file_build_id(f, id, sizeof id);
    (void)elf_file_build_id(f, small, sizeof small);
}

static void fuzz_go(const uint8_t *data, size_t size)
{
    struct goexe g;
    if (goexe_analyze_image(data, size, &g) != 0)
        return;
    struct gopcln_frame fr[8];
    struct gofunc fn;
    uint64_t pcs[] = { g.text_start, g.text_start + 1, g.text_end - 1, g.text_end,
                       g.text_start + (g.text_end - g.text_start) / 2 };
    for (unsigned i = 0; i < sizeof pcs / sizeof pcs[0]; i++)
        (void)gopcln_expand(&g.pcln, pcs[i], fr, 8);
    (void)gopcln_find_by_name(&g.pcln, "runtime.main", &fn);
    goexe_release(&g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct elf_file *f = elf_file_open_mem(data, size);
    if (!f)
        return 0;
    fuzz_sections(f);
    fuzz_phdrs(f);
    fuzz_symbols(f);
    char ver[32];
    int major, minor;
    (void)go_buildinfo_version(f, ver, sizeof ver, &major, &minor);
    elf_file_close(f);
    fuzz_go(data, size);
    return 0;
}
