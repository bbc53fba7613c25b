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
 *   buckets[nbuckets]   64 bytes each: the key (hash, where the stack and labels are) and the
 *                       four counters, in one cache line (a sample reads the key and writes the
 *                       counters: one line)
 *   order[nbuckets]     index + 1 of each bucket made, in the order they were made (0: not yet
 *                       written): the collector reads the buckets in use without a scan
 *   frames[frame_words] the stacks' PCs, leaf first, as in a record
 *   labels[label_bytes] the goroutine labels, as in a record (not canonical: the collector
 *                       makes them so)
 * and one more bucket in the ring's header: the overflow bucket, index nbuckets, for the
 * allocations whose stack found no bucket (the table or the stores full), without a stack.
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
 * index to order. Counters are atomic additions, by any writer, before or after ready. The
 * reader reads a bucket only once ready (acquire), and reads the free counters before the
 * alloc counters: a free counted is then never seen without its allocation (the allocation was
 * counted before the block was handed to the program). A writer killed between claim and
 * ready leaves a bucket the reader never reads (its counts lost; the process is gone anyway).
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
    /* sampled allocations and their bytes (as asked for), and of those the frees, since the
     * start; a realloc that resized a block in place or moved it changes free_bytes by the
     * difference (it may go below zero, modulo 2^64: in-use is alloc - free) */
    _Atomic uint64_t alloc_count, alloc_bytes, free_count, free_bytes;
};
_Static_assert(sizeof(struct heap_bucket) == 64, "a bucket is one cache line");

/* The bytes of the table's region, after the slots. */
static inline uint64_t heap_buckets_region_bytes(void)
{
    return (uint64_t)GP_HEAP_BUCKETS * (sizeof(struct heap_bucket) + sizeof(uint32_t)) +
           (uint64_t)GP_HEAP_FRAME_WORDS * sizeof(uint64_t) + GP_HEAP_LABEL_BYTES;
}

struct ring;
struct ring_record;

/* The bucket of a sampled allocation whose stack, flags and labels are in rec (a scratch
 * record: nframes, pc, flags, labels_len, labels_left, labels), made if new: its index, or
 * r->nbuckets (the overflow bucket) when there is no room. r must have a table. */
GP_SIGSAFE uint32_t heap_bucket_find(struct ring *r, const struct ring_record *rec);
/* Bucket i (the overflow bucket for i == r->nbuckets). */
GP_SIGSAFE struct heap_bucket *heap_bucket_at(struct ring *r, uint32_t i);
GP_SIGSAFE void heap_bucket_count_alloc(struct heap_bucket *b, uint64_t size);
GP_SIGSAFE void heap_bucket_count_free(struct heap_bucket *b, uint64_t size);
/* A block of b went from old to size bytes (realloc): in-use bytes change by the difference. */
GP_SIGSAFE void heap_bucket_count_resize(struct heap_bucket *b, uint64_t old, uint64_t size);

#endif
