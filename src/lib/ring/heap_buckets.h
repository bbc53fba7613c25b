/* heap_buckets.h -- C memory profiling's counts, kept in the program by stack: the table a
 * process shares with the collector, after its ring's slots.
 * Context: library (heap_bucket_find and the counting functions are signal-safe: the malloc
 * hook's sampling path calls them)
 *
 * Why in the program. A sampled allocation and its free used to be a ring record and a free-log
 * entry, which the collector read, matched by address and added up: per sampled block, two or
 * three cache lines written by the program's core and read by the collector's, and a collector
 * that woke every few milliseconds to keep up. The collector's CPU was 1-2 % of an allocation-
 * heavy program's at GOPROF_HEAP_RATE=512k, about as much as the whole sampled path. Go's
 * runtime (mprof.go's buckets), tcmalloc and jemalloc count in the process; so does this: a
 * sampled allocation adds to its stack's bucket, its free subtracts from the same bucket (the
 * table of sampled blocks, program/sample/heap_set.h, keeps each block's bucket and size), and
 * the collector reads the figures only when it writes a heap profile.
 *
 * Layout (after the ring's slots; ring.h's header says where and how large):
 *   buckets[nbuckets]   64 bytes each: the key (hash, where the stack and labels are), written
 *                       once when the bucket is made, then only read
 *   order[nbuckets]     index + 1 of each bucket made, in the order they were made (0: not yet
 *                       written): the collector reads the buckets in use without a scan
 *   frames[frame_words] the stacks' PCs, leaf first, as in a record
 *   labels[label_bytes] the goroutine labels, as in a record (not canonical: the collector
 *                       makes them so)
 *   counts[GP_HEAP_STRIPES][nbuckets + 2]
 *                       each bucket's four counters, once per stripe (index nbuckets: the
 *                       overflow bucket's; a row rounded up to whole cache lines)
 * and the overflow bucket's key in the ring's header: index nbuckets, for the allocations whose
 * stack found no bucket (the table or the stores full), without a stack.
 *
 * Stripes. A thread counts in stripe tid % GP_HEAP_STRIPES, and the collector adds the stripes
 * up. Why: a sampled allocation and its free each add to their bucket's counters, and the
 * threads of a program mostly allocate at the same few sites, so one line of counters per
 * bucket was written by every core in turn: each add took the line from the core that wrote it
 * last (perf: the free's first add was 80 % of its function's samples). With stripes, threads
 * whose ids differ mod 8 write lines of their own, and the key's line, only read, stays in
 * every core's cache. Measured (heapab, 2 threads, GOPROF_HEAP_RATE=64k, where sampling is 8
 * times as frequent as at 512k, 8 interleaved runs, the program's side): +11.85 % with stripes
 * against +13.07 % without, about a tenth of the sampled path's cost.
 *
 * Identity. A bucket is its key's 64-bit hash (stack, record flags, labels): two different keys
 * with the same hash would share a bucket; with fewer than 2^14 buckets that is a chance of
 * about 2^-37 per process. (async-profiler keys its call trace storage the same way.) The
 * collector groups buckets by their full key, so a key made twice (two threads made it at once,
 * or labels in another order) is still one stack in the profile.
 *
 * Concurrency. Open addressing, at most GP_HEAP_BUCKET_PROBES slots from hash & (nbuckets - 1).
 * A writer that finds its hash uses that bucket; one that finds an empty slot claims it by a CAS
 * of the hash from 0, writes the key, publishes it (ready, a release store) and appends the
 * index to order. Counters are atomic additions (two threads may share a stripe), by any
 * writer, before or after ready. The reader reads a bucket only once ready (acquire), and reads
 * the free counters of every stripe before the alloc counters of any (heap_bucket_totals): a
 * free counted is then never seen without its allocation, whichever stripes they are in (the
 * allocation was counted before the block was handed to the program). A writer killed between
 * claim and ready leaves a bucket the reader never reads (its counts lost; the process is gone
 * anyway).
 *
 * Trust. The reader copies the geometry once (ring_check) and checks each key's offsets
 * against it before it reads a stack.
 */
#ifndef GP_HEAP_BUCKETS_H
#define GP_HEAP_BUCKETS_H

#include <stdatomic.h>
#include <stdint.h>

#include "lib/base/sigsafe.h"

#define GP_HEAP_BUCKETS (1u << 14)          /* slots of the table */
#define GP_HEAP_BUCKET_PROBES 64
#define GP_HEAP_FRAME_WORDS (1u << 20)      /* 8 MiB of PCs: ~100 000 stacks of 10 frames */
#define GP_HEAP_LABEL_BYTES (1u << 20)
#define GP_HEAP_STRIPES 8                   /* sets of counters (see "Stripes") */

/* A bucket's flags besides the records' (GP_REC_TRUNCATED...): its stack or labels did not fit
 * the stores (nframes and labels_len are then 0). */
#define GP_HEAP_BUCKET_NOSTACK 0x8000u

struct heap_bucket {
    _Atomic uint64_t hash;        /* 0: empty; else the key's hash (never 0) */
    _Atomic uint32_t ready;       /* 1: the fields below the hash are written */
    uint16_t nframes;
    uint16_t flags;               /* the record's GP_REC_* flags; GP_HEAP_BUCKET_NOSTACK */
    uint32_t frames;              /* offset into frames[], in PCs */
    uint32_t labels;              /* offset into labels[] */
    uint16_t labels_len;
    uint16_t labels_left;
    uint32_t pad;
    uint64_t pad2[4];
};
_Static_assert(sizeof(struct heap_bucket) == 64, "a bucket is one cache line");

/* A bucket's counters in one stripe: sampled allocations and their bytes (as asked for), and of
 * those the frees, since the start; a realloc that resized a block in place or moved it changes
 * free_bytes by the difference (it may go below zero, modulo 2^64: in-use is alloc - free). */
struct heap_counts {
    _Atomic uint64_t alloc_count, alloc_bytes, free_count, free_bytes;
};
_Static_assert(sizeof(struct heap_counts) == 32, "two buckets' counters a line");

/* A bucket's counters added up over the stripes (modulo 2^64). */
struct heap_totals {
    uint64_t alloc_count, alloc_bytes, free_count, free_bytes;
};

/* The counters of a stripe: one for each bucket and the overflow bucket, rounded up to whole
 * lines. */
static inline uint64_t heap_counts_row(uint32_t nbuckets)
{
    return ((uint64_t)nbuckets + 2) & ~(uint64_t)1;
}

/* The bytes of the table's region, after the slots. */
static inline uint64_t heap_buckets_region_bytes(void)
{
    return (uint64_t)GP_HEAP_BUCKETS * (sizeof(struct heap_bucket) + sizeof(uint32_t)) +
           (uint64_t)GP_HEAP_FRAME_WORDS * sizeof(uint64_t) + GP_HEAP_LABEL_BYTES +
           (uint64_t)GP_HEAP_STRIPES * heap_counts_row(GP_HEAP_BUCKETS) * sizeof(struct heap_counts);
}

struct ring;
struct ring_record;

/* The bucket of a sampled allocation whose stack, flags and labels are in rec (a scratch
 * record: nframes, pc, flags, labels_len, labels_left, labels), made if new: its index, or
 * r->nbuckets (the overflow bucket) when there is no room. r must have a table. */
GP_SIGSAFE uint32_t heap_bucket_find(struct ring *r, const struct ring_record *rec);
/* Bucket i's key (the overflow bucket's for i == r->nbuckets). */
GP_SIGSAFE struct heap_bucket *heap_bucket_at(struct ring *r, uint32_t i);
/* Bucket i's counters (i <= r->nbuckets) in the stripe of thread id tid. */
GP_SIGSAFE struct heap_counts *heap_counts_at(struct ring *r, uint32_t i, uint32_t tid);
GP_SIGSAFE void heap_bucket_count_alloc(struct heap_counts *c, uint64_t size);
GP_SIGSAFE void heap_bucket_count_free(struct heap_counts *c, uint64_t size);
/* A block went from old to size bytes (realloc): in-use bytes change by the difference. */
GP_SIGSAFE void heap_bucket_count_resize(struct heap_counts *c, uint64_t old, uint64_t size);
/* Bucket i's counters (i <= r->nbuckets) over every stripe, the frees read first (see
 * "Concurrency"). The reader's (ring_reader.c). */
void heap_bucket_totals(const struct ring *r, uint32_t i, struct heap_totals *t);

#endif
