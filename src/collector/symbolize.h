/* symbolize.h -- addresses of a (possibly dead) target process to function/file/line.
 * Context: collector
 *
 * A symbolizer accumulates the target's executable mappings (symbolizer_update_maps may be
 * called repeatedly while the target lives; nothing is ever dropped, so addresses recorded
 * before a dlclose still resolve), opens each mapping's ELF file lazily and resolves names
 * from .symtab/.dynsym. Addresses in the Go executable's text use the registered pclntab,
 * with inlined frames expanded and file/line filled. Other code (C, C++, the C inside a cgo
 * executable) uses the file's DWARF when it or its separate debug file has some
 * (symbolize_dwarf.h): file, line, inlined frames, demangled names; else the symbol tables.
 * Not thread-safe.
 */
#ifndef GP_SYMBOLIZE_H
#define GP_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct gopcln;
struct maps_entry;
struct symbolizer;

struct sym_frame {
    const char *function;       /* owned by the symbolizer (or the registered pclntab) */
    const char *system_name;    /* the mangled name when function is demangled, else NULL */
    const char *filename;       /* NULL when unknown */
    int64_t line;               /* 0 when unknown */
    int64_t start_line;         /* 0 when unknown */
    int mapping_index;          /* index for symbolizer_mapping_get */
    int go_wrapper;             /* a compiler-generated Go wrapper, which Go's profiles omit */
};

struct sym_mapping {
    uint64_t start, limit, offset;
    const char *path;
    const char *build_id;       /* lowercase hex, "" when none */
    int has_functions;          /* named from its file: some lookup found a function */
    int has_filenames;          /* ... and every lookup a function and a file name */
    int has_line_numbers;       /* ... and every lookup a function and a line number */
    int has_inline_frames;      /* the Go executable, or DWARF: inlined frames are expanded */
};

/* NULL with errno set on failure. */
struct symbolizer *symbolizer_new(void);
void symbolizer_free(struct symbolizer *s);

/* Merges the executable mappings currently in /proc/PID/maps: 0 or -errno. */
int symbolizer_update_maps(struct symbolizer *s, pid_t pid);
/* Adds one mapping unless an identical one is known: index, or -ENOMEM. */
int symbolizer_add_mapping(struct symbolizer *s, const struct maps_entry *e);

/* 1 when addr lies in a known mapping, else 0: a sample outside every known mapping means the
 * target has mapped new code (dlopen) and the maps are worth reading again. */
int symbolizer_covers(const struct symbolizer *s, uint64_t addr);

/* Registers the Go executable's tables for text [text_start, text_end) (runtime addresses).
 * The table and the memory it points to must outlive the symbolizer. */
void symbolizer_set_go(struct symbolizer *s, const struct gopcln *t, uint64_t text_start,
                       uint64_t text_end);
/* The same for tables analysed from the file at path (goexe_analyze_file: link-time
 * addresses), looked up in that file's mappings through their load bias: a PIE executable
 * too. 0 or -ENOMEM. */
int symbolizer_set_go_file(struct symbolizer *s, const struct gopcln *t, uint64_t text_start,
                           uint64_t text_end, const char *path);

/* Frames for addr, innermost first (addr-1 is looked up when is_return_address).
 * Returns the count (0 when unknown: the caller prints the address) or -EINVAL. */
int symbolizer_lookup(struct symbolizer *s, uint64_t addr, int is_return_address,
                      struct sym_frame *out, int max);

size_t symbolizer_mapping_count(const struct symbolizer *s);
/* Fills out (opening the file for its build id if needed): 0 or -ENOENT. */
int symbolizer_mapping_get(struct symbolizer *s, size_t i, struct sym_mapping *out);

#endif
