/* heap_set.c -- the sampled heap blocks' address table (see heap_set.h).
 * Context: signal (malloc hook sampling path)
 * Must not: allocate, lock, wait, call libc.
 */
#include "program/sample/heap_set.h"

void heap_set_init(struct heap_set *s, void *mem, unsigned bits, unsigned fbits)
{
    s->slot = mem;
    s->filter = (_Atomic uint8_t *)((char *)mem + ((size_t)8 << bits));
    s->summary = s->filter + ((size_t)1 << fbits);
    s->mask = ((uint64_t)1 << bits) - 1;
    s->bits = bits;
    s->fbits = fbits;
    s->max_live = (uint64_t)1 << (bits - 1);
    atomic_store_explicit(&s->live, 0, memory_order_relaxed);
}

GP_SIGSAFE static uint64_t home_of(const struct heap_set *s, uint64_t addr)
{
    return heap_set_hash(addr) >> (64 - s->bits);
}

GP_SIGSAFE static uint64_t counter_index(const struct heap_set *s, uint64_t addr)
{
    return heap_set_hash(addr) >> (64 - s->fbits);
}

/* +1 or -1, saturating: a counter that reached 255 stays there. Returns the new value. */
GP_SIGSAFE static uint8_t counter_add(_Atomic uint8_t *c, int up)
{
    uint8_t v = atomic_load_explicit(c, memory_order_relaxed);
    for (;;) {
        if (v == 255 || (!up && v == 0))
            return v;
        uint8_t nv = (uint8_t)(up ? v + 1 : v - 1);
        if (atomic_compare_exchange_weak_explicit(c, &v, nv, memory_order_seq_cst,
                                                  memory_order_relaxed))
            return nv;
    }
}

/* The counter of addr up by one, and its summary bit set (after). */
GP_SIGSAFE static void filter_add(struct heap_set *s, uint64_t addr)
{
    uint64_t i = counter_index(s, addr);
    counter_add(&s->filter[i], 1);
    atomic_fetch_or_explicit(&s->summary[i >> 3], (uint8_t)(1u << (i & 7)), memory_order_seq_cst);
}

/* The counter of addr down by one; at zero its summary bit is cleared, then set again if an
 * insert raised the counter in between (that insert's own set may have come before the clear). */
GP_SIGSAFE static void filter_remove(struct heap_set *s, uint64_t addr)
{
    uint64_t i = counter_index(s, addr);
    if (counter_add(&s->filter[i], 0) != 0)
        return;
    uint8_t bit = (uint8_t)(1u << (i & 7));
    atomic_fetch_and_explicit(&s->summary[i >> 3], (uint8_t)~bit, memory_order_seq_cst);
    if (atomic_load_explicit(&s->filter[i], memory_order_seq_cst) != 0)
        atomic_fetch_or_explicit(&s->summary[i >> 3], bit, memory_order_seq_cst);
}

/* Index of addr's slot, or -1. */
GP_SIGSAFE static int64_t find(const struct heap_set *s, uint64_t addr)
{
    uint64_t h = home_of(s, addr);
    for (uint64_t i = 0; i < HEAP_SET_MAX_PROBE; i++) {
        uint64_t idx = (h + i) & s->mask;
        uint64_t v = atomic_load_explicit(&s->slot[idx], memory_order_acquire);
        if (v == addr)
            return (int64_t)idx;
        if (v == HEAP_SET_EMPTY)
            return -1;
    }
    return -1;
}

GP_SIGSAFE enum heap_set_insert_result heap_set_insert(struct heap_set *s, uint64_t addr)
{
    if (addr <= HEAP_SET_TOMB)
        return HEAP_SET_FULL;
    if (find(s, addr) >= 0)
        return HEAP_SET_PRESENT;
    /* Reserve the place first: a table at max_live takes nothing more. */
    if (atomic_fetch_add_explicit(&s->live, 1, memory_order_relaxed) >= s->max_live) {
        atomic_fetch_sub_explicit(&s->live, 1, memory_order_relaxed);
        return HEAP_SET_FULL;
    }
    uint64_t h = home_of(s, addr);
    for (uint64_t i = 0; i < HEAP_SET_MAX_PROBE; i++) {
        uint64_t idx = (h + i) & s->mask;
        uint64_t v = atomic_load_explicit(&s->slot[idx], memory_order_relaxed);
        while (v == HEAP_SET_EMPTY || v == HEAP_SET_TOMB) {
            if (atomic_compare_exchange_weak_explicit(&s->slot[idx], &v, addr,
                                                      memory_order_release,
                                                      memory_order_relaxed)) {
                filter_add(s, addr);
                return HEAP_SET_INSERTED;
            }
        }
    }
    atomic_fetch_sub_explicit(&s->live, 1, memory_order_relaxed);
    return HEAP_SET_FULL;
}

GP_SIGSAFE int heap_set_remove(struct heap_set *s, uint64_t addr)
{
    if (addr <= HEAP_SET_TOMB)
        return 0;
    int64_t idx = find(s, addr);
    if (idx < 0)
        return 0;
    uint64_t v = addr;
    /* Only this thread may remove addr (the block's owner): the CAS cannot lose to another
     * remove of it; it guards against a caller that breaks that rule. */
    if (!atomic_compare_exchange_strong_explicit(&s->slot[idx], &v, HEAP_SET_TOMB,
                                                 memory_order_acq_rel, memory_order_relaxed))
        return 0;
    filter_remove(s, addr);
    atomic_fetch_sub_explicit(&s->live, 1, memory_order_relaxed);
    return 1;
}

GP_SIGSAFE int heap_set_contains(const struct heap_set *s, uint64_t addr)
{
    return addr > HEAP_SET_TOMB && find(s, addr) >= 0;
}
