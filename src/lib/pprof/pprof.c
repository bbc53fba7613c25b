/* pprof.c -- the pprof profile builder: interning, ids, flat storage (see pprof.h).
 * Context: library
 */
#include "lib/pprof/pprof.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/hash.h"
#include "lib/base/log.h"
#include "lib/pprof/gzwriter.h"
#include "lib/pprof/pprof_emit.h"
#include "lib/pprof/pprof_impl.h"

/* First allocation of every array; doubling from there keeps amortised O(1) appends. */
#define PPROF_MIN_CAP 16

int pprof_grow(void *arrp, size_t *cap, size_t need, size_t elsize)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : PPROF_MIN_CAP;
    while (n < need) {
        if (n > SIZE_MAX / 2 / elsize)
            return -ENOMEM;
        n *= 2;
    }
    void *arr;
    memcpy(&arr, arrp, sizeof arr);   /* arrp is a T **; read it without a type-punned cast */
    void *grown = realloc(arr, n * elsize);
    if (!grown)
        return -ENOMEM;
    memcpy(arrp, &grown, sizeof grown);
    *cap = n;
    return 0;
}

const struct pprof_kind pprof_kind_cpu = {
    .nvalues = 2,
    .value = { { "samples", "count" }, { "cpu", "nanoseconds" } },
    .period = { "cpu", "nanoseconds" },
};

/* Go's runtime/pprof writeHeapProto: the same types in the same order. */
#define HEAP_KIND(deflt) {                                                  \
        .nvalues = 4,                                                       \
        .value = { { "alloc_objects", "count" }, { "alloc_space", "bytes" }, \
                   { "inuse_objects", "count" }, { "inuse_space", "bytes" } }, \
        .period = { "space", "bytes" },                                     \
        .default_type = deflt,                                              \
    }
const struct pprof_kind pprof_kind_heap = HEAP_KIND(NULL);
const struct pprof_kind pprof_kind_allocs = HEAP_KIND("alloc_space");

/* The value views call a sample's count: "samples" when there is one, else the default
 * sample type, else the last (what pprof shows by default). */
static size_t count_index(const struct pprof *p)
{
    for (size_t i = 0; i < p->nvalues; i++)
        if (!strcmp(p->strings.strs[p->value_type[i]], "samples"))
            return i;
    for (size_t i = 0; p->default_type && i < p->nvalues; i++)
        if (p->value_type[i] == p->default_type)
            return i;
    return p->nvalues ? p->nvalues - 1 : 0;
}

struct pprof *pprof_new(const struct pprof_kind *kind, int64_t time_nanos, int64_t period)
{
    if (kind->nvalues > PPROF_MAX_VALUES)
        return errno = EINVAL, NULL;
    struct pprof *p = calloc(1, sizeof *p);
    if (!p)
        return errno = ENOMEM, NULL;
    p->time_nanos = time_nanos;
    p->period = period;
    if (strtab_init(&p->strings) != 0)
        goto err_out;
    /* Interned first, in this order: the header chunk refers to them by index. */
    p->nvalues = kind->nvalues;
    for (size_t i = 0; i < kind->nvalues; i++) {
        p->value_type[i] = strtab_intern(&p->strings, kind->value[i].type);
        p->value_unit[i] = strtab_intern(&p->strings, kind->value[i].unit);
        if (p->value_type[i] < 0 || p->value_unit[i] < 0)
            goto err_out;
    }
    p->period_type = strtab_intern(&p->strings, kind->period.type);
    p->period_unit = strtab_intern(&p->strings, kind->period.unit);
    p->default_type = strtab_intern(&p->strings, kind->default_type);
    if (p->period_type < 0 || p->period_unit < 0 || p->default_type < 0)
        goto err_out;
    p->count_ix = count_index(p);
    return p;

err_out:
    pprof_free(p);
    return errno = ENOMEM, NULL;
}

void pprof_free(struct pprof *p)
{
    if (!p)
        return;
    strtab_fini(&p->strings);
    free(p->maps);
    free(p->funcs);
    free(p->func_slots);
    free(p->locs);
    free(p->lines);
    free(p->samples);
    free(p->values);
    free(p->stack_ids);
    free(p->labels);
    free(p->comments);
    free(p);
}

void pprof_set_duration(struct pprof *p, int64_t duration_ns)
{
    p->duration_nanos = duration_ns;
}

uint64_t pprof_mapping(struct pprof *p, uint64_t start, uint64_t limit, uint64_t offset,
                       const char *file, const char *build_id, unsigned has_flags)
{
    int64_t file_ix = strtab_intern(&p->strings, file);
    int64_t build_ix = strtab_intern(&p->strings, build_id);
    if (file_ix < 0 || build_ix < 0 ||
        pprof_grow(&p->maps, &p->cmaps, p->nmaps + 1, sizeof *p->maps) != 0)
        return errno = ENOMEM, 0;
    p->maps[p->nmaps] = (struct pprof_mapping_rec){
        .start = start, .limit = limit, .offset = offset,
        .file = file_ix, .build_id = build_ix, .flags = has_flags,
    };
    return ++p->nmaps;
}

int pprof_mapping_set_flags(struct pprof *p, uint64_t mapping_id, unsigned has_flags)
{
    if (mapping_id == 0 || mapping_id > p->nmaps)
        return -EINVAL;
    p->maps[mapping_id - 1].flags = has_flags;
    return 0;
}

/* Of the four key fields; strings are already unique indices, so integers suffice. */
static uint64_t function_hash(const struct pprof_function_rec *f)
{
    const int64_t key[4] = { f->name, f->system_name, f->filename, f->start_line };
    return gp_hash_bytes(key, sizeof key);
}

static int function_equal(const struct pprof_function_rec *a, const struct pprof_function_rec *b)
{
    return a->name == b->name && a->system_name == b->system_name &&
           a->filename == b->filename && a->start_line == b->start_line;
}

static void function_slot_put(uint32_t *slots, size_t nslots, uint64_t hash, uint32_t id)
{
    size_t mask = nslots - 1, j = (size_t)hash & mask;
    while (slots[j])
        j = (j + 1) & mask;
    slots[j] = id;
}

/* Keeps the function index at load factor <= 1/2 for nfuncs + 1 entries. */
static int function_index_reserve(struct pprof *p)
{
    if (p->nfuncs >= UINT32_MAX - 1)
        return -ENOMEM;
    if (2 * (p->nfuncs + 1) <= p->nfunc_slots)
        return 0;
    size_t nslots = p->nfunc_slots ? p->nfunc_slots * 2 : 2 * PPROF_MIN_CAP;
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < p->nfuncs; i++)
        function_slot_put(slots, nslots, p->funcs[i].hash, (uint32_t)(i + 1));
    free(p->func_slots);
    p->func_slots = slots;
    p->nfunc_slots = nslots;
    return 0;
}

uint64_t pprof_function(struct pprof *p, const char *name, const char *system_name,
                        const char *filename, int64_t start_line)
{
    struct pprof_function_rec f = {
        .name = strtab_intern(&p->strings, name),
        .system_name = strtab_intern(&p->strings, system_name),
        .filename = strtab_intern(&p->strings, filename),
        .start_line = start_line,
    };
    if (f.name < 0 || f.system_name < 0 || f.filename < 0)
        return errno = ENOMEM, 0;
    f.hash = function_hash(&f);
    if (p->nfunc_slots) {
        size_t mask = p->nfunc_slots - 1;
        for (size_t j = (size_t)f.hash & mask; p->func_slots[j]; j = (j + 1) & mask) {
            uint32_t id = p->func_slots[j];
            if (p->funcs[id - 1].hash == f.hash && function_equal(&p->funcs[id - 1], &f))
                return id;
        }
    }
    if (function_index_reserve(p) != 0 ||
        pprof_grow(&p->funcs, &p->cfuncs, p->nfuncs + 1, sizeof *p->funcs) != 0)
        return errno = ENOMEM, 0;
    p->funcs[p->nfuncs++] = f;
    function_slot_put(p->func_slots, p->nfunc_slots, f.hash, (uint32_t)p->nfuncs);
    return p->nfuncs;
}

uint64_t pprof_location(struct pprof *p, uint64_t mapping_id, uint64_t address,
                        const struct pprof_line *lines, size_t nlines)
{
    if (mapping_id > p->nmaps || (nlines && !lines))
        return errno = EINVAL, 0;
    for (size_t i = 0; i < nlines; i++)
        if (lines[i].function_id == 0 || lines[i].function_id > p->nfuncs)
            return errno = EINVAL, 0;
    if (pprof_grow(&p->locs, &p->clocs, p->nlocs + 1, sizeof *p->locs) != 0 ||
        pprof_grow(&p->lines, &p->clines, p->nlines + nlines, sizeof *p->lines) != 0)
        return errno = ENOMEM, 0;
    if (nlines)
        memcpy(p->lines + p->nlines, lines, nlines * sizeof *lines);
    p->locs[p->nlocs] = (struct pprof_location_rec){
        .mapping_id = mapping_id, .address = address, .line_off = p->nlines, .nlines = nlines,
    };
    p->nlines += nlines;
    return ++p->nlocs;
}

/* Interns one label. Strings interned for a sample that then fails stay in the table: harmless,
 * and the output stays a function of the calls made. */
static int label_intern(struct pprof *p, const struct pprof_label *in, struct pprof_label_rec *out)
{
    if (!in->key || !*in->key)
        return -EINVAL;
    out->key = strtab_intern(&p->strings, in->key);
    out->str = in->str ? strtab_intern(&p->strings, in->str) : 0;
    out->num = in->str ? 0 : in->num;
    out->num_unit = in->str ? 0 : strtab_intern(&p->strings, in->num_unit);
    if (out->key < 0 || out->str < 0 || out->num_unit < 0)
        return -ENOMEM;
    return 0;
}

int pprof_add_sample(struct pprof *p, const uint64_t *location_ids, size_t n,
                     const int64_t *values, const struct pprof_label *labels, size_t nlabels)
{
    if (n == 0 || !location_ids || (nlabels && !labels) || (p->nvalues && !values))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (location_ids[i] == 0 || location_ids[i] > p->nlocs)
            return -EINVAL;
    if (pprof_grow(&p->samples, &p->csamples, p->nsamples + 1, sizeof *p->samples) != 0 ||
        pprof_grow(&p->stack_ids, &p->cstack_ids, p->nstack_ids + n, sizeof *p->stack_ids) != 0 ||
        pprof_grow(&p->labels, &p->clabels, p->nlabels + nlabels, sizeof *p->labels) != 0 ||
        pprof_grow(&p->values, &p->cvalues, (p->nsamples + 1) * p->nvalues,
                   sizeof *p->values) != 0)
        return -ENOMEM;
    for (size_t i = 0; i < nlabels; i++) {
        int err = label_intern(p, &labels[i], &p->labels[p->nlabels + i]);
        if (err)
            return err;
    }
    memcpy(p->stack_ids + p->nstack_ids, location_ids, n * sizeof *location_ids);
    if (p->nvalues)
        memcpy(p->values + p->nsamples * p->nvalues, values, p->nvalues * sizeof *values);
    p->samples[p->nsamples++] = (struct pprof_sample_rec){
        .loc_off = p->nstack_ids, .nloc = n,
        .label_off = p->nlabels, .nlabels = nlabels,
    };
    p->nstack_ids += n;
    p->nlabels += nlabels;
    return 0;
}

void pprof_add_comment(struct pprof *p, const char *text)
{
    int64_t ix = strtab_intern(&p->strings, text);
    if (ix < 0 || pprof_grow(&p->comments, &p->ccomments, p->ncomments + 1,
                             sizeof *p->comments) != 0) {
        gp_log("output", "add comment: %s", strerror(ENOMEM));
        return;
    }
    p->comments[p->ncomments++] = ix;
}

static int pprof_emit_cb(void *arg, ProtobufCBuffer *out)
{
    return pprof_emit(arg, out);
}

int pprof_write_file(struct pprof *p, const char *path)
{
    return gzwriter_write_file(path, pprof_emit_cb, p);
}

int pprof_write_fd(struct pprof *p, int fd)
{
    return gzwriter_stream_fd(fd, pprof_emit_cb, p);
}
