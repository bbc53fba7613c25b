/* ring_writer.c -- reserve/commit of ring slots from the SIGPROF handler (and from the C
 * memory sampling path, for CPU samples it deferred).
 * Context: library, signal-safe
 * Must not: allocate, lock, wait for the reader or another writer, call libc.
 */
#include "lib/ring/ring.h"

/* Entry assumptions: r was created by ring_create and is mapped in this process.
 * On return: a slot owned by the caller until ring_commit(pos), or NULL if the ring is full. */
GP_SIGSAFE struct ring_slot *ring_reserve(struct ring *r, uint64_t *pos_out)
{
    _Atomic uint64_t *head = &r->hdr->head;
    uint64_t pos = atomic_load_explicit(head, memory_order_relaxed);
    for (;;) {
        uint64_t idx = pos & r->mask;
        /* pairs with the release store of the reader that frees the slot */
        int64_t dif = (int64_t)(ring_seq_load(&r->slots[idx].seq, idx) - pos);
        if (dif == 0) {
            /* racing with other writers for the same position */
            if (atomic_compare_exchange_weak_explicit(head, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *pos_out = pos;
                return &r->slots[idx];
            }
        } else if (dif < 0) {
            return NULL;   /* the reader has not freed this slot yet: full */
        } else {
            pos = atomic_load_explicit(head, memory_order_relaxed);
        }
    }
}

GP_SIGSAFE void ring_commit(struct ring *r, uint64_t pos)
{
    uint64_t idx = pos & r->mask;
    /* pairs with the acquire load in ring_read() */
    ring_seq_store(&r->slots[idx].seq, idx, pos + 1);
}

GP_SIGSAFE void ring_drop(struct ring *r, enum gp_drop_reason why, uint64_t weight)
{
    atomic_fetch_add_explicit(&r->hdr->drops[why], weight, memory_order_relaxed);
}

GP_SIGSAFE void ring_heap_drop(struct ring *r, enum gp_heap_drop_reason why)
{
    atomic_fetch_add_explicit(&r->hdr->heap_drops[why], 1, memory_order_relaxed);
}
