/* dwarf_reader.h -- a streaming, bounded reader of an executable's .debug_info (godwarf.c's).
 * Context: library
 *
 * DWARF 2-5, 32- and 64-bit units, every attribute form of DWARF 5 plus the GNU ones binutils
 * writes. .debug_info is read as a stream (dw_src): the section itself, or a window over its
 * zlib inflation that slides forward; .debug_abbrev and the string sections are loaded whole,
 * on first use (dw_sec). Only what the caller's walk needs is decoded: abbreviation tables,
 * unit headers, and name, data_member_location, language and str_offsets_base of the unit
 * DIE, of structure and of member DIEs; every other attribute is skipped by its form.
 *
 * What callers rely on:
 * - Every read goes through a dw_cur bounded by both the unit's end (hard) and what the
 *   window holds of it (end). Running past the window sets CUR_SHORT: refill with dw_fill(s,
 *   start of the item) and read the item again from its start (dw_die_read has no side
 *   effects for that; dw_unit_header refills by itself). Running past the unit sets CUR_BAD:
 *   malformed input. Once err is set, reads return 0 / NULL and do not move.
 * - dw_fill keeps the window from `keep` on and adds at least one byte, or fails: -EINVAL at
 *   the end of the stream or on corrupt data, -ENOMEM. A window that one DIE fills is doubled,
 *   up to 16 MiB. A loop that refills on CUR_SHORT therefore ends.
 * - A refill moves the window: pointers into it (V_STRING names, V_BLOCK values) are valid
 *   until the next dw_fill only. Section strings (dw_name on V_STRP...) stay valid until
 *   dw_reader_free.
 * - Offsets called absolute are into the decompressed .debug_info; dw_cur positions are
 *   relative to the window, whose first byte is at absolute offset s->base.
 */
#ifndef GP_GO_DWARF_READER_H
#define GP_GO_DWARF_READER_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

struct elf_file;
struct elf_section;

enum { DW_TAG_member = 0x0d, DW_TAG_structure_type = 0x13 };

/* ---- .debug_info as a stream: a window [base, base + have) over the decompressed bytes ---- */

struct dw_src {
    const uint8_t *win;
    uint8_t *buf;              /* owned window when compressed; NULL: win is the section */
    size_t cap;
    uint64_t base, have, total;
    z_stream zs;
    int zlive;
    const uint8_t *in;         /* compressed bytes not yet handed to zlib */
    uint64_t in_left;
    const uint8_t *in0;        /* the deflate data, for a rewind */
    uint64_t in_left0;
};

/* Sets up s (zeroed) over .debug_info: the section itself, or a zlib window of `window` bytes
 * (less when the section is smaller). 0, -EINVAL, -ENOTSUP (not zlib), -ENOMEM. */
int dw_src_open(struct dw_src *s, const struct elf_section *sec, size_t window);

/* Back to the start of .debug_info, for a second walk: 0 or -EINVAL. */
int dw_src_rewind(struct dw_src *s);

/* Drops the window before absolute offset keep (base <= keep <= base + have) and inflates
 * more. 0 when at least one byte was added; -EINVAL when the stream has nothing more (its
 * end, or corrupt), -ENOMEM. */
int dw_fill(struct dw_src *s, uint64_t keep);

/* Consumes the stream up to absolute offset end without looking at it. */
int dw_skip_to(struct dw_src *s, uint64_t end);

/* ---- bounded cursor over the window ------------------------------------------------------- */

enum { CUR_SHORT = 1, CUR_BAD = 2 };

/* Positions relative to b. end: what the window holds of the current unit; hard: the unit's
 * end (may lie beyond the window). pos <= end <= hard. */
struct dw_cur {
    const uint8_t *b;
    uint64_t pos, end, hard;
    int err;                   /* 0, CUR_SHORT (refill and retry), CUR_BAD (malformed) */
};

/* A cursor at absolute offset abs, bounded by the window and by absolute offset hard_abs. */
void dw_cur_at(const struct dw_src *s, uint64_t abs, uint64_t hard_abs, struct dw_cur *c);

/* ---- abbreviations ------------------------------------------------------------------------ */

#define DW_VAR 0xff

struct dw_spec {
    uint32_t attr, form;
    int64_t implicit;          /* DW_FORM_implicit_const: the value lives here */
    uint8_t size;              /* bytes in the DIE for the unit at hand, DW_VAR: variable */
};

struct dw_abbrev {
    uint64_t code;
    uint32_t tag;
    int children;
    size_t first, n;           /* specs[first .. first + n) */
};

struct dw_abbrevs {
    uint64_t off;
    int valid;
    unsigned sized_for;        /* unit parameters the specs' sizes were computed for */
    struct dw_abbrev *a;
    size_t na, capa;
    struct dw_spec *s;
    size_t ns, caps;
};

/* The abbreviation codes of t's structure DIEs with children, each ULEB128-encoded into
 * codes[i] (clen[i] bytes), when every one of them starts with DW_AT_name as DW_FORM_string
 * (as Go's linker writes them): then such a DIE's bytes are its code followed by its name and
 * NUL, and a search for those bytes finds every struct of that name. Returns how many (up to
 * max), or -1 when some struct abbreviation is not of that kind or there are more than max. */
int dw_struct_name_codes(const struct dw_abbrevs *t, uint8_t codes[][10], size_t *clen,
                         size_t max);

/* ---- units, attribute values, DIEs -------------------------------------------------------- */

struct dw_unit {
    uint64_t off, end;         /* absolute, in .debug_info */
    unsigned version, offset_size, addr_size;
    uint64_t str_offsets_base;
};

enum { V_NONE, V_UNSIGNED, V_SIGNED, V_STRING, V_STRP, V_LINE_STRP, V_STRX, V_BLOCK };

struct dw_val {
    int kind;
    uint64_t u;                /* V_UNSIGNED, V_SIGNED (as int64), V_STRP/V_LINE_STRP, V_STRX */
    const uint8_t *ptr;        /* V_STRING, V_BLOCK: into the window */
    uint64_t len;              /* V_BLOCK */
};

struct dw_die {
    uint64_t code;             /* 0: the null entry closing a sibling list */
    uint32_t tag;
    int children;
    struct dw_val name, loc, lang, stroff;
    int has_loc, has_lang, has_stroff;
};

/* Reads the DIE at the cursor without side effects, so that it can be read again after a
 * refill. Attribute values are decoded for the unit DIE (first), structs, and members when
 * members matter; other DIEs are only stepped over. Names are resolved by the caller before
 * the window moves. */
void dw_die_read(struct dw_cur *c, const struct dw_unit *u, const struct dw_abbrevs *t,
                 int first, int members, struct dw_die *d);

/* Sets u->str_offsets_base from the unit DIE d (the unit's first). */
void dw_unit_bases(struct dw_unit *u, const struct dw_die *d);

/* A member offset from DW_AT_data_member_location: a constant, or (DWARF 2 style) the
 * expression DW_OP_plus_uconst N. 0 or -1 when it is something else (a location list). */
int dw_member_offset(const struct dw_die *d, uint64_t *off);

/* ---- the sections around .debug_info ------------------------------------------------------ */

/* A whole section, decompressed on first use (strings are only needed for non-inline names,
 * which Go's own DWARF does not use for structs and members). */
struct dw_sec {
    int state;                 /* 0 not tried, 1 loaded, -errno failed */
    const uint8_t *data;
    uint8_t *owned;
    size_t size;
};

/* Loads section name of ef into s, once (later calls return the first result): 0, -ENOENT
 * (absent, or SHT_NOBITS), -EINVAL, -ENOMEM. The data is borrowed from ef or owned by s. */
int dw_sec_load(const struct elf_file *ef, const char *name, struct dw_sec *s);

/* Everything a walk over .debug_info reads with. Zero it, set ef, load abbrev, open src. */
struct dw_reader {
    const struct elf_file *ef;
    struct dw_src src;         /* .debug_info */
    struct dw_abbrevs ab;      /* the table of the unit at hand */
    struct dw_sec abbrev, str, line_str, str_offsets;
    int oom;                   /* a string section could not be allocated */
};

/* Reads the header of the unit at absolute offset off into u (u->end: where the next unit
 * starts) and loads its abbreviations; *hdr_end gets the offset of its first DIE. 0 to walk
 * the unit, 1 when it is of a kind we do not read (skip it by length), -errno. */
int dw_unit_header(struct dw_reader *rd, uint64_t off, struct dw_unit *u, uint64_t *hdr_end);

/* The name a DIE's DW_AT_name value designates, or NULL when absent or unreadable (and
 * rd->oom set when that is for want of memory). */
const char *dw_name(struct dw_reader *rd, const struct dw_unit *u, const struct dw_val *v);

/* Frees what rd allocated (rd itself is the caller's). */
void dw_reader_free(struct dw_reader *rd);

#endif
