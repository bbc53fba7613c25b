/* heapmap.c -- sampled allocations by process, stack and labels (see heapmap.h).
 * Context: collector
 */
#include "collector/heapmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/grow.h"
#include "lib/base/hash.h"
#include "lib/base/record_flags.h"
#include "lib/ring/ring.h"
#include "lib/ring/ring_labels.h"

/* One process image's table as read so far: per bucket made (by its place in the table's
 * order) and for its overflow bucket, the session's bucket + 1 (0: not read yet) and its
 * figures at the last sync. */
struct shared_read {
    uint32_t bucket;
    struct heap_totals seen;   /* what the last sync read */
};
struct proc_sync {
    struct shared_read *e;      /* cap of them, as many as the table has made */
    size_t cap;
    struct shared_read overflow;
};

struct heapmap {
    struct heapmap_bucket *buckets;
    size_t len, cap;
    uint32_t *index;            /* open addressing over buckets: index + 1, 0 = empty */
    size_t index_cap;           /* power of two, at least twice len */
    uint64_t *frames;
    size_t nframes, frames_cap;
    uint8_t *labels;
    size_t nlabels, labels_cap;
    struct proc_sync *procs;    /* by process image */
    size_t nprocs;
    struct heapmap_stats st;
};

struct heapmap *heapmap_new(void)
{
    struct heapmap *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->index_cap = 1024;
    h->index = calloc(h->index_cap, sizeof *h->index);
    if (!h->index) {
        heapmap_free(h);
        errno = ENOMEM;
        return NULL;
    }
    return h;
}

void heapmap_free(struct heapmap *h)
{
    if (!h)
        return;
    free(h->buckets);
    free(h->index);
    free(h->frames);
    free(h->labels);
    for (size_t i = 0; i < h->nprocs; i++)
        heapmap_end_proc(h, (uint32_t)i);
    free(h->procs);
    free(h);
}

/* ---- buckets ---- */

static int grow_index(struct heapmap *h)
{
    size_t cap = h->index_cap * 2;
    uint32_t *idx = calloc(cap, sizeof *idx);
    if (!idx)
        return -ENOMEM;
    for (size_t i = 0; i < h->len; i++) {
        size_t s = h->buckets[i].hash & (cap - 1);
        while (idx[s])
            s = (s + 1) & (cap - 1);
        idx[s] = (uint32_t)(i + 1);
    }
    free(h->index);
    h->index = idx;
    h->index_cap = cap;
    return 0;
}

struct bucket_key {
    uint32_t proc;
    uint16_t flags, labels_len, labels_left;
    const uint64_t *pcs;
    size_t n;
    const uint8_t *labels;
};

static uint64_t key_hash(const struct bucket_key *k)
{
    uint64_t h = gp_hash_bytes(&k->proc, sizeof k->proc);
    h = gp_hash_more(h, &k->flags, sizeof k->flags);
    h = gp_hash_more(h, &k->labels_left, sizeof k->labels_left);
    if (k->labels_len)
        h = gp_hash_more(h, k->labels, k->labels_len);
    if (k->n)
        h = gp_hash_words(h, k->pcs, k->n);
    return h;
}

static int key_is(const struct heapmap *h, const struct heapmap_bucket *b, uint64_t hash,
                  const struct bucket_key *k)
{
    return b->hash == hash && b->proc == k->proc && b->flags == k->flags &&
           b->nframes == k->n && b->labels_len == k->labels_len &&
           b->labels_left == k->labels_left &&
           (k->n == 0 || !memcmp(h->frames + b->frames, k->pcs, k->n * sizeof *k->pcs)) &&
           (k->labels_len == 0 || !memcmp(h->labels + b->labels, k->labels, k->labels_len));
}

/* The bucket of k, made if new: its index, or -ENOMEM, or -ENOSPC past the bounds (an
 * overflow bucket, which has no stack, is always made). */
static long bucket_of(struct heapmap *h, const struct bucket_key *k)
{
    uint64_t hash = key_hash(k);
    size_t slot = hash & (h->index_cap - 1);
    while (h->index[slot]) {
        const struct heapmap_bucket *b = &h->buckets[h->index[slot] - 1];
        if (key_is(h, b, hash, k))
            return (long)(h->index[slot] - 1);
        slot = (slot + 1) & (h->index_cap - 1);
    }
    if (!(k->flags & HEAPMAP_OVERFLOW) &&
        (h->len >= HEAPMAP_MAX_BUCKETS || h->nframes + k->n > HEAPMAP_MAX_FRAMES))
        return -ENOSPC;
    if (gp_grow((void **)&h->buckets, &h->cap, h->len + 1, sizeof *h->buckets, 256) != 0 ||
        gp_grow((void **)&h->frames, &h->frames_cap, h->nframes + k->n, sizeof *h->frames,
                4096) != 0 ||
        gp_grow((void **)&h->labels, &h->labels_cap, h->nlabels + k->labels_len, 1, 4096) != 0)
        return -ENOMEM;
    struct heapmap_bucket *b = &h->buckets[h->len];
    memset(b, 0, sizeof *b);
    b->hash = hash;
    b->proc = k->proc;
    b->flags = k->flags;
    b->nframes = (uint16_t)k->n;
    b->frames = h->nframes;
    b->labels = h->nlabels;
    b->labels_len = k->labels_len;
    b->labels_left = k->labels_left;
    if (k->n)
        memcpy(h->frames + h->nframes, k->pcs, k->n * sizeof *k->pcs);
    h->nframes += k->n;
    if (k->labels_len)
        memcpy(h->labels + h->nlabels, k->labels, k->labels_len);
    h->nlabels += k->labels_len;
    h->index[slot] = (uint32_t)++h->len;
    if (h->len * 2 > h->index_cap && grow_index(h) != 0)
        return -ENOMEM;   /* (the bucket exists; the next lookup finds it after a grow) */
    return (long)(h->len - 1);
}

/* ---- a process's table ---- */

/* An array grown to hold need elements, its new ones zero. */
static int grow_zeroed(void **p, size_t *cap, size_t need, size_t elem, size_t first)
{
    size_t old = *cap;
    if (gp_grow(p, cap, need, elem, first) != 0)
        return -ENOMEM;
    if (*cap > old)   /* (not when nothing grew: *p may still be NULL) */
        memset((char *)*p + old * elem, 0, (*cap - old) * elem);
    return 0;
}

static struct proc_sync *proc_state(struct heapmap *h, uint32_t proc)
{
    if (grow_zeroed((void **)&h->procs, &h->nprocs, (size_t)proc + 1, sizeof *h->procs, 16) != 0)
        return NULL;
    return &h->procs[proc];
}

/* Process proc's overflow bucket (no stack). */
static long overflow_of(struct heapmap *h, uint32_t proc)
{
    struct bucket_key over = { .proc = proc, .flags = HEAPMAP_OVERFLOW };
    return bucket_of(h, &over);
}

/* The session's bucket for a shared bucket's key (the overflow bucket when it has no stack,
 * or a key that does not fit the stores' bounds, or past the session's bounds). */
static long bucket_of_shared(struct heapmap *h, uint32_t proc, const struct ring *r,
                             const struct heap_bucket *sb, uint64_t skip_lo, uint64_t skip_hi)
{
    uint64_t pcs[GP_RING_MAX_FRAMES];
    uint8_t labels[GP_RING_LABEL_BYTES];
    struct bucket_key k = { .proc = proc, .labels_left = sb->labels_left, .pcs = pcs,
                            .labels = labels,
                            .flags = (uint16_t)(sb->flags & ~(GP_HEAP_BUCKET_NOSTACK |
                                                               HEAPMAP_OVERFLOW)) };
    size_t nf = sb->nframes, nl = sb->labels_len;
    int readable = !(sb->flags & GP_HEAP_BUCKET_NOSTACK) && sb != &r->hdr->heap_overflow &&
                   nf <= GP_RING_MAX_FRAMES && sb->frames <= r->frame_words &&
                   nf <= r->frame_words - sb->frames && nl <= GP_RING_LABEL_BYTES &&
                   sb->labels <= r->label_bytes && nl <= r->label_bytes - sb->labels;
    if (!readable) {
        if (sb != &r->hdr->heap_overflow && !(sb->flags & GP_HEAP_BUCKET_NOSTACK))
            h->st.bad++;
        return overflow_of(h, proc);
    }
    size_t n = 0;
    for (size_t i = 0; i < nf; i++) {
        uint64_t pc = r->heap_frames[sb->frames + i];
        if ((pc & ~GP_PC_EXACT) >= skip_lo && (pc & ~GP_PC_EXACT) < skip_hi)
            continue;
        pcs[n++] = pc;
    }
    k.n = n;
    int len = nl ? ring_labels_canonical(r->heap_labels + sb->labels, nl, labels) : 0;
    if (len < 0) {
        len = 0;
        k.labels_left = 0xffff;
    }
    k.labels_len = (uint16_t)len;
    long bi = bucket_of(h, &k);
    if (bi == -ENOSPC) {
        h->st.overflow_buckets++;
        bi = overflow_of(h, proc);
    }
    return bi;
}

/* The shared bucket's figures now (heap_bucket_totals: a free seen is never without its
 * allocation) less those of the last sync (*seen) into the session's bucket bi. */
static void add_since(struct heapmap *h, size_t bi, const struct heap_totals *now,
                      struct heap_totals *seen)
{
    uint64_t da = now->alloc_count - seen->alloc_count, dab = now->alloc_bytes - seen->alloc_bytes;
    uint64_t df = now->free_count - seen->free_count, dfb = now->free_bytes - seen->free_bytes;
    struct heapmap_bucket *b = &h->buckets[bi];
    /* modulo 2^64, as the counters: a resize may take free_bytes below its last value */
    b->alloc_count += da;
    b->alloc_bytes += dab;
    b->inuse_count += da - df;
    b->inuse_bytes += dab - dfb;
    h->st.allocs += da;
    h->st.frees += df;
    *seen = *now;
}

/* Shared bucket i (r->nbuckets: the overflow bucket), whose key is sb, as read so far (e). */
static int sync_bucket(struct heapmap *h, uint32_t proc, const struct ring *r, uint32_t i,
                       const struct heap_bucket *sb, struct shared_read *e, uint64_t skip_lo,
                       uint64_t skip_hi)
{
    struct heap_totals now;
    heap_bucket_totals(r, i, &now);
    if (!e->bucket) {
        /* (the overflow bucket, or one whose allocation is not counted yet: nothing to show) */
        if (!now.alloc_count)
            return 0;
        long bi = bucket_of_shared(h, proc, r, sb, skip_lo, skip_hi);
        if (bi < 0)
            return (int)bi;
        e->bucket = (uint32_t)bi + 1;
    }
    add_since(h, e->bucket - 1, &now, &e->seen);
    return 0;
}

int heapmap_sync(struct heapmap *h, uint32_t proc, const struct ring *r, uint64_t skip_lo,
                 uint64_t skip_hi)
{
    if (!r->hdr || !r->nbuckets)
        return 0;
    struct proc_sync *ps = proc_state(h, proc);
    if (!ps)
        return -ENOMEM;
    uint64_t made = atomic_load_explicit(&r->hdr->heap_buckets_made, memory_order_acquire);
    if (made > r->nbuckets)
        made = r->nbuckets;
    if (grow_zeroed((void **)&ps->e, &ps->cap, (size_t)made, sizeof *ps->e, 64) != 0)
        return -ENOMEM;
    for (size_t k = 0; k < made; k++) {
        uint32_t i = atomic_load_explicit(&r->bucket_order[k], memory_order_acquire);
        if (i == 0 || i > r->nbuckets ||
            !atomic_load_explicit(&r->buckets[i - 1].ready, memory_order_acquire))
            continue;   /* not written yet (or nonsense): read at the next sync */
        int err = sync_bucket(h, proc, r, i - 1, &r->buckets[i - 1], &ps->e[k], skip_lo, skip_hi);
        if (err)
            return err;
    }
    return sync_bucket(h, proc, r, r->nbuckets, &r->hdr->heap_overflow, &ps->overflow, skip_lo,
                       skip_hi);
}

void heapmap_end_proc(struct heapmap *h, uint32_t proc)
{
    if (proc >= h->nprocs)
        return;
    struct proc_sync *ps = &h->procs[proc];
    free(ps->e);
    *ps = (struct proc_sync){ 0 };
}

int heapmap_snapshot(const struct heapmap *h, int64_t at_ns, struct heapmap_snapshot *out)
{
    *out = (struct heapmap_snapshot){ .counts = NULL, .len = 0, .at_ns = at_ns };
    if (!h->len)
        return 0;
    struct heapmap_counts *c = malloc(h->len * sizeof *c);
    if (!c)
        return -ENOMEM;
    for (size_t i = 0; i < h->len; i++) {
        const struct heapmap_bucket *b = &h->buckets[i];
        c[i] = (struct heapmap_counts){ b->alloc_count, b->alloc_bytes, b->inuse_count,
                                        b->inuse_bytes };
    }
    out->counts = c;
    out->len = h->len;
    return 0;
}

size_t heapmap_len(const struct heapmap *h)
{
    return h->len;
}

const struct heapmap_bucket *heapmap_get(const struct heapmap *h, size_t i)
{
    return i < h->len ? &h->buckets[i] : NULL;
}

const uint64_t *heapmap_frames(const struct heapmap *h, const struct heapmap_bucket *b)
{
    return h->frames + b->frames;
}

const uint8_t *heapmap_labels(const struct heapmap *h, const struct heapmap_bucket *b)
{
    return h->labels + b->labels;
}

void heapmap_stats(const struct heapmap *h, struct heapmap_stats *out)
{
    *out = h->st;
    out->buckets = h->len;
    out->frames = h->nframes;
    out->bytes = sizeof *h + h->cap * sizeof *h->buckets + h->index_cap * sizeof *h->index +
                 h->frames_cap * sizeof *h->frames + h->labels_cap +
                 h->nprocs * sizeof *h->procs;
    for (size_t i = 0; i < h->nprocs; i++)
        out->bytes += h->procs[i].cap * sizeof *h->procs[i].e;
}

/* ---- un-sampling ---- */

/* exp(x) for x <= 0, as Go's pure-Go math.Exp (FreeBSD's e_exp.c): within one ulp. Here
 * rather than libm's exp, so that libgoprof.so needs no libm in every program it loads into. */
static double exp_neg(double x)
{
    static const double ln2hi = 6.93147180369123816490e-01, ln2lo = 1.90821492927058770002e-10,
                        log2e = 1.44269504088896338700e+00;
    static const double p1 = 1.66666666666666657415e-01, p2 = -2.77777777770155933842e-03,
                        p3 = 6.61375632143793436117e-05, p4 = -1.65339022054652515390e-06,
                        p5 = 4.13813679705723846039e-08;
    if (x < -708.0)
        return 0.0;   /* below the smallest normal: scale 1 */
    if (x > -3.725290298461914e-09)
        return 1.0 + x;
    int k = (int)(log2e * x - 0.5);
    double hi = x - k * ln2hi, lo = k * ln2lo;
    double r = hi - lo, t = r * r;
    double c = r - t * (p1 + t * (p2 + t * (p3 + t * (p4 + t * p5))));
    double y = 1 - ((lo - (r * c) / (2 - c)) - hi);
    /* y * 2^k, k in [-1022, 0] here: built from the exponent bits */
    uint64_t bits = (uint64_t)(k + 1023) << 52;
    double two_k;
    memcpy(&two_k, &bits, sizeof two_k);
    return y * two_k;
}

void heapmap_scale(uint64_t count, uint64_t bytes, uint64_t rate, int64_t *count_out,
                   int64_t *bytes_out)
{
    if (count == 0 || bytes == 0) {
        *count_out = *bytes_out = 0;
        return;
    }
    if (rate <= 1) {
        *count_out = (int64_t)count;
        *bytes_out = (int64_t)bytes;
        return;
    }
    double avg = (double)bytes / (double)count;
    double scale = 1 / (1 - exp_neg(-avg / (double)rate));
    *count_out = (int64_t)((double)count * scale);
    *bytes_out = (int64_t)((double)bytes * scale);
}
