/* heap_set.c -- the sampled heap blocks' address table (see heap_set.h).
 * Context: signal (malloc hook sampling path)
 * Must not: allocate, lock, wait, call libc.
 */
#include "program/sample/heap_set.h"

#define HOME_ONE ((uint64_t)1)
#define PASSING_ONE ((uint64_t)1 << 32)

void heap_set_init(struct heap_set *s, void *lines, _Atomic uint64_t *filter, unsigned bits)
{
    s->line = lines;
    s->filter = filter;
    s->mask = ((uint64_t)1 << bits) - 1;
    s->bits = bits;
    s->max_lines = (1u << bits) < HEAP_SET_MAX_LINES ? (int)(1u << bits) : HEAP_SET_MAX_LINES;
    s->max_live = ((uint64_t)HEAP_SET_LINE_SLOTS << bits) / 2;
    atomic_store_explicit(&s->live, 0, memory_order_relaxed);
}

/* Where addr is: its slot, and how many lines past its home (-1 when it is not there). */
struct place {
    _Atomic uint64_t *slot;
    int distance;
};

GP_SIGSAFE static struct place find(const struct heap_set *s, uint64_t addr)
{
    uint64_t l = heap_set_home(s, addr);
    for (int d = 0; d < s->max_lines; d++, l = (l + 1) & s->mask) {
        struct heap_set_line *line = &s->line[l];
        for (int i = 0; i < HEAP_SET_LINE_SLOTS; i++)
            if (atomic_load_explicit(&line->slot[i], memory_order_acquire) == addr)
                return (struct place){ &line->slot[i], d };
        if (atomic_load_explicit(&line->count, memory_order_acquire) < PASSING_ONE)
            break;   /* nothing passed this line */
    }
    return (struct place){ NULL, -1 };
}

/* The lines addr's probe passed (its home and the next distance - 1) count one less. */
GP_SIGSAFE static void unpass(struct heap_set *s, uint64_t home, int distance)
{
    for (int d = 0; d < distance; d++)
        atomic_fetch_sub_explicit(&s->line[(home + (uint64_t)d) & s->mask].count, PASSING_ONE,
                                  memory_order_release);
}

/* The home count of line l up by one, and its filter bit set (after). */
GP_SIGSAFE static void home_add(struct heap_set *s, uint64_t l)
{
    atomic_fetch_add_explicit(&s->line[l].count, HOME_ONE, memory_order_seq_cst);
    atomic_fetch_or_explicit(&s->filter[l >> 6], (uint64_t)1 << (l & 63), memory_order_seq_cst);
}

/* The home count of line l down by one; at zero its filter bit is cleared, then set again if an
 * insert raised the count in between (that insert's own set may have come before the clear). */
GP_SIGSAFE static void home_remove(struct heap_set *s, uint64_t l)
{
    uint64_t before = atomic_fetch_sub_explicit(&s->line[l].count, HOME_ONE, memory_order_seq_cst);
    if ((uint32_t)before != 1)
        return;
    uint64_t bit = (uint64_t)1 << (l & 63);
    atomic_fetch_and_explicit(&s->filter[l >> 6], ~bit, memory_order_seq_cst);
    if ((uint32_t)atomic_load_explicit(&s->line[l].count, memory_order_seq_cst) != 0)
        atomic_fetch_or_explicit(&s->filter[l >> 6], bit, memory_order_seq_cst);
}

GP_SIGSAFE enum heap_set_insert_result heap_set_insert(struct heap_set *s, uint64_t addr)
{
    if (addr == HEAP_SET_EMPTY)
        return HEAP_SET_FULL;
    if (find(s, addr).slot)
        return HEAP_SET_PRESENT;
    /* Reserve the place first: a table at max_live takes nothing more. */
    if (atomic_fetch_add_explicit(&s->live, 1, memory_order_relaxed) >= s->max_live) {
        atomic_fetch_sub_explicit(&s->live, 1, memory_order_relaxed);
        return HEAP_SET_FULL;
    }
    uint64_t home = heap_set_home(s, addr), l = home;
    for (int d = 0; d < s->max_lines; d++, l = (l + 1) & s->mask) {
        struct heap_set_line *line = &s->line[l];
        for (int i = 0; i < HEAP_SET_LINE_SLOTS; i++) {
            uint64_t v = atomic_load_explicit(&line->slot[i], memory_order_relaxed);
            if (v == HEAP_SET_EMPTY &&
                atomic_compare_exchange_strong_explicit(&line->slot[i], &v, addr,
                                                        memory_order_release,
                                                        memory_order_relaxed)) {
                home_add(s, home);
                return HEAP_SET_INSERTED;
            }
        }
        /* full: the address goes on past this line, which counts it before it does */
        atomic_fetch_add_explicit(&line->count, PASSING_ONE, memory_order_seq_cst);
    }
    unpass(s, home, s->max_lines);
    atomic_fetch_sub_explicit(&s->live, 1, memory_order_relaxed);
    return HEAP_SET_FULL;
}

GP_SIGSAFE int heap_set_remove(struct heap_set *s, uint64_t addr)
{
    if (addr == HEAP_SET_EMPTY)
        return 0;
    struct place p = find(s, addr);
    if (!p.slot)
        return 0;
    uint64_t v = addr;
    /* Only this thread may remove addr (the block's owner): the CAS cannot lose to another
     * remove of it; it guards against a caller that breaks that rule. */
    if (!atomic_compare_exchange_strong_explicit(p.slot, &v, HEAP_SET_EMPTY, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return 0;
    uint64_t home = heap_set_home(s, addr);
    unpass(s, home, p.distance);
    home_remove(s, home);
    atomic_fetch_sub_explicit(&s->live, 1, memory_order_relaxed);
    return 1;
}

GP_SIGSAFE int heap_set_contains(const struct heap_set *s, uint64_t addr)
{
    return addr != HEAP_SET_EMPTY && find(s, addr).slot != NULL;
}
