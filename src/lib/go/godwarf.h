/* godwarf.h -- offsets of runtime.g, runtime.m and runtime.gobuf from the executable's DWARF.
 * Context: library
 *
 * The version table in goruntime.c only knows the Go releases it was measured on; the DWARF
 * of the binary itself describes exactly the structs it was compiled with (docs/go-runtime.md
 * §2.2). This runs in the library constructor of every profiled Go process, so .debug_info
 * (zlib-compressed by the Go linker) is inflated through a 16 KiB window, searched (units of
 * package runtime) or parsed one DIE at a time (the others), and the walk stops as soon as the
 * four structs have been seen. Measured (amd64, Go 1.21-1.26): 2.5-3.5 ms and 68 KiB of heap
 * for a small cgo program when every DIE of the runtime units was parsed, 1.7-2.5 ms since
 * they are searched (godwarf.c), nearly all of it zlib; its runtime types sit at 70-80 % of its
 * .debug_info (inflating the whole section: 3.3 ms, 0.6-0.7 MiB); 5.5 ms and 64 KiB for
 * cmd/go (before the search), types at 26 % of 5.3 MB (whole: 23 ms, 5.3 MiB).
 */
#ifndef GP_GO_GODWARF_H
#define GP_GO_GODWARF_H

#include <stddef.h>
#include <stdint.h>

#include "lib/go/goruntime.h"

struct elf_file;

/* Fills every field of out from DWARF and sets out->known = 1. Returns 0; -ENOENT when there
 * is no .debug_info, no runtime.g / runtime.m / runtime.gobuf / runtime.stack struct, or one
 * of the members go_layout needs is missing; -EINVAL for malformed DWARF (or an offset that
 * does not fit go_layout); -ENOMEM; -ENOTSUP for a compression other than zlib. On error
 * *out is zeroed. The result is what DWARF says: callers check it with go_layout_check(). */
int godwarf_layout(const struct elf_file *ef, struct go_layout *out);

/* For tests and measurements. */
struct godwarf_stats {
    uint64_t info_size;       /* .debug_info size, decompressed */
    uint64_t info_read;       /* bytes of it inflated (or, uncompressed, reached) */
    uint64_t types_cu;        /* .debug_info offset of the unit holding runtime.g (or ~0) */
    uint64_t struct_end;      /* offset just past the last of the four struct DIEs read */
    unsigned units;           /* units whose header was read */
    unsigned units_skipped;   /* ... and skipped by unit_length (not Go, not "runtime") */
    unsigned units_scanned;   /* ... and searched for the structs' names, not walked */
    int second_walk;          /* the walk of the "runtime" units failed; all were walked */
    size_t window_peak;       /* largest window allocated */
    int compressed;
};

/* godwarf_layout with a window size (0: the default; tests use tiny ones to make DIEs straddle
 * refills) and statistics (may be NULL). */
int godwarf_layout_ex(const struct elf_file *ef, struct go_layout *out, size_t window,
                      struct godwarf_stats *stats);

#endif
