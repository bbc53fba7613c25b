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
             h->nslots > room / sizeof(struct ring_slot))
        snprintf(why, whysz, "has %u slots (mask 0x%llx) in %zu bytes: inconsistent",
                 h->nslots, (unsigned long long)h->mask, room);
    else {
        r->nslots = h->nslots;   /* from now on the reader's own copies */
        r->mask = h->nslots - 1;
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
        if (ring_seq_load(s, idx) != pos + 1)
            break;
        if (s->rec.weight == 0)
            ;   /* a slot its writer gave up: nothing in it */
        else if (record_valid(&s->rec))
            fn(&s->rec, ctx);
        else
            atomic_fetch_add_explicit(&h->drops[GP_DROP_BAD_RECORD], 1, memory_order_relaxed);
        /* pairs with the acquire load in ring_reserve(): the slot is free for the next lap */
        ring_seq_store(s, idx, pos + r->nslots);
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
    uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
    uint64_t pos = r->tail;
    size_t skipped = 0;
    while (pos < head && skipped < r->nslots) {
        uint64_t idx = pos & r->mask;
        struct ring_slot *s = &r->slots[idx];
        if (ring_seq_load(s, idx) == pos + 1)
            break;   /* committed: ring_read will take it */
        atomic_fetch_add_explicit(&h->drops[GP_DROP_TORN], 1, memory_order_relaxed);
        ring_seq_store(s, idx, pos + r->nslots);
        pos++;
        skipped++;
    }
    r->tail = pos;
    atomic_store_explicit(&h->tail, pos, memory_order_relaxed);
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
