/* test_ring.c -- the ring's protocol: order, wrap, full ring, at most one lap per read, torn
 * slots, concurrent writers; the reader's header check, with the heap table's geometry; the
 * heap table's writer side (lib/ring/heap_buckets.h): a key's bucket, its stored stack and
 * labels, the order of buckets made, the counters, a full probe sequence and full stores, and
 * writers making the same keys at once.
 * Context: tests
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "lib/ring/heap_buckets.h"
#include "lib/ring/ring.h"

struct seen {
    uint64_t n;
    uint64_t last[8];     /* per writer: last sequence number read */
    int order_ok;
    uint64_t next_pos;    /* the position the next record must have */
};

static void collect(const struct ring_record *rec, uint64_t pos, void *ctx)
{
    struct seen *s = ctx;
    if (pos < s->next_pos)
        s->order_ok = 0;
    s->next_pos = pos + 1;
    uint32_t writer = rec->h.tid;
    uint64_t seq = rec->h.goid;
    if (writer < 8) {
        if (seq != s->last[writer] + 1)
            s->order_ok = 0;
        s->last[writer] = seq;
    }
    s->n++;
}

static int put(struct ring *r, uint32_t writer, uint64_t seq)
{
    uint64_t pos;
    struct ring_slot *rec = ring_reserve(r, &pos);
    if (!rec) {
        ring_drop(r, GP_DROP_RING_FULL, 1);
        return 0;
    }
    rec->h.tid = writer;
    rec->h.weight = 1;
    rec->h.goid = seq;
    rec->h.nframes = 1;
    rec->pc[0] = seq;
    ring_commit(r, pos);
    return 1;
}

/* A ring as a process makes it (heap: with C memory profiling's table); its memfd is not
 * needed here. */
static int create(struct ring *r, uint32_t n, int heap)
{
    int fd = -1;
    int err = ring_create(r, n, heap, &fd);
    if (fd >= 0)
        close(fd);
    return err;
}

/* A reader's callback that writes one more record for each one it reads, up to stop (so that
 * a read past one lap ends in a failed check, not a hang). */
struct refill {
    struct seen *s;
    struct ring *r;
    uint64_t next, stop;   /* the next sequence number to write; the first not to */
    int put_ok;            /* 1 while every put found room */
};

static void collect_refill(const struct ring_record *rec, uint64_t pos, void *ctx)
{
    struct refill *f = ctx;
    collect(rec, pos, f->s);
    if (f->next < f->stop) {
        f->put_ok &= put(f->r, 0, f->next);
        f->next++;
    }
}

static void test_basic_and_wrap(void)
{
    struct ring r;
    CHECK(create(&r, 60, 0) == 0);
    CHECK(r.hdr->nslots == 64);                 /* rounded up to a power of two */
    struct seen s = { .order_ok = 1 };
    for (uint64_t lap = 0; lap < 5; lap++) {    /* 5 laps of 50: wraps several times */
        for (uint64_t i = 1; i <= 50; i++)
            CHECK(put(&r, 0, lap * 50 + i));
        CHECK(ring_read(&r, collect, &s) == 50);
    }
    CHECK(s.n == 250 && s.order_ok && s.last[0] == 250);
    CHECK(ring_read(&r, collect, &s) == 0);
    /* A writer that keeps pace with the reader (one record written per record read, 10
     * ahead) never lets the ring run dry: a read still stops after one lap (64), and the 10
     * written meanwhile follow, in order, at the next read. */
    for (uint64_t i = 251; i <= 260; i++)
        CHECK(put(&r, 0, i));
    struct refill f = { .s = &s, .r = &r, .next = 261, .stop = 261 + 3 * 64, .put_ok = 1 };
    CHECK(ring_read(&r, collect_refill, &f) == 64);
    CHECK(f.put_ok && f.next == 261 + 64 && s.last[0] == 250 + 64 && s.order_ok);
    CHECK(ring_read(&r, collect, &s) == 10 && s.last[0] == 324 && s.order_ok);
    CHECK(ring_read(&r, collect, &s) == 0 && s.n == 324);
    ring_destroy(&r);
}

static void test_full(void)
{
    struct ring r;
    CHECK(create(&r, 64, 0) == 0);
    int stored = 0;
    for (int i = 1; i <= 100; i++)
        stored += put(&r, 0, (uint64_t)i);
    CHECK(stored == 64);
    CHECK(atomic_load(&r.hdr->drops[GP_DROP_RING_FULL]) == 36);
    struct seen s = { .order_ok = 1 };
    CHECK(ring_read(&r, collect, &s) == 64);
    CHECK(s.order_ok && s.last[0] == 64);
    CHECK(put(&r, 0, 65));                       /* space again after the read */
    ring_destroy(&r);
}

static void test_torn(void)
{
    struct ring r;
    CHECK(create(&r, 64, 0) == 0);
    struct seen s = { .order_ok = 1 };
    CHECK(put(&r, 0, 1));
    uint64_t pos;
    CHECK(ring_reserve(&r, &pos) != NULL);       /* a writer that never commits */
    CHECK(put(&r, 0, 2));
    CHECK(ring_read(&r, collect, &s) == 1);      /* stops at the uncommitted slot */
    CHECK(ring_reader_skip_stalled(&r) == 1);
    CHECK(ring_read(&r, collect, &s) == 1);
    CHECK(s.last[0] == 2 && s.order_ok);
    CHECK(atomic_load(&r.hdr->drops[GP_DROP_TORN]) == 1);
    ring_destroy(&r);
}

/* A slot reserved and then given up (weight 0): consumed, not handed on, not counted as bad;
 * a record of weight 0 with anything else in it is still nothing. A bad record is counted. */
static void test_given_up(void)
{
    struct ring r;
    CHECK(create(&r, 64, 0) == 0);
    struct seen s = { .order_ok = 1 };
    CHECK(put(&r, 0, 1));
    uint64_t pos;
    struct ring_slot *rec = ring_reserve(&r, &pos);
    CHECK(rec != NULL);
    rec->h.weight = 0;
    rec->h.nframes = 9999;
    ring_commit(&r, pos);
    CHECK(put(&r, 0, 2));
    rec = ring_reserve(&r, &pos);
    CHECK(rec != NULL);
    rec->h.weight = 1;
    rec->h.nframes = GP_RING_MAX_FRAMES + 1;
    ring_commit(&r, pos);
    CHECK(ring_read(&r, collect, &s) == 4);
    CHECK(s.n == 2 && s.last[0] == 2 && s.order_ok);
    CHECK(atomic_load(&r.hdr->drops[GP_DROP_BAD_RECORD]) == 1);
    ring_destroy(&r);
}

#define WRITERS 4
#define PER_WRITER 200000

static struct ring shared;
static atomic_int writers_done;

static void *writer(void *arg)
{
    uint32_t id = (uint32_t)(uintptr_t)arg;
    uint64_t seq = 1;
    while (seq <= PER_WRITER)
        if (put(&shared, id, seq))
            seq++;
        else
            atomic_fetch_sub(&shared.hdr->drops[GP_DROP_RING_FULL], 1);  /* retry, not a loss */
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

static void test_concurrent(void)
{
    CHECK(create(&shared, 256, 0) == 0);
    pthread_t t[WRITERS];
    for (uintptr_t i = 0; i < WRITERS; i++)
        pthread_create(&t[i], NULL, writer, (void *)i);
    struct seen s = { .order_ok = 1 };
    while (atomic_load(&writers_done) < WRITERS)
        ring_read(&shared, collect, &s);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(t[i], NULL);
    ring_read(&shared, collect, &s);
    CHECK(s.n == (uint64_t)WRITERS * PER_WRITER);
    CHECK(s.order_ok);                           /* each writer's records arrive in order */
    for (int i = 0; i < WRITERS; i++)
        CHECK(s.last[i] == PER_WRITER);
    CHECK(atomic_load(&shared.hdr->drops[GP_DROP_RING_FULL]) == 0);
    ring_destroy(&shared);
}

/* A good ring passes; each field the reader depends on, changed, is refused with a reason. */
static void test_check(void)
{
    struct ring r;
    char why[160];
    CHECK(create(&r, 64, 0) == 0);
    CHECK(ring_check(&r, why, sizeof why) == 0);

    r.hdr->magic = 0x12345678u;
    CHECK(ring_check(&r, why, sizeof why) == -EPROTO && strstr(why, "magic 0x12345678"));
    r.hdr->magic = GP_RING_MAGIC;

    r.hdr->version = GP_RING_VERSION - 1;
    CHECK(ring_check(&r, why, sizeof why) == -EPROTO && strstr(why, "version"));
    r.hdr->version = GP_RING_VERSION + 1;
    CHECK(ring_check(&r, why, sizeof why) == -EPROTO && strstr(why, "version"));
    r.hdr->version = GP_RING_VERSION;

    r.hdr->slot_size = (uint32_t)sizeof(struct ring_slot) / 2;
    CHECK(ring_check(&r, why, sizeof why) == -EPROTO && strstr(why, "-byte slots"));
    r.hdr->slot_size = (uint32_t)sizeof(struct ring_slot);

    r.hdr->nslots = 128;   /* more than mapped, and the mask disagrees */
    CHECK(ring_check(&r, why, sizeof why) == -EPROTO && strstr(why, "slots"));
    r.hdr->mask = 127;     /* consistent, but still more than mapped */
    CHECK(ring_check(&r, why, sizeof why) == -EPROTO);
    r.hdr->nslots = 48;
    r.hdr->mask = 47;      /* not a power of two */
    CHECK(ring_check(&r, why, sizeof why) == -EPROTO);
    r.hdr->nslots = 64;
    r.hdr->mask = 63;
    CHECK(ring_check(&r, why, sizeof why) == 0 && r.nbuckets == 0 && r.buckets == NULL);

    /* A header that claims a heap table the mapping has no room for (this ring was made
     * without one): the reader would read past the end. */
    r.hdr->heap_buckets = GP_HEAP_BUCKETS;
    r.hdr->heap_frame_words = GP_HEAP_FRAME_WORDS;
    r.hdr->heap_label_bytes = GP_HEAP_LABEL_BYTES;
    CHECK(ring_check(&r, why, sizeof why) == -EPROTO && strstr(why, "heap table"));
    CHECK(r.nbuckets == 0 && r.buckets == NULL);     /* the refused geometry is not taken */
    /* no buckets but stores: not "no table" either */
    r.hdr->heap_buckets = 0;
    CHECK(ring_check(&r, why, sizeof why) == -EPROTO && strstr(why, "heap table"));
    r.hdr->heap_frame_words = 0;
    r.hdr->heap_label_bytes = 0;
    CHECK(ring_check(&r, why, sizeof why) == 0 && r.nbuckets == 0);
    ring_destroy(&r);
}

/* A ring with the heap table: attached by a reader, which finds the table after the slots, in
 * the order heap_buckets.h gives, inside the mapping; a geometry other than this reader's, or
 * slots grown into the table, is refused. */
static void test_check_heap(void)
{
    struct ring w, r;
    char why[160];
    int fd = -1;
    CHECK(ring_create(&w, 64, 1, &fd) == 0);
    CHECK(w.nbuckets == GP_HEAP_BUCKETS && w.hdr->heap_buckets == GP_HEAP_BUCKETS);
    CHECK(ring_attach(&r, fd, why, sizeof why) == 0);
    CHECK(r.nslots == 64 && r.nbuckets == GP_HEAP_BUCKETS &&
          r.frame_words == GP_HEAP_FRAME_WORDS && r.label_bytes == GP_HEAP_LABEL_BYTES);
    const char *base = (const char *)r.hdr, *end = base + r.map_size;
    CHECK((const char *)r.spills == (const char *)(r.slots + r.nslots));
    CHECK((const char *)r.buckets == (const char *)(r.spills + r.nslots));
    CHECK((const char *)r.bucket_order == (const char *)(r.buckets + r.nbuckets));
    CHECK((const char *)r.heap_frames == (const char *)(r.bucket_order + r.nbuckets));
    CHECK((const char *)r.heap_labels == (const char *)(r.heap_frames + r.frame_words));
    CHECK((const char *)r.heap_counts == (const char *)(r.heap_labels + r.label_bytes));
    const char *counts_end =
        (const char *)(r.heap_counts + GP_HEAP_STRIPES * heap_counts_row(r.nbuckets));
    CHECK((const char *)r.buckets > base && counts_end <= end);
    CHECK((uint64_t)(counts_end - (const char *)r.buckets) == heap_buckets_region_bytes());
    /* the same table seen from both sides: what the writer stores, the reader reads there */
    static struct ring_record key;
    key.h.nframes = 1;
    key.pc[0] = 0x401000;
    uint32_t i = heap_bucket_find(&w, &key);
    CHECK(i < w.nbuckets && atomic_load(&r.buckets[i].ready) == 1);
    CHECK(atomic_load(&r.buckets[i].hash) == atomic_load(&w.buckets[i].hash));
    CHECK(r.heap_frames[r.buckets[i].frames] == 0x401000 &&
          atomic_load(&r.bucket_order[0]) == i + 1);

    /* another table size, or other stores: not what this reader reads */
    r.hdr->heap_buckets = GP_HEAP_BUCKETS / 2;
    CHECK(ring_check(&r, why, sizeof why) == -EPROTO && strstr(why, "heap table"));
    r.hdr->heap_buckets = GP_HEAP_BUCKETS * 2;
    CHECK(ring_check(&r, why, sizeof why) == -EPROTO && strstr(why, "heap table"));
    r.hdr->heap_buckets = GP_HEAP_BUCKETS;
    r.hdr->heap_frame_words = GP_HEAP_FRAME_WORDS + 1;
    CHECK(ring_check(&r, why, sizeof why) == -EPROTO && strstr(why, "heap table"));
    r.hdr->heap_frame_words = GP_HEAP_FRAME_WORDS;
    r.hdr->heap_label_bytes = 0;
    CHECK(ring_check(&r, why, sizeof why) == -EPROTO && strstr(why, "heap table"));
    r.hdr->heap_label_bytes = GP_HEAP_LABEL_BYTES;
    /* more slots, still inside the mapping, but then the table would run past its end */
    r.hdr->nslots = 128;
    r.hdr->mask = 127;
    CHECK(ring_check(&r, why, sizeof why) == -EPROTO && strstr(why, "heap table"));
    r.hdr->nslots = 64;
    r.hdr->mask = 63;
    CHECK(ring_check(&r, why, sizeof why) == 0 && r.nbuckets == GP_HEAP_BUCKETS &&
          (const char *)r.buckets == (const char *)(r.spills + 64));
    ring_destroy(&r);
    ring_destroy(&w);
    close(fd);
}

/* ---- the heap table's writer side ---- */

/* Labels as a record holds them ({ klen, vlen, cut, key, value }: NUL bytes inside), and
 * their length. */
#define LABELS(lit) lit, (uint16_t)(sizeof lit - 1)

/* Fills the scratch key a sampled allocation fills (a record is 8 KiB: the callers' are
 * static). */
static void set_key(struct ring_record *k, uint16_t nframes, uint64_t pc0, uint16_t flags,
                    const char *labels, uint16_t labels_len, uint16_t labels_left)
{
    k->h.nframes = nframes;
    for (uint16_t f = 0; f < nframes; f++)
        k->pc[f] = pc0 + f * 0x10;
    k->h.flags = flags;
    k->h.labels_len = labels_len;
    memcpy(k->labels, labels, labels_len);
    k->h.labels_left = labels_left;
}

/* Whether bucket b holds key k: its stack and labels as stored, its flags. */
static int bucket_holds(const struct ring *r, const struct heap_bucket *b,
                        const struct ring_record *k)
{
    if (atomic_load(&b->ready) != 1 || b->nframes != k->h.nframes || b->flags != k->h.flags ||
        b->labels_len != k->h.labels_len || b->labels_left != k->h.labels_left ||
        (uint64_t)b->frames + b->nframes > r->frame_words ||
        (uint64_t)b->labels + b->labels_len > r->label_bytes)
        return 0;
    return memcmp(r->heap_frames + b->frames, k->pc, b->nframes * sizeof(uint64_t)) == 0 &&
           memcmp(r->heap_labels + b->labels, k->labels, b->labels_len) == 0;
}

/* A key's bucket: found again for the same key, another for any change of stack, flags or
 * labels; made with its key stored, in the order of buckets made; the counters. */
static void test_heap_buckets(void)
{
    struct ring r;
    CHECK(create(&r, 16, 1) == 0);
    CHECK(r.nbuckets == GP_HEAP_BUCKETS && atomic_load(&r.hdr->heap_buckets_made) == 0);
    static struct ring_record k;
    uint32_t idx[16];
    int n = 0;

    set_key(&k, 3, 0x401000, 0, LABELS(""), 0);
    idx[n++] = heap_bucket_find(&r, &k);
    CHECK(idx[0] < r.nbuckets);
    struct heap_bucket *b = heap_bucket_at(&r, idx[0]);
    CHECK(b == &r.buckets[idx[0]]);
    CHECK(atomic_load(&b->ready) == 1 && atomic_load(&b->hash) != 0);
    CHECK(bucket_holds(&r, b, &k) && b->frames == 0);
    CHECK(r.heap_frames[0] == 0x401000 && r.heap_frames[2] == 0x401020);
    CHECK(atomic_load(&r.hdr->heap_buckets_made) == 1 &&
          atomic_load(&r.bucket_order[0]) == idx[0] + 1);
    CHECK(atomic_load(&r.hdr->heap_frames_used) == 3);
    CHECK(heap_bucket_find(&r, &k) == idx[0]);   /* the same key: found, not made again */
    /* what lies past nframes and labels_len is not the key */
    k.pc[3] = 0xdead;
    k.labels[0] = 'x';
    CHECK(heap_bucket_find(&r, &k) == idx[0]);
    CHECK(atomic_load(&r.hdr->heap_buckets_made) == 1);

    /* each change makes another bucket: another frame, a prefix of the stack, flags, labels,
     * other labels of the same length, labels left out, no stack at all */
    set_key(&k, 3, 0x401000, 0, LABELS(""), 0);
    k.pc[1] = 0x402000;
    idx[n++] = heap_bucket_find(&r, &k);
    set_key(&k, 2, 0x401000, 0, LABELS(""), 0);
    idx[n++] = heap_bucket_find(&r, &k);
    set_key(&k, 3, 0x401000, GP_REC_TRUNCATED, LABELS(""), 0);
    idx[n++] = heap_bucket_find(&r, &k);
    set_key(&k, 3, 0x401000, 0, LABELS("\x01\x01\x00kv"), 0);
    idx[n++] = heap_bucket_find(&r, &k);
    b = heap_bucket_at(&r, idx[n - 1]);
    CHECK(bucket_holds(&r, b, &k) && b->labels == 0 && r.heap_labels[3] == 'k');
    set_key(&k, 3, 0x401000, 0, LABELS("\x01\x01\x00kw"), 0);
    idx[n++] = heap_bucket_find(&r, &k);
    b = heap_bucket_at(&r, idx[n - 1]);
    CHECK(bucket_holds(&r, b, &k) && b->labels == 5);           /* after the first labels */
    set_key(&k, 3, 0x401000, 0, LABELS("\x01\x01\x00kv"), 1);
    idx[n++] = heap_bucket_find(&r, &k);
    set_key(&k, 0, 0, 0, LABELS(""), 0);
    idx[n++] = heap_bucket_find(&r, &k);
    CHECK(bucket_holds(&r, heap_bucket_at(&r, idx[n - 1]), &k));
    int distinct = 1, ordered = 1;
    for (int a = 0; a < n; a++) {
        distinct &= idx[a] < r.nbuckets;
        for (int c = 0; c < a; c++)
            distinct &= idx[a] != idx[c];
        ordered &= atomic_load(&r.bucket_order[a]) == idx[a] + 1;
    }
    CHECK(distinct && ordered);
    CHECK(atomic_load(&r.hdr->heap_buckets_made) == (uint64_t)n);
    CHECK(atomic_load(&r.bucket_order[n]) == 0);                /* none made past them */
    CHECK(atomic_load(&r.hdr->heap_frames_used) == 3 + 3 + 2 + 3 + 3 + 3 + 3 + 0);
    CHECK(atomic_load(&r.hdr->heap_labels_used) == 15);
    /* the first key again, after the others */
    set_key(&k, 3, 0x401000, 0, LABELS(""), 0);
    CHECK(heap_bucket_find(&r, &k) == idx[0]);
    CHECK(atomic_load(&r.hdr->heap_drops[GP_HEAP_DROP_NO_BUCKET]) == 0);

    /* counters: in-use is alloc - free, a resize moves free_bytes by old - new (mod 2^64);
     * each thread counts in its stripe (tid % GP_HEAP_STRIPES), the totals add them up */
    struct heap_totals t;
    struct heap_counts *c = heap_counts_at(&r, idx[0], 3);
    struct heap_counts *c2 = heap_counts_at(&r, idx[0], 3 + GP_HEAP_STRIPES);   /* the same */
    struct heap_counts *c3 = heap_counts_at(&r, idx[0], 6);                     /* another */
    CHECK(c2 == c && c3 != c && heap_counts_at(&r, idx[1], 3) != c);
    heap_bucket_count_alloc(c, 100);
    heap_bucket_count_alloc(c3, 28);
    CHECK(atomic_load(&c->alloc_count) == 1 && atomic_load(&c3->alloc_bytes) == 28);
    heap_bucket_totals(&r, idx[0], &t);
    CHECK(t.alloc_count == 2 && t.alloc_bytes == 128 && t.free_count == 0 && t.free_bytes == 0);
    heap_bucket_count_resize(c, 28, 50);                        /* grown: below zero */
    heap_bucket_totals(&r, idx[0], &t);
    CHECK(t.free_bytes == (uint64_t)0 - 22 && t.alloc_bytes - t.free_bytes == 150);
    heap_bucket_count_free(c3, 100);                            /* freed in another stripe */
    heap_bucket_totals(&r, idx[0], &t);
    CHECK(t.free_count == 1 && t.free_bytes == 78);
    heap_bucket_count_resize(c2, 50, 20);                       /* shrunk */
    heap_bucket_totals(&r, idx[0], &t);
    CHECK(t.free_bytes == 108 && t.alloc_count == 2);
    heap_bucket_count_free(heap_counts_at(&r, idx[0], 0), 20);
    heap_bucket_totals(&r, idx[0], &t);
    CHECK(t.free_count == 2 && t.alloc_bytes == 128 && t.free_bytes == 128);   /* all freed */
    heap_bucket_totals(&r, idx[1], &t);
    CHECK(t.alloc_count == 0 && t.free_bytes == 0);

    /* the overflow bucket: its key in the header, its counters after the others' */
    CHECK(heap_bucket_at(&r, r.nbuckets) == &r.hdr->heap_overflow);
    heap_bucket_count_alloc(heap_counts_at(&r, r.nbuckets, 5), 7);
    heap_bucket_totals(&r, r.nbuckets, &t);
    CHECK(t.alloc_count == 1 && t.alloc_bytes == 7);
    /* every stripe's counters lie inside the mapping, apart from every other's */
    const char *end = (const char *)r.hdr + r.map_size;
    CHECK((const char *)(heap_counts_at(&r, r.nbuckets, GP_HEAP_STRIPES - 1) + 1) <= end &&
          (const char *)heap_counts_at(&r, 0, 0) >= (const char *)(r.heap_labels + r.label_bytes));
    for (uint32_t s = 1; s < GP_HEAP_STRIPES; s++)
        CHECK(heap_counts_at(&r, 0, s) > heap_counts_at(&r, r.nbuckets, s - 1) &&
              (uintptr_t)heap_counts_at(&r, 0, s) % 64 == 0);
    ring_destroy(&r);
}

/* Full: a key whose GP_HEAP_BUCKET_PROBES slots are all taken gets the overflow bucket, counted
 * as a drop; a key whose stack no longer fits the store gets a bucket without its stack; a
 * table filled by keys ends in the overflow bucket too. */
static void test_heap_bucket_fill(void)
{
    struct ring r;
    static struct ring_record k;
    CHECK(create(&r, 16, 1) == 0);
    uint64_t mask = r.nbuckets - 1;
    /* A key whose first slot is near the end, so that its probes wrap to slot 0: the first
     * slot is its hash's low bits, as heap_buckets.h says. */
    uint64_t hash = 0, home = 0;
    for (uint64_t pc = 0x500000; home < r.nbuckets - GP_HEAP_BUCKET_PROBES / 2; pc += 0x10) {
        set_key(&k, 1, pc, 0, LABELS(""), 0);
        struct heap_bucket *b = heap_bucket_at(&r, heap_bucket_find(&r, &k));
        hash = atomic_load(&b->hash);
        home = hash & mask;
    }
    ring_destroy(&r);
    CHECK(create(&r, 16, 1) == 0);
    /* every slot of its probe sequence taken by another key: the low bit makes each differ */
    for (uint64_t p = 0; p < GP_HEAP_BUCKET_PROBES; p++)
        atomic_store(&r.buckets[(home + p) & mask].hash, hash ^ (p << 1 | 1));
    CHECK(heap_bucket_find(&r, &k) == r.nbuckets);
    CHECK(atomic_load(&r.hdr->heap_drops[GP_HEAP_DROP_NO_BUCKET]) == 1);
    CHECK(atomic_load(&r.hdr->heap_buckets_made) == 0);
    /* the last of them free again: the key lands there, past the wrap */
    uint64_t last = (home + GP_HEAP_BUCKET_PROBES - 1) & mask;
    CHECK(last < home);
    atomic_store(&r.buckets[last].hash, 0);
    CHECK(heap_bucket_find(&r, &k) == last);
    CHECK(bucket_holds(&r, heap_bucket_at(&r, (uint32_t)last), &k));
    CHECK(atomic_load(&r.hdr->heap_buckets_made) == 1 &&
          atomic_load(&r.hdr->heap_drops[GP_HEAP_DROP_NO_BUCKET]) == 1);
    ring_destroy(&r);

    /* the frame store full: deep stacks until one does not fit; its bucket is made without a
     * stack (and found again), counted as a drop */
    CHECK(create(&r, 16, 1) == 0);
    uint32_t fit = GP_HEAP_FRAME_WORDS / GP_RING_MAX_FRAMES, whole = 1;
    for (uint32_t i = 0; i < fit; i++) {
        set_key(&k, GP_RING_MAX_FRAMES, 0x1000000 + (uint64_t)i * 0x100000, 0, LABELS(""),
                0);
        uint32_t at = heap_bucket_find(&r, &k);
        whole &= at < r.nbuckets && bucket_holds(&r, heap_bucket_at(&r, at), &k);
    }
    CHECK(whole && atomic_load(&r.hdr->heap_drops[GP_HEAP_DROP_NO_BUCKET]) == 0);
    set_key(&k, GP_RING_MAX_FRAMES, 0x8, 0, LABELS(""), 0);      /* not one of those */
    uint32_t at = heap_bucket_find(&r, &k);
    CHECK(at < r.nbuckets);
    struct heap_bucket *b = heap_bucket_at(&r, at);
    CHECK(atomic_load(&b->ready) == 1 && b->nframes == 0 && b->labels_len == 0 &&
          (b->flags & GP_HEAP_BUCKET_NOSTACK));
    CHECK(atomic_load(&r.hdr->heap_drops[GP_HEAP_DROP_NO_BUCKET]) == 1);
    CHECK(heap_bucket_find(&r, &k) == at);
    CHECK(atomic_load(&r.hdr->heap_buckets_made) == (uint64_t)fit + 1);
    ring_destroy(&r);

    /* the table filled by keys: the first key refused is counted, and every bucket made is
     * in the order */
    CHECK(create(&r, 16, 1) == 0);
    uint64_t made = 0;
    for (uint64_t pc = 0x10; made <= r.nbuckets; pc += 0x10) {
        set_key(&k, 1, pc, 0, LABELS(""), 0);
        if (heap_bucket_find(&r, &k) == r.nbuckets)
            break;
        made++;
    }
    printf("# heap table: %llu of %u buckets made before a key found no slot in %d probes\n",
           (unsigned long long)made, r.nbuckets, GP_HEAP_BUCKET_PROBES);
    CHECK(made > GP_HEAP_BUCKET_PROBES && made <= r.nbuckets);
    CHECK(atomic_load(&r.hdr->heap_buckets_made) == made);
    CHECK(atomic_load(&r.hdr->heap_drops[GP_HEAP_DROP_NO_BUCKET]) == 1);
    int in_order = atomic_load(&r.bucket_order[made - 1]) != 0;
    for (uint64_t i = made; i < r.nbuckets; i++)
        in_order &= atomic_load(&r.bucket_order[i]) == 0;
    CHECK(in_order);
    ring_destroy(&r);
}

/* Writers making the same keys at once, as threads sampling the same stacks do: each key ends
 * in one bucket (the first empty slot of its probes is claimed by a CAS, so a writer that loses
 * the race finds the winner's hash there), holding every writer's counts. */
#define HB_THREADS 4
#define HB_SHARED 50    /* keys every writer makes */
#define HB_OWN 20       /* keys of one writer */
#define HB_REPEAT 50    /* allocations counted per key and writer */
#define HB_ROUNDS 20    /* fresh tables: each key is made in a race once per table */

static struct ring hb;
static pthread_barrier_t hb_start;

static void hb_key(struct ring_record *k, uint32_t owner, uint32_t i)
{
    /* owner 0: a shared key; a third of the keys carry labels (the literal is split: "\x00ab"
     * would be one escape) */
    set_key(k, (uint16_t)(1 + i % 5), 0x600000 + (uint64_t)owner * 0x10000 + i * 0x100, 0,
            i % 3 ? "" : "\x01\x01\x00" "ab", i % 3 ? 0 : 5, 0);
}

static void *hb_writer(void *arg)
{
    uint32_t t = (uint32_t)(uintptr_t)arg;
    static struct ring_record keys[HB_THREADS];
    struct ring_record *k = &keys[t];
    /* stripes 0, 4, 0, 4: threads that share a stripe, and threads that do not */
    uint32_t tid = t * (GP_HEAP_STRIPES / 2);
    pthread_barrier_wait(&hb_start);
    for (uint32_t rep = 0; rep < HB_REPEAT; rep++) {
        for (uint32_t i = 0; i < HB_SHARED; i++) {
            hb_key(k, 0, i);
            struct heap_counts *c = heap_counts_at(&hb, heap_bucket_find(&hb, k), tid);
            heap_bucket_count_alloc(c, i + 1);
            if (rep % 2)
                heap_bucket_count_free(c, i + 1);
        }
        for (uint32_t i = 0; i < HB_OWN; i++) {
            hb_key(k, t + 1, i);
            heap_bucket_count_alloc(heap_counts_at(&hb, heap_bucket_find(&hb, k), tid), 1);
        }
    }
    return NULL;
}

/* The allocations counted in r's overflow bucket. */
static uint64_t overflow_allocs(const struct ring *r)
{
    struct heap_totals t;
    heap_bucket_totals(r, r->nbuckets, &t);
    return t.alloc_count;
}

/* The buckets made that hold k (from the order, as the collector reads them), and their
 * summed counts. */
static uint32_t hb_holding(const struct ring_record *k, uint64_t *allocs, uint64_t *bytes,
                           uint64_t *frees)
{
    uint32_t n = 0;
    uint64_t made = atomic_load(&hb.hdr->heap_buckets_made);
    *allocs = *bytes = *frees = 0;
    for (uint64_t o = 0; o < made && o < hb.nbuckets; o++) {
        uint32_t i = atomic_load(&hb.bucket_order[o]);
        if (i == 0 || i > hb.nbuckets || !bucket_holds(&hb, &hb.buckets[i - 1], k))
            continue;
        n++;
        struct heap_totals t;
        heap_bucket_totals(&hb, i - 1, &t);
        *allocs += t.alloc_count;
        *bytes += t.alloc_bytes;
        *frees += t.free_count;
    }
    return n;
}

static void test_heap_buckets_concurrent(void)
{
    static struct ring_record k;
    int one_each = 1, counts = 1, made_ok = 1, order_ok = 1, claimed_ok = 1, no_drops = 1;
    for (int round = 0; round < HB_ROUNDS; round++) {
        CHECK(create(&hb, 16, 1) == 0);
        pthread_barrier_init(&hb_start, NULL, HB_THREADS);
        pthread_t t[HB_THREADS];
        for (uintptr_t i = 0; i < HB_THREADS; i++)
            pthread_create(&t[i], NULL, hb_writer, (void *)i);
        for (int i = 0; i < HB_THREADS; i++)
            pthread_join(t[i], NULL);
        pthread_barrier_destroy(&hb_start);

        uint64_t allocs, bytes, frees;
        for (uint32_t i = 0; i < HB_SHARED; i++) {
            hb_key(&k, 0, i);
            one_each &= hb_holding(&k, &allocs, &bytes, &frees) == 1;
            counts &= allocs == HB_THREADS * HB_REPEAT &&
                      bytes == (uint64_t)HB_THREADS * HB_REPEAT * (i + 1) &&
                      frees == HB_THREADS * (HB_REPEAT / 2);
        }
        for (uint32_t w = 1; w <= HB_THREADS; w++)
            for (uint32_t i = 0; i < HB_OWN; i++) {
                hb_key(&k, w, i);
                one_each &= hb_holding(&k, &allocs, &bytes, &frees) == 1;
                counts &= allocs == HB_REPEAT && bytes == HB_REPEAT && frees == 0;
            }
        uint64_t made = atomic_load(&hb.hdr->heap_buckets_made);
        made_ok &= made == HB_SHARED + HB_THREADS * HB_OWN;
        /* each bucket made once in the order, and no slot claimed that was not made */
        uint32_t claimed = 0;
        for (uint32_t i = 0; i < hb.nbuckets; i++)
            claimed += atomic_load(&hb.buckets[i].hash) != 0;
        claimed_ok &= claimed == made;
        for (uint64_t o = 0; o < made; o++)
            for (uint64_t p = 0; p < o; p++)
                order_ok &= atomic_load(&hb.bucket_order[o]) != atomic_load(&hb.bucket_order[p]);
        no_drops &= atomic_load(&hb.hdr->heap_drops[GP_HEAP_DROP_NO_BUCKET]) == 0 &&
                    overflow_allocs(&hb) == 0;
        ring_destroy(&hb);
    }
    CHECK(one_each);
    CHECK(counts);
    CHECK(made_ok);
    CHECK(claimed_ok);
    CHECK(order_ok);
    CHECK(no_drops);
}

/* The collector's side: only a sealed memfd is mapped, and what the writer does to the header
 * after that cannot make the reader leave the mapping or loop for ever. */
static void test_attach_hostile(void)
{
    struct ring w, r;
    char why[160];
    int fd = -1;
    CHECK(ring_create(&w, 64, 0, &fd) == 0);
    CHECK(ring_attach(&r, fd, why, sizeof why) == 0);
    CHECK(r.nslots == 64 && r.mask == 63);
    struct seen s = { .order_ok = 1 };
    CHECK(put(&w, 0, 1) && put(&w, 0, 2));
    CHECK(ring_read(&r, collect, &s) == 2);
    /* The writer lies about the geometry and commits every slot of every lap at once. */
    w.hdr->nslots = 1u << 20;
    w.hdr->mask = (1u << 20) - 1;
    for (uint64_t i = 0; i < 64; i++)
        atomic_store(&w.slots[i].seq, 1000000);
    size_t n = ring_read(&r, collect, &s);
    CHECK(n <= 64);                              /* at most one lap, inside the mapping */
    CHECK(ring_reader_skip_stalled(&r) <= 64);
    ring_destroy(&r);
    ring_destroy(&w);
    close(fd);

    int plain = memfd_create("not-sealed", MFD_CLOEXEC);
    CHECK(plain >= 0 && ftruncate(plain, 1 << 20) == 0);
    CHECK(ring_attach(&r, plain, why, sizeof why) == -EPROTO && strstr(why, "sealed"));
    close(plain);
}

/* A fresh ring's pages are zero: nothing is written to the slots at creation. */
static void test_lazy(void)
{
    struct ring r;
    CHECK(create(&r, 64, 0) == 0);
    int zero = 1;
    for (uint32_t i = 0; i < 64; i++)
        zero &= atomic_load(&r.slots[i].seq) == 0;
    CHECK(zero);
    uint64_t pos;
    CHECK(ring_reserve(&r, &pos) != NULL && pos == 0);
    ring_destroy(&r);
}

/* Resident pages among n bytes from p (page-aligned). */
static int resident(const void *p, size_t n)
{
    unsigned char v[128];
    size_t pages = (n + 4095) / 4096;
    if (pages > sizeof v || mincore((void *)(uintptr_t)p, n, v) != 0)
        return -1;
    int k = 0;
    for (size_t i = 0; i < pages; i++)
        k += v[i] & 1;
    return k;
}

static struct ring_record split_got[8];
static int split_n;

static void collect_split(const struct ring_record *rec, uint64_t pos, void *ctx)
{
    (void)pos, (void)ctx;
    if (split_n < 8)
        split_got[split_n] = *rec;
    split_n++;
}

/* A record of nframes frames (pc i: base + i) and labels_len label bytes (byte i: i * 7),
 * written where the handler writes them: the first GP_RING_SLOT_FRAMES frames in the slot,
 * the rest and the labels in the spill. */
static void put_split(struct ring *r, uint16_t nframes, uint16_t labels_len, uint64_t base)
{
    uint64_t pos;
    struct ring_slot *s = ring_reserve(r, &pos);
    CHECK(s != NULL);
    if (!s)
        return;
    struct ring_spill *sp = ring_spill_of(r, pos);
    s->h.tid = 7;
    s->h.weight = 1;
    s->h.nframes = nframes;
    s->h.labels_len = labels_len;
    for (uint16_t i = 0; i < nframes; i++) {
        if (i < GP_RING_SLOT_FRAMES)
            s->pc[i] = base + i;
        else
            sp->pc[i - GP_RING_SLOT_FRAMES] = base + i;
    }
    for (uint16_t i = 0; i < labels_len; i++)
        sp->labels[i] = (uint8_t)(i * 7);
    ring_commit(r, pos);
}

static int split_intact(const struct ring_record *rec, uint16_t nframes, uint16_t labels_len,
                        uint64_t base)
{
    int ok = rec->h.nframes == nframes && rec->h.labels_len == labels_len && rec->h.tid == 7;
    for (uint16_t i = 0; ok && i < nframes; i++)
        ok = rec->pc[i] == base + i;
    for (uint16_t i = 0; ok && i < labels_len; i++)
        ok = rec->labels[i] == (uint8_t)(i * 7);
    return ok;
}

/* A record is its slot and its spill: short stacks without labels write their slot alone (four
 * to a page: the spills' pages stay unallocated), a deep one or one with labels its spill too;
 * the reader hands each out whole, frames in order across the two. */
static void test_split(void)
{
    struct ring r;
    CHECK(create(&r, 64, 0) == 0);
    CHECK((const char *)r.spills == (const char *)(r.slots + 64) &&
          sizeof(struct ring_slot) + sizeof(struct ring_spill) == 8192);
    size_t slots_bytes = 64 * sizeof(struct ring_slot);
    size_t spills_bytes = 64 * sizeof(struct ring_spill);
    CHECK(resident(r.slots, slots_bytes) == 0 && resident(r.spills, spills_bytes) == 0);
    for (int i = 0; i < 8; i++)
        put_split(&r, GP_RING_SLOT_FRAMES, 0, 0x1000);
    printf("# 8 records of %d frames: %d slot pages, %d spill pages resident\n",
           GP_RING_SLOT_FRAMES, resident(r.slots, slots_bytes), resident(r.spills, spills_bytes));
    CHECK(resident(r.slots, slots_bytes) == 2 && resident(r.spills, spills_bytes) == 0);
    CHECK(ring_read(&r, collect_split, NULL) == 8 && split_n == 8);
    CHECK(split_intact(&split_got[0], GP_RING_SLOT_FRAMES, 0, 0x1000));
    CHECK(split_intact(&split_got[7], GP_RING_SLOT_FRAMES, 0, 0x1000));

    split_n = 0;
    put_split(&r, GP_RING_SLOT_FRAMES + 1, 0, 0x2000);        /* one frame in the spill */
    put_split(&r, 3, 40, 0x3000);                             /* labels: in the spill */
    put_split(&r, GP_RING_MAX_FRAMES, GP_RING_LABEL_BYTES, 0x4000);   /* all of it */
    CHECK(ring_read(&r, collect_split, NULL) == 3 && split_n == 3);
    CHECK(split_intact(&split_got[0], GP_RING_SLOT_FRAMES + 1, 0, 0x2000));
    CHECK(split_intact(&split_got[1], 3, 40, 0x3000));
    CHECK(split_intact(&split_got[2], GP_RING_MAX_FRAMES, GP_RING_LABEL_BYTES, 0x4000));
    CHECK(resident(r.spills, spills_bytes) >= 3);
    ring_destroy(&r);
}

int main(void)
{
    test_attach_hostile();
    test_lazy();
    test_split();
    test_check();
    test_check_heap();
    test_basic_and_wrap();
    test_full();
    test_torn();
    test_given_up();
    test_concurrent();
    test_heap_buckets();
    test_heap_bucket_fill();
    test_heap_buckets_concurrent();
    return check_done();
}
