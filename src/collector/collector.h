/* collector.h -- the reader process: drains the ring, aggregates, and has the profile written
 * when the application ends, however it ends.
 * Context: collector
 *
 * Why a process: Go ends a program with a raw exit_group, so neither atexit handlers nor ELF
 * destructors run, and a reader living inside the application would lose the end of every
 * profile (docs/architecture.md, "The collector's life"). The constructor forks
 * (program/preload/collector_spawn.c); the forked collector enters collector_main, the one
 * entry point the program may call, and never returns. It runs in its own session (Ctrl-C and
 * kills aimed at the application's process group do not reach it) with every inherited
 * descriptor closed.
 *
 * The session's processes (collector/tree.h): the leader's connection and rendezvous come with
 * the configuration; every process that joins brings its own ring. The collector drains every
 * ring every drain_period_ms into each open window, notices each process's end (pidfd; end of
 * file on its connection and its maps for an exec), and ends when the last process of the
 * session has ended: it writes its files and exits. A process that says it is ending
 * (TREE_MSG_EXITING: the leader, or PID 1 of a namespace) is answered once its ring is
 * drained; when it is the last process, or PID 1 whose end kills the whole namespace (the
 * collector included), the files are written first: its exit returns with them final.
 * While the leader is PID 1 of its namespace, the one-file profile is also rewritten every
 * CHECKPOINT_NS, so that a SIGKILL of the whole namespace loses at most that much.
 *
 * The output name's claim (cfg->keep_fd, lib/outname/output_claim.h) is held to the end.
 *
 * C memory profiling's counts are not samples: the programs keep them (lib/ring/heap_buckets.h),
 * and the session's one heapmap reads them (collector_heap_sync) before every heap profile and
 * as each process ends, never into a window (heap profiles are cumulative since the start,
 * in-use as of when they are written).
 *
 * Windows. Every drained record is added to each open window (struct collector_window), each
 * with its own profmap: the whole run or the current interval (session.c), and one per HTTP
 * request in progress (httpd.c). Opening and closing happen between drains, so a record lands
 * in every window that was open when it was drained, and only in those.
 *
 * Name and signal. The collector calls itself "goprof-<app pid>" (prctl(PR_SET_NAME); 7 + at
 * most 7 digits fit its 15 characters), so `pgrep -x goprof-1234` finds it. SIGUSR1 sent to it
 * calls session_snapshot; the application's own signals are never touched.
 */
#ifndef GP_COLLECTOR_H
#define GP_COLLECTOR_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "lib/ring/ring.h"

struct profmap;
struct collector;

/* Samples drained while the window is open. Owned by the caller; linked into the collector
 * between collector_window_open and collector_window_close. */
struct collector_window {
    struct profmap *pm;
    int64_t start_ns;                    /* wall clock when opened, ns since the epoch */
    uint64_t drops_start[GP_DROP_MAX];   /* the ring's cumulative drop counters then */
    struct collector_window *next;       /* reserved for the collector's list */
};

struct goexe;
struct gp_http_addr;

/* Everything the collector is told, filled by the program's constructor before the fork: the
 * collector gets its copy with the address space, pointers included. */
struct collector_config {
    pid_t app_pid;              /* the leader; also the %p of the one-file output name */
    int keep_fd;                /* the output name's claim, held by the collector to its end,
                                 * or -1 (the program closes its own copy after the fork) */
    int heap_keep_fd;           /* GOPROF_HEAP_OUT's claim, the same way, or -1 */
    /* The session (lib/tree/tree_proto.h) */
    int listen_fd;              /* the leader's rendezvous, or -1 */
    int conn_fd;                /* the collector's end of the leader's connection */
    uint64_t session_hash;      /* config_session_hash() */
    uint64_t pidns;             /* the leader's pid namespace (also the collector's) */
    int leader_is_init;         /* the leader is PID 1 of its namespace */
    /* Files (session.c) */
    char out_tmpl[4096];        /* GOPROF_OUT made absolute; ".%n" added in interval mode
                                 * when it has no %n */
    const char *prog;           /* %e */
    time_t start_sec;           /* %t of the one-file profile */
    uint64_t interval_ns;       /* 0: one file for the run */
    int folded;                 /* GOPROF_FORMAT=folded */
    uint64_t heap_rate;         /* GOPROF_HEAP_RATE; 0: C memory profiling is off */
    char heap_out_tmpl[4096];   /* GOPROF_HEAP_OUT made absolute; ".%n" added in interval mode
                                 * when it has no %n */
    const struct gp_http_addr *http;   /* NULL: no endpoint */
    const char *http_text;      /* GOPROF_HTTP as given, for messages */
    /* What each profile says (session_write.c) */
    uint64_t period_ns;
    uint32_t hz;
    int64_t start_ns;           /* wall clock at start */
    const struct goexe *go;     /* NULL for a non-Go program */
    const char *version_note;   /* e.g. "go1.26.10" or "" */
    const char *layout_note;    /* how Go's runtime layout was found, or "" */
};

/* The collector process's entry, in the forked child: never returns. */
__attribute__((noreturn)) void collector_main(const struct collector_config *cfg);

/* Collector side. Opens w (allocating its profmap) at wall time start_ns: 0 or -ENOMEM. */
int collector_window_open(struct collector *c, struct collector_window *w, int64_t start_ns);
/* Unlinks w; drops (GP_DROP_MAX entries, may be NULL) receives what was lost while it was open.
 * w->pm stays the caller's to read and profmap_free. */
void collector_window_close(struct collector *c, struct collector_window *w, uint64_t *drops);
/* What was lost since w was opened (GP_DROP_MAX entries): the ring's counters are cumulative,
 * so this is their difference. */
void collector_window_drops(const struct collector *c, const struct collector_window *w,
                            uint64_t *drops);
/* Summed weights of every sample aggregated since the start, and the ring's drop counters
 * (GP_DROP_MAX entries), for the run-so-far line in each profile. */
uint64_t collector_total(const struct collector *c);
uint64_t collector_unsampled(const struct collector *c);   /* of the total: GP_REC_UNSAMPLED */
void collector_drops(const struct collector *c, uint64_t *drops);

/* The session's processes (collector/tree.h). */
struct tree *collector_tree(const struct collector *c);
/* C memory profiling's table (collector/heapmap.h): the session's C memory counts since the
 * start, as of the last collector_heap_sync; NULL when it is off (cfg->heap_rate 0) or could
 * not be allocated. */
struct heapmap;
struct heapmap *collector_heap(const struct collector *c);
/* Reads every running process's counts into it: before a heap profile is written. */
void collector_heap_sync(struct collector *c);

/* Tests only (tests/unit/test_session.c drives the session without forking): a collector for
 * cfg with no window open, to collector_free once its windows are closed or forgotten;
 * collector_add_ring makes ring the ring of a process (pid, name) as if it had joined; and
 * one drain of every ring into every open window: the number of records read. */
struct collector *collector_new(const struct collector_config *cfg);
void collector_free(struct collector *c);
int collector_add_ring(struct collector *c, int ring_fd, pid_t pid, const char *name);
size_t collector_drain(struct collector *c);

#endif
