/* heap_buckets.c -- the program's side of C memory profiling's table of counts by stack (see
 * heap_buckets.h; the reader's sum of a bucket's stripes is in ring_reader.c).
 * Context: library, signal-safe
 * Must not: allocate, lock, wait for another writer, call libc.
 */
#include "lib/ring/heap_buckets.h"

#include "lib/base/hash.h"
#include "lib/ring/ring.h"

/* The key's hash: the stack, its length and flags, the labels. Never 0 (an empty slot). */
GP_SIGSAFE static uint64_t key_hash(const struct ring_record *rec)
{
    uint64_t h = gp_hash_u64(GP_HASH_SEED ^ rec->h.flags ^ (uint64_t)rec->h.nframes << 16 ^
                             (uint64_t)rec->h.labels_left << 32);
    h = gp_hash_words(h, rec->pc, rec->h.nframes);
    if (rec->h.labels_len)
        h = gp_hash_more(h, rec->labels, rec->h.labels_len);
    return h ? h : 1;
}

/* n units of a store of cap, from *used: the offset, or -1 when it is full. A failed
 * reservation leaves *used past cap, so every later one fails too: at most one a bucket made,
 * so it cannot wrap. */
GP_SIGSAFE static int64_t reserve(_Atomic uint64_t *used, uint64_t n, uint64_t cap)
{
    if (n == 0)
        return 0;
    uint64_t off = atomic_fetch_add_explicit(used, n, memory_order_relaxed);
    return off + n <= cap ? (int64_t)off : -1;
}

/* The key of the bucket b just claimed: its stack and labels into the stores, published. */
GP_SIGSAFE static void make(struct ring *r, struct heap_bucket *b, uint32_t i,
                            const struct ring_record *rec)
{
    struct ring_header *h = r->hdr;
    uint16_t flags = rec->h.flags;
    int64_t f = reserve(&h->heap_frames_used, rec->h.nframes, r->frame_words);
    int64_t l = reserve(&h->heap_labels_used, rec->h.labels_len, r->label_bytes);
    if (f < 0 || l < 0) {
        flags |= GP_HEAP_BUCKET_NOSTACK;
        ring_heap_drop(r, GP_HEAP_DROP_NO_BUCKET);
        b->nframes = 0;
        b->labels_len = 0;
    } else {
        for (uint32_t k = 0; k < rec->h.nframes; k++)
            r->heap_frames[f + k] = rec->pc[k];
        gp_copy_bytes(r->heap_labels + l, rec->labels, rec->h.labels_len);
        b->nframes = rec->h.nframes;
        b->frames = (uint32_t)f;
        b->labels = (uint32_t)l;
        b->labels_len = rec->h.labels_len;
    }
    b->flags = flags;
    b->labels_left = rec->h.labels_left;
    atomic_store_explicit(&b->ready, 1, memory_order_release);
    uint64_t k = atomic_fetch_add_explicit(&h->heap_buckets_made, 1, memory_order_relaxed);
    if (k < r->nbuckets)
        atomic_store_explicit(&r->bucket_order[k], i + 1, memory_order_release);
}

GP_SIGSAFE uint32_t heap_bucket_find(struct ring *r, const struct ring_record *rec)
{
    uint64_t hash = key_hash(rec), mask = r->nbuckets - 1;
    uint64_t i = hash & mask;
    for (int probe = 0; probe < GP_HEAP_BUCKET_PROBES; probe++, i = (i + 1) & mask) {
        struct heap_bucket *b = &r->buckets[i];
        uint64_t v = atomic_load_explicit(&b->hash, memory_order_relaxed);
        if (v == hash)
            return (uint32_t)i;
        if (v == 0) {
            if (atomic_compare_exchange_strong_explicit(&b->hash, &v, hash, memory_order_relaxed,
                                                        memory_order_relaxed)) {
                make(r, b, (uint32_t)i, rec);
                return (uint32_t)i;
            }
            if (v == hash)   /* another thread made it just now */
                return (uint32_t)i;
        }
    }
    ring_heap_drop(r, GP_HEAP_DROP_NO_BUCKET);
    return r->nbuckets;
}

GP_SIGSAFE struct heap_bucket *heap_bucket_at(struct ring *r, uint32_t i)
{
    return i < r->nbuckets ? &r->buckets[i] : &r->hdr->heap_overflow;
}

GP_SIGSAFE struct heap_counts *heap_counts_at(struct ring *r, uint32_t i, uint32_t tid)
{
    return &r->heap_counts[(tid % GP_HEAP_STRIPES) * heap_counts_row(r->nbuckets) + i];
}

/* Relaxed: the reader orders its reads by the free counters' acquire, which these releases
 * pair with (heap_buckets.h). */
GP_SIGSAFE void heap_bucket_count_alloc(struct heap_counts *c, uint64_t size)
{
    atomic_fetch_add_explicit(&c->alloc_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->alloc_bytes, size, memory_order_relaxed);
}

GP_SIGSAFE void heap_bucket_count_free(struct heap_counts *c, uint64_t size)
{
    atomic_fetch_add_explicit(&c->free_bytes, size, memory_order_release);
    atomic_fetch_add_explicit(&c->free_count, 1, memory_order_release);
}

GP_SIGSAFE void heap_bucket_count_resize(struct heap_counts *c, uint64_t old, uint64_t size)
{
    atomic_fetch_add_explicit(&c->free_bytes, old - size, memory_order_release);
}
