/* goexe.h -- locate the Go runtime tables of the main executable (or of a Go shared object
 * a C program is linked with) at startup.
 * Context: library
 *
 * goexe_analyze() runs in-process, in a library constructor, before the Go runtime starts:
 * it reads the executable file for headers and symbols, and the program's own (already
 * relocated) memory for pclntab and moduledata, so every address in the result is a runtime
 * address and the gopcln tables point into live memory (no copy, valid for the life of the
 * process and of a forked collector).
 *
 * The g/m layout comes from the executable's DWARF when it has some and it passes
 * go_layout_check(), else from the version table; layout.known = 0 when neither applies (the
 * caller says so; nothing is printed here).
 */
#ifndef GP_GO_GOEXE_H
#define GP_GO_GOEXE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/go/goruntime.h"
#include "lib/go/pclntab.h"

struct elf_file;

struct goexe {
    int is_go;
    int major, minor;           /* from .go.buildinfo, e.g. 1 and 26 */
    char version[32];           /* "go1.26.10" (truncated) */
    struct gopcln pcln;
    uint64_t pclntab;           /* runtime address of pcHeader */
    uint64_t moduledata;        /* runtime address of runtime.firstmoduledata, 0 if not found */
    uint64_t text_start;        /* runtime.text */
    uint64_t text_end;          /* end of the last function in pclntab */
    uint64_t gofunc;            /* moduledata.gofunc, 0 if unknown (no inline expansion) */
    int64_t g_tls_offset;       /* g lives at thread pointer + g_tls_offset */
    int g_tls_exact;            /* 1: computed from runtime.tlsg; 0: the observed default -8 */
    int64_t g_tls_in_block;     /* runtime.tlsg's offset in the file's TLS block, -1 unknown:
                                 * a shared object's block is where the dynamic linker put it,
                                 * and g_tls_offset, computed for an executable's, is then
                                 * the caller's to set (program/preload/go_module.c) */
    struct go_layout layout;    /* g/m offsets; layout.known = 0 when neither source has them */
    int layout_from_dwarf;      /* 1: this binary's DWARF; 0: the version table (or unknown) */
    struct elf_file *file;      /* goexe_analyze_file/_image only: backing image */
};

/* In-process analysis of path (normally "/proc/self/exe") loaded at bias (dl_iterate_phdr's
 * dlpi_addr for the main program). 0; -ENOENT when not a Go binary; -ENOTSUP for a Go
 * version or layout we do not handle; other -errno from opening the file. On success with
 * is_go set, out->pcln is ready for lookups. */
int goexe_analyze(const char *path, uint64_t bias, struct goexe *out);

/* Same, reading only the file image (for tools and tests): addresses are link-time, tables
 * point into the mapped file kept in out->file. PIE files whose moduledata is only filled in
 * by relocations need runtime.text in .symtab (or pcHeader.textStart, Go <= 1.25). */
int goexe_analyze_file(const char *path, struct goexe *out);

/* goexe_analyze_file over a file image already in memory (base, size bytes), which must stay
 * valid until goexe_release (tests/fuzz feeds it untrusted bytes). */
int goexe_analyze_image(const void *base, size_t size, struct goexe *out);

/* Releases what goexe_analyze_file kept; harmless after goexe_analyze. */
void goexe_release(struct goexe *g);

#endif
