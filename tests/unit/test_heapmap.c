/* test_heapmap.c -- C memory profiling's aggregation, reading the tables programs keep in their
 * rings: the four figures per bucket through allocations, frees and resizes counted as the
 * program counts them, syncs that add only what changed, several processes, one stack made
 * twice, labels in another order, skipped frames, the overflow bucket, a key that does not fit
 * the stores, ended processes, and Go's un-sampling checked against a hand computation; then a
 * random run against a plain model.
 * Context: tests
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "collector/heapmap.h"
#include "lib/base/record_flags.h"
#include "lib/ring/heap_buckets.h"
#include "lib/ring/ring.h"

/* A process: its ring as the program writes it, and as the collector maps it. */
struct proc {
    struct ring w, r;
};

static void proc_open(struct proc *p)
{
    int fd;
    char why[160];
    CHECK(ring_create(&p->w, 16, 1, &fd) == 0);
    CHECK(ring_attach(&p->r, fd, why, sizeof why) == 0);
    close(fd);
}

static void proc_close(struct proc *p)
{
    ring_destroy(&p->w);
    ring_destroy(&p->r);
}

static struct ring_record key;

/* The bucket of stack {leaf, 0x9000} (and labels lab: 0 none, 1 k=v, 2 k=v and a=b, 3 the same
 * two in the other order), as the program finds it. */
static struct heap_bucket *bucket(struct proc *p, uint64_t leaf, int lab)
{
    memset(&key, 0, offsetof(struct ring_record, pc));
    key.h.nframes = 2;
    key.pc[0] = leaf;
    key.pc[1] = 0x9000;
    static const uint8_t kv[] = { 1, 1, 0, 'k', 'v' }, ab[] = { 1, 1, 0, 'a', 'b' };
    if (lab) {
        memcpy(key.labels, lab == 3 ? ab : kv, sizeof kv);
        key.h.labels_len = sizeof kv;
    }
    if (lab >= 2) {
        memcpy(key.labels + sizeof kv, lab == 3 ? kv : ab, sizeof ab);
        key.h.labels_len += sizeof ab;
    }
    return heap_bucket_at(&p->w, heap_bucket_find(&p->w, &key));
}

/* Bucket b's counters (b may be the overflow bucket), each time in the next stripe, as threads
 * with other ids count: the reader adds them up. */
static struct heap_counts *counts_of(struct proc *p, struct heap_bucket *b)
{
    static uint32_t next_tid;
    uint32_t i = b == &p->w.hdr->heap_overflow ? p->w.nbuckets : (uint32_t)(b - p->w.buckets);
    return heap_counts_at(&p->w, i, next_tid++);
}

/* The session's bucket of process proc whose leaf is leaf (with labels or not). */
static const struct heapmap_bucket *find(const struct heapmap *h, uint32_t proc, uint64_t leaf,
                                         int lab)
{
    for (size_t i = 0; i < heapmap_len(h); i++) {
        const struct heapmap_bucket *b = heapmap_get(h, i);
        if (b->proc == proc && b->nframes && heapmap_frames(h, b)[0] == leaf &&
            (b->labels_len != 0) == lab)
            return b;
    }
    return NULL;
}

static const struct heapmap_bucket *find_overflow(const struct heapmap *h, uint32_t proc)
{
    for (size_t i = 0; i < heapmap_len(h); i++) {
        const struct heapmap_bucket *b = heapmap_get(h, i);
        if (b->proc == proc && (b->flags & HEAPMAP_OVERFLOW))
            return b;
    }
    return NULL;
}

static int figures(const struct heapmap_bucket *b, uint64_t ac, uint64_t ab, uint64_t ic,
                   uint64_t ib)
{
    if (!b)
        return 0;
    if (b->alloc_count == ac && b->alloc_bytes == ab && b->inuse_count == ic &&
        b->inuse_bytes == ib)
        return 1;
    fprintf(stderr, "  bucket of proc %u: %llu %llu %llu %llu, want %llu %llu %llu %llu\n",
            (unsigned)b->proc, (unsigned long long)b->alloc_count,
            (unsigned long long)b->alloc_bytes, (unsigned long long)b->inuse_count,
            (unsigned long long)b->inuse_bytes, (unsigned long long)ac, (unsigned long long)ab,
            (unsigned long long)ic, (unsigned long long)ib);
    return 0;
}

#define S1 0x1111
#define S2 0x2222

static void test_sync(void)
{
    struct heapmap *h = heapmap_new();
    struct heapmap_stats st;
    static struct proc p0, p1;
    CHECK(h != NULL);
    proc_open(&p0);
    proc_open(&p1);
    heap_bucket_count_alloc(counts_of(&p0, bucket(&p0, S1, 0)), 100);
    heap_bucket_count_alloc(counts_of(&p0, bucket(&p0, S1, 0)), 300);
    heap_bucket_count_alloc(counts_of(&p0, bucket(&p0, S2, 0)), 50);
    heap_bucket_count_free(counts_of(&p0, bucket(&p0, S1, 0)), 100);
    CHECK(heapmap_sync(h, 0, &p0.r, 0, 0) == 0);
    CHECK(heapmap_len(h) == 2);   /* the empty overflow bucket is not shown */
    CHECK(figures(find(h, 0, S1, 0), 2, 400, 1, 300));
    CHECK(figures(find(h, 0, S2, 0), 1, 50, 1, 50));
    /* a sync adds what changed since the last one, nothing twice */
    CHECK(heapmap_sync(h, 0, &p0.r, 0, 0) == 0);
    CHECK(figures(find(h, 0, S1, 0), 2, 400, 1, 300));
    heapmap_stats(h, &st);
    CHECK(st.allocs == 3 && st.frees == 1 && st.buckets == 2 && st.frames == 4);

    /* another process: the same stack is its own */
    heap_bucket_count_alloc(counts_of(&p1, bucket(&p1, S1, 0)), 64);
    CHECK(heapmap_sync(h, 1, &p1.r, 0, 0) == 0);
    CHECK(figures(find(h, 1, S1, 0), 1, 64, 1, 64));
    heap_bucket_count_free(counts_of(&p1, bucket(&p1, S1, 0)), 64);
    CHECK(heapmap_sync(h, 1, &p1.r, 0, 0) == 0);
    CHECK(figures(find(h, 1, S1, 0), 1, 64, 0, 0));
    CHECK(figures(find(h, 0, S1, 0), 2, 400, 1, 300));

    /* realloc: the 300-byte block grew to 1000, then shrank to 200: in-use follows, alloc
     * stays; then it is freed at its last size */
    heap_bucket_count_resize(counts_of(&p0, bucket(&p0, S1, 0)), 300, 1000);
    CHECK(heapmap_sync(h, 0, &p0.r, 0, 0) == 0);
    CHECK(figures(find(h, 0, S1, 0), 2, 400, 1, 1000));
    heap_bucket_count_resize(counts_of(&p0, bucket(&p0, S1, 0)), 1000, 200);
    CHECK(heapmap_sync(h, 0, &p0.r, 0, 0) == 0);
    CHECK(figures(find(h, 0, S1, 0), 2, 400, 1, 200));
    heap_bucket_count_free(counts_of(&p0, bucket(&p0, S1, 0)), 200);
    CHECK(heapmap_sync(h, 0, &p0.r, 0, 0) == 0);
    CHECK(figures(find(h, 0, S1, 0), 2, 400, 0, 0));

    /* labels make their own bucket; the same labels in another order are one bucket here
     * (two in the program) */
    heap_bucket_count_alloc(counts_of(&p0, bucket(&p0, S1, 2)), 8);
    heap_bucket_count_alloc(counts_of(&p0, bucket(&p0, S1, 3)), 16);
    CHECK(bucket(&p0, S1, 2) != bucket(&p0, S1, 3));
    CHECK(heapmap_sync(h, 0, &p0.r, 0, 0) == 0);
    CHECK(figures(find(h, 0, S1, 1), 2, 24, 2, 24));
    CHECK(figures(find(h, 0, S1, 0), 2, 400, 0, 0));

    /* one stack made twice in the program (two threads claimed two slots at once): one
     * bucket here. Made by hand: a second bucket with the same key in another slot. */
    struct heap_bucket *b1 = bucket(&p0, S2, 0);
    uint32_t i1 = (uint32_t)(b1 - p0.w.buckets), i2 = (i1 + 7) & (p0.w.nbuckets - 1);
    struct heap_bucket *b2 = &p0.w.buckets[i2];
    CHECK(atomic_load(&b2->hash) == 0);
    atomic_store(&b2->hash, atomic_load(&b1->hash) ^ 2);
    b2->nframes = b1->nframes;
    b2->frames = b1->frames;
    b2->flags = b1->flags;
    atomic_store(&b2->ready, 1);
    uint64_t k = atomic_fetch_add(&p0.w.hdr->heap_buckets_made, 1);
    atomic_store(&p0.w.bucket_order[k], i2 + 1);
    heap_bucket_count_alloc(counts_of(&p0, b2), 5);
    CHECK(heapmap_sync(h, 0, &p0.r, 0, 0) == 0);
    CHECK(figures(find(h, 0, S2, 0), 2, 55, 2, 55));

    /* a bucket made but not ready yet (its maker between claim and publish): read later */
    struct heap_bucket *b3 = bucket(&p0, 0x3333, 0);
    atomic_store(&b3->ready, 0);
    heap_bucket_count_alloc(counts_of(&p0, b3), 7);
    CHECK(heapmap_sync(h, 0, &p0.r, 0, 0) == 0);
    CHECK(find(h, 0, 0x3333, 0) == NULL);
    atomic_store(&b3->ready, 1);
    CHECK(heapmap_sync(h, 0, &p0.r, 0, 0) == 0);
    CHECK(figures(find(h, 0, 0x3333, 0), 1, 7, 1, 7));

    /* libgoprof's own frames (the interposer) are left out */
    memset(&key, 0, offsetof(struct ring_record, pc));
    key.h.nframes = 3;
    key.pc[0] = 0x70000010;
    key.pc[1] = 0x4444;
    key.pc[2] = 0x9000;
    heap_bucket_count_alloc(counts_of(&p1, heap_bucket_at(&p1.w, heap_bucket_find(&p1.w, &key))), 16);
    CHECK(heapmap_sync(h, 1, &p1.r, 0x70000000, 0x70001000) == 0);
    CHECK(figures(find(h, 1, 0x4444, 0), 1, 16, 1, 16));
    CHECK(find(h, 1, 0x4444, 0) && find(h, 1, 0x4444, 0)->nframes == 2);

    /* the program's overflow bucket (no stack): shown once it has counts */
    CHECK(find_overflow(h, 1) == NULL);
    heap_bucket_count_alloc(counts_of(&p1, heap_bucket_at(&p1.w, p1.w.nbuckets)), 1000);
    CHECK(heapmap_sync(h, 1, &p1.r, 0, 0) == 0);
    CHECK(figures(find_overflow(h, 1), 1, 1000, 1, 1000));

    /* a key whose stack lies past the frame store (a program that wrote nonsense): counted,
     * without its stack, and said */
    struct heap_bucket *bad = bucket(&p1, 0x5555, 0);
    bad->frames = p1.w.frame_words - 1;
    heap_bucket_count_alloc(counts_of(&p1, bad), 3);
    CHECK(heapmap_sync(h, 1, &p1.r, 0, 0) == 0);
    heapmap_stats(h, &st);
    CHECK(st.bad == 1);
    CHECK(figures(find_overflow(h, 1), 2, 1003, 2, 1003));

    /* process 0 ends: its figures stay (the leak report) */
    heap_bucket_count_alloc(counts_of(&p0, bucket(&p0, S2, 0)), 1);
    CHECK(heapmap_sync(h, 0, &p0.r, 0, 0) == 0);
    heapmap_end_proc(h, 0);
    proc_close(&p0);
    CHECK(figures(find(h, 0, S2, 0), 3, 56, 3, 56));
    CHECK(figures(find(h, 1, S1, 0), 1, 64, 0, 0));
    proc_close(&p1);
    heapmap_free(h);
}

/* Go's scaleHeapSample, by hand (python3: c*s, b*s with s = 1/(1-math.exp(-(b/c)/rate))). */
static void test_scale(void)
{
    int64_t c, b;
    heapmap_scale(2, 2097152, 524288, &c, &b);      /* avg 1 MiB, 2 rates: s = 1.15651764... */
    CHECK(c == 2 && b == 2425393);
    heapmap_scale(10, 1000, 524288, &c, &b);        /* avg 100: s = 5243.38001589... */
    CHECK(c == 52433 && b == 5243380);
    heapmap_scale(3, 12288, 524288, &c, &b);        /* avg 4096: s = 128.500651041... */
    CHECK(c == 385 && b == 1579015);
    heapmap_scale(3, 12288, 1, &c, &b);             /* rate 1: every allocation sampled */
    CHECK(c == 3 && b == 12288);
    heapmap_scale(3, 12288, 0, &c, &b);
    CHECK(c == 3 && b == 12288);
    heapmap_scale(0, 0, 524288, &c, &b);
    CHECK(c == 0 && b == 0);
    heapmap_scale(1, 1ull << 40, 4096, &c, &b);     /* exp underflows: scale 1 */
    CHECK(c == 1 && b == (int64_t)(1ull << 40));
}

/* A random mix of allocations, frees and resizes over 3 processes and 8 stacks, synced at random
 * moments, against a plain model of each bucket's four figures; one process ends midway. */
#define NBLK 4096
static void test_random(void)
{
    struct heapmap *h = heapmap_new();
    static struct proc p[3];
    static uint64_t size[3][NBLK];     /* 0: not live */
    static int stack[3][NBLK];
    uint64_t ac[3][8] = { { 0 } }, ab[3][8] = { { 0 } }, ic[3][8] = { { 0 } }, ib[3][8] = { { 0 } };
    for (int i = 0; i < 3; i++)
        proc_open(&p[i]);
    srand(7);
    int ended = 0;
    for (int i = 0; i < 200000; i++) {
        uint32_t proc = (uint32_t)(rand() % 3);
        if (proc == 1 && ended)
            continue;
        int a = rand() % NBLK, op = rand() % 3;
        if (!size[proc][a]) {
            int s = rand() % 8;
            uint64_t sz = 1 + (uint64_t)(rand() % 1000);
            heap_bucket_count_alloc(counts_of(&p[proc], bucket(&p[proc], 0x100 + (uint64_t)s, 0)), sz);
            size[proc][a] = sz;
            stack[proc][a] = s;
            ac[proc][s]++, ab[proc][s] += sz, ic[proc][s]++, ib[proc][s] += sz;
        } else if (op < 2) {
            int s = stack[proc][a];
            heap_bucket_count_free(counts_of(&p[proc], bucket(&p[proc], 0x100 + (uint64_t)s, 0)), size[proc][a]);
            ic[proc][s]--, ib[proc][s] -= size[proc][a];
            size[proc][a] = 0;
        } else {
            int s = stack[proc][a];
            uint64_t sz = 1 + (uint64_t)(rand() % 5000);
            heap_bucket_count_resize(counts_of(&p[proc], bucket(&p[proc], 0x100 + (uint64_t)s, 0)), size[proc][a], sz);
            ib[proc][s] = ib[proc][s] - size[proc][a] + sz;
            size[proc][a] = sz;
        }
        if (rand() % 5000 == 0)
            CHECK(heapmap_sync(h, proc, &p[proc].r, 0, 0) == 0);
        if (i == 100000) {   /* process 1 ends: a last sync, then it is forgotten */
            CHECK(heapmap_sync(h, 1, &p[1].r, 0, 0) == 0);
            heapmap_end_proc(h, 1);
            proc_close(&p[1]);
            ended = 1;
        }
    }
    for (uint32_t q = 0; q < 3; q += 2)
        CHECK(heapmap_sync(h, q, &p[q].r, 0, 0) == 0);
    int ok = 1;
    for (uint32_t q = 0; q < 3; q++)
        for (int s = 0; s < 8; s++) {
            const struct heapmap_bucket *b = find(h, q, 0x100 + (uint64_t)s, 0);
            ok &= b && b->alloc_count == ac[q][s] && b->alloc_bytes == ab[q][s] &&
                  b->inuse_count == ic[q][s] && b->inuse_bytes == ib[q][s];
        }
    CHECK(ok);
    struct heapmap_stats st;
    heapmap_stats(h, &st);
    CHECK(st.buckets == 24 && st.bad == 0);
    proc_close(&p[0]);
    proc_close(&p[2]);
    heapmap_free(h);
}

int main(void)
{
    test_sync();
    test_scale();
    test_random();
    return check_done();
}
