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

size_t ring_read(struct ring *r, ring_record_fn fn, void *ctx)
{
    struct ring_header *h = r->hdr;
    uint64_t pos = r->tail;
    size_t n = 0;
    /* At most one lap per call: the writers are untrusted and the caller drains again. */
    while (n < r->nslots) {
        uint64_t idx = pos & r->mask;
        struct ring_slot *s = &r->slots[idx];
        /* pairs with the release store in ring_commit() */
        if (ring_seq_load(&s->seq, idx) != pos + 1)
            break;
        if (s->rec.weight == 0)
            ;   /* a slot its writer gave up: nothing in it */
        else if (record_valid(&s->rec))
            fn(&s->rec, pos, ctx);
        else
            atomic_fetch_add_explicit(&h->drops[GP_DROP_BAD_RECORD], 1, memory_order_relaxed);
        /* pairs with the acquire load in ring_reserve(): the slot is free for the next lap */
        ring_seq_store(&s->seq, idx, pos + r->nslots);
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
    while (n < r->nfrees) {
        uint64_t idx = pos & r->free_mask;
        struct ring_free *e = &r->frees[idx];
        /* pairs with the release store in ring_log_free() */
        if (ring_seq_load(&e->seq, idx) != pos + 1)
            break;
        uint64_t at = e->pos, addr = e->addr;
        if (at <= r->tail)
            fn(addr, at, ctx);
        else if (at <= atomic_load_explicit(&h->head, memory_order_relaxed))
            break;   /* records before it are still to be read: next time (the head, read
                      * after the entry's seq, is at least what its writer read) */
        else
            atomic_fetch_add_explicit(&h->heap_drops[GP_HEAP_DROP_FREE_LOST], 1,
                                      memory_order_relaxed);
        /* pairs with the acquire load in ring_log_free(): the entry is free for the next lap */
        ring_seq_store(&e->seq, idx, pos + r->nfrees);
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
    uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
    uint64_t pos = r->tail;
    size_t skipped = 0;
    while (pos < head && skipped < r->nslots) {
        uint64_t idx = pos & r->mask;
        struct ring_slot *s = &r->slots[idx];
        if (ring_seq_load(&s->seq, idx) == pos + 1)
            break;   /* committed: ring_read will take it */
        atomic_fetch_add_explicit(&h->drops[GP_DROP_TORN], 1, memory_order_relaxed);
        ring_seq_store(&s->seq, idx, pos + r->nslots);
        pos++;
        skipped++;
    }
    r->tail = pos;
    atomic_store_explicit(&h->tail, pos, memory_order_relaxed);
    /* the free log's: entries reserved and never committed (what was committed after them
     * is read by the next ring_read_frees) */
    uint64_t free_head = atomic_load_explicit(&h->free_head, memory_order_acquire);
    uint64_t fpos = r->free_tail;
    for (size_t k = 0; fpos < free_head && k < r->nfrees; k++) {
        uint64_t idx = fpos & r->free_mask;
        struct ring_free *e = &r->frees[idx];
        if (ring_seq_load(&e->seq, idx) == fpos + 1)
            break;
        atomic_fetch_add_explicit(&h->heap_drops[GP_HEAP_DROP_FREE_LOST], 1, memory_order_relaxed);
        ring_seq_store(&e->seq, idx, fpos + r->nfrees);
        fpos++;
    }
    r->free_tail = fpos;
    atomic_store_explicit(&h->free_tail, fpos, memory_order_relaxed);
    return skipped;
}

void ring_reader_touch(struct ring *r, uint32_t ahead)
{
    if (r->touched >= r->nslots)
        return;
    uint64_t head = atomic_load_explicit(&r->hdr->head, memory_order_relaxed);
    uint64_t want = head + ahead < r->nslots ? head + ahead : r->nslots;
    for (; r->touched < want; r->touched++) {
        /* pad[0] of the seq's line: a word no writer and no reader uses */
        volatile uint64_t *pad = &r->slots[r->touched].pad[0];
        *pad = 0;
    }
}
