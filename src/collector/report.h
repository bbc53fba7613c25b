/* report.h -- turns the aggregated samples into a symbolized pprof (or folded stacks) file.
 * Context: collector
 *
 * Processes. Every sample carries the labels "pid" (numeric, as the process sees itself) and
 * "process" (its program name). The samples of processes other than the session's first
 * (wrapped programs, children, prefork workers) also get one root frame "[process: NAME]":
 * pprof merges frames by function name whatever the labels, so without it a child's main and
 * its parent's, or a worker's and its master's, would share one tree in flame graphs and
 * -tree views. The first process keeps its stacks exactly as when it runs alone.
 */
#ifndef GP_REPORT_H
#define GP_REPORT_H

#include <stddef.h>
#include <stdint.h>

struct heapmap;
struct heapmap_snapshot;
struct profmap;
struct symbolizer;

struct report_lost {
    const char *label;      /* e.g. "lost: ring full"; shown as "[libgoprof] <label>" */
    uint64_t count;         /* summed weights */
};

/* A process of the session, indexed by profmap_entry.proc. */
struct report_proc {
    struct symbolizer *sym;     /* its addresses; NULL: printed as addresses */
    int pid;                    /* label "pid" */
    const char *name;           /* label "process" */
    int root_frame;             /* its stacks get a root frame "[process: NAME]" */
    int omit;                   /* its samples are left out (another pid's %p file) */
};

struct report_input {
    const struct profmap *pm;   /* a CPU profile of these samples, or: */
    const struct heapmap *heap; /* not NULL: a heap profile (Go's format) of these buckets */
    uint64_t heap_rate;         /* its period: the mean bytes between sampled allocations */
    int allocs;                 /* its default sample type is alloc_space (/debug/pprof/allocs) */
    /* NULL, or a delta profile: each figure minus its value in heap_base (Go's: the scaled
     * figures subtracted; a bucket whose four differences are all 0 left out) */
    const struct heapmap_snapshot *heap_base;
    const struct report_proc *procs;
    size_t nprocs;
    const struct report_lost *lost;
    size_t nlost;
    int64_t start_ns;       /* wall clock, ns since the epoch */
    int64_t end_ns;
    uint64_t period_ns;
    const char *const *comments;
    size_t ncomments;
    int folded;             /* 1: write folded stacks (folded.h) instead of pprof (CPU only) */
};

/* Builds the profile and writes it atomically to path. Returns 0 or -errno; a failure is
 * reported in one stderr line (by the file writer, or here when building ran out of memory). */
int report_write(const struct report_input *in, const char *path);
/* The same, gzipped into an open fd (not closed, not fsynced). Returns 0 or -errno. */
int report_write_fd(const struct report_input *in, int fd);

#endif
