/* heapmap.h -- C memory profiling's aggregation: sampled allocations by (process, stack,
 * labels).
 * Context: collector
 *
 * The programs count their sampled allocations and frees themselves, by stack, in a table in
 * each process's ring (lib/ring/heap_buckets.h). heapmap_sync reads one process image's table:
 * each of its buckets is added to the session's bucket of the same (process, stack without
 * libgoprof's own frames, canonical goroutine labels, record flags), by what its counters grew
 * since the last sync. A bucket here has four raw figures, as Go's runtime keeps per bucket
 * (runtime/mprof.go memRecord): sampled allocations and their bytes since the start, and of
 * those the blocks and bytes still in use. One table per session (not per window): heap
 * profiles are cumulative since the start, as Go's are, and the in-use figures are the state
 * at the last sync: the collector syncs every live process before it writes a heap profile,
 * and a process image once more as it ends.
 *
 * Ended processes. heapmap_end_proc forgets what it read of an ended image's table and keeps
 * its buckets as they were: their in-use figures are what it had not freed at its exit (a leak
 * report). They stay in every later profile.
 *
 * Bounds. At most HEAPMAP_MAX_BUCKETS buckets and HEAPMAP_MAX_FRAMES stored frames: a stack
 * that needs a new bucket past them is added to its process's overflow bucket (no stack; shown
 * as "[libgoprof] lost: heap stacks over the limit") and counted, as are the allocations the
 * program itself counted without a stack (its table full). With the limits below the table
 * takes at most about 64 MiB (frames), 6 MiB (buckets and their index) and 56 MiB (labels:
 * 896 bytes a bucket at worst, real label sets are tens of bytes), and 40 bytes per bucket a
 * process made; heapmap_stats says what it holds, and every heap profile says it in a comment.
 */
#ifndef GP_HEAPMAP_H
#define GP_HEAPMAP_H

#include <stddef.h>
#include <stdint.h>

struct ring;

#define HEAPMAP_MAX_BUCKETS 65536
#define HEAPMAP_MAX_FRAMES (8u << 20)

/* A bucket's flags besides the record's (GP_REC_TRUNCATED...): its allocations' stacks did not
 * fit the bounds. */
#define HEAPMAP_OVERFLOW 0x8000u

struct heapmap_bucket {
    uint64_t hash;
    uint32_t proc;          /* the process image's entry in the session */
    uint16_t flags;         /* the records' GP_REC_* other than the heap ones; HEAPMAP_OVERFLOW */
    uint16_t nframes;
    size_t frames;          /* offset into the frame store */
    size_t labels;          /* offset into the label store */
    uint16_t labels_len;    /* canonical form (lib/ring/ring_labels.h) */
    uint16_t labels_left;   /* 0xffff: unreadable */
    uint64_t alloc_count, alloc_bytes;     /* sampled, since the start */
    uint64_t inuse_count, inuse_bytes;     /* of those, not freed */
};

struct heapmap_stats {
    uint64_t allocs, frees;                /* sampled, as read from the programs' tables */
    uint64_t overflow_buckets;             /* stacks without a bucket of their own (bounds) */
    uint64_t bad;                          /* programs' buckets whose stack it could not read */
    size_t buckets, frames;
    size_t bytes;                          /* memory held by the table */
};

struct heapmap;

struct heapmap *heapmap_new(void);
void heapmap_free(struct heapmap *h);
/* Reads the table in process image proc's ring r (none: nothing to do); frames inside
 * [skip_lo, skip_hi) (libgoprof's own: the interposer) are left out of the stacks. Returns 0
 * or -ENOMEM (what it did not read is read at the next sync). */
int heapmap_sync(struct heapmap *h, uint32_t proc, const struct ring *r, uint64_t skip_lo,
                 uint64_t skip_hi);
/* Process image proc has ended (after its last sync): what was read of its table is
 * forgotten, its buckets kept. */
void heapmap_end_proc(struct heapmap *h, uint32_t proc);

size_t heapmap_len(const struct heapmap *h);
const struct heapmap_bucket *heapmap_get(const struct heapmap *h, size_t i);
const uint64_t *heapmap_frames(const struct heapmap *h, const struct heapmap_bucket *b);
const uint8_t *heapmap_labels(const struct heapmap *h, const struct heapmap_bucket *b);
void heapmap_stats(const struct heapmap *h, struct heapmap_stats *out);

/* Go's scaleHeapSample (runtime/pprof/protomem.go): the estimated count and bytes of all
 * allocations that count sampled ones of bytes in all stand for, sampled by bytes with mean
 * rate: both multiplied by 1 / (1 - exp(-avg / rate)), avg = bytes / count, truncated to
 * integers. No scaling when rate <= 1; 0, 0 when count or bytes is 0. */
void heapmap_scale(uint64_t count, uint64_t bytes, uint64_t rate, int64_t *count_out,
                   int64_t *bytes_out);

/* Every bucket's four figures at one moment: the base of a delta profile (Go's
 * /debug/pprof/heap?seconds=N). Buckets are only ever appended, so index i of a snapshot is
 * bucket i later too; buckets made since have a base of zero. */
struct heapmap_counts {
    uint64_t alloc_count, alloc_bytes, inuse_count, inuse_bytes;
};
struct heapmap_snapshot {
    struct heapmap_counts *counts;   /* len of them (malloc'd; NULL when there were none) */
    size_t len;
    int64_t at_ns;                   /* wall clock, when it was taken */
};
/* Fills *out (free out->counts); 0 or -ENOMEM. */
int heapmap_snapshot(const struct heapmap *h, int64_t at_ns, struct heapmap_snapshot *out);

#endif
