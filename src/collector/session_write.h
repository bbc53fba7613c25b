/* session_write.h -- one profile out of one window: symbolize, annotate, write to a file or fd.
 * Context: collector
 *
 * The one path by which every profile leaves the collector: the end of the run, each interval,
 * a SIGUSR1 snapshot and each HTTP request.
 */
#ifndef GP_SESSION_WRITE_H
#define GP_SESSION_WRITE_H

#include <stdint.h>
#include <sys/types.h>

struct collector;
struct profmap;
struct collector_config;
struct heapmap_snapshot;
struct symbolizer;

/* What one profile covers: the samples in pm, the wall-clock span [start_ns, end_ns) (its
 * time_nanos and duration_nanos), and the samples lost in that span (GP_DROP_MAX counts). */
struct session_span {
    const struct profmap *pm;
    int64_t start_ns, end_ns;
    const uint64_t *drops;
    const char *note;           /* appended to the samples comment, e.g. ", snapshot" */
    pid_t only_pid;             /* 0: every process; else only that pid's samples (%p) */
};

/* Writes the profile atomically to path, or, when path is NULL, gzipped into fd. c supplies
 * the run-so-far totals for the comments. Returns 0 or -errno; a failure to write path is
 * logged (one line). */
int session_write(const struct collector_config *cfg, struct collector *c, const struct session_span *sp,
                  const char *path, int fd);

/* The session's C memory profile (collector_heap, as of its last collector_heap_sync: the
 * caller's, once per write) as of now_ns, in Go's heap format, written
 * atomically to path or, when path is NULL, gzipped into fd. only_pid: 0, or that pid's
 * buckets only (%p). allocs: default sample type alloc_space (/debug/pprof/allocs). base:
 * NULL, or the figures are the change since that snapshot (Go's ?seconds=N). note is
 * appended to the events comment. 0, -ENOENT when heap profiling is off, or -errno. */
int session_write_heap(const struct collector_config *cfg, struct collector *c, pid_t only_pid,
                       int allocs, const struct heapmap_snapshot *base, int64_t now_ns,
                       const char *note, const char *path, int fd);

/* Merges the live processes' current mappings: at most every 250 ms when a stack new in pm
 * has an address outside its process's known ones (pm may be NULL), or at once with force
 * (before a profile is written while processes run). */
void session_refresh_maps(struct collector *c, const struct profmap *pm, int force);

/* Whether pm holds a sample of pid (tr's numbering); its residual CPU time alone
 * (GP_REC_RESIDUAL) does not count: a process that took no sample gets no file of its own. */
struct tree;
int session_has_pid(const struct profmap *pm, struct tree *tr, pid_t pid);
/* Whether the heap table h holds a bucket of pid. */
struct heapmap;
int session_heap_has_pid(const struct heapmap *h, struct tree *tr, pid_t pid);

#endif
