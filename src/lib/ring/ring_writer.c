/* ring_writer.c -- reserve/commit of ring slots from the SIGPROF handler, and the free log's
 * entries from the C memory sampling path.
 * Context: library, signal-safe
 * Must not: allocate, lock, wait for the reader or another writer, call libc.
 */
#include "lib/ring/ring.h"

/* Claims the next position of a queue (the slots, or the free log: elements of stride bytes at
 * base, mask + 1 of them, positions handed out by *head). 0 with *pos_out, or -1 when full. */
GP_SIGSAFE static inline __attribute__((always_inline)) int
claim(_Atomic uint64_t *head, void *base, size_t stride, uint64_t mask, uint64_t *pos_out)
{
    uint64_t pos = atomic_load_explicit(head, memory_order_relaxed);
    for (;;) {
        uint64_t idx = pos & mask;
        /* pairs with the release store of the reader that frees the element */
        int64_t dif = (int64_t)(ring_seq_load(ring_seq_at(base, stride, idx), idx) - pos);
        if (dif == 0) {
            /* racing with other writers for the same position */
            if (atomic_compare_exchange_weak_explicit(head, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *pos_out = pos;
                return 0;
            }
        } else if (dif < 0) {
            return -1;   /* the reader has not freed this element yet: full */
        } else {
            pos = atomic_load_explicit(head, memory_order_relaxed);
        }
    }
}

/* Entry assumptions: r was created by ring_create and is mapped in this process.
 * On return: a slot owned by the caller until ring_commit(pos), or NULL if the ring is full. */
GP_SIGSAFE struct ring_record *ring_reserve(struct ring *r, uint64_t *pos_out)
{
    if (claim(&r->hdr->head, r->slots, sizeof *r->slots, r->mask, pos_out) != 0)
        return NULL;
    return &r->slots[*pos_out & r->mask].rec;
}

GP_SIGSAFE void ring_commit(struct ring *r, uint64_t pos)
{
    uint64_t idx = pos & r->mask;
    /* pairs with the acquire load in ring_read() */
    ring_seq_store(&r->slots[idx].seq, idx, pos + 1);
}

GP_SIGSAFE void ring_prefetch_next(struct ring *r, uint64_t pos)
{
    struct ring_slot *next = &r->slots[(pos + 1) & r->mask];
    __builtin_prefetch(&next->seq, 1, 3);          /* and the record's header */
    __builtin_prefetch(&next->rec.pc[0], 1, 3);
}

GP_SIGSAFE void ring_drop(struct ring *r, enum gp_drop_reason why, uint64_t weight)
{
    atomic_fetch_add_explicit(&r->hdr->drops[why], weight, memory_order_relaxed);
}

GP_SIGSAFE void ring_heap_drop(struct ring *r, enum gp_heap_drop_reason why)
{
    atomic_fetch_add_explicit(&r->hdr->heap_drops[why], 1, memory_order_relaxed);
}

GP_SIGSAFE int ring_log_free(struct ring *r, uint64_t addr)
{
    struct ring_header *h = r->hdr;
    /* Ordered after the caller's removal of addr from the table (an acquire that read the
     * insert, which its thread made after reserving the block's record): at least that
     * record's position + 1. */
    uint64_t at = atomic_load_explicit(&h->head, memory_order_acquire);
    uint64_t pos;
    if (claim(&h->free_head, r->frees, sizeof *r->frees, r->free_mask, &pos) != 0)
        return -1;
    uint64_t idx = pos & r->free_mask;
    struct ring_free *e = &r->frees[idx];
    e->addr = addr;
    e->pos = at;
    /* pairs with the acquire load in ring_read_frees() */
    ring_seq_store(&e->seq, idx, pos + 1);
    /* The next entry's line was last written by the reader (its release, a lap ago): fetched
     * now, it is here by the next free of a sampled block, which otherwise waited for it. */
    __builtin_prefetch(&r->frees[(pos + 1) & r->free_mask], 1, 3);
    return 0;
}
