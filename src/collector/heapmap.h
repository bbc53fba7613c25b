/* heapmap.h -- C memory profiling's aggregation: sampled allocations by (process, stack, labels),
 * and the sampled blocks still live, by address.
 * Context: collector
 *
 * Fed with the rings' heap events (lib/base/record_flags.h: GP_REC_HEAP_ALLOC, _MOVE; _FREE,
 * which the programs write to the ring's free log instead: heapmap_free_block), each with its
 * ring position.
 * A bucket is one (process, stack, goroutine labels, record flags) with four raw figures, as
 * Go's runtime keeps per bucket (runtime/mprof.go memRecord): sampled allocations and their
 * bytes since the start, and of those the blocks and bytes still in use. One table per session
 * (not per window): heap profiles are cumulative since the start, as Go's are, and the in-use
 * figures are the state at the moment a profile is written.
 *
 * Live blocks. Addresses are per process image: the table is keyed by (proc, address), proc
 * being the image's entry in the session (collector/tree.h), so a fork child's or an exec'd
 * image's blocks never meet its parent's. ALLOC adds a block (its bucket, its size) and its
 * share to in-use; FREE removes it; MOVE (realloc moved a sampled block) re-keys it and
 * changes its in-use bytes to the new size (alloc figures stay as allocated, as in Go, where
 * a realloc does not exist but append allocates anew). Events about blocks the table does not
 * hold (allocated before profiling started, by the parent of a fork child, or not sampled) are
 * ignored and counted (unknown_frees, unknown_moves). Frees are ordered by position: a free
 * applies to the block at its address whose record lies before the free's position; a block
 * there with a later record was allocated after the free (late_frees: ignored). An ALLOC at an
 * address still live means the old block's free has not been read yet (the free log is read
 * after the records) or was lost: the old block leaves in-use first (replaced).
 *
 * Ended processes. heapmap_end_proc forgets an ended image's live blocks (they can change no
 * more) and keeps its buckets as they were: its in-use figures are what it had not freed at
 * its exit (a leak report). They stay in every later profile.
 *
 * Bounds. At most HEAPMAP_MAX_BUCKETS buckets and HEAPMAP_MAX_FRAMES stored frames: an
 * allocation that needs a new bucket past them is added to its process's overflow bucket (no
 * stack; shown as "[libgoprof] lost: heap stacks over the limit") and counted. At most
 * HEAPMAP_MAX_LIVE live blocks: a sampled allocation past it counts in the alloc figures but
 * not in in-use (its free would be unknown), counted as untracked. With the limits below the
 * table takes at most about 64 MiB (live: 2 Mi slots of 32 bytes), 64 MiB (frames), 6 MiB
 * (buckets and their index) and 56 MiB (labels: 896 bytes a bucket at worst, real label sets
 * are tens of bytes); heapmap_stats says what it holds, and every heap profile says it in a
 * comment.
 */
#ifndef GP_HEAPMAP_H
#define GP_HEAPMAP_H

#include <stddef.h>
#include <stdint.h>

struct ring_record;

#define HEAPMAP_MAX_BUCKETS 65536
#define HEAPMAP_MAX_FRAMES (8u << 20)
#define HEAPMAP_MAX_LIVE (1u << 20)

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
    uint64_t allocs, frees, moves;         /* events applied */
    uint64_t unknown_frees, unknown_moves; /* about blocks it does not hold: ignored */
    uint64_t late_frees;                   /* of a block an allocation there had replaced */
    uint64_t replaced;                     /* a live address allocated again */
    uint64_t overflow_allocs;              /* no bucket of their own (bounds) */
    uint64_t untracked;                    /* not in in-use: the live table was full */
    uint64_t bad;                          /* heap records it could not use */
    size_t buckets, live, frames;
    size_t bytes;                          /* memory held by the table */
};

struct heapmap;

struct heapmap *heapmap_new(void);
void heapmap_free(struct heapmap *h);
/* Applies one heap record (rec->flags has GP_REC_HEAP_ALLOC and/or _FREE) of process image
 * proc, at position pos of its ring; frames inside [skip_lo, skip_hi) (libgoprof's own: the
 * interposer) are left out of the stack. Returns 0 or -ENOMEM (the event is lost, counted
 * nowhere else). */
int heapmap_add(struct heapmap *h, uint32_t proc, const struct ring_record *rec, uint64_t pos,
                uint64_t skip_lo, uint64_t skip_hi);
/* A free from the free log: the block at addr whose record is before pos leaves in-use. */
void heapmap_free_block(struct heapmap *h, uint32_t proc, uint64_t addr, uint64_t pos);
/* Process image proc has ended: its live blocks are forgotten, its buckets kept. */
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
