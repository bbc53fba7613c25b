/* cost_hist.h -- a lock-free histogram of per-signal handler costs, shared with the collector.
 * Context: library, signal-safe (cost_hist_add; cost_hist_summarize is not)
 *
 * Lives in the ring header (MAP_SHARED), so the collector reads what every thread of the
 * application added. Buckets are log-scale with 8 linear steps per power of two: a bucket's
 * width is at most 12.5 % of its value, plenty to compare a median or a p99 with a target.
 */
#ifndef GP_COST_HIST_H
#define GP_COST_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#include "lib/base/sigsafe.h"

#define GP_COST_SUB 8                       /* steps per power of two */
#define GP_COST_OCTAVES 26                  /* up to 2^26 ns = 67 ms; above: last bucket */
#define GP_COST_BUCKETS (GP_COST_OCTAVES * GP_COST_SUB)

struct cost_hist {
    _Atomic uint64_t bucket[GP_COST_BUCKETS];
    _Atomic uint64_t max_ns;
};

/* Bucket of ns: exact below 8 ns, then octave * 8 + the three bits after the leading one. */
GP_SIGSAFE static inline unsigned cost_bucket(uint64_t ns)
{
    if (ns < GP_COST_SUB)
        return (unsigned)ns;
    unsigned octave = 63u - (unsigned)__builtin_clzll(ns);     /* >= 3 */
    unsigned b = octave * GP_COST_SUB + (unsigned)((ns >> (octave - 3)) & (GP_COST_SUB - 1));
    return b < GP_COST_BUCKETS ? b : GP_COST_BUCKETS - 1;
}

GP_SIGSAFE static inline void cost_hist_add(struct cost_hist *h, uint64_t ns)
{
    atomic_fetch_add_explicit(&h->bucket[cost_bucket(ns)], 1, memory_order_relaxed);
    uint64_t m = atomic_load_explicit(&h->max_ns, memory_order_relaxed);
    while (ns > m &&
           !atomic_compare_exchange_weak_explicit(&h->max_ns, &m, ns, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

struct cost_summary {
    uint64_t n, median_ns, p99_ns, max_ns;
};

/* Quantiles are the lower edge of the bucket holding them. */
void cost_hist_summarize(const struct cost_hist *h, struct cost_summary *out);
/* Adds from's counts into into (the reader's sums over several rings; not signal-safe). */
void cost_hist_merge(struct cost_hist *into, const struct cost_hist *from);

#endif
