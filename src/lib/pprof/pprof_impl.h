/* pprof_impl.h -- the layout of struct pprof, shared by pprof.c (building) and pprof_emit.c.
 * Context: library
 *
 * Internal to src/lib/pprof/pprof*.c. Everything is kept in flat arrays indexed by id - 1, with
 * strings as string-table indices, so that the protobuf-c message view can be built at write
 * time in batches instead of living as millions of small heap objects.
 */
#ifndef GP_PPROF_IMPL_H
#define GP_PPROF_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/pprof/pprof.h"
#include "lib/pprof/strtab.h"

struct pprof_mapping_rec {
    uint64_t start, limit, offset;
    int64_t file, build_id;         /* string indices */
    unsigned flags;                 /* PPROF_HAS_* */
};

struct pprof_function_rec {
    int64_t name, system_name, filename, start_line;    /* string indices, then a number */
    uint64_t hash;                  /* of the four fields above, for the dedup index */
};

struct pprof_location_rec {
    uint64_t mapping_id, address;
    size_t line_off, nlines;        /* range in pprof.lines */
};

struct pprof_label_rec {
    int64_t key, str, num, num_unit;    /* key/str/num_unit are string indices */
};

struct pprof_sample_rec {
    size_t loc_off, nloc;           /* range in pprof.stack_ids */
    size_t label_off, nlabels;      /* range in pprof.labels */
};

struct pprof {
    int64_t time_nanos, duration_nanos, period;
    struct strtab strings;
    /* the kind (pprof_new): string indices of each sample type's type and unit, the period
     * type's, and the default sample type's (0: unset) */
    size_t nvalues;
    int64_t value_type[PPROF_MAX_VALUES], value_unit[PPROF_MAX_VALUES];
    int64_t period_type, period_unit, default_type;
    size_t count_ix;                /* the value pprof_view calls a sample's count */

    struct pprof_mapping_rec *maps;
    size_t nmaps, cmaps;

    struct pprof_function_rec *funcs;
    size_t nfuncs, cfuncs;
    uint32_t *func_slots;           /* open addressing: 0 = empty, else function id */
    size_t nfunc_slots;             /* power of two, at least 2 * nfuncs */

    struct pprof_location_rec *locs;
    size_t nlocs, clocs;
    struct pprof_line *lines;       /* all locations' lines, concatenated */
    size_t nlines, clines;

    struct pprof_sample_rec *samples;
    size_t nsamples, csamples;
    int64_t *values;                /* sample i's at [i * nvalues]: pointed to by Sample.value */
    size_t cvalues;
    uint64_t *stack_ids;            /* all samples' location ids, concatenated, leaf first */
    size_t nstack_ids, cstack_ids;
    struct pprof_label_rec *labels; /* all samples' labels, concatenated */
    size_t nlabels, clabels;

    int64_t *comments;              /* string indices */
    size_t ncomments, ccomments;
};

/* Ensures room for need elements in *arr (capacity *cap, elements of elsize bytes), growing
 * geometrically. Returns 0 or -ENOMEM (then *arr and *cap are unchanged). */
int pprof_grow(void *arrp, size_t *cap, size_t need, size_t elsize);

#endif
