/* cfi_read.h -- bounds-checked reads of CFI bytes (.eh_frame, .eh_frame_hdr).
 * Context: signal
 *
 * A cursor walks [p, end); every read checks the bytes it needs are inside, so corrupt lengths
 * or offsets fail instead of faulting. A failed read sets `bad` and returns 0: callers read a
 * whole record and check `bad` once, which keeps the parsers short. The bytes belong to a loaded
 * object's read-only segment (cfi_find.c chooses `end`), so plain loads are safe inside it.
 */
#ifndef GP_CFI_READ_H
#define GP_CFI_READ_H

#include <stdint.h>

#include "lib/base/leb128.h"
#include "lib/base/sigsafe.h"
#include "program/unwind/cfi.h"

/* Pointer encodings (LSB 4.1, "DWARF Extensions": DW_EH_PE_*). */
#define CFI_PE_ABSPTR   0x00
#define CFI_PE_ULEB128  0x01
#define CFI_PE_UDATA2   0x02
#define CFI_PE_UDATA4   0x03
#define CFI_PE_UDATA8   0x04
#define CFI_PE_SLEB128  0x09
#define CFI_PE_SDATA2   0x0a
#define CFI_PE_SDATA4   0x0b
#define CFI_PE_SDATA8   0x0c
#define CFI_PE_PCREL    0x10
#define CFI_PE_TEXTREL  0x20
#define CFI_PE_DATAREL  0x30
#define CFI_PE_FUNCREL  0x40
#define CFI_PE_ALIGNED  0x50
#define CFI_PE_INDIRECT 0x80
#define CFI_PE_OMIT     0xff

struct cfi_cur {
    uint64_t p, end;     /* next byte, end of the readable range */
    uint64_t lo;         /* start of the readable range (for indirect pointers) */
    int bad;             /* a read went out of bounds or the data was malformed */
};

static inline struct cfi_cur cfi_cur_at(struct cfi_span span, uint64_t p, uint64_t end)
{
    struct cfi_cur c = { p, end < span.hi ? end : span.hi, span.lo, 0 };
    if (p < span.lo || p > c.end)
        c.bad = 1;
    return c;
}

/* Non-zero when n more bytes can be read. */
static inline int cfi_has(struct cfi_cur *c, uint64_t n)
{
    if (c->bad || c->p + n > c->end || c->p + n < c->p) {
        c->bad = 1;
        return 0;
    }
    return 1;
}

static inline uint64_t cfi_load(const struct cfi_cur *c, unsigned n)
{
    /* Little-endian, unaligned: byte by byte (the compiler merges these into one load). */
    const uint8_t *b = (const uint8_t *)(uintptr_t)c->p;
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* The next n bytes (1, 2, 4 or 8) as a little-endian value; 0 past the end. */
static inline uint64_t cfi_take(struct cfi_cur *c, unsigned n)
{
    if (!cfi_has(c, n))
        return 0;
    uint64_t v = cfi_load(c, n);
    c->p += n;
    return v;
}

static inline uint8_t cfi_u8(struct cfi_cur *c) { return (uint8_t)cfi_take(c, 1); }
static inline uint16_t cfi_u16(struct cfi_cur *c) { return (uint16_t)cfi_take(c, 2); }
static inline uint32_t cfi_u32(struct cfi_cur *c) { return (uint32_t)cfi_take(c, 4); }
static inline uint64_t cfi_u64(struct cfi_cur *c) { return cfi_take(c, 8); }

/* LEB128 by lib/base/leb128.h's rule: truncated or overlong input sets bad and reads 0. */
static inline uint64_t cfi_leb(struct cfi_cur *c, int is_signed)
{
    uint64_t v = 0;
    int n = GP_LEB_BAD;
    if (!c->bad && c->p <= c->end)
        n = gp_leb128((const uint8_t *)(uintptr_t)c->p, (size_t)(c->end - c->p), is_signed,
                      &v);
    if (n <= 0) {
        c->bad = 1;
        return 0;
    }
    c->p += (unsigned)n;
    return v;
}

static inline uint64_t cfi_uleb(struct cfi_cur *c) { return cfi_leb(c, 0); }
static inline int64_t cfi_sleb(struct cfi_cur *c) { return (int64_t)cfi_leb(c, 1); }

/* Reads a pointer in encoding enc. datarel: the base of DW_EH_PE_datarel (the .eh_frame_hdr in
 * its table; 0 where the encoding is not defined for us, which fails). textrel and funcrel are
 * not used for the values we read: they fail. An indirect pointer is followed only when the
 * word lies inside the same readable range. */
static inline uint64_t cfi_encoded(struct cfi_cur *c, uint8_t enc, uint64_t datarel)
{
    uint64_t field = c->p, v;
    if (enc == CFI_PE_OMIT)
        return 0;
    switch (enc & 0x0f) {
    case CFI_PE_ABSPTR: v = cfi_u64(c); break;
    case CFI_PE_ULEB128: v = cfi_uleb(c); break;
    case CFI_PE_UDATA2: v = cfi_u16(c); break;
    case CFI_PE_UDATA4: v = cfi_u32(c); break;
    case CFI_PE_UDATA8: v = cfi_u64(c); break;
    case CFI_PE_SLEB128: v = (uint64_t)cfi_sleb(c); break;
    case CFI_PE_SDATA2: v = (uint64_t)(int64_t)(int16_t)cfi_u16(c); break;
    case CFI_PE_SDATA4: v = (uint64_t)(int64_t)(int32_t)cfi_u32(c); break;
    case CFI_PE_SDATA8: v = cfi_u64(c); break;
    default: c->bad = 1; return 0;
    }
    if (c->bad || v == 0)
        return 0;   /* 0 is always absolute (an unused entry), as in libgcc and libunwind */
    switch (enc & 0x70) {
    case CFI_PE_ABSPTR: break;
    case CFI_PE_PCREL: v += field; break;
    case CFI_PE_DATAREL:
        if (!datarel) {
            c->bad = 1;
            return 0;
        }
        v += datarel;
        break;
    default: c->bad = 1; return 0;
    }
    if (enc & CFI_PE_INDIRECT) {
        if (v < c->lo || v + 8 > c->end || v + 8 < v) {
            c->bad = 1;
            return 0;
        }
        struct cfi_cur at = { v, c->end, c->lo, 0 };
        v = cfi_load(&at, 8);   /* the word need not be aligned */
    }
    return v;
}

/* Skips a pointer in encoding enc without applying it (the personality routine: its indirect
 * word lives in writable data we never need). */
static inline void cfi_skip_encoded(struct cfi_cur *c, uint8_t enc)
{
    if (enc == CFI_PE_OMIT)
        return;
    switch (enc & 0x0f) {
    case CFI_PE_ABSPTR: case CFI_PE_UDATA8: case CFI_PE_SDATA8: (void)cfi_u64(c); break;
    case CFI_PE_ULEB128: (void)cfi_uleb(c); break;
    case CFI_PE_SLEB128: (void)cfi_sleb(c); break;
    case CFI_PE_UDATA2: case CFI_PE_SDATA2: (void)cfi_u16(c); break;
    case CFI_PE_UDATA4: case CFI_PE_SDATA4: (void)cfi_u32(c); break;
    default: c->bad = 1; break;
    }
}

#endif
