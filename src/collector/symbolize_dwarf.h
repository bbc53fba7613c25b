/* symbolize_dwarf.h -- file, line and inlined frames of C and C++ code from its DWARF.
 * Context: collector
 *
 * The DWARF reader is elfutils' libdw/libdwfl, loaded with dlopen (soname GP_DW_SONAME from
 * configure) in the collector only, the first time code outside Go text is symbolized: like
 * libmicrohttpd (httpd_mhd.h), profiled programs never load it. Why a library rather than a
 * reader written here: elfutils is the maintained DWARF consumer of the GNU toolchain; it
 * follows DWARF 2 to 5, split DWARF, .debug_types, compressed sections (SHF_COMPRESSED and
 * .zdebug, as Go's linker writes them), dwz's .gnu_debugaltlink, and finds separate debug
 * files the way gdb does: by build id under /usr/lib/debug/.build-id/xx/yyyy.debug, or by
 * .gnu_debuglink next to the file, in its .debug/ folder or under /usr/lib/debug. debuginfod
 * servers are not asked (DEBUGINFOD_URLS is taken out of the collector's environment before
 * libdw loads): writing a profile does not wait for the network.
 *
 * One handle per module file (device and inode, and build id), shared by every mapping of it
 * in every process of the session and counted by reference; a file without DWARF is
 * remembered as such. Lookups are cached per file (link-time address to frames). Bounded: at
 * most SYM_DWARF_MAX_FILES files and SYM_DWARF_MAX_BYTES bytes of debug files open at once,
 * SYM_DWARF_MAX_CACHED addresses cached in all; beyond that, files are symbolized as without
 * DWARF (symbol tables) and addresses looked up again each time. sym_dwarf_stats says how much
 * is held; each profile has it as a comment, "symbolizer: dwarf_files=... dwarf_mapped_kb=...
 * dwarf_cached=... dwarf_heap_kb=...". Not thread-safe.
 */
#ifndef GP_SYMBOLIZE_DWARF_H
#define GP_SYMBOLIZE_DWARF_H

#include <stddef.h>
#include <stdint.h>

#define SYM_DWARF_MAX_FILES 64
#define SYM_DWARF_MAX_BYTES (2048ull << 20)
#define SYM_DWARF_MAX_CACHED 262144

struct sym_dwarf;

struct sym_dwarf_frame {
    const char *function;       /* demangled; NULL: DWARF has no function here (the caller
                                 * names it from the symbol table) */
    const char *system_name;    /* the mangled (linkage) name, or the same as function */
    const char *filename;       /* NULL when unknown */
    int64_t line;               /* 0 when unknown */
};

/* The DWARF of the ELF file at path (in it or in its separate debug file), with its build id
 * (lowercase hex, "" when none) to tell files apart; NULL when there is none, libdw cannot be
 * loaded or a limit is reached. Release with sym_dwarf_put. */
struct sym_dwarf *sym_dwarf_get(const char *path, const char *build_id);
void sym_dwarf_put(struct sym_dwarf *d);

/* Frames for the link-time address vaddr, innermost first (inlined functions, then the
 * function that contains them): the count, 0 when the DWARF does not cover vaddr. The strings
 * live as long as d. */
int sym_dwarf_lookup(struct sym_dwarf *d, uint64_t vaddr, struct sym_dwarf_frame *out, int max);

struct sym_dwarf_stats {
    size_t files;               /* open, with DWARF */
    size_t without;             /* looked at, no DWARF (or over a limit) */
    uint64_t debug_bytes;       /* sizes of the files the DWARF is read from (mapped) */
    size_t cached;              /* addresses in the caches */
    uint64_t cache_bytes;       /* heap held by the unit indexes, the caches and demangled
                                 * names (libdw's own: decompressed sections, line tables,
                                 * shows in the collector's maxrss) */
};
void sym_dwarf_stats(struct sym_dwarf_stats *st);
/* The same as a profile comment, "symbolizer: dwarf_files=N dwarf_mapped_kb=N dwarf_cached=N
 * dwarf_heap_kb=N": 1, or 0 (nothing written) when no DWARF was ever opened. */
int sym_dwarf_comment(char *buf, size_t size);

#endif
