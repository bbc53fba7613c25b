/* profmap.c -- hash map of sample stacks (see profmap.h).
 * Context: collector
 */
#include "collector/profmap.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/grow.h"
#include "lib/base/hash.h"
#include "lib/ring/ring.h"
#include "lib/ring/ring_labels.h"

struct profmap {
    struct profmap_entry *entries;
    size_t len, cap;
    uint64_t *frames;           /* all stacks, back to back */
    size_t nframes, frames_cap;
    uint8_t *labels;            /* all label sets (canonical form), back to back */
    size_t nlabels, labels_cap;
    uint32_t *index;            /* open addressing: entry index + 1, 0 = empty */
    size_t index_cap;           /* power of two, kept at least twice len */
    uint64_t total;             /* summed weights of every record */
    uint64_t unsampled;         /* of those, GP_REC_UNSAMPLED records' */
};

struct profmap *profmap_new(void)
{
    struct profmap *pm = calloc(1, sizeof *pm);
    if (!pm)
        return NULL;
    pm->index_cap = 1024;
    pm->index = calloc(pm->index_cap, sizeof *pm->index);
    if (!pm->index) {
        free(pm);
        errno = ENOMEM;
        return NULL;
    }
    return pm;
}

void profmap_free(struct profmap *pm)
{
    if (!pm)
        return;
    free(pm->entries);
    free(pm->frames);
    free(pm->labels);
    free(pm->index);
    free(pm);
}

static int grow_index(struct profmap *pm)
{
    size_t cap = pm->index_cap * 2;
    uint32_t *idx = calloc(cap, sizeof *idx);
    if (!idx)
        return -ENOMEM;
    for (size_t i = 0; i < pm->len; i++) {
        size_t slot = pm->entries[i].hash & (cap - 1);
        while (idx[slot])
            slot = (slot + 1) & (cap - 1);
        idx[slot] = (uint32_t)(i + 1);
    }
    free(pm->index);
    pm->index = idx;
    pm->index_cap = cap;
    return 0;
}

/* A record's identity besides its stack. */
struct record_key {
    const struct ring_record *rec;
    uint32_t proc;
    const uint8_t *labels;      /* canonical form */
    uint16_t labels_len, labels_left;
};

static int same(const struct profmap *pm, const struct profmap_entry *e, uint64_t hash,
                const struct record_key *k, const uint64_t *pcs, size_t n)
{
    const struct ring_record *rec = k->rec;
    return e->hash == hash && e->proc == k->proc && e->tid == rec->h.tid &&
           e->flags == rec->h.flags && e->goid == rec->h.goid && e->nframes == n &&
           e->labels_len == k->labels_len && e->labels_left == k->labels_left &&
           !memcmp(e->thread_name, rec->h.thread_name, sizeof e->thread_name) &&
           (n == 0 || !memcmp(pm->frames + e->frames, pcs, n * sizeof *pcs)) &&
           (k->labels_len == 0 || !memcmp(pm->labels + e->labels, k->labels, k->labels_len));
}

static void add_total(struct profmap *pm, const struct ring_record *rec)
{
    pm->total += rec->h.weight;
    if (rec->h.flags & GP_REC_UNSAMPLED)
        pm->unsampled += rec->h.weight;
}

int profmap_add(struct profmap *pm, uint32_t proc, const struct ring_record *rec,
                uint64_t skip_lo, uint64_t skip_hi)
{
    uint64_t pcs[GP_RING_MAX_FRAMES];
    uint8_t labels[GP_RING_LABEL_BYTES];
    size_t n = 0;
    for (size_t i = 0; i < rec->h.nframes; i++) {
        uint64_t pc = rec->pc[i] & ~GP_PC_EXACT;
        if (pc >= skip_lo && pc < skip_hi)
            continue;
        pcs[n++] = rec->pc[i];
    }
    struct record_key k = { .rec = rec, .proc = proc, .labels = labels,
                            .labels_left = rec->h.labels_left };
    int nl = rec->h.labels_len ? ring_labels_canonical(rec->labels, rec->h.labels_len, labels) : 0;
    if (nl < 0) {   /* malformed: shown as a set that could not be read */
        nl = 0;
        k.labels_left = 0xffff;
    }
    k.labels_len = (uint16_t)nl;
    uint64_t h = gp_hash_bytes(&rec->h.tid, sizeof rec->h.tid);
    h = gp_hash_more(h, &proc, sizeof proc);
    h = gp_hash_more(h, &rec->h.flags, sizeof rec->h.flags);
    h = gp_hash_more(h, &rec->h.goid, sizeof rec->h.goid);
    h = gp_hash_more(h, rec->h.thread_name, sizeof rec->h.thread_name);
    h = gp_hash_more(h, &k.labels_left, sizeof k.labels_left);
    if (nl)
        h = gp_hash_more(h, labels, (size_t)nl);
    if (n)
        h = gp_hash_words(h, pcs, n);
    size_t slot = h & (pm->index_cap - 1);
    while (pm->index[slot]) {
        struct profmap_entry *e = &pm->entries[pm->index[slot] - 1];
        if (same(pm, e, h, &k, pcs, n)) {
            e->count += rec->h.weight;
            add_total(pm, rec);
            return 0;
        }
        slot = (slot + 1) & (pm->index_cap - 1);
    }
    if (gp_grow((void **)&pm->entries, &pm->cap, pm->len + 1, sizeof *pm->entries, 256) != 0)
        return -ENOMEM;
    if (gp_grow((void **)&pm->frames, &pm->frames_cap, pm->nframes + n, sizeof *pm->frames,
                4096) != 0)
        return -ENOMEM;
    if (gp_grow((void **)&pm->labels, &pm->labels_cap, pm->nlabels + (size_t)nl, 1, 4096) != 0)
        return -ENOMEM;
    struct profmap_entry *e = &pm->entries[pm->len];
    memset(e, 0, sizeof *e);
    e->hash = h;
    e->count = rec->h.weight;
    e->goid = rec->h.goid;
    e->tid = rec->h.tid;
    e->proc = proc;
    e->flags = rec->h.flags;
    e->nframes = (uint16_t)n;
    e->frames = pm->nframes;
    e->labels = pm->nlabels;
    e->labels_len = k.labels_len;
    e->labels_left = k.labels_left;
    memcpy(e->thread_name, rec->h.thread_name, sizeof e->thread_name);
    if (n)   /* (a residual has no frames, and the store may not exist yet) */
        memcpy(pm->frames + pm->nframes, pcs, n * sizeof *pcs);
    pm->nframes += n;
    if (nl)
        memcpy(pm->labels + pm->nlabels, labels, (size_t)nl);
    pm->nlabels += (size_t)nl;
    pm->index[slot] = (uint32_t)++pm->len;
    add_total(pm, rec);
    if (pm->len * 2 > pm->index_cap)
        return grow_index(pm);
    return 0;
}

int profmap_add_residual(struct profmap *pm, uint32_t proc, uint64_t ns, uint64_t period_ns)
{
    struct ring_record rec;
    memset(&rec, 0, offsetof(struct ring_record, pc));
    rec.h.flags = GP_REC_RESIDUAL | GP_REC_UNSAMPLED;
    rec.h.weight = (uint32_t)((ns + period_ns / 2) / period_ns);
    int err = profmap_add(pm, proc, &rec, 0, 0);
    if (err)
        return err;
    /* the entry just made, or the one it was merged into: only this function feeds it */
    for (size_t i = pm->len; i-- > 0;) {
        struct profmap_entry *e = &pm->entries[i];
        if (e->proc == proc && e->flags == rec.h.flags && e->nframes == 0) {
            e->cpu_ns += ns;
            break;
        }
    }
    return 0;
}

size_t profmap_len(const struct profmap *pm)
{
    return pm->len;
}

const struct profmap_entry *profmap_get(const struct profmap *pm, size_t i)
{
    return i < pm->len ? &pm->entries[i] : NULL;
}

const uint64_t *profmap_frames(const struct profmap *pm, const struct profmap_entry *e)
{
    return pm->frames + e->frames;
}

const uint8_t *profmap_labels(const struct profmap *pm, const struct profmap_entry *e)
{
    return pm->labels + e->labels;
}

uint64_t profmap_total(const struct profmap *pm)
{
    return pm->total;
}

uint64_t profmap_unsampled(const struct profmap *pm)
{
    return pm->unsampled;
}
