/* ring_reader.c -- the collector's side of the ring (see ring.h).
 * Context: library
 */
#include "lib/ring/ring.h"

#include <errno.h>
#include <stdio.h>

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
             h->free_entries != (uint64_t)h->nslots * GP_RING_FREES_PER_SLOT ||
             h->nslots > room / (sizeof(struct ring_slot) +
                                 GP_RING_FREES_PER_SLOT * sizeof(struct ring_free)))
        snprintf(why, whysz, "has %u slots (mask 0x%llx) and %u free entries in %zu bytes: "
                 "inconsistent", h->nslots, (unsigned long long)h->mask, h->free_entries, room);
    else {
        r->nslots = h->nslots;   /* from now on the reader's own copies */
        r->mask = h->nslots - 1;
        r->frees = (struct ring_free *)(r->slots + r->nslots);
        r->nfrees = h->free_entries;
        r->free_mask = r->nfrees - 1;
        return 0;
    }
    return -EPROTO;
}

static int record_valid(const struct ring_record *rec)
{
    return rec->nframes <= GP_RING_MAX_FRAMES && rec->weight > 0 && rec->weight < (1u << 24) &&
           rec->labels_len <= GP_RING_LABEL_BYTES;
}

/* Whether the element at pos of a queue (stride-byte elements at base) is committed: pairs
 * with the writer's release store (ring_commit, ring_log_free). */
static int committed(void *base, size_t stride, uint64_t mask, uint64_t pos)
{
    uint64_t idx = pos & mask;
    return ring_seq_load(ring_seq_at(base, stride, idx), idx) == pos + 1;
}

/* Frees the element at pos of a queue of n elements for the writers' next lap: pairs with the
 * acquire load in their claim. */
static void release(void *base, size_t stride, uint64_t mask, uint64_t n, uint64_t pos)
{
    uint64_t idx = pos & mask;
    ring_seq_store(ring_seq_at(base, stride, idx), idx, pos + n);
}

/* Only when no writer can finish: steps from pos over elements claimed (below *head) and
 * never committed, at most one lap, adding each to *lost. Returns the new position. */
static uint64_t skip_torn(void *base, size_t stride, uint64_t mask, uint64_t n,
                          _Atomic uint64_t *head, uint64_t pos, _Atomic uint64_t *lost)
{
    uint64_t end = atomic_load_explicit(head, memory_order_acquire);
    for (uint64_t k = 0; pos < end && k < n && !committed(base, stride, mask, pos); k++) {
        atomic_fetch_add_explicit(lost, 1, memory_order_relaxed);
        release(base, stride, mask, n, pos);
        pos++;
    }
    return pos;
}

size_t ring_read(struct ring *r, ring_record_fn fn, void *ctx)
{
    return ring_read_max(r, r->nslots, fn, ctx);
}

size_t ring_read_max(struct ring *r, size_t max, ring_record_fn fn, void *ctx)
{
    struct ring_header *h = r->hdr;
    uint64_t pos = r->tail;
    size_t n = 0;
    /* At most one lap per call: the writers are untrusted and the caller drains again. */
    if (max > r->nslots)
        max = r->nslots;
    while (n < max && committed(r->slots, sizeof *r->slots, r->mask, pos)) {
        struct ring_slot *s = &r->slots[pos & r->mask];
        if (s->rec.weight == 0)
            ;   /* a slot its writer gave up: nothing in it */
        else if (record_valid(&s->rec))
            fn(&s->rec, pos, ctx);
        else
            atomic_fetch_add_explicit(&h->drops[GP_DROP_BAD_RECORD], 1, memory_order_relaxed);
        release(r->slots, sizeof *r->slots, r->mask, r->nslots, pos);
        pos++;
        n++;
    }
    r->tail = pos;
    atomic_store_explicit(&h->tail, pos, memory_order_relaxed);
    return n;
}

size_t ring_read_frees(struct ring *r, ring_free_fn fn, void *ctx)
{
    struct ring_header *h = r->hdr;
    uint64_t pos = r->free_tail;
    size_t n = 0;
    while (n < r->nfrees && committed(r->frees, sizeof *r->frees, r->free_mask, pos)) {
        struct ring_free *e = &r->frees[pos & r->free_mask];
        uint64_t at = e->pos, addr = e->addr;
        if (at <= r->tail)
            fn(addr, at, ctx);
        else if (at <= atomic_load_explicit(&h->head, memory_order_relaxed))
            break;   /* records before it are still to be read: next time (the head, read
                      * after the entry's seq, is at least what its writer read) */
        else
            atomic_fetch_add_explicit(&h->heap_drops[GP_HEAP_DROP_FREE_LOST], 1,
                                      memory_order_relaxed);
        release(r->frees, sizeof *r->frees, r->free_mask, r->nfrees, pos);
        pos++;
        n++;
    }
    r->free_tail = pos;
    atomic_store_explicit(&h->free_tail, pos, memory_order_relaxed);
    return n;
}

size_t ring_reader_skip_stalled(struct ring *r)
{
    struct ring_header *h = r->hdr;
    uint64_t from = r->tail;
    r->tail = skip_torn(r->slots, sizeof *r->slots, r->mask, r->nslots, &h->head, r->tail,
                        &h->drops[GP_DROP_TORN]);
    atomic_store_explicit(&h->tail, r->tail, memory_order_relaxed);
    /* the free log's (what was committed after them is read by the next ring_read_frees) */
    r->free_tail = skip_torn(r->frees, sizeof *r->frees, r->free_mask, r->nfrees, &h->free_head,
                             r->free_tail, &h->heap_drops[GP_HEAP_DROP_FREE_LOST]);
    atomic_store_explicit(&h->free_tail, r->free_tail, memory_order_relaxed);
    return (size_t)(r->tail - from);
}

void ring_reader_touch(struct ring *r, uint32_t ahead)
{
    if (r->touched >= r->nslots)
        return;
    uint64_t head = atomic_load_explicit(&r->hdr->head, memory_order_relaxed);
    uint64_t want = head + ahead < r->nslots ? head + ahead : r->nslots;
    for (; r->touched < want; r->touched++) {
        /* A write that changes nothing: an atomic add of 0 to the seq, which a writer may be
         * storing to at the same time (the header shares its line: no padding is left there) */
        atomic_fetch_add_explicit(&r->slots[r->touched].seq, 0, memory_order_relaxed);
    }
}
