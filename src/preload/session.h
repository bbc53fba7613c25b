/* session.h -- what the collector process does with the samples: one file for the run or one
 * per interval, a snapshot on SIGUSR1, the HTTP endpoint.
 * Context: init (filling struct session), collector (the hooks)
 *
 * Files. Without an interval, one profile covers the whole run and is written at the end; a
 * SIGUSR1 writes it early (the run so far, same name), and the end rewrites it complete. With
 * GOPROF_INTERVAL, each file covers one interval only (its own samples, time_nanos and
 * duration_nanos; its losses are the ring's drop counters' difference over the interval), %n
 * numbers them from 1 and %t is the interval's start; a SIGUSR1 ends the current interval at
 * once (the next one starts then) and the end of the run writes the last, partial interval.
 * Every file appears by rename of "<name>.tmp.<collector pid>" in the same directory.
 */
#ifndef GP_SESSION_H
#define GP_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "collect/collector.h"

struct goexe;
struct gp_http_addr;
struct ring;

struct session {
    char out_tmpl[4096];        /* GOPROF_OUT made absolute; ".%n" added in interval mode
                                 * when it has no %n */
    const char *prog;           /* %e */
    pid_t pid;                  /* %p: the application's */
    time_t start_sec;           /* %t of the one-file profile */
    uint64_t interval_ns;       /* 0: one file for the run */
    const struct gp_http_addr *http;   /* NULL: no endpoint */
    const char *http_text;      /* GOPROF_HTTP as given, for messages */
    uint64_t period_ns;
    uint32_t hz;
    int64_t start_ns;           /* wall clock at start */
    const struct goexe *go;     /* NULL for a non-Go program */
    const char *version_note;   /* e.g. "go1.26.10" or "" */
    const char *layout_note;    /* how Go's runtime layout was found, or "" */
    const struct ring *ring;    /* for the handler-cost histograms in its header */
    int folded;                 /* GOPROF_FORMAT=folded */
};

/* The path of file number seq (the %n) starting at t (the %t): 0 or -errno. */
int session_path(const struct session *s, unsigned seq, time_t t, char *out, size_t outsz);

/* Hooks for collector_start; `s` must stay valid (it is inherited by the forked collector). */
void session_hooks(struct session *s, struct collector_hooks *hooks);

#endif
