/* report.c -- profMap + symbolizer -> pprof (see report.h).
 * Context: collector
 *
 * One Location per distinct recorded PC (exact leaf PCs and return addresses are distinct
 * keys). Return addresses are written as ret-1, as Go does and pprof expects. Lost samples,
 * cut-short stacks and the middle of stacks deeper than a record become visible pseudo-frames
 * named "[libgoprof] ...". A sample's goroutine labels become string labels with the
 * goroutine's keys and values, as Go's profiler writes them.
 *
 * The same path writes C memory profiles (report_input.heap): one sample per heapmap bucket,
 * its stack and labels built exactly as a CPU sample's, its values Go's heap profile's.
 */
#include "collector/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/hash.h"
#include "lib/base/log.h"
#include "lib/base/record_flags.h"
#include "collector/heapmap.h"
#include "collector/profmap.h"
#include "lib/ring/ring_labels.h"
#include "lib/pprof/folded.h"
#include "lib/pprof/pprof.h"
#include "collector/symbolize.h"
#include "collector/symbolize_dwarf.h"

#define MAX_INLINE 32
/* Location cache value for an address whose frames are all left out (Go wrappers). */
#define LOC_ELIDED UINT64_MAX

struct loc_cache {
    uint64_t *keys;
    uint64_t *ids;
    size_t cap, len;
};

/* Per process: its mappings in the profile and its addresses' locations. */
struct report_pstate {
    struct symbolizer *sym;
    uint64_t *mapping_ids;
    struct sym_mapping *maps;
    size_t nmaps;
    struct loc_cache locs;
    char root[48];              /* "[process: NAME]" */
    const char *root_key;       /* the first such text: one location per program name */
};

struct report {
    struct pprof *p;
    struct report_pstate *ps;
    size_t nps;
    struct loc_cache pseudo;    /* pseudo-frames, keyed by their text's address */
};

static int cache_grow(struct loc_cache *c)
{
    size_t cap = c->cap ? c->cap * 2 : 4096;
    uint64_t *keys = calloc(cap, sizeof *keys), *ids = calloc(cap, sizeof *ids);
    if (!keys || !ids) {
        free(keys);
        free(ids);
        return -ENOMEM;
    }
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->ids[i])
            continue;
        size_t s = gp_hash_u64(c->keys[i]) & (cap - 1);
        while (ids[s])
            s = (s + 1) & (cap - 1);
        keys[s] = c->keys[i];
        ids[s] = c->ids[i];
    }
    free(c->keys);
    free(c->ids);
    c->keys = keys;
    c->ids = ids;
    c->cap = cap;
    return 0;
}

static uint64_t *cache_slot(struct loc_cache *c, uint64_t key)
{
    if ((c->len + 1) * 2 > c->cap && cache_grow(c) != 0)
        return NULL;
    size_t s = gp_hash_u64(key) & (c->cap - 1);
    while (c->ids[s] && c->keys[s] != key)
        s = (s + 1) & (c->cap - 1);
    if (!c->ids[s])
        c->keys[s] = key;
    return &c->ids[s];
}

static int mapping_of(const struct report_pstate *r, uint64_t addr)
{
    for (size_t i = 0; i < r->nmaps; i++)
        if (addr >= r->maps[i].start && addr < r->maps[i].limit)
            return (int)i;
    return -1;
}

/* GP_REC_UNSAMPLED records' leaf; the same text as the count without a stack. */
static const char unsampled_frame[] = "[libgoprof] unsampled: thread ended between ticks";
/* GP_REC_RESIDUAL entries' only frame (below the process's root frame): not only a process's
 * start and end, also a thread's bursts of CPU shorter than a tick, which no CPU-time timer
 * sees (the kernel checks it at a tick that finds the thread running). */
static const char residual_frame[] = "[libgoprof] unsampled: CPU time no tick saw";

static uint64_t pseudo_location(struct report *r, const char *name)
{
    uint64_t key = 0x8000000000000000ull | (uint64_t)(uintptr_t)name;
    uint64_t *slot = cache_slot(&r->pseudo, key);
    if (!slot || *slot)
        return slot ? *slot : 0;
    struct pprof_line line = { pprof_function(r->p, name, name, "", 0), 0 };
    if (!line.function_id)
        return 0;
    *slot = pprof_location(r->p, 0, 0, &line, 1);
    r->pseudo.len++;
    return *slot;
}

/* The frames left out of a deep stack: one location per count (its text says how many). */
static uint64_t elided_location(struct report *r, uint64_t word)
{
    uint64_t *slot = cache_slot(&r->pseudo, word);
    if (!slot || *slot)
        return slot ? *slot : 0;
    char name[64];
    snprintf(name, sizeof name, "[libgoprof] %u frames left out", (unsigned)(uint32_t)word);
    struct pprof_line line = { pprof_function(r->p, name, name, "", 0), 0 };
    if (!line.function_id)
        return 0;
    *slot = pprof_location(r->p, 0, 0, &line, 1);
    r->pseudo.len++;
    return *slot;
}

static uint64_t location(struct report *rep, struct report_pstate *r, uint64_t recorded)
{
    if (recorded & GP_PC_ELIDED)
        return elided_location(rep, recorded);
    uint64_t *slot = cache_slot(&r->locs, recorded);
    if (!slot || *slot)
        return slot && *slot != LOC_ELIDED ? *slot : 0;
    int exact = (recorded & GP_PC_EXACT) != 0;
    uint64_t pc = recorded & ~GP_PC_EXACT;
    uint64_t address = exact ? pc : pc - 1;
    struct sym_frame frames[MAX_INLINE];
    struct pprof_line lines[MAX_INLINE];
    int n = r->sym ? symbolizer_lookup(r->sym, pc, !exact, frames, MAX_INLINE) : 0;
    size_t nl = 0, wrappers = 0;
    for (int i = 0; i < n; i++) {
        if (frames[i].go_wrapper) {
            wrappers++;
            continue;
        }
        const char *sys = frames[i].system_name ? frames[i].system_name : frames[i].function;
        lines[nl].function_id = pprof_function(rep->p, frames[i].function, sys,
                                               frames[i].filename, frames[i].start_line);
        lines[nl].line = frames[i].line;
        if (lines[nl].function_id)
            nl++;
    }
    if (n > 0 && wrappers == (size_t)n) {
        /* Only wrapper frames: left out of stacks, as Go's own profiles do. */
        *slot = LOC_ELIDED;
        r->locs.len++;
        return 0;
    }
    int mi = n > 0 ? frames[0].mapping_index : mapping_of(r, address);
    uint64_t mapping = mi >= 0 && (size_t)mi < r->nmaps ? r->mapping_ids[mi] : 0;
    *slot = pprof_location(rep->p, mapping, address, lines, nl);
    r->locs.len++;
    return *slot;
}

/* Mappings are registered before any location refers to them; their has_* flags depend on how
 * every lookup went, so they are set once all locations exist. */
static int add_mappings(struct report *rep, struct report_pstate *r)
{
    r->nmaps = r->sym ? symbolizer_mapping_count(r->sym) : 0;
    r->maps = calloc(r->nmaps ? r->nmaps : 1, sizeof *r->maps);
    r->mapping_ids = calloc(r->nmaps ? r->nmaps : 1, sizeof *r->mapping_ids);
    if (!r->maps || !r->mapping_ids)
        return -ENOMEM;
    for (size_t i = 0; i < r->nmaps; i++) {
        struct sym_mapping *m = &r->maps[i];
        if (symbolizer_mapping_get(r->sym, i, m) != 0)
            continue;
        r->mapping_ids[i] = pprof_mapping(rep->p, m->start, m->limit, m->offset, m->path,
                                          m->build_id, 0);
        if (!r->mapping_ids[i])
            return -ENOMEM;
    }
    return 0;
}

static void set_mapping_flags(struct report *rep, struct report_pstate *r)
{
    for (size_t i = 0; i < r->nmaps; i++) {
        struct sym_mapping m;
        if (!r->mapping_ids[i] || symbolizer_mapping_get(r->sym, i, &m) != 0)
            continue;
        unsigned flags = (m.has_functions ? PPROF_HAS_FUNCTIONS : 0) |
                         (m.has_filenames ? PPROF_HAS_FILENAMES : 0) |
                         (m.has_line_numbers ? PPROF_HAS_LINE_NUMBERS : 0) |
                         (m.has_inline_frames ? PPROF_HAS_INLINE_FRAMES : 0);
        pprof_mapping_set_flags(rep->p, r->mapping_ids[i], flags);
    }
}

#define CUT_MARK "\xe2\x80\xa6"   /* U+2026: a key or value cut to the record's bounds */
#define MAX_SAMPLE_LABELS (5 + GP_LABEL_MAX + 1)
/* The strings of a sample's goroutine labels: NUL-terminated, with the cut mark. */
#define LABEL_TEXT_BYTES (GP_RING_LABEL_BYTES + GP_LABEL_MAX * 2 * (sizeof CUT_MARK))

/* Appends a set of goroutine labels (canonical form, len bytes, left: labels_left) to
 * labels[*nl...], their strings in text. */
static void goroutine_labels(const uint8_t *set, uint16_t len, uint16_t labels_left,
                             struct pprof_label *labels, size_t *nl, char *text, char *left)
{
    struct ring_label rl[GP_LABEL_MAX];
    int n = ring_labels_parse(set, len, rl, GP_LABEL_MAX);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        char *k = text + off;
        off += (size_t)snprintf(k, LABEL_TEXT_BYTES - off, "%.*s%s", rl[i].klen,
                                (const char *)rl[i].key,
                                rl[i].cut & GP_LABEL_CUT_KEY ? CUT_MARK : "") + 1;
        char *v = text + off;
        off += (size_t)snprintf(v, LABEL_TEXT_BYTES - off, "%.*s%s", rl[i].vlen,
                                (const char *)rl[i].value,
                                rl[i].cut & GP_LABEL_CUT_VALUE ? CUT_MARK : "") + 1;
        labels[(*nl)++] = (struct pprof_label){ .key = k, .str = v };
    }
    if (labels_left) {
        if (labels_left == 0xffff)
            snprintf(left, 16, "unreadable");
        else
            snprintf(left, 16, "%u", (unsigned)labels_left);
        labels[(*nl)++] = (struct pprof_label){ .key = "[libgoprof] labels left out", .str = left };
    }
}

static int add_labels_sample(struct report *r, const struct report_input *in,
                             const struct report_proc *proc, const struct profmap_entry *e,
                             const uint64_t *ids, size_t n)
{
    struct pprof_label labels[MAX_SAMPLE_LABELS];
    char text[LABEL_TEXT_BYTES], left[16];
    size_t nl = 0;
    if (proc) {
        labels[nl++] = (struct pprof_label){ .key = "pid", .num = proc->pid };
        labels[nl++] = (struct pprof_label){ .key = "process", .str = proc->name };
    }
    labels[nl++] = (struct pprof_label){ .key = "thread_id", .num = e->tid };
    if (e->goid)
        labels[nl++] = (struct pprof_label){ .key = "goroutine_id", .num = (int64_t)e->goid };
    char name[sizeof e->thread_name + 1];
    memcpy(name, e->thread_name, sizeof e->thread_name);
    name[sizeof e->thread_name] = 0;
    if (name[0])
        labels[nl++] = (struct pprof_label){ .key = "thread_name", .str = name };
    goroutine_labels(profmap_labels(in->pm, e), e->labels_len, e->labels_left, labels, &nl, text,
                     left);
    uint64_t cpu = e->cpu_ns ? e->cpu_ns : e->count * in->period_ns;
    const int64_t values[2] = { (int64_t)e->count, (int64_t)cpu };
    return pprof_add_sample(r->p, ids, n, values, labels, nl);
}

/* A recorded stack as location ids, leaf first, with its pseudo-frames: ids has room for cap
 * (a record's frames and four more). Returns how many. */
static size_t stack_ids(struct report *r, struct report_pstate *ps, const struct report_proc *proc,
                        const uint64_t *pcs, size_t nframes, unsigned flags, uint64_t *ids,
                        size_t cap)
{
    size_t n = 0;
    if (flags & GP_REC_RESIDUAL)
        ids[n++] = pseudo_location(r, residual_frame);
    else if (flags & GP_REC_UNSAMPLED)   /* the leaf: not where the CPU time was spent */
        ids[n++] = pseudo_location(r, unsampled_frame);
    else if (flags & HEAPMAP_OVERFLOW)
        ids[n++] = pseudo_location(r, "[libgoprof] lost: heap stacks over the limit");
    for (size_t k = 0; k < nframes && n < cap - 3; k++) {
        uint64_t id = location(r, ps, pcs[k]);
        if (id)
            ids[n++] = id;
    }
    if (flags & GP_REC_TRUNCATED)
        ids[n++] = pseudo_location(r, "[libgoprof] truncated: deeper than 65536 frames");
    else if (flags & GP_REC_UNWIND_BROKEN)
        ids[n++] = pseudo_location(r, "[libgoprof] incomplete: the unwinder stopped here");
    if (n == 0)   /* (a residual has its pseudo-frame already) */
        ids[n++] = pseudo_location(r, "[libgoprof] no frames");
    if (proc->root_frame)
        ids[n++] = pseudo_location(r, ps->root_key);
    return n;
}

static int add_cpu_samples(struct report *r, const struct report_input *in, uint64_t *ids,
                           size_t cap)
{
    for (size_t i = 0; i < profmap_len(in->pm); i++) {
        const struct profmap_entry *e = profmap_get(in->pm, i);
        const struct report_proc *proc = e->proc < in->nprocs ? &in->procs[e->proc] : NULL;
        struct report_pstate *ps = e->proc < r->nps ? &r->ps[e->proc] : NULL;
        if (!ps || proc->omit)
            continue;
        size_t n = stack_ids(r, ps, proc, profmap_frames(in->pm, e), e->nframes, e->flags, ids,
                             cap);
        if (add_labels_sample(r, in, proc, e, ids, n) != 0)
            return -ENOMEM;
    }
    return 0;
}

/* Go's heap profile (runtime/pprof protomem.go): per bucket, the four figures un-sampled
 * (heapmap_scale: alloc ones by the average allocated block, in-use ones by the average
 * in-use block) and the numeric label "bytes", the average block size as allocated. */
static int add_heap_samples(struct report *r, const struct report_input *in, uint64_t *ids,
                            size_t cap)
{
    for (size_t i = 0; i < heapmap_len(in->heap); i++) {
        const struct heapmap_bucket *b = heapmap_get(in->heap, i);
        const struct report_proc *proc = b->proc < in->nprocs ? &in->procs[b->proc] : NULL;
        struct report_pstate *ps = b->proc < r->nps ? &r->ps[b->proc] : NULL;
        if (!ps || proc->omit)
            continue;
        int64_t v[4];
        heapmap_scale(b->alloc_count, b->alloc_bytes, in->heap_rate, &v[0], &v[1]);
        heapmap_scale(b->inuse_count, b->inuse_bytes, in->heap_rate, &v[2], &v[3]);
        uint64_t avg_count = b->alloc_count, avg_bytes = b->alloc_bytes;
        if (in->heap_base) {
            if (i < in->heap_base->len) {
                const struct heapmap_counts *c = &in->heap_base->counts[i];
                int64_t w[4];
                heapmap_scale(c->alloc_count, c->alloc_bytes, in->heap_rate, &w[0], &w[1]);
                heapmap_scale(c->inuse_count, c->inuse_bytes, in->heap_rate, &w[2], &w[3]);
                for (int k = 0; k < 4; k++)
                    v[k] -= w[k];
                if (b->alloc_count > c->alloc_count) {   /* the window's own block size */
                    avg_count = b->alloc_count - c->alloc_count;
                    avg_bytes = b->alloc_bytes - c->alloc_bytes;
                }
            }
            if (!v[0] && !v[1] && !v[2] && !v[3])
                continue;
        }
        size_t n = stack_ids(r, ps, proc, heapmap_frames(in->heap, b), b->nframes, b->flags,
                             ids, cap);
        struct pprof_label labels[MAX_SAMPLE_LABELS];
        char text[LABEL_TEXT_BYTES], left[16];
        size_t nl = 0;
        labels[nl++] = (struct pprof_label){ .key = "pid", .num = proc->pid };
        labels[nl++] = (struct pprof_label){ .key = "process", .str = proc->name };
        if (avg_count && avg_bytes / avg_count)
            labels[nl++] = (struct pprof_label){ .key = "bytes",
                                                 .num = (int64_t)(avg_bytes / avg_count) };
        goroutine_labels(heapmap_labels(in->heap, b), b->labels_len, b->labels_left, labels, &nl,
                         text, left);
        if (pprof_add_sample(r->p, ids, n, v, labels, nl) != 0)
            return -ENOMEM;
    }
    return 0;
}

/* Builds the profile and writes it to path (atomically) or, when path is NULL, to fd. */
static int report_emit(const struct report_input *in, const char *path, int fd)
{
    struct report r = { 0 };
    int err = -ENOMEM, building = 1;
    uint64_t *ids = NULL;
    r.p = !in->heap    ? pprof_new(&pprof_kind_cpu, in->start_ns, (int64_t)in->period_ns)
          : in->allocs ? pprof_new(&pprof_kind_allocs, in->start_ns, (int64_t)in->heap_rate)
                       : pprof_new(&pprof_kind_heap, in->start_ns, (int64_t)in->heap_rate);
    r.nps = in->nprocs;
    r.ps = calloc(r.nps ? r.nps : 1, sizeof *r.ps);
    if (!r.p || !r.ps)
        goto out;
    for (size_t i = 0; i < r.nps; i++) {
        r.ps[i].sym = in->procs[i].omit ? NULL : in->procs[i].sym;
        snprintf(r.ps[i].root, sizeof r.ps[i].root, "[process: %s]", in->procs[i].name);
        r.ps[i].root_key = r.ps[i].root;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(r.ps[j].root, r.ps[i].root)) {
                r.ps[i].root_key = r.ps[j].root_key;
                break;
            }
        if (add_mappings(&r, &r.ps[i]) != 0)
            goto out;
    }
    pprof_set_duration(r.p, in->end_ns - in->start_ns);
    size_t cap = GP_RING_MAX_FRAMES + 4;   /* a record's frames, plus four pseudo-frames */
    ids = malloc(cap * sizeof *ids);
    if (!ids)
        goto out;
    if (in->heap ? add_heap_samples(&r, in, ids, cap) != 0 : add_cpu_samples(&r, in, ids, cap) != 0)
        goto out;
    for (size_t i = 0; i < in->nlost; i++) {
        if (!in->lost[i].count)
            continue;
        char name[128];
        snprintf(name, sizeof name, "[libgoprof] %s", in->lost[i].label);
        struct pprof_line line = { pprof_function(r.p, name, name, "", 0), 0 };
        uint64_t id = pprof_location(r.p, 0, 0, &line, 1);
        const int64_t values[2] = { (int64_t)in->lost[i].count,
                                    (int64_t)(in->lost[i].count * in->period_ns) };
        if (!id || pprof_add_sample(r.p, &id, 1, values, NULL, 0))
            goto out;
    }
    for (size_t i = 0; i < r.nps; i++)
        set_mapping_flags(&r, &r.ps[i]);
    for (size_t i = 0; i < in->ncomments; i++)
        pprof_add_comment(r.p, in->comments[i]);
    char dwarf_note[160];   /* the DWARF held once this profile's addresses are looked up */
    if (sym_dwarf_comment(dwarf_note, sizeof dwarf_note))
        pprof_add_comment(r.p, dwarf_note);
    /* Over a descriptor (HTTP) always pprof, as Go's endpoint answers. A file's writer
     * (atomic_file_write) reports its own failures, in one line that names the step. */
    building = 0;
    err = !path       ? pprof_write_fd(r.p, fd)
          : in->folded && !in->heap ? folded_write_file(r.p, path)
                       : pprof_write_file(r.p, path);
out:
    if (err && building && path)
        gp_log("output", "cannot build the profile for %s: %s", path, strerror(-err));
    free(ids);
    for (size_t i = 0; r.ps && i < r.nps; i++) {
        free(r.ps[i].maps);
        free(r.ps[i].mapping_ids);
        free(r.ps[i].locs.keys);
        free(r.ps[i].locs.ids);
    }
    free(r.ps);
    free(r.pseudo.keys);
    free(r.pseudo.ids);
    pprof_free(r.p);
    return err;
}

int report_write(const struct report_input *in, const char *path)
{
    return report_emit(in, path, -1);
}

int report_write_fd(const struct report_input *in, int fd)
{
    return report_emit(in, NULL, fd);
}
