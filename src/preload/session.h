/* session.h -- what the collector process does with the samples: symbolize, write the file.
 * Context: init (session_prepare), collector (the hooks)
 */
#ifndef GP_SESSION_H
#define GP_SESSION_H

#include <stdint.h>

#include "collect/collector.h"

struct goexe;
struct ring;

struct session {
    char out_path[4096];        /* absolute, expanded */
    uint64_t period_ns;
    uint32_t hz;
    int64_t start_ns;           /* wall clock at start */
    const struct goexe *go;     /* NULL for a non-Go program */
    const char *version_note;   /* e.g. "go1.26.10" or "" */
    const char *layout_note;    /* how Go's runtime layout was found, or "" */
    const struct ring *ring;    /* for the handler-cost histograms in its header */
    int folded;                 /* GOPROF_FORMAT=folded */
};

/* Hooks for collector_start; `s` must stay valid (it is inherited by the forked collector). */
void session_hooks(struct session *s, struct collector_hooks *hooks);

#endif
