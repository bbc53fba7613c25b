/* heap_set.h -- the addresses of the sampled C heap blocks that are still allocated.
 * Context: signal (malloc hook sampling path; the table's functions take no locks, call
 * nothing and never wait; heap_set_init only lays the table out in memory the caller mapped)
 *
 * Why: a sampled block's free must be counted in its bucket (lib/ring/heap_buckets.h), and
 * free() is called for every block, sampled or not (one in ~250 at GOPROF_HEAP_RATE=512k): the
 * unsampled case must cost a few ns, with no lock and no allocation, from any thread. Each
 * address carries a word of its own (its meta: the block's bucket and size, heap_meta), which
 * the remove hands back.
 *
 * Why a table, not the block. A sampled block's bucket and size could ride in the block itself
 * (16 bytes more asked of the allocator, kept at its usable end): free() would find them with
 * no lookup, and a sampled pair would cost about a quarter less (BENCHMARKS.md, 2026-12-06,
 * fourth session: 0.3-0.5 points of heapbench at 512k). But the allocator would then hold
 * blocks larger than the program asked for, and a size the program passes it later by a call
 * we do not interpose (a preloaded jemalloc's sdallocx or tcmalloc's tc_free_sized called by
 * name, C23's free_sized) would be 16 bytes short: a block freed in the wrong size class.
 * (C++'s sized deletes come here and drop the size.) Interposing those too would put them
 * where a program that tests for them (folly, by weak symbols) finds them with no allocator of
 * theirs behind. The table changes no block.
 *
 * Filter. free() asks one bit of a filter: 2^bits 64-bit words, word w for a 2 KiB window of
 * address space, its low 32 bits one bit per 64-byte granule of that window, its high 32 bits
 * a count of the inserts that set a bit in it (see "The filter's bits"). The windows of one
 * 2^(bits+11)-byte region (2 GiB for the interposers' table) map onto the words one to one,
 * rotated by a hash of the region's number within its span (below), so a bit may stand for the
 * same granule of several regions (heap_filter_index). The rotation is even: a 4 KiB page's two
 * windows stay a pair of words, 2p and 2p + 1. The bit is set while a live address in the table
 * starts in its granule. Why windows, not a hash of each address: a thread frees mostly blocks
 * of its own arena, so the filter words it reads are the ones its own sampled inserts and
 * removes write; with hashed bits every sampled insert and remove wrote one of a few filter
 * cache lines that every thread's free() reads, and each write cost the other cores a miss
 * (perf: the filter was 1.5 % of a 2-thread allocation benchmark's cycles at
 * GOPROF_HEAP_RATE=512k, in free()). Why rotated: glibc's thread arenas are 64 MiB-aligned
 * heaps, whose busy first pages would otherwise all land on the same few words. A free of an
 * unsampled block finds its bit set only when a live sampled block starts in the same granule
 * (or in the granule of another region that maps there). Measured at 512k: 0.08 % of frees
 * with 256 Ki live blocks (512 MiB) in one thread, against 2.8 % with a bit per hashed table
 * line, whose false positives grow with the live sampled blocks.
 *
 * The filter's summary. In front of the filter, one bit per 4 KiB page of a span of 2^span
 * bytes of address space (64 GiB for the interposers': a 4 MiB array, of which a 64 MiB heap
 * touches one page), not rotated: addresses 2^span apart share a bit. Its bit is set while a
 * live address in the table is in its page: free() reads the summary's bit first, and the
 * filter's word only when it is set. The region's hash that rotates the filter
 * is taken from the address's bits below the span, so that addresses that share a summary bit
 * share the pair of filter words too. Why a summary: the filter costs a heap a word per 2 KiB,
 * 64 cache lines per MiB, which a fast allocator's own work keeps evicting, and those misses
 * were most of the interposers' cost (heapab, 2 threads, GOPROF_HEAP_RATE=64m: +0.46 % with
 * free() not reading the filter, +1.44 % with it). The summary costs the same heap half a line
 * per MiB (a word holds 32 bits, and above them a count of the inserts that set one, as the
 * filter's words do), and with a few sampled blocks live most of its bits are clear. Why by
 * address, not by the filter's (rotated) word: free()'s test is then a shift, a mask, a load
 * and a bit test, 10 instructions where the rotation's multiply made 17, for every free of the
 * program (heapab at 512k, interleaved: 0.29 points less with one thread, 0.35 with two).
 * Measured before (the summary by filter word): 64m +0.97 % against +1.11 % with a 32-bit count
 * per 4 KiB page in its place (16 lines per MiB, whose loads missed the first-level cache in
 * 30 % of a fast allocator's frees, by cachegrind), and 512k +2.53 % against +2.76 %. Not
 * coarser: with a count per 64 KiB, 512k got 0.3-0.6 points slower than with a count per page
 * (heapbench keeps ~4 sampled blocks live per thread among ~32 such blocks of heap: by that
 * estimate one free in eight finds a count and takes a mispredicted branch).
 *
 * The summary's bits. An insert, once its filter bit is set, counts one more insert in its
 * summary word and sets its bit, in one CAS. A remove, once its filter bit is released,
 * reads the summary word, and if no other live address is in its page (of the span), clears
 * the summary bit by a CAS from the word it read. The other addresses of its page have their
 * filter bits in the page's pair of words (same page offset in the span: the same window pair
 * and the same rotation); the remove reads the two words, and only where a bit is set looks
 * through the table from that bit's home for an address of its page (the bit may be another
 * page's, of a region the rotation maps there: were the summary bit kept for it, it would stay
 * set after that address left, as nothing of its own page would come to clear it). An insert
 * whose filter bit the remove did not see set its filter bit after the remove read the filter
 * words, so after the remove read the summary word: its count makes the CAS fail (the remove
 * reads again and finds its address), or comes after the CAS and sets the bit again. So a
 * summary bit is clear only while no live address is in its page, and set only while one is.
 *
 * Table: 2^line_bits lines (at most the filter's words) of one cache line each: 3 address
 * slots (0: empty), their 3 metas and a passing count.
 * An address's home line is a function of its filter bit's number (heap_set_home), so the
 * addresses that share a bit share a home. At the usual rates (HEAP_SET_WINDOWED_RATE and up)
 * it is the bit's filter word's group of 2^home_shift consecutive words: a line for that many
 * 2 KiB windows, the windows of a region on consecutive lines, as the filter's words. The
 * group is as large as keeps a line's expected sampled blocks at half or under (a line spans
 * rate / 2 bytes at most: heap_set_home_shift), up to the filter's words over the lines (16 for
 * the interposers', from 64 KiB: a 32 KiB line). Why by window: a thread's sampled blocks then
 * have their homes in a stretch of the table a small part of its heap's size (a 32nd with a
 * window a line, a 512th with 16), where a hashed home was a random line of 4 MiB, a miss to
 * memory for every sampled insert and remove (heapab, 2 threads, 512k, 8 interleaved runs:
 * +3.15 % against +3.68 % with a window a line). Why groups: with a window a line, a thread's
 * 2 MiB heap still had its homes on 1024 lines, each touched once in a thousand samples and
 * gone from the caches by then: perf put 68 % of heap_set_insert's samples on its first load of
 * the home line. With 16 windows a line, 64 lines (heapab, 2 threads, 512k, 30 interleaved runs
 * each, two batches: 0.33 and 0.36 points less; whole runs of heapbench, 100 rounds each, two
 * batches: 0.53 and 0.86 points less). Below HEAP_SET_WINDOWED_RATE, where windows
 * would fill, the home is a hash of the bit's number: lines evenly loaded, as in a table
 * sampling every allocation.
 * An address lives at its home, or, when that line is full, in
 * one of the next HEAP_SET_MAX_LINES - 1 lines (bucketed linear probing). A line's passing
 * count is the live addresses stored beyond it whose home is it or a line before it (their
 * probe passed through it). A lookup scans a line's 3 slots and stops at the first line
 * whose passing count is 0: every live address it could be looking for past that line would
 * have counted there. So a removed address leaves an empty slot, not a tombstone: the table
 * never fills with dead entries however long the program runs, and an insert or a lookup
 * touches one cache line (its home) unless the home line has overflowed. The load has no cap:
 * an insert fails only when the HEAP_SET_MAX_LINES lines from its home are full. A table near
 * full costs sampled inserts and removes more lines (each a cache miss), not the free() of an
 * unsampled block. (A shared count of the live addresses, to keep the load under half, was
 * 0.4 % of a 2-thread allocation benchmark's cycles: a line every sampled insert and remove
 * wrote.)
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
 * The filter's bits. An insert, once its slot holds the address, counts one more insert in
 * the word and sets its bit, in one CAS (one locked instruction, not an add and an or: they
 * wait for the program's pending stores, heap_set.c). A remove reads the word, looks from the
 * home for another live address with its bit (they share the home), and if there is none clears the
 * bit by a CAS from the word it read: an insert of such an address since then changed the
 * count, so the CAS fails and the remove looks again; an insert before it had its address in
 * the table before the read, so the lookup found it. A bit is thus clear only while no live
 * address has it, and set only while one has (a stale bit would cost frees a lookup). The
 * count wraps after 2^32 inserts into one word: a remove would have to be held between its
 * read and its CAS for all of them to be fooled.
 *
 * The caller owns the memory: the lines (heap_set_bytes(line_bits) bytes, zero-filled and 64-byte
 * aligned: an mmap'd region, untouched pages cost nothing until a sampled address lands on
 * them), the filter (heap_set_filter_words(bits) words, zero-filled: the interposers keep it
 * in a static array, whose address free() then has without a load, and whose size,
 * heap_filter_maybe's bits, is a constant there; its pages, too, are touched only where
 * sampled blocks are) and the summary (HEAP_SET_SUMMARY_WORDS(span) words, zero-filled, static
 * there too, and mostly never touched).
 */
#ifndef GP_HEAP_SET_H
#define GP_HEAP_SET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/hash.h"
#include "lib/base/sigsafe.h"

#define HEAP_SET_EMPTY 0u
#define HEAP_SET_LINE_SLOTS 3
#define HEAP_SET_MAX_LINES 32
#define HEAP_FILTER_WINDOW_SHIFT 11       /* a filter word's window: 2 KiB */
#define HEAP_FILTER_BITS 32               /* of a word: granules; above them the insert count */
#define HEAP_FILTER_INSERT_ONE ((uint64_t)1 << HEAP_FILTER_BITS)
#define HEAP_SUMMARY_PAGE_SHIFT 12        /* a summary bit: a 4 KiB page, two windows */

struct heap_set_line {
    _Atomic uint64_t slot[HEAP_SET_LINE_SLOTS];
    uint64_t meta[HEAP_SET_LINE_SLOTS];   /* written by the slot's inserter, read by its remover */
    _Atomic uint64_t passing;   /* live addresses stored past this line whose probe passed it */
    uint64_t pad;
};
_Static_assert(sizeof(struct heap_set_line) == 64, "one table line is one cache line");

struct heap_set {
    struct heap_set_line *line;
    _Atomic uint64_t *filter;  /* 2^bits words: heap_filter_index */
    _Atomic uint64_t *summary; /* HEAP_SET_SUMMARY_WORDS(span) words: heap_summary_page */
    uint64_t mask;             /* lines - 1 */
    unsigned bits;             /* the filter's: 2^bits words */
    unsigned line_bits;        /* 2^line_bits lines */
    unsigned span;             /* the summary's: addresses 2^span apart share its bits */
    int home_shift;            /* homes by window, 2^home_shift filter words a line (>= 0), or
                                * by a hash of the filter bit (-1) */
    int max_lines;             /* HEAP_SET_MAX_LINES, or all the lines of a smaller table (a
                                * probe never comes back to a line it passed) */
};

enum heap_set_insert_result {
    HEAP_SET_INSERTED = 0,
    HEAP_SET_PRESENT = 1,   /* was there already: a block freed where we did not see it */
    HEAP_SET_FULL = -1,     /* no empty slot within HEAP_SET_MAX_LINES of the home */
};

/* A block's meta: its bucket (< 2^24) and its size (saturated at 2^40 - 1 bytes). */
#define HEAP_META_SIZE_BITS 40
static inline uint64_t heap_meta(uint32_t bucket, uint64_t size)
{
    uint64_t max = ((uint64_t)1 << HEAP_META_SIZE_BITS) - 1;
    return (uint64_t)bucket << HEAP_META_SIZE_BITS | (size < max ? size : max);
}
static inline uint32_t heap_meta_bucket(uint64_t meta)
{
    return (uint32_t)(meta >> HEAP_META_SIZE_BITS);
}
static inline uint64_t heap_meta_size(uint64_t meta)
{
    return meta & (((uint64_t)1 << HEAP_META_SIZE_BITS) - 1);
}

/* Bytes of memory 2^line_bits lines need, and the words of a filter of 2^bits words. */
static inline size_t heap_set_bytes(unsigned line_bits)
{
    return (size_t)sizeof(struct heap_set_line) << line_bits;
}
static inline size_t heap_set_filter_words(unsigned bits)
{
    return (size_t)1 << bits;
}
/* The summary's words for a span of 2^span bytes (a constant expression, for a static array:
 * 32 bits a word, a bit per page). */
#define HEAP_SET_SUMMARY_WORDS(span) \
    ((size_t)1 << ((span) - HEAP_SUMMARY_PAGE_SHIFT - 5))

/* The sampling rate (mean bytes between sampled allocations) from which homes go by window:
 * a 2 KiB window then expects at most half a sampled block. */
#define HEAP_SET_WINDOWED_RATE ((uint64_t)2 << HEAP_FILTER_WINDOW_SHIFT)

/* The home_shift for a sampling rate, a filter of 2^bits words and 2^line_bits lines: -1
 * (hashed) under HEAP_SET_WINDOWED_RATE; from it, as many windows a line as keep a line's
 * expected sampled blocks at or under half (a line spans at most rate / 2 bytes), and no more
 * than the filter's words over the lines (so that the homes reach every line). */
static inline int heap_set_home_shift(uint64_t rate, unsigned bits, unsigned line_bits)
{
    if (rate < HEAP_SET_WINDOWED_RATE)
        return -1;
    int shift = 0;
    while (shift < (int)(bits - line_bits) &&
           ((uint64_t)1 << (HEAP_FILTER_WINDOW_SHIFT + shift + 2)) <= rate)
        shift++;
    return shift;
}

/* Lays the table out in lines (heap_set_bytes(line_bits) long, zero-filled, 64-byte aligned),
 * filter (heap_set_filter_words(bits), zero-filled) and summary (HEAP_SET_SUMMARY_WORDS(span),
 * zero-filled); home_shift: heap_set_home_shift's.
 * 3 <= line_bits <= bits <= 26, bits + 11 <= span <= 47, span >= 17 (a summary word at least),
 * home_shift <= bits - line_bits. */
void heap_set_init(struct heap_set *s, void *lines, unsigned line_bits, _Atomic uint64_t *filter,
                   _Atomic uint64_t *summary, unsigned bits, unsigned span, int home_shift);

/* addr's filter word: its 2 KiB window in its region, rotated by an even hash of the region's
 * number within its span (the address's bits from bits + 11 up to span); its filter bit's
 * number: word * 32 + its 64-byte granule in the window. */
static inline uint64_t heap_filter_word(uint64_t addr, unsigned bits, unsigned span)
{
    unsigned region_shift = bits + HEAP_FILTER_WINDOW_SHIFT;
    uint64_t region = (addr >> region_shift) & (((uint64_t)1 << (span - region_shift)) - 1);
    uint64_t rot = gp_hash_index(region, bits) & ~(uint64_t)1;
    return ((addr >> HEAP_FILTER_WINDOW_SHIFT) + rot) & (((uint64_t)1 << bits) - 1);
}
static inline uint64_t heap_filter_granule(uint64_t addr)
{
    return (addr >> 6) & (HEAP_FILTER_BITS - 1);
}
static inline uint64_t heap_filter_index(uint64_t addr, unsigned bits, unsigned span)
{
    return heap_filter_word(addr, bits, span) * HEAP_FILTER_BITS | heap_filter_granule(addr);
}
/* addr's summary bit's number: its page in the span (word: / 32, bit: % 32). */
static inline uint64_t heap_summary_page(uint64_t addr, unsigned span)
{
    return (addr >> HEAP_SUMMARY_PAGE_SHIFT) &
           (((uint64_t)1 << (span - HEAP_SUMMARY_PAGE_SHIFT)) - 1);
}

/* The free() fast path: 0 means addr is certainly not in the table whose summary, filter,
 * bits and span these are. (With constants for bits and span, the summary's test is a shift,
 * a mask, a load and a bit test.) */
static inline int heap_filter_maybe(const _Atomic uint64_t *filter,
                                    const _Atomic uint64_t *summary, unsigned bits,
                                    unsigned span, uint64_t addr)
{
    uint64_t p = heap_summary_page(addr, span);
    if (!((atomic_load_explicit(&summary[p / HEAP_FILTER_BITS], memory_order_relaxed) >>
           (p % HEAP_FILTER_BITS)) & 1))
        return 0;
    uint64_t w = atomic_load_explicit(&filter[heap_filter_word(addr, bits, span)],
                                      memory_order_relaxed);
    return (w >> heap_filter_granule(addr)) & 1;
}
static inline int heap_set_maybe(const struct heap_set *s, uint64_t addr)
{
    return heap_filter_maybe(s->filter, s->summary, s->bits, s->span, addr);
}

/* The home line of the addresses with filter bit number `bit`: its filter word's group of
 * 2^home_shift, or a hash of the bit; either way the addresses that share a bit share a home. */
static inline uint64_t heap_set_bit_home(const struct heap_set *s, uint64_t bit)
{
    return s->home_shift >= 0 ? (bit / HEAP_FILTER_BITS >> s->home_shift) & s->mask
                              : gp_hash_index(bit, s->line_bits);
}
static inline uint64_t heap_set_home(const struct heap_set *s, uint64_t addr)
{
    return heap_set_bit_home(s, heap_filter_index(addr, s->bits, s->span));
}

/* addr with its meta. HEAP_SET_PRESENT: addr was there already, with *old (its meta is now
 * meta). */
GP_SIGSAFE enum heap_set_insert_result heap_set_insert(struct heap_set *s, uint64_t addr,
                                                       uint64_t meta, uint64_t *old);
/* 1 if addr was in the table (it is not any more; *meta is what it had), 0 if not. */
GP_SIGSAFE int heap_set_remove(struct heap_set *s, uint64_t addr, uint64_t *meta);
GP_SIGSAFE int heap_set_contains(const struct heap_set *s, uint64_t addr);
/* The addresses in the table, by a scan of every line (for GOPROF_DEBUG's line at exit). */
uint64_t heap_set_count(const struct heap_set *s);

#endif
