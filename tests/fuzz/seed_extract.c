/* seed_extract.c -- writes fuzz seeds cut from a real binary (run by seeds.sh).
 *
 *   seed_extract buildinfo|pclntab|dwarf|cfi BINARY OUT
 *
 * Each kind writes the input format of its target (fuzz_<kind>.c) to OUT, or to OUT.<variant>
 * when a binary gives several; exits 2 when the binary has nothing for that kind. The binaries
 * are trusted (built or installed on this machine), and read with libgoprof's own readers.
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/elf/elf_file.h"
#include "lib/go/godwarf.h"
#include "lib/go/goexe.h"

#define SEED_GOFUNC_MAX (256u << 10)     /* enough for the inline trees of a small program */
#define SEED_DWARF_C_MAX (256u << 10)    /* C units: whole .debug_info up to this */
#define SEED_DWARF_FIRST_MAX (32u << 10) /* Go: the first unit too, when this small */

struct out {
    uint8_t *b;
    size_t n, cap;
};

static void put(struct out *o, const void *p, size_t n)
{
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2;
        o->b = realloc(o->b, o->cap);
        if (!o->b) {
            perror("seed_extract");
            exit(1);
        }
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put_u8(struct out *o, uint8_t v) { put(o, &v, 1); }
static void put_u32(struct out *o, uint32_t v) { put(o, &v, 4); }   /* x86-64: LE */
static void put_u64(struct out *o, uint64_t v) { put(o, &v, 8); }

static void save(const char *path, const char *variant, const struct out *o)
{
    char name[4096];
    snprintf(name, sizeof name, "%s%s%s", path, variant ? "." : "", variant ? variant : "");
    FILE *f = fopen(name, "wb");
    if (!f || fwrite(o->b, 1, o->n, f) != o->n || fclose(f) != 0) {
        perror(name);
        exit(1);
    }
}

static int buildinfo(struct elf_file *f, const char *out)
{
    struct elf_section s;
    if (elf_file_section(f, ".go.buildinfo", &s) != 0 || !s.data)
        return 2;
    size_t n = s.size < 512 ? s.size : 512;
    struct out o = { 0 };
    put_u8(&o, 1 | 5 << 5);   /* a section; a 32-byte buffer */
    put(&o, s.data, n);
    save(out, "sec", &o);
    o.b[0] = 0 | 3 << 1 | 7 << 5;   /* a segment at address 3 mod 16; a 200-byte buffer */
    save(out, "seg", &o);
    free(o.b);
    return 0;
}

static int pclntab(const char *bin, const char *out)
{
    struct goexe g;
    if (goexe_analyze_file(bin, &g) != 0)
        return 2;
    struct out o = { 0 };
    put_u64(&o, g.text_start);
    put_u32(&o, (uint32_t)g.pcln.size);
    put(&o, g.pcln.base, g.pcln.size);
    size_t gn = g.pcln.gofunc_size < SEED_GOFUNC_MAX ? g.pcln.gofunc_size : SEED_GOFUNC_MAX;
    if (g.pcln.gofunc)
        put(&o, g.pcln.gofunc, gn);
    save(out, NULL, &o);
    free(o.b);
    goexe_release(&g);
    return 0;
}

/* A section's bytes, decompressed; NULL with *n 0 when absent. */
static uint8_t *section(struct elf_file *f, const char *name, size_t *n)
{
    struct elf_section s;
    uint8_t *d = NULL;
    *n = 0;
    if (elf_file_section(f, name, &s) != 0 || !s.data ||
        elf_file_section_decompress(f, &s, &d, n) != 0)
        return NULL;
    return d;
}

static uint64_t unit_end(const uint8_t *info, size_t n, uint64_t off)
{
    uint32_t len;
    if (off + 4 > n)
        return n;
    memcpy(&len, info + off, 4);
    return len >= 0xfffffff0u || off + 4 + len > n ? n : off + 4 + len;
}

static int dwarf(struct elf_file *f, const char *out)
{
    static const char *const names[] = { ".debug_abbrev", ".debug_str", ".debug_line_str",
                                         ".debug_str_offsets" };
    size_t in;
    uint8_t *info = section(f, ".debug_info", &in);
    if (!info)
        return 2;
    struct go_layout l;
    struct godwarf_stats st;
    struct out o = { 0 };
    put_u8(&o, 0);
    if (godwarf_layout_ex(f, &l, 0, &st) == 0 && st.types_cu < in && st.struct_end <= in) {
        /* Go: the first unit when small, then the runtime types' unit cut after the last of
         * the four structs, its unit_length made to fit. */
        uint64_t first = unit_end(info, in, 0);
        uint64_t cut = st.struct_end - st.types_cu;
        uint32_t part = first <= SEED_DWARF_FIRST_MAX && first <= st.types_cu ? (uint32_t)first : 0;
        put_u32(&o, part + (uint32_t)cut);
        put(&o, info, part);
        uint32_t len = (uint32_t)cut - 4;
        put(&o, &len, 4);
        put(&o, info + st.types_cu + 4, cut - 4);
    } else {
        if (in > SEED_DWARF_C_MAX)
            in = SEED_DWARF_C_MAX;
        put_u32(&o, (uint32_t)in);
        put(&o, info, in);
    }
    free(info);
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n;
        uint8_t *d = section(f, names[i], &n);
        put_u32(&o, (uint32_t)n);
        put(&o, d, n);
        free(d);
    }
    save(out, "raw", &o);
    o.b[0] = 1 | 2 << 4;   /* .debug_info compressed, a 512-byte window */
    save(out, "z", &o);
    free(o.b);
    return 0;
}

static int cfi(struct elf_file *f, const char *out)
{
    struct elf_section h, e;
    if (elf_file_section(f, ".eh_frame_hdr", &h) != 0 || elf_file_section(f, ".eh_frame", &e) != 0 ||
        !h.data || !e.data || e.addr < h.addr || e.addr - h.addr != e.offset - h.offset)
        return 2;
    uint64_t n = e.offset + e.size - h.offset;
    /* A pc: the location of the table's middle entry (datarel sdata4, after a 12-byte head). */
    int32_t pc = 0;
    uint32_t count;
    if (h.size >= 12 && h.data[3] == 0x3b) {
        memcpy(&count, h.data + 8, 4);
        if (count && 12 + 8 * (uint64_t)count <= h.size)
            memcpy(&pc, h.data + 12 + 8 * (count / 2), 4);
    }
    struct out o = { 0 };
    put_u32(&o, (uint32_t)(e.addr - h.addr));
    put_u32(&o, (uint32_t)(pc + 1));
    put(&o, h.data, n);
    save(out, NULL, &o);
    free(o.b);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: seed_extract buildinfo|pclntab|dwarf|cfi BINARY OUT\n");
        return 1;
    }
    struct elf_file *f = elf_file_open(argv[2]);
    if (!f) {
        fprintf(stderr, "seed_extract: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    int r = 1;
    if (strcmp(argv[1], "buildinfo") == 0)
        r = buildinfo(f, argv[3]);
    else if (strcmp(argv[1], "pclntab") == 0)
        r = pclntab(argv[2], argv[3]);
    else if (strcmp(argv[1], "dwarf") == 0)
        r = dwarf(f, argv[3]);
    else if (strcmp(argv[1], "cfi") == 0)
        r = cfi(f, argv[3]);
    elf_file_close(f);
    return r;
}
