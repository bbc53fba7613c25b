/* cost_hist.c -- reading a cost histogram (see cost_hist.h).
 * Context: library
 */
#include "lib/ring/cost_hist.h"

/* Smallest ns that falls in bucket b. */
static uint64_t bucket_low(unsigned b)
{
    if (b < GP_COST_SUB)
        return b;
    unsigned octave = b / GP_COST_SUB, step = b % GP_COST_SUB;
    return ((uint64_t)GP_COST_SUB + step) << (octave - 3);
}

void cost_hist_summarize(const struct cost_hist *h, struct cost_summary *out)
{
    uint64_t counts[GP_COST_BUCKETS], n = 0;
    for (unsigned b = 0; b < GP_COST_BUCKETS; b++) {
        counts[b] = atomic_load_explicit(&h->bucket[b], memory_order_relaxed);
        n += counts[b];
    }
    out->n = n;
    out->median_ns = out->p99_ns = 0;
    out->max_ns = atomic_load_explicit(&h->max_ns, memory_order_relaxed);
    if (!n)
        return;
    uint64_t want_median = (n + 1) / 2, want_p99 = n - n / 100, seen = 0;
    int have_median = 0;
    for (unsigned b = 0; b < GP_COST_BUCKETS; b++) {
        seen += counts[b];
        if (!have_median && seen >= want_median) {
            out->median_ns = bucket_low(b);
            have_median = 1;
        }
        if (seen >= want_p99) {
            out->p99_ns = bucket_low(b);
            break;
        }
    }
}

void cost_hist_merge(struct cost_hist *into, const struct cost_hist *from)
{
    for (int i = 0; i < GP_COST_BUCKETS; i++)
        atomic_fetch_add_explicit(&into->bucket[i],
                                  atomic_load_explicit(&from->bucket[i], memory_order_relaxed),
                                  memory_order_relaxed);
    uint64_t m = atomic_load_explicit(&from->max_ns, memory_order_relaxed);
    if (m > atomic_load_explicit(&into->max_ns, memory_order_relaxed))
        atomic_store_explicit(&into->max_ns, m, memory_order_relaxed);
}
