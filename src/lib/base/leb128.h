/* leb128.h -- the one LEB128 decoder (DWARF, .eh_frame, Go's varints).
 * Context: library, signal-safe
 *
 * Decodes from a bounded byte range [p, p + n) with plain loads: the caller has checked the
 * range is readable. The rule for every reader: a value is at most 10 bytes (all 64 bits);
 * bits past 64 in a 10th byte are dropped. The result is the number of bytes the value took
 * (1-10), or GP_LEB_SHORT when the range ends before the value does (truncated), or
 * GP_LEB_BAD when 10 bytes pass without an end (overlong); on both, *v is 0. Callers turn
 * these into their own error state and do not advance.
 */
#ifndef GP_LEB128_H
#define GP_LEB128_H

#include <stddef.h>
#include <stdint.h>

#define GP_LEB_MAX 10
#define GP_LEB_SHORT 0
#define GP_LEB_BAD (-1)

/* Signed (SLEB128) when is_signed: *v then holds the int64_t's bits. */
static inline int gp_leb128(const uint8_t *p, size_t n, int is_signed, uint64_t *v)
{
    uint64_t r = 0;
    for (int i = 0; i < GP_LEB_MAX; i++) {
        if ((size_t)i >= n)
            break;
        unsigned shift = 7u * (unsigned)i;   /* <= 63 */
        r |= (uint64_t)(p[i] & 0x7f) << shift;
        if (!(p[i] & 0x80)) {
            if (is_signed && shift + 7 < 64 && (p[i] & 0x40))
                r |= ~0ull << (shift + 7);   /* sign-extend from the last byte's bit 6 */
            *v = r;
            return i + 1;
        }
    }
    *v = 0;
    return n < GP_LEB_MAX ? GP_LEB_SHORT : GP_LEB_BAD;
}

static inline int gp_uleb128(const uint8_t *p, size_t n, uint64_t *v)
{
    return gp_leb128(p, n, 0, v);
}

static inline int gp_sleb128(const uint8_t *p, size_t n, int64_t *v)
{
    uint64_t u;
    int r = gp_leb128(p, n, 1, &u);
    *v = (int64_t)u;
    return r;
}

#endif
