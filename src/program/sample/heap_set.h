/* heap_set.h -- the addresses of the sampled C heap blocks that are still allocated.
 * Context: signal (malloc hook sampling path; the table's functions take no locks, call
 * nothing and never wait; heap_set_init only lays the table out in memory the caller mapped)
 *
 * Why: a sampled block's free must be logged (ring_log_free), and free() is called
 * for every block, sampled or not (one in ~250 at GOPROF_HEAP_RATE=512k): the unsampled
 * case must cost a few ns, with no lock and no allocation, from any thread.
 *
 * Table: 2^bits lines of one cache line each: 7 address slots (0: empty) and a count word.
 * An address hashes to its home line and lives there, or, when that line is full, in one of
 * the next HEAP_SET_MAX_LINES - 1 lines (bucketed linear probing). A line's count word holds
 * two counts: its home count (the live addresses whose home it is) and its passing count (the
 * live addresses stored beyond it whose home is it or a line before it: their probe passed
 * through it). A lookup scans a line's 7 slots and stops at the first line whose passing count
 * is 0: every live address it could be looking for past that line would have counted there.
 * So a removed address leaves an empty slot, not a tombstone: the table never fills with dead
 * entries however long the program runs, and an insert or a lookup touches one cache line
 * (its home) unless the home line has overflowed.
 *
 * Concurrency. Only the thread that owns an address (it has just had it from malloc, or is
 * freeing it) inserts or removes it, and the program's own synchronisation orders a block's
 * allocation before its free on another thread: the table never sees the same address inserted
 * twice at once, nor removed while being inserted. Different addresses are inserted and removed
 * concurrently: a CAS decides who gets an empty slot, the loser looks on; counts are atomic
 * additions. An insert raises the passing count of a full line before it goes on, and a remove
 * lowers it only after its slot is empty again, so a count is never below the addresses that
 * passed: a lookup by the owner (or a thread its free was handed to) always reaches its address.
 *
 * Filter: 2^bits bits in 64-bit words, bit i set while line i's home count is not zero.
 * free() of an unsampled block reads that one bit (4 KiB for the default table: the L1
 * cache). The bit is set after the count is raised; when a remove brings the count to zero the
 * bit is cleared and the count read again, and set again if an insert raised it meanwhile: a
 * set bit is never lost for a live address.
 *
 * The caller owns the memory: the lines (heap_set_bytes(bits) bytes, zero-filled and 64-byte
 * aligned: an mmap'd region, untouched pages cost nothing until a sampled address lands on
 * them) and the filter (heap_set_filter_words(bits) words, zero-filled: the interposers keep
 * it in a static array, whose address free() then has without a load, and whose size,
 * heap_filter_maybe's bits, is a constant there).
 */
#ifndef GP_HEAP_SET_H
#define GP_HEAP_SET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/hash.h"
#include "lib/base/sigsafe.h"

#define HEAP_SET_EMPTY 0u
#define HEAP_SET_LINE_SLOTS 7
#define HEAP_SET_MAX_LINES 32

struct heap_set_line {
    _Atomic uint64_t slot[HEAP_SET_LINE_SLOTS];
    _Atomic uint64_t count;   /* low 32 bits: home count; high 32 bits: passing count */
};
_Static_assert(sizeof(struct heap_set_line) == 64, "one table line is one cache line");

struct heap_set {
    struct heap_set_line *line;
    _Atomic uint64_t *filter;  /* 2^bits bits: line i's home count is not zero */
    uint64_t mask;             /* lines - 1 */
    unsigned bits;
    int max_lines;             /* HEAP_SET_MAX_LINES, or all the lines of a smaller table (a
                                * probe never comes back to a line it passed) */
    uint64_t max_live;         /* half the slots */
    /* addresses in the table: written by every sampled insert and remove, so on a line of its
     * own, away from what every free() reads */
    _Alignas(64) _Atomic uint64_t live;
};

enum heap_set_insert_result {
    HEAP_SET_INSERTED = 0,
    HEAP_SET_PRESENT = 1,   /* was there already: a block freed where we did not see it */
    HEAP_SET_FULL = -1,     /* max_live reached, or no empty slot within HEAP_SET_MAX_LINES */
};

/* Bytes of memory the lines of a table of 2^bits lines need, and the words of its filter. */
static inline size_t heap_set_bytes(unsigned bits)
{
    return (size_t)sizeof(struct heap_set_line) << bits;
}
static inline size_t heap_set_filter_words(unsigned bits)
{
    return (((size_t)1 << bits) + 63) / 64;
}

/* Lays the table out in lines (heap_set_bytes long, zero-filled, 64-byte aligned) and filter
 * (heap_set_filter_words, zero-filled). 3 <= bits <= 26. */
void heap_set_init(struct heap_set *s, void *lines, _Atomic uint64_t *filter, unsigned bits);

/* addr's home line among 2^bits (blocks are 16-byte aligned: the low bits carry nothing). */
static inline uint64_t heap_home(uint64_t addr, unsigned bits)
{
    return gp_hash_index(addr >> 4, bits);
}
static inline uint64_t heap_set_home(const struct heap_set *s, uint64_t addr)
{
    return heap_home(addr, s->bits);
}

/* The free() fast path: 0 means addr is certainly not in the table whose filter and bits these
 * are. */
static inline int heap_filter_maybe(const _Atomic uint64_t *filter, unsigned bits, uint64_t addr)
{
    uint64_t i = heap_home(addr, bits);
    return (atomic_load_explicit(&filter[i >> 6], memory_order_relaxed) >> (i & 63)) & 1;
}
static inline int heap_set_maybe(const struct heap_set *s, uint64_t addr)
{
    return heap_filter_maybe(s->filter, s->bits, addr);
}

GP_SIGSAFE enum heap_set_insert_result heap_set_insert(struct heap_set *s, uint64_t addr);
/* 1 if addr was in the table (it is not any more), 0 if not. */
GP_SIGSAFE int heap_set_remove(struct heap_set *s, uint64_t addr);
GP_SIGSAFE int heap_set_contains(const struct heap_set *s, uint64_t addr);

#endif
