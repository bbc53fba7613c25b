/* heapmap.c -- sampled allocations by stack, and live sampled blocks by address (see heapmap.h).
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

/* The live table's least size. It grows at half full and shrinks at an eighth: the collector
 * looks up two random entries per sampled block (its record, its free) after sleeping between
 * drains, and a table of 2048-4096 entries (64-128 KiB) for a handful of live blocks took a
 * cache miss on nearly every lookup: 26-31 % of the collector's time on heapbench (perf). */
#define LIVE_MIN 256

/* A live sampled block. bucket: index + 1 (0: empty slot). */
struct live {
    uint64_t addr;
    uint64_t size;
    uint64_t pos;      /* its ALLOC's or MOVE's position in its process's ring */
    uint32_t proc;
    uint32_t bucket;
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
    struct live *live;          /* linear probing, backward-shift deletion */
    size_t live_cap, nlive;     /* power of two, at least twice nlive */
    uint32_t *proc_live;        /* live blocks per process image */
    size_t nprocs;
    struct heapmap_stats st;
};

struct heapmap *heapmap_new(void)
{
    struct heapmap *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->index_cap = 1024;
    h->live_cap = LIVE_MIN;
    h->index = calloc(h->index_cap, sizeof *h->index);
    h->live = calloc(h->live_cap, sizeof *h->live);
    if (!h->index || !h->live) {
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
    free(h->live);
    free(h->proc_live);
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

/* ---- live blocks ---- */

static size_t live_hash(uint32_t proc, uint64_t addr)
{
    return (size_t)gp_hash_u64(addr ^ (uint64_t)proc << 48);
}

static struct live *live_find(struct heapmap *h, uint32_t proc, uint64_t addr)
{
    size_t mask = h->live_cap - 1;
    for (size_t s = live_hash(proc, addr) & mask; h->live[s].bucket; s = (s + 1) & mask)
        if (h->live[s].addr == addr && h->live[s].proc == proc)
            return &h->live[s];
    return NULL;
}

static void live_put(struct live *tab, size_t cap, const struct live *e)
{
    size_t s = live_hash(e->proc, e->addr) & (cap - 1);
    while (tab[s].bucket)
        s = (s + 1) & (cap - 1);
    tab[s] = *e;
}

/* The table at cap entries (a power of two above nlive * 2). */
static int live_resize(struct heapmap *h, size_t cap)
{
    struct live *tab = calloc(cap, sizeof *tab);
    if (!tab)
        return -ENOMEM;
    for (size_t i = 0; i < h->live_cap; i++)
        if (h->live[i].bucket)
            live_put(tab, cap, &h->live[i]);
    free(h->live);
    h->live = tab;
    h->live_cap = cap;
    return 0;
}

/* After a burst of live blocks, back to a table that stays in cache: halved while an eighth
 * full or less (a quarter full after), not below LIVE_MIN; out of memory, it stays as large. */
static void live_shrink(struct heapmap *h)
{
    while (h->live_cap > LIVE_MIN && h->nlive * 8 < h->live_cap &&
           live_resize(h, h->live_cap / 2) == 0)
        ;
}

/* Removes the entry at e (a pointer into the table), shifting its cluster back. */
static void live_remove(struct heapmap *h, struct live *e)
{
    size_t mask = h->live_cap - 1, hole = (size_t)(e - h->live);
    if (e->proc < h->nprocs && h->proc_live[e->proc])
        h->proc_live[e->proc]--;
    h->nlive--;
    for (size_t s = (hole + 1) & mask; h->live[s].bucket; s = (s + 1) & mask) {
        size_t home = live_hash(h->live[s].proc, h->live[s].addr) & mask;
        /* the entry may move to the hole if its home is not in (hole, s] cyclically */
        if (((s - home) & mask) >= ((s - hole) & mask)) {
            h->live[hole] = h->live[s];
            hole = s;
        }
    }
    memset(&h->live[hole], 0, sizeof h->live[hole]);
}

static int proc_room(struct heapmap *h, uint32_t proc)
{
    if (proc < h->nprocs)
        return 0;
    size_t n = h->nprocs ? h->nprocs : 16;
    while (n <= proc)
        n *= 2;
    uint32_t *p = realloc(h->proc_live, n * sizeof *p);
    if (!p)
        return -ENOMEM;
    memset(p + h->nprocs, 0, (n - h->nprocs) * sizeof *p);
    h->proc_live = p;
    h->nprocs = n;
    return 0;
}

/* The block at e leaves in-use (freed, or found freed). */
static void release(struct heapmap *h, struct live *e)
{
    struct heapmap_bucket *b = &h->buckets[e->bucket - 1];
    if (b->inuse_count)
        b->inuse_count--;
    b->inuse_bytes = b->inuse_bytes >= e->size ? b->inuse_bytes - e->size : 0;
    live_remove(h, e);
    live_shrink(h);
}

/* A live block at (proc, addr) of bucket bi: 0, or -ENOSPC (the table is full). */
static int track(struct heapmap *h, uint32_t proc, uint64_t addr, uint64_t size, uint64_t pos,
                 size_t bi)
{
    if (h->nlive >= HEAPMAP_MAX_LIVE)
        return -ENOSPC;
    if ((h->nlive + 1) * 2 > h->live_cap && live_resize(h, h->live_cap * 2) != 0)
        return -ENOSPC;
    if (proc_room(h, proc) != 0)
        return -ENOSPC;
    struct live e = { addr, size, pos, proc, (uint32_t)(bi + 1) };
    live_put(h->live, h->live_cap, &e);
    h->nlive++;
    h->proc_live[proc]++;
    return 0;
}

/* ---- events ---- */

static int on_alloc(struct heapmap *h, uint32_t proc, const struct ring_record *rec,
                    uint64_t pos, uint64_t skip_lo, uint64_t skip_hi)
{
    uint64_t pcs[GP_RING_MAX_FRAMES];
    uint8_t labels[GP_RING_LABEL_BYTES];
    size_t n = 0;
    size_t nf = rec->nframes <= GP_RING_MAX_FRAMES ? rec->nframes : GP_RING_MAX_FRAMES;
    for (size_t i = 0; i < nf; i++) {
        uint64_t pc = rec->pc[i] & ~GP_PC_EXACT;
        if (pc >= skip_lo && pc < skip_hi)
            continue;
        pcs[n++] = rec->pc[i];
    }
    struct bucket_key k = {
        .proc = proc, .labels_left = rec->labels_left, .pcs = pcs, .n = n, .labels = labels,
        .flags = (uint16_t)(rec->flags & ~(GP_REC_HEAP_MOVE | HEAPMAP_OVERFLOW)),
    };
    int nl = rec->labels_len && rec->labels_len <= GP_RING_LABEL_BYTES
                 ? ring_labels_canonical(rec->labels, rec->labels_len, labels)
                 : rec->labels_len ? -1 : 0;
    if (nl < 0) {
        nl = 0;
        k.labels_left = 0xffff;
    }
    k.labels_len = (uint16_t)nl;
    long bi = bucket_of(h, &k);
    if (bi == -ENOSPC) {
        struct bucket_key over = { .proc = proc, .flags = HEAPMAP_OVERFLOW };
        h->st.overflow_allocs++;
        bi = bucket_of(h, &over);
    }
    if (bi < 0)
        return (int)bi;
    /* The address is live already: its free is still in the free log (read after the
     * records), or was lost. It leaves in-use now; its free, when it comes, finds a newer
     * block and is a late one. */
    struct live *old = live_find(h, proc, rec->heap_addr);
    if (old) {
        release(h, old);
        h->st.replaced++;
    }
    struct heapmap_bucket *b = &h->buckets[bi];
    b->alloc_count++;
    b->alloc_bytes += rec->heap_size;
    h->st.allocs++;
    if (track(h, proc, rec->heap_addr, rec->heap_size, pos, (size_t)bi) != 0) {
        h->st.untracked++;
        return 0;
    }
    b->inuse_count++;
    b->inuse_bytes += rec->heap_size;
    return 0;
}

void heapmap_free_block(struct heapmap *h, uint32_t proc, uint64_t addr, uint64_t pos)
{
    struct live *e = live_find(h, proc, addr);
    if (!e) {
        h->st.unknown_frees++;
        return;
    }
    if (e->pos >= pos) {   /* a block allocated there after this free */
        h->st.late_frees++;
        return;
    }
    release(h, e);
    h->st.frees++;
}

static void on_move(struct heapmap *h, uint32_t proc, uint64_t from, uint64_t to, uint64_t size,
                    uint64_t pos)
{
    struct live *e = live_find(h, proc, from);
    if (!e) {
        h->st.unknown_moves++;
        return;
    }
    h->st.moves++;
    struct live moved = *e;
    struct heapmap_bucket *b = &h->buckets[moved.bucket - 1];
    b->inuse_bytes = (b->inuse_bytes >= moved.size ? b->inuse_bytes - moved.size : 0) + size;
    live_remove(h, e);
    if (from != to) {
        struct live *stale = live_find(h, proc, to);
        if (stale) {
            release(h, stale);
            h->st.replaced++;
        }
    }
    /* Room is certain: one entry just left. */
    track(h, proc, to, size, pos, moved.bucket - 1);
}

int heapmap_add(struct heapmap *h, uint32_t proc, const struct ring_record *rec, uint64_t pos,
                uint64_t skip_lo, uint64_t skip_hi)
{
    switch (rec->flags & GP_REC_HEAP_MOVE) {
    case GP_REC_HEAP_ALLOC:
        return on_alloc(h, proc, rec, pos, skip_lo, skip_hi);
    case GP_REC_HEAP_FREE:
        heapmap_free_block(h, proc, rec->heap_addr, pos);
        return 0;
    case GP_REC_HEAP_MOVE:
        on_move(h, proc, rec->heap_old, rec->heap_addr, rec->heap_size, pos);
        return 0;
    default:
        h->st.bad++;
        return 0;
    }
}

void heapmap_end_proc(struct heapmap *h, uint32_t proc)
{
    if (proc >= h->nprocs || !h->proc_live[proc])
        return;
    /* Removing shifts entries back into slots already passed: restart the slot until it holds
     * another process's entry or none. */
    for (size_t s = 0; s < h->live_cap && h->proc_live[proc];) {
        if (h->live[s].bucket && h->live[s].proc == proc)
            live_remove(h, &h->live[s]);
        else
            s++;
    }
    live_shrink(h);
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
    out->live = h->nlive;
    out->frames = h->nframes;
    out->bytes = sizeof *h + h->cap * sizeof *h->buckets + h->index_cap * sizeof *h->index +
                 h->frames_cap * sizeof *h->frames + h->labels_cap +
                 h->live_cap * sizeof *h->live + h->nprocs * sizeof *h->proc_live;
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
