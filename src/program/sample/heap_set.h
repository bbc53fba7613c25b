/* heap_set.h -- the addresses of the sampled C heap blocks that are still allocated.
 * Context: signal (malloc hook sampling path; the table's functions take no locks, call
 * nothing and never wait; heap_set_init only lays the table out in memory the caller mapped)
 *
 * Why: a sampled block's free must become a GP_REC_HEAP_FREE record, and free() is called
 * for every block, sampled or not (one in ~250 at GOPROF_HEAP_RATE=512k): the unsampled
 * case must cost a few ns, with no lock and no allocation, from any thread.
 *
 * Table: 2^bits slots of one 64-bit address each, open addressing with linear probing from the
 * slot the address hashes to. 0: empty; 1: a tombstone (a removed address: the probes of the
 * addresses inserted past it must go on through it). Insert claims the first empty or
 * tombstone slot of the address's probe sequence with a compare-and-swap; remove swaps the
 * address for a tombstone. An address is found within HEAP_SET_MAX_PROBE slots of its home, or
 * not inserted (the table counts as full for it). At most half the slots hold addresses
 * (max_live): probes stay short, and tombstones are reused by later inserts.
 *
 * Concurrency. Only the thread that owns an address (it has just had it from malloc, or is
 * freeing it) inserts or removes it, and the program's own synchronisation orders a block's
 * allocation before its free on another thread: the table never sees the same address
 * inserted twice at once, nor removed while being inserted. Different addresses are inserted
 * and removed concurrently: the CAS decides who gets a slot, the loser probes on. A lookup
 * that races with other addresses' inserts and removes still finds its own address (slots of
 * other addresses only change between empty, tombstone and an address, never to this one).
 *
 * Filter: 2^fbits one-byte counters, indexed by the top bits of the same hash; each counts
 * the live addresses that hash to it (saturating at 255: then it stays, which only costs
 * probes). free() of an unsampled block reads one bit of a summary of them (bit i: counter i
 * is not zero), so that what every free() touches is 2^fbits bits (8 KiB by default: the L1
 * cache; the counters' 64 KiB are read only on the sampled path). A counter's bit is set after
 * it is raised; when a remove brings it to zero the bit is cleared and the counter read again,
 * and set again if an insert raised it meanwhile: a set bit is never lost for a live address.
 *
 * The caller owns the memory (heap_set_bytes(bits, fbits) bytes, zero-filled: an mmap'd region,
 * untouched pages cost nothing until a sampled address lands on them).
 */
#ifndef GP_HEAP_SET_H
#define GP_HEAP_SET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/sigsafe.h"

#define HEAP_SET_EMPTY 0u
#define HEAP_SET_TOMB 1u
#define HEAP_SET_MAX_PROBE 256

struct heap_set {
    _Atomic uint64_t *slot;
    _Atomic uint8_t *filter;
    _Atomic uint8_t *summary;   /* 2^fbits bits: filter[i] != 0 */
    uint64_t mask;          /* slots - 1 */
    unsigned bits, fbits;
    uint64_t max_live;      /* slots / 2 */
    _Atomic uint64_t live;  /* addresses in the table */
};

enum heap_set_insert_result {
    HEAP_SET_INSERTED = 0,
    HEAP_SET_PRESENT = 1,   /* was there already: a block freed where we did not see it */
    HEAP_SET_FULL = -1,     /* max_live reached, or no free slot within HEAP_SET_MAX_PROBE */
};

/* Bytes of memory a table of 2^bits slots with 2^fbits filter counters needs. */
static inline size_t heap_set_bytes(unsigned bits, unsigned fbits)
{
    return ((size_t)8 << bits) + ((size_t)1 << fbits) + (((size_t)1 << fbits) + 7) / 8;
}

/* Lays the table out in mem (heap_set_bytes long, zero-filled). 3 <= fbits <= bits <= 30. */
void heap_set_init(struct heap_set *s, void *mem, unsigned bits, unsigned fbits);

static inline uint64_t heap_set_hash(uint64_t addr)
{
    /* blocks are 16-byte aligned: the low bits carry nothing */
    return (addr >> 4) * 0x9e3779b97f4a7c15ull;
}

/* The free() fast path: 0 means addr is certainly not in the table. */
static inline int heap_set_maybe(const struct heap_set *s, uint64_t addr)
{
    uint64_t i = heap_set_hash(addr) >> (64 - s->fbits);
    return (atomic_load_explicit(&s->summary[i >> 3], memory_order_relaxed) >> (i & 7)) & 1;
}

GP_SIGSAFE enum heap_set_insert_result heap_set_insert(struct heap_set *s, uint64_t addr);
/* 1 if addr was in the table (it is not any more), 0 if not. */
GP_SIGSAFE int heap_set_remove(struct heap_set *s, uint64_t addr);
GP_SIGSAFE int heap_set_contains(const struct heap_set *s, uint64_t addr);

#endif
