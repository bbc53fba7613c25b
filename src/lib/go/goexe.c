/* goexe.c -- locate pclntab, moduledata, runtime.text and the g TLS slot of a Go executable.
 * Context: library
 *
 * Sources, in order of preference (docs/go-runtime.md §1.1, §6.1):
 *   pclntab    section .gopclntab, else .data.rel.ro.gopclntab (internal-link PIE <= 1.25)
 *   text       runtime.text from .symtab; else moduledata.text; else pcHeader.textStart
 *   moduledata scan .go.module (1.26), .noptrdata, then writable PT_LOADs for a word equal to
 *              the pclntab address, validated by the funcnametab and cutab pointers
 *   g TLS      a lone 8-byte PT_TLS (g at its start); else runtime.tlsg in a larger PT_TLS
 *              (glibc variant II layout); else -8
 *   g/m layout the version table (goruntime.c) for the versions it knows, else the DWARF of
 *              the file (godwarf.c) if it passes go_layout_check
 * Memory is only read inside the file's PT_LOAD ranges, so a wrong bias cannot make us read
 * outside the executable's own mappings.
 */
#include "lib/go/goexe.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#include "lib/elf/elf_file.h"
#include "lib/base/log.h"
#include "lib/go/buildinfo.h"
#include "lib/go/godwarf.h"

/* moduledata field offsets, amd64, identical in Go 1.21-1.26 (docs/go-runtime.md §6.1). */
enum { MD_PCHEADER = 0, MD_FUNCNAMETAB = 8, MD_CUTAB = 32, MD_PCLNTABLE = 104, MD_TEXT = 176, MD_ETEXT = 184,
       MD_GOFUNC = 320, MD_MIN_SIZE = 328 };
#define PCHDR_TEXTSTART 24
#define PCHDR_FUNCNAMEOFF 32
#define PCHDR_CUOFF 40
#define GOEXE_DEFAULT_G_TLS (-8)   /* observed in every cgo build 1.21-1.26 */

struct goexe_mem {
    const struct elf_file *f;
    uint64_t bias;               /* runtime = link-time + bias; 0 in file mode */
    int inproc;
};

/* Pointer to len bytes at link-time address vaddr, if they lie inside one PT_LOAD (its memory
 * image in-process, its file-backed part otherwise). *avail gets the bytes left there. */
static const uint8_t *goexe_ptr(const struct goexe_mem *m, uint64_t vaddr, uint64_t len,
                                uint64_t *avail)
{
    Elf64_Phdr ph;
    for (unsigned i = 0; elf_file_phdr(m->f, i, &ph) == 0; i++) {
        uint64_t extent = m->inproc ? ph.p_memsz : ph.p_filesz;
        if (ph.p_type != PT_LOAD || vaddr < ph.p_vaddr || vaddr - ph.p_vaddr >= extent ||
            len > extent - (vaddr - ph.p_vaddr))
            continue;
        if (avail)
            *avail = extent - (vaddr - ph.p_vaddr);
        if (m->inproc)
            return (const uint8_t *)(uintptr_t)(vaddr + m->bias);
        return elf_file_bytes(m->f, ph.p_offset + (vaddr - ph.p_vaddr), len);
    }
    return NULL;
}

static uint64_t goexe_word(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Whether runtime address a falls inside an executable PT_LOAD. */
static int goexe_in_text(const struct goexe_mem *m, uint64_t a)
{
    Elf64_Phdr ph;
    for (unsigned i = 0; elf_file_phdr(m->f, i, &ph) == 0; i++) {
        if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) && a - m->bias >= ph.p_vaddr &&
            a - m->bias - ph.p_vaddr < ph.p_memsz)
            return 1;
    }
    return 0;
}

/* Scans [vaddr, vaddr+len) for moduledata; returns its link-time address or 0. */
static uint64_t goexe_scan_region(const struct goexe_mem *m, uint64_t vaddr, uint64_t len,
                                  uint64_t pcl_rt, uint64_t fn_rt, uint64_t cu_rt)
{
    uint64_t start = (vaddr + 7) & ~7ull;
    if (start - vaddr >= len)
        return 0;
    len -= start - vaddr;
    const uint8_t *p = goexe_ptr(m, start, len, NULL);
    if (!p || len < MD_MIN_SIZE)
        return 0;
    for (uint64_t off = 0; off <= len - MD_MIN_SIZE; off += 8) {
        if (goexe_word(p + off) == pcl_rt && goexe_word(p + off + MD_FUNCNAMETAB) == fn_rt &&
            goexe_word(p + off + MD_CUTAB) == cu_rt)
            return start + off;
    }
    return 0;
}

static uint64_t goexe_find_moduledata(const struct goexe_mem *m, uint64_t pcl_v, const uint8_t *hdr)
{
    uint64_t pcl_rt = pcl_v + m->bias;
    uint64_t fn_rt = pcl_rt + goexe_word(hdr + PCHDR_FUNCNAMEOFF);
    uint64_t cu_rt = pcl_rt + goexe_word(hdr + PCHDR_CUOFF);
    static const char *const names[] = { ".go.module", ".noptrdata" };
    struct elf_section s;
    for (unsigned i = 0; i < 2; i++) {
        if (elf_file_section(m->f, names[i], &s) == 0 && s.type != SHT_NOBITS) {
            uint64_t md = goexe_scan_region(m, s.addr, s.size, pcl_rt, fn_rt, cu_rt);
            if (md)
                return md;
        }
    }
    Elf64_Phdr ph;
    for (unsigned i = 0; elf_file_phdr(m->f, i, &ph) == 0; i++) {
        if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_W))
            continue;
        uint64_t md = goexe_scan_region(m, ph.p_vaddr, ph.p_filesz, pcl_rt, fn_rt, cu_rt);
        if (md)
            return md;
    }
    return 0;
}

/* glibc variant II: the executable's TLS block ends at the thread pointer. */
static void goexe_tls(const struct elf_file *f, struct goexe *out)
{
    Elf64_Phdr tls;
    Elf64_Sym tlsg;
    out->g_tls_offset = GOEXE_DEFAULT_G_TLS;
    out->g_tls_exact = 0;
    out->g_tls_in_block = -1;
    if (elf_file_phdr_find(f, PT_TLS, &tls) != 0)
        return;
    if (tls.p_memsz == 8) {
        /* An 8-byte TLS segment can only be g's slot: runtime.tlsg at 0, as the symbol says
         * when there is one (stripped and internal-link builds have none). Not looked up: a
         * scan of .symtab, 23 us for a small cgo program, whose runtime.tlsg is near its end. */
        tlsg.st_value = 0;
    } else if (elf_file_symbol_find(f, "runtime.tlsg", &tlsg) != 0) {
        return;
    }
    uint64_t align = tls.p_align ? tls.p_align : 1;
    if (align & (align - 1) || tls.p_memsz > (1u << 30) || tlsg.st_value >= tls.p_memsz)
        return;
    uint64_t firstbyte = (-tls.p_vaddr) & (align - 1);
    uint64_t off = ((tls.p_memsz - firstbyte + align - 1) & ~(align - 1)) + firstbyte;
    out->g_tls_offset = -(int64_t)off + (int64_t)tlsg.st_value;
    out->g_tls_exact = 1;
    out->g_tls_in_block = (int64_t)tlsg.st_value;
}

/* text start as a runtime address; pcHeader.textStart may or may not have been relocated. */
static uint64_t goexe_text(const struct goexe_mem *m, const uint8_t *hdr, const uint8_t *md)
{
    uint64_t v;
    if (elf_file_symbol_addr(m->f, "runtime.text", &v) == 0 && goexe_in_text(m, v + m->bias))
        return v + m->bias;
    if (md && goexe_in_text(m, goexe_word(md + MD_TEXT)))
        return goexe_word(md + MD_TEXT);
    v = goexe_word(hdr + PCHDR_TEXTSTART);
    if (v && goexe_in_text(m, v))
        return v;
    if (v && goexe_in_text(m, v + m->bias))
        return v + m->bias;
    return 0;
}

/* pclntab: a section, else the runtime.pclntab symbol, else (stripped external-link PIE
 * <= 1.25, where ld merged the section into .data.rel.ro) a scan of the non-executable
 * PT_LOADs for the header pattern. Without an exact end the size is bounded by the segment
 * and refined from moduledata later. */
static const uint8_t pclntab_pattern[8] = { 0xf1, 0xff, 0xff, 0xff, 0, 0, 1, 8 };

static int goexe_find_pclntab(const struct goexe_mem *m, uint64_t *vaddr, uint64_t *size)
{
    struct elf_section s;
    if (elf_file_section(m->f, ".gopclntab", &s) == 0 ||
        elf_file_section(m->f, ".data.rel.ro.gopclntab", &s) == 0) {
        *vaddr = s.addr;
        *size = s.size;
        return goexe_ptr(m, s.addr, s.size, NULL) ? 0 : -EINVAL;
    }
    uint64_t v, e, avail;
    if (elf_file_symbol_addr(m->f, "runtime.pclntab", &v) == 0 && goexe_ptr(m, v, 8, &avail)) {
        *vaddr = v;
        *size = elf_file_symbol_addr(m->f, "runtime.epclntab", &e) == 0 && e > v &&
                e - v <= avail ? e - v : avail;
        return 0;
    }
    Elf64_Phdr ph;
    for (unsigned i = 0; elf_file_phdr(m->f, i, &ph) == 0; i++) {
        if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X))
            continue;
        uint64_t start = (ph.p_vaddr + 7) & ~7ull, len = ph.p_filesz;
        if (start - ph.p_vaddr >= len)
            continue;
        len -= start - ph.p_vaddr;
        const uint8_t *p = goexe_ptr(m, start, len, NULL);
        for (uint64_t off = 0; p && off + 72 <= len; off += 8) {
            struct gopcln t;
            if (memcmp(p + off, pclntab_pattern, 8) == 0 &&
                gopcln_init(&t, p + off, len - off, 1, NULL, 0) == 0) {
                *vaddr = start + off;
                *size = len - off;
                return 0;
            }
        }
    }
    return -ENOENT;
}

/* The version table first: for the Go versions it knows (1.21-1.26) it is the same as each
 * binary's DWARF (tests/unit/run_godwarf.sh compares them for every version, default and
 * PIE), and reading the DWARF costs ~2.3 ms of a program's start (inflating the compressed
 * sections is most of it). The DWARF is read only for a version the table does not know (a
 * newer Go); stripped builds of such a version have no layout. godwarf frees everything it
 * allocates, as goexe_analyze must in the constructor. */
static void goexe_layout(const struct elf_file *f, struct goexe *out)
{
    struct go_layout dw, tab;
    out->layout_from_dwarf = 0;
    int rt = go_layout_for_version(out->major, out->minor, &tab);
    if (rt == 0 && go_layout_check(&tab) == 0) {
        out->layout = tab;
        return;
    }
    int rd = godwarf_layout(f, &dw);
    if (rd == 0 && go_layout_check(&dw) != 0)
        rd = -EINVAL;
    if (rd == 0) {
        out->layout = dw;
        out->layout.labels_form = (uint8_t)go_labels_form_for_version(out->major, out->minor);
        out->layout_from_dwarf = 1;
    } else {
        memset(&out->layout, 0, sizeof out->layout);
        gp_debug("goexe", "%s: not in the version table, and no usable DWARF layout (%s)",
                 out->version, strerror(-rd));
    }
}

static int goexe_run(const struct goexe_mem *m, struct goexe *out)
{
    const struct elf_file *f = m->f;
    int r = go_buildinfo_version(f, out->version, sizeof out->version, &out->major, &out->minor);
    if (r)
        return r;
    out->is_go = 1;
    uint64_t pcl_v, pcl_size;
    if (goexe_find_pclntab(m, &pcl_v, &pcl_size) != 0) {
        gp_debug("goexe", "no pclntab found in %s executable", out->version);
        return -ENOTSUP;
    }
    const uint8_t *hdr = goexe_ptr(m, pcl_v, pcl_size, NULL);
    if (!hdr)
        return -EINVAL;
    out->pclntab = pcl_v + m->bias;

    uint64_t md_v = goexe_find_moduledata(m, pcl_v, hdr);
    const uint8_t *md = md_v ? goexe_ptr(m, md_v, MD_MIN_SIZE, NULL) : NULL;
    if (md) {
        /* moduledata.pclntable ends the table exactly; tighter than a segment-end bound. */
        uint64_t end = goexe_word(md + MD_PCLNTABLE) + goexe_word(md + MD_PCLNTABLE + 8);
        if (end > out->pclntab && end - out->pclntab <= pcl_size)
            pcl_size = end - out->pclntab;
    }
    out->moduledata = md_v ? md_v + m->bias : 0;
    out->text_start = goexe_text(m, hdr, md);
    if (!out->text_start) {
        gp_debug("goexe", "cannot determine runtime.text (%s)", out->version);
        return -ENOTSUP;
    }
    if (md && goexe_word(md + MD_TEXT) != out->text_start)
        gp_debug("goexe", "moduledata.text %#llx != runtime.text %#llx",
                 (unsigned long long)goexe_word(md + MD_TEXT), (unsigned long long)out->text_start);

    uint64_t gofunc_v = 0;
    if (md)
        gofunc_v = goexe_word(md + MD_GOFUNC) - m->bias;
    else if (elf_file_symbol_addr(f, "go:func.*", &gofunc_v) != 0)
        gofunc_v = 0;
    uint64_t gofunc_size = 0;
    const uint8_t *gofunc = gofunc_v ? goexe_ptr(m, gofunc_v, 1, &gofunc_size) : NULL;
    out->gofunc = gofunc ? gofunc_v + m->bias : 0;

    r = gopcln_init(&out->pcln, hdr, pcl_size, out->text_start, gofunc, gofunc ? gofunc_size : 0);
    if (r) {
        gp_debug("goexe", "unsupported pclntab in %s executable: %s", out->version, strerror(-r));
        return r;
    }
    out->text_end = gopcln_text_end(&out->pcln);
    goexe_tls(f, out);
    goexe_layout(f, out);   /* last: the costliest step, and only worth it for a usable binary */
    gp_debug("goexe", "%s text %#llx-%#llx pclntab %#llx moduledata %#llx gofunc %#llx g@tp%+lld "
             "g/m layout from %s", out->version, (unsigned long long)out->text_start,
             (unsigned long long)out->text_end, (unsigned long long)out->pclntab,
             (unsigned long long)out->moduledata, (unsigned long long)out->gofunc,
             (long long)out->g_tls_offset,
             !out->layout.known ? "nowhere" : out->layout_from_dwarf ? "DWARF" : "the table");
    return 0;
}

int goexe_analyze(const char *path, uint64_t bias, struct goexe *out)
{
    memset(out, 0, sizeof *out);
    struct elf_file *f = elf_file_open(path);
    if (!f)
        return -errno;
    struct goexe_mem m = { f, bias, 1 };
    int r = goexe_run(&m, out);
    elf_file_close(f);  /* in-process results point into live memory, not the file */
    return r;
}

/* File mode over an opened image: on success out->file keeps it, else it is closed. */
static int goexe_analyze_elf(struct elf_file *f, struct goexe *out)
{
    struct goexe_mem m = { f, 0, 0 };
    int r = goexe_run(&m, out);
    if (r) {
        elf_file_close(f);
        return r;
    }
    out->file = f;
    return 0;
}

int goexe_analyze_file(const char *path, struct goexe *out)
{
    memset(out, 0, sizeof *out);
    struct elf_file *f = elf_file_open(path);
    if (!f)
        return -errno;
    return goexe_analyze_elf(f, out);
}

int goexe_analyze_image(const void *base, size_t size, struct goexe *out)
{
    memset(out, 0, sizeof *out);
    struct elf_file *f = elf_file_open_mem(base, size);
    if (!f)
        return -errno;
    return goexe_analyze_elf(f, out);
}

void goexe_release(struct goexe *g)
{
    elf_file_close(g->file);
    g->file = NULL;
}
