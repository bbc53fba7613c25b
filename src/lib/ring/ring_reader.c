/* ring_reader.c -- the collector's side of the ring (see ring.h).
 * Context: library
 */
#include "lib/ring/ring.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RECORD_BYTES (sizeof(struct ring_slot) + sizeof(struct ring_spill))

int ring_check(struct ring *r, char *why, size_t whysz)
{
    const struct ring_header *h = r->hdr;
    size_t room = r->map_size - (size_t)((const char *)r->slots - (const char *)h);
    if (h->magic != GP_RING_MAGIC)
        snprintf(why, whysz, "has magic 0x%08x, not 0x%08x", h->magic, GP_RING_MAGIC);
    else if (h->version != GP_RING_VERSION)
        snprintf(why, whysz, "has version %u, this reader reads %u", h->version,
                 GP_RING_VERSION);
    else if (h->slot_size != sizeof(struct ring_slot))
        snprintf(why, whysz, "has %u-byte slots, this reader reads %zu-byte slots",
                 h->slot_size, sizeof(struct ring_slot));
    else if (h->nslots == 0 || (h->nslots & (h->nslots - 1)) || h->mask != h->nslots - 1 ||
             h->nslots > room / RECORD_BYTES)
        snprintf(why, whysz, "has %u slots (mask 0x%llx) in %zu bytes: inconsistent",
                 h->nslots, (unsigned long long)h->mask, room);
    else if (h->heap_buckets
                 ? h->heap_buckets != GP_HEAP_BUCKETS || h->heap_frame_words != GP_HEAP_FRAME_WORDS ||
                       h->heap_label_bytes != GP_HEAP_LABEL_BYTES ||
                       room - (size_t)h->nslots * RECORD_BYTES <
                           heap_buckets_region_bytes()
                 : h->heap_frame_words || h->heap_label_bytes)
        snprintf(why, whysz, "has a heap table of %u buckets, %u frames and %u label bytes: "
                 "not what this reader reads, or past the end", h->heap_buckets,
                 h->heap_frame_words, h->heap_label_bytes);
    else {
        r->nslots = h->nslots;   /* from now on the reader's own copies */
        r->mask = h->nslots - 1;
        ring_set_slot_geometry(r);
        ring_set_heap_geometry(r, h->heap_buckets, h->heap_frame_words, h->heap_label_bytes);
        return 0;
    }
    return -EPROTO;
}

static int head_valid(const struct ring_record_head *h)
{
    return h->nframes <= GP_RING_MAX_FRAMES && h->weight > 0 && h->weight < (1u << 24) &&
           h->labels_len <= GP_RING_LABEL_BYTES;
}

/* The record at pos into *rec, in one piece: its head first, checked, then only as much of
 * its frames and labels as the head says (what the writer may still change is copied once
 * and checked in the copy). 0 when its writer gave it up, -1 when it cannot be trusted. */
static int copy_record(struct ring *r, uint64_t pos, struct ring_record *rec)
{
    const struct ring_slot *s = &r->slots[pos & r->mask];
    const struct ring_spill *sp = &r->spills[pos & r->mask];
    rec->h = s->h;
    if (rec->h.weight == 0)
        return 0;
    if (!head_valid(&rec->h))
        return -1;
    size_t n = rec->h.nframes, in_slot = n < GP_RING_SLOT_FRAMES ? n : GP_RING_SLOT_FRAMES;
    memcpy(rec->pc, s->pc, in_slot * sizeof rec->pc[0]);
    memcpy(rec->pc + in_slot, sp->pc, (n - in_slot) * sizeof rec->pc[0]);
    memcpy(rec->labels, sp->labels, rec->h.labels_len);
    return 1;
}

/* Whether the slot at pos is committed: pairs with the writer's release store (ring_commit). */
static int committed(struct ring *r, uint64_t pos)
{
    uint64_t idx = pos & r->mask;
    return ring_seq_load(&r->slots[idx].seq, idx) == pos + 1;
}

/* Frees the slot at pos for the writers' next lap: pairs with the acquire load in their
 * claim. */
static void release(struct ring *r, uint64_t pos)
{
    uint64_t idx = pos & r->mask;
    ring_seq_store(&r->slots[idx].seq, idx, pos + r->nslots);
}

size_t ring_read(struct ring *r, ring_record_fn fn, void *ctx)
{
    struct ring_header *h = r->hdr;
    uint64_t pos = r->tail;
    size_t n = 0;
    struct ring_record rec;   /* 8 KiB: the reader runs on a thread of its own */
    /* At most one lap per call: the writers are untrusted and the caller drains again. */
    while (n < r->nslots && committed(r, pos)) {
        int got = copy_record(r, pos, &rec);
        if (got > 0)
            fn(&rec, pos, ctx);
        else if (got < 0)
            atomic_fetch_add_explicit(&h->drops[GP_DROP_BAD_RECORD], 1, memory_order_relaxed);
        release(r, pos);
        pos++;
        n++;
    }
    r->tail = pos;
    atomic_store_explicit(&h->tail, pos, memory_order_relaxed);
    return n;
}

size_t ring_reader_skip_stalled(struct ring *r)
{
    struct ring_header *h = r->hdr;
    uint64_t from = r->tail, pos = r->tail;
    uint64_t end = atomic_load_explicit(&h->head, memory_order_acquire);
    for (uint64_t k = 0; pos < end && k < r->nslots && !committed(r, pos); k++) {
        atomic_fetch_add_explicit(&h->drops[GP_DROP_TORN], 1, memory_order_relaxed);
        release(r, pos);
        pos++;
    }
    r->tail = pos;
    atomic_store_explicit(&h->tail, r->tail, memory_order_relaxed);
    return (size_t)(r->tail - from);
}

void ring_reader_touch(struct ring *r, uint32_t ahead)
{
    if (r->touched >= r->nslots)
        return;
    uint64_t head = atomic_load_explicit(&r->hdr->head, memory_order_relaxed);
    uint64_t want = head + ahead < r->nslots ? head + ahead : r->nslots;
    if (want <= r->touched)
        return;
    /* The pages of those slots in one call: a fault each would cost ten times as much on a VM
     * whose faults are slow (BENCHMARKS.md). It writes nothing, so a writer storing there
     * meanwhile is left alone. */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)&r->slots[r->touched] & ~(page - 1);
    uintptr_t hi = ((uintptr_t)&r->slots[want] + page - 1) & ~(page - 1);
    if (madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) != 0) {
        /* Before Linux 5.14: a write that changes nothing, an atomic add of 0 to each seq
         * (the header shares its line: no padding is left there) */
        for (uint64_t i = r->touched; i < want; i++)
            atomic_fetch_add_explicit(&r->slots[i].seq, 0, memory_order_relaxed);
    }
    r->touched = (uint32_t)want;
}

/* Frees of every stripe first, then allocations (heap_buckets.h, "Concurrency"). */
void heap_bucket_totals(const struct ring *r, uint32_t i, struct heap_totals *t)
{
    uint64_t row = heap_counts_row(r->nbuckets);
    *t = (struct heap_totals){ 0 };
    for (uint32_t s = 0; s < GP_HEAP_STRIPES; s++) {
        struct heap_counts *c = &r->heap_counts[s * row + i];
        t->free_count += atomic_load_explicit(&c->free_count, memory_order_acquire);
        t->free_bytes += atomic_load_explicit(&c->free_bytes, memory_order_acquire);
    }
    for (uint32_t s = 0; s < GP_HEAP_STRIPES; s++) {
        struct heap_counts *c = &r->heap_counts[s * row + i];
        t->alloc_count += atomic_load_explicit(&c->alloc_count, memory_order_relaxed);
        t->alloc_bytes += atomic_load_explicit(&c->alloc_bytes, memory_order_relaxed);
    }
}
