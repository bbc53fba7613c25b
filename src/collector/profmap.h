/* profmap.h -- aggregation of identical samples (process + stack + thread + goroutine labels +
 * flags) into counts.
 * Context: collector
 *
 * Entries keep insertion order so the same samples always give the same profile bytes (as Go's
 * runtime/pprof map.go does). It grows without bound: one entry per distinct stack, thread and
 * label set, ~7 KiB for an 896-frame stack, far less for real ones (10^5 distinct stacks of 30
 * frames: ~30 MB). Label sets are kept in one canonical form (sorted: lib/ring/ring_labels.h).
 */
#ifndef GP_PROFMAP_H
#define GP_PROFMAP_H

#include <stddef.h>
#include <stdint.h>

struct ring_record;

struct profmap_entry {
    uint64_t hash;
    uint64_t count;         /* summed weights */
    uint64_t cpu_ns;        /* 0: count periods; else exact (GP_REC_RESIDUAL entries) */
    uint64_t goid;
    uint32_t tid;
    uint32_t proc;          /* the process's entry in the session (collector/tree.h) */
    uint16_t flags;
    uint16_t nframes;
    size_t frames;          /* offset into the map's frame store */
    size_t labels;          /* offset into the map's label store (profmap_labels) */
    uint16_t labels_len;    /* bytes of labels, encoded as in a ring record (ring.h) */
    uint16_t labels_left;   /* labels that did not fit; 0xffff: unreadable */
    char thread_name[16];
};

struct profmap;

struct profmap *profmap_new(void);
void profmap_free(struct profmap *pm);
/* Adds one record of process proc. Frames inside [skip_lo, skip_hi) (libgoprof's own code: the thread-start
 * trampoline) are left out. Returns 0 or -ENOMEM. */
int profmap_add(struct profmap *pm, uint32_t proc, const struct ring_record *rec,
                uint64_t skip_lo, uint64_t skip_hi);
/* Adds ns of a process's CPU time that no record accounts for (GP_REC_RESIDUAL, no frames):
 * exact in cpu_ns, rounded to periods in count. 0 or -ENOMEM. */
int profmap_add_residual(struct profmap *pm, uint32_t proc, uint64_t ns, uint64_t period_ns);
size_t profmap_len(const struct profmap *pm);
const struct profmap_entry *profmap_get(const struct profmap *pm, size_t i);
const uint64_t *profmap_frames(const struct profmap *pm, const struct profmap_entry *e);
const uint8_t *profmap_labels(const struct profmap *pm, const struct profmap_entry *e);
uint64_t profmap_total(const struct profmap *pm);   /* summed weights of all records */
/* Of profmap_total, the weights of GP_REC_UNSAMPLED records (estimated CPU time, not samples). */
uint64_t profmap_unsampled(const struct profmap *pm);

#endif
