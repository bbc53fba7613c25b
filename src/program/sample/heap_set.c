/* heap_set.c -- the sampled heap blocks' address table (see heap_set.h).
 * Context: signal (malloc hook sampling path)
 * Must not: allocate, lock, wait, call libc.
 */
#include "program/sample/heap_set.h"

void heap_set_init(struct heap_set *s, void *lines, unsigned line_bits, _Atomic uint64_t *filter,
                   _Atomic uint64_t *summary, unsigned bits, unsigned span, int home_shift)
{
    s->home_shift = home_shift;
    s->line = lines;
    s->filter = filter;
    s->summary = summary;
    s->mask = ((uint64_t)1 << line_bits) - 1;
    s->bits = bits;
    s->line_bits = line_bits;
    s->span = span;
    s->max_lines =
        (1u << line_bits) < HEAP_SET_MAX_LINES ? (int)(1u << line_bits) : HEAP_SET_MAX_LINES;
}

/* Where an address's bits are: its filter word, its filter bit's number, its home line and its
 * summary page. Found once per insert or remove: the word takes the region's hash, a multiply,
 * and each of them is asked for several times. */
struct where {
    uint64_t word;
    uint64_t bit;
    uint64_t home;
    uint64_t page;
};

GP_SIGSAFE static inline struct where where_of(const struct heap_set *s, uint64_t addr)
{
    struct where w;
    w.word = heap_filter_word(addr, s->bits, s->span);
    w.bit = w.word * HEAP_FILTER_BITS | heap_filter_granule(addr);
    w.home = heap_set_bit_home(s, w.bit);
    w.page = heap_summary_page(addr, s->span);
    return w;
}

/* A slot found by a lookup, its meta, and how many lines past the home it is (-1: none
 * found). */
struct place {
    _Atomic uint64_t *slot;
    uint64_t *meta;
    int distance;
};

/* What a lookup looks for: addr itself, or any address with addr's filter bit, or any in
 * addr's summary page (of the span). */
enum match { SAME_ADDR, SAME_BIT, SAME_PAGE };

/* Whether live address v matches key (a filter bit's number, or a summary page's). The
 * granule first: a filter bit's number takes a multiply. */
GP_SIGSAFE static inline int matches(const struct heap_set *s, uint64_t v, uint64_t key,
                                     enum match m)
{
    if (m == SAME_PAGE)
        return heap_summary_page(v, s->span) == key;
    return heap_filter_granule(v) == key % HEAP_FILTER_BITS &&
           heap_filter_index(v, s->bits, s->span) == key;
}

/* The slot of such an address among those whose home is `home` (key: addr's filter bit for
 * SAME_BIT, its summary page for SAME_PAGE). Inlined where m is a constant. */
GP_SIGSAFE static inline __attribute__((always_inline)) struct place
scan(const struct heap_set *s, uint64_t home, uint64_t addr, uint64_t key, enum match m)
{
    uint64_t l = home;
    for (int d = 0; d < s->max_lines; d++, l = (l + 1) & s->mask) {
        struct heap_set_line *line = &s->line[l];
        for (int i = 0; i < HEAP_SET_LINE_SLOTS; i++) {
            uint64_t v = atomic_load_explicit(&line->slot[i], memory_order_seq_cst);
            if (v == addr || (m != SAME_ADDR && v != HEAP_SET_EMPTY && matches(s, v, key, m)))
                return (struct place){ &line->slot[i], &line->meta[i], d };
        }
        if (atomic_load_explicit(&line->passing, memory_order_seq_cst) == 0)
            break;   /* nothing passed this line */
    }
    return (struct place){ NULL, NULL, -1 };
}

/* The lines addr's probe passed (its home and the next distance - 1) count one less. */
GP_SIGSAFE static void unpass(struct heap_set *s, uint64_t home, int distance)
{
    for (int d = 0; d < distance; d++)
        atomic_fetch_sub_explicit(&s->line[(home + (uint64_t)d) & s->mask].passing, 1,
                                  memory_order_release);
}

/* The filter's and the summary's words: 32 bits, and above them a count of the inserts that
 * set one (heap_set.h: "The filter's bits", "The summary's bits"). */
enum counted_word { FILTER, SUMMARY };

/* The word and bit mask of an address's filter bit, or of its page's summary bit. */
GP_SIGSAFE static _Atomic uint64_t *counted_word(struct heap_set *s, enum counted_word which,
                                                const struct where *w, uint64_t *bit)
{
    if (which == FILTER) {
        *bit = (uint64_t)1 << (w->bit % HEAP_FILTER_BITS);
        return &s->filter[w->word];
    }
    *bit = (uint64_t)1 << (w->page % HEAP_FILTER_BITS);
    return &s->summary[w->page / HEAP_FILTER_BITS];
}

/* Whether a live address still has the bit: another address with addr's filter bit (they
 * share its home), or another address in addr's summary page. Those have their filter bits in
 * the two words of addr's page's pair (heap_set.h), usually both clear; where a bit is set, it
 * may be an address of another page whose region the rotation maps there, so the bit's home is
 * looked through: a summary bit kept for another page's address would stay set after it left. */
GP_SIGSAFE static int still_held(struct heap_set *s, enum counted_word which, uint64_t addr,
                                 const struct where *w)
{
    if (which == FILTER)
        return scan(s, w->home, addr, w->bit, SAME_BIT).slot != NULL;
    uint64_t pair = w->word & ~(uint64_t)1;
    for (uint64_t word = pair; word <= pair + 1; word++) {
        uint64_t bits = atomic_load_explicit(&s->filter[word], memory_order_seq_cst) &
                        (HEAP_FILTER_INSERT_ONE - 1);
        if (s->home_shift >= 0)   /* the bits share one home: look there once */
            bits &= -bits;
        for (; bits; bits &= bits - 1) {
            uint64_t bit = word * HEAP_FILTER_BITS | (uint64_t)__builtin_ctzll(bits);
            if (scan(s, heap_set_bit_home(s, bit), addr, w->page, SAME_PAGE).slot)
                return 1;
        }
    }
    return 0;
}

/* An address holds the bit now (its slot for the filter, its filter bit for the summary): one
 * more insert counted in the word and the bit set, together, by one CAS. Why one: each locked
 * instruction here waits for the program's pending stores (a fast allocator's, to lines it just
 * handed out), and the sampled path's were most of its cycles (perf, heapbench at 64k: the
 * instructions after them). The line is asked for with intent to write first, so that the
 * load before the CAS does not fetch it twice from the core that wrote it last. */
GP_SIGSAFE static void counted_set(struct heap_set *s, enum counted_word which,
                                   const struct where *w)
{
    uint64_t bit;
    _Atomic uint64_t *word = counted_word(s, which, w, &bit);
    __builtin_prefetch((const void *)word, 1, 3);
    uint64_t v = atomic_load_explicit(word, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(word, &v, (v + HEAP_FILTER_INSERT_ONE) | bit,
                                                  memory_order_seq_cst, memory_order_relaxed))
        ;
}

/* addr no longer holds the bit: cleared unless a live address still holds it, by a CAS that
 * fails if an insert counted itself in the word since it was read. */
GP_SIGSAFE static void counted_release(struct heap_set *s, enum counted_word which,
                                       uint64_t addr, const struct where *w)
{
    uint64_t bit;
    _Atomic uint64_t *word = counted_word(s, which, w, &bit);
    uint64_t v = atomic_load_explicit(word, memory_order_seq_cst);
    while (v & bit) {
        if (still_held(s, which, addr, w))
            return;
        if (atomic_compare_exchange_weak_explicit(word, &v, v & ~bit, memory_order_seq_cst,
                                                  memory_order_seq_cst))
            return;
    }
}

/* addr is in its slot: its meta written, its filter and summary bits set. */
GP_SIGSAFE static enum heap_set_insert_result inserted(struct heap_set *s,
                                                       struct heap_set_line *line, int i,
                                                       uint64_t meta, const struct where *w)
{
    line->meta[i] = meta;
    counted_set(s, FILTER, w);
    counted_set(s, SUMMARY, w);
    return HEAP_SET_INSERTED;
}

GP_SIGSAFE enum heap_set_insert_result heap_set_insert(struct heap_set *s, uint64_t addr,
                                                       uint64_t meta, uint64_t *old)
{
    if (addr == HEAP_SET_EMPTY)
        return HEAP_SET_FULL;
    struct where w = where_of(s, addr);
    struct place p = scan(s, w.home, addr, addr, SAME_ADDR);
    if (p.slot) {
        *old = *p.meta;
        *p.meta = meta;
        return HEAP_SET_PRESENT;
    }
    uint64_t l = w.home;
    for (int d = 0; d < s->max_lines; d++, l = (l + 1) & s->mask) {
        struct heap_set_line *line = &s->line[l];
        for (int i = 0; i < HEAP_SET_LINE_SLOTS; i++) {
            uint64_t v = atomic_load_explicit(&line->slot[i], memory_order_relaxed);
            if (v == HEAP_SET_EMPTY &&
                atomic_compare_exchange_strong_explicit(&line->slot[i], &v, addr,
                                                        memory_order_seq_cst,
                                                        memory_order_relaxed))
                return inserted(s, line, i, meta, &w);
        }
        /* full: the address goes on past this line, which counts it before it does */
        atomic_fetch_add_explicit(&line->passing, 1, memory_order_seq_cst);
    }
    unpass(s, w.home, s->max_lines);
    return HEAP_SET_FULL;
}

GP_SIGSAFE int heap_set_remove(struct heap_set *s, uint64_t addr, uint64_t *meta)
{
    if (addr == HEAP_SET_EMPTY)
        return 0;
    struct where w = where_of(s, addr);
    struct place p = scan(s, w.home, addr, addr, SAME_ADDR);
    if (!p.slot)
        return 0;
    *meta = *p.meta;   /* before the slot is empty: an insert may take it at once */
    uint64_t v = addr;
    /* Only this thread may remove addr (the block's owner): the CAS cannot lose to another
     * remove of it; it guards against a caller that breaks that rule. */
    if (!atomic_compare_exchange_strong_explicit(p.slot, &v, HEAP_SET_EMPTY, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return 0;
    unpass(s, w.home, p.distance);
    counted_release(s, FILTER, addr, &w);
    counted_release(s, SUMMARY, addr, &w);
    return 1;
}

GP_SIGSAFE int heap_set_contains(const struct heap_set *s, uint64_t addr)
{
    return addr != HEAP_SET_EMPTY &&
           scan(s, where_of(s, addr).home, addr, addr, SAME_ADDR).slot != NULL;
}

uint64_t heap_set_count(const struct heap_set *s)
{
    uint64_t n = 0;
    for (uint64_t l = 0; l <= s->mask; l++)
        for (int i = 0; i < HEAP_SET_LINE_SLOTS; i++)
            n += atomic_load_explicit(&s->line[l].slot[i], memory_order_relaxed) != HEAP_SET_EMPTY;
    return n;
}
