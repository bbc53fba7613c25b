/* test_ring.c -- the ring's protocol: order, wrap, full ring, torn slots, concurrent writers;
 * the reader's header check; the free log and its order against the records.
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
    uint32_t writer = rec->tid;
    uint64_t seq = rec->goid;
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
    struct ring_record *rec = ring_reserve(r, &pos);
    if (!rec) {
        ring_drop(r, GP_DROP_RING_FULL, 1);
        return 0;
    }
    rec->tid = writer;
    rec->weight = 1;
    rec->goid = seq;
    rec->nframes = 1;
    rec->pc[0] = seq;
    ring_commit(r, pos);
    return 1;
}

/* A ring as a process makes it; its memfd is not needed here. */
static int create(struct ring *r, uint32_t n)
{
    int fd = -1;
    int err = ring_create(r, n, &fd);
    if (fd >= 0)
        close(fd);
    return err;
}

static void test_basic_and_wrap(void)
{
    struct ring r;
    CHECK(create(&r, 60) == 0);
    CHECK(r.hdr->nslots == 64);                 /* rounded up to a power of two */
    struct seen s = { .order_ok = 1 };
    for (uint64_t lap = 0; lap < 5; lap++) {    /* 5 laps of 50: wraps several times */
        for (uint64_t i = 1; i <= 50; i++)
            CHECK(put(&r, 0, lap * 50 + i));
        CHECK(ring_read(&r, collect, &s) == 50);
    }
    CHECK(s.n == 250 && s.order_ok && s.last[0] == 250);
    CHECK(ring_read(&r, collect, &s) == 0);
    /* in steps: 10 records read 4, 4, 2; a step above a lap is a lap */
    for (uint64_t i = 251; i <= 260; i++)
        CHECK(put(&r, 0, i));
    CHECK(ring_read_max(&r, 4, collect, &s) == 4 && s.last[0] == 254);
    CHECK(ring_read_max(&r, 4, collect, &s) == 4 && s.last[0] == 258);
    CHECK(ring_read_max(&r, 4, collect, &s) == 2 && s.last[0] == 260);
    CHECK(ring_read_max(&r, 4, collect, &s) == 0 && s.order_ok);
    for (uint64_t i = 261; i <= 324; i++)
        CHECK(put(&r, 0, i));
    CHECK(ring_read_max(&r, 1000, collect, &s) == 64 && s.last[0] == 324 && s.order_ok);
    ring_destroy(&r);
}

static void test_full(void)
{
    struct ring r;
    CHECK(create(&r, 64) == 0);
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
    CHECK(create(&r, 64) == 0);
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
    CHECK(create(&r, 64) == 0);
    struct seen s = { .order_ok = 1 };
    CHECK(put(&r, 0, 1));
    uint64_t pos;
    struct ring_record *rec = ring_reserve(&r, &pos);
    CHECK(rec != NULL);
    rec->weight = 0;
    rec->nframes = 9999;
    ring_commit(&r, pos);
    CHECK(put(&r, 0, 2));
    rec = ring_reserve(&r, &pos);
    CHECK(rec != NULL);
    rec->weight = 1;
    rec->nframes = GP_RING_MAX_FRAMES + 1;
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
    CHECK(create(&shared, 256) == 0);
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
    CHECK(create(&r, 64) == 0);
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
    r.hdr->free_entries = 64 * GP_RING_FREES_PER_SLOT * 2;   /* a free log past the mapping */
    CHECK(ring_check(&r, why, sizeof why) == -EPROTO && strstr(why, "free entries"));
    r.hdr->free_entries = 64 * GP_RING_FREES_PER_SLOT;
    CHECK(ring_check(&r, why, sizeof why) == 0);
    ring_destroy(&r);
}

/* ---- the free log ---- */

struct frees_seen {
    uint64_t n;
    uint64_t addr[4096], pos[4096];
};

static void collect_free(uint64_t addr, uint64_t pos, void *ctx)
{
    struct frees_seen *f = ctx;
    if (f->n < 4096) {
        f->addr[f->n] = addr;
        f->pos[f->n] = pos;
    }
    f->n++;
}

/* An entry carries the ring's head, and is read only once every record before it has been;
 * full, wrap, a torn entry, an entry from a lying writer. */
static void test_free_log(void)
{
    struct ring r;
    CHECK(create(&r, 16) == 0);
    CHECK(r.nfrees == 16 * GP_RING_FREES_PER_SLOT);
    struct seen s = { .order_ok = 1 };
    static struct frees_seen f;
    f.n = 0;
    CHECK(put(&r, 0, 1));                        /* a block's record: position 0 */
    CHECK(ring_log_free(&r, 0xa000) == 0);       /* its free: after it (head 1) */
    CHECK(ring_read_frees(&r, collect_free, &f) == 0 && f.n == 0);   /* the record first */
    CHECK(ring_read(&r, collect, &s) == 1);
    CHECK(ring_read_frees(&r, collect_free, &f) == 1);
    CHECK(f.n == 1 && f.addr[0] == 0xa000 && f.pos[0] == 1);
    CHECK(ring_read_frees(&r, collect_free, &f) == 0);

    /* full: every entry written, none read; then read, and a second lap in order */
    f.n = 0;
    uint32_t written = 0;
    while (ring_log_free(&r, 0x10000 + written * 16) == 0)
        written++;
    CHECK(written == r.nfrees);
    CHECK(ring_read_frees(&r, collect_free, &f) == r.nfrees);
    int in_order = f.n == r.nfrees;
    for (uint64_t i = 0; i < f.n && i < 4096; i++)
        in_order &= f.addr[i] == 0x10000 + i * 16 && f.pos[i] == 1;
    CHECK(in_order);
    f.n = 0;
    for (int i = 0; i < 5; i++)
        CHECK(ring_log_free(&r, 0x20000 + (uint64_t)i) == 0);
    CHECK(ring_read_frees(&r, collect_free, &f) == 5 && f.addr[4] == 0x20004);

    /* torn: a writer took an entry and never committed it; the next one waits behind it until
     * the reader, knowing the writers gone, steps over it as a lost free */
    f.n = 0;
    atomic_fetch_add(&r.hdr->free_head, 1);
    CHECK(ring_log_free(&r, 0x30000) == 0);
    CHECK(ring_read_frees(&r, collect_free, &f) == 0);
    ring_reader_skip_stalled(&r);
    CHECK(atomic_load(&r.hdr->heap_drops[GP_HEAP_DROP_FREE_LOST]) == 1);
    CHECK(ring_read_frees(&r, collect_free, &f) == 1 && f.addr[0] == 0x30000);

    /* a position past the ring's head: no writer of ours makes one; dropped, counted, and
     * the entries behind it are not held up */
    f.n = 0;
    uint64_t idx = r.hdr->free_head & r.free_mask;
    CHECK(ring_log_free(&r, 0x40000) == 0);
    r.frees[idx].pos = 1000;
    CHECK(ring_log_free(&r, 0x50000) == 0);
    CHECK(ring_read_frees(&r, collect_free, &f) == 2 && f.n == 1 && f.addr[0] == 0x50000);
    CHECK(atomic_load(&r.hdr->heap_drops[GP_HEAP_DROP_FREE_LOST]) == 2);
    ring_destroy(&r);
}

/* Writers that record a block (a record) and then log its free, concurrently, with a reader
 * draining both queues as the collector does: every free is read after its block's record. */
#define LOG_WRITERS 3
#define LOG_PER_WRITER 100000

static atomic_int log_writers_done;

static void *log_writer(void *arg)
{
    uint32_t id = (uint32_t)(uintptr_t)arg;
    for (uint64_t seq = 1; seq <= LOG_PER_WRITER;) {
        uint64_t pos;
        struct ring_record *rec = ring_reserve(&shared, &pos);
        if (!rec)
            continue;
        rec->tid = id;
        rec->weight = 1;
        rec->goid = seq;
        rec->nframes = 0;
        ring_commit(&shared, pos);
        while (ring_log_free(&shared, (uint64_t)id << 32 | seq) != 0)
            ;
        seq++;
    }
    atomic_fetch_add(&log_writers_done, 1);
    return NULL;
}

struct both_seen {
    uint64_t rec_pos[LOG_WRITERS][LOG_PER_WRITER + 1];   /* each block's record's position */
    uint64_t records, frees, misordered;
};

static void both_record(const struct ring_record *rec, uint64_t pos, void *ctx)
{
    struct both_seen *b = ctx;
    if (rec->tid < LOG_WRITERS && rec->goid <= LOG_PER_WRITER)
        b->rec_pos[rec->tid][rec->goid] = pos + 1;   /* 0: not seen */
    b->records++;
}

static void both_free(uint64_t addr, uint64_t pos, void *ctx)
{
    struct both_seen *b = ctx;
    uint64_t id = addr >> 32, seq = addr & 0xffffffffu;
    if (id >= LOG_WRITERS || seq > LOG_PER_WRITER || !b->rec_pos[id][seq] ||
        b->rec_pos[id][seq] - 1 >= pos)
        b->misordered++;
    b->frees++;
}

static void test_free_log_concurrent(void)
{
    CHECK(create(&shared, 32) == 0);
    static struct both_seen b;
    pthread_t t[LOG_WRITERS];
    for (uintptr_t i = 0; i < LOG_WRITERS; i++)
        pthread_create(&t[i], NULL, log_writer, (void *)i);
    while (atomic_load(&log_writers_done) < LOG_WRITERS) {
        ring_read(&shared, both_record, &b);
        ring_read_frees(&shared, both_free, &b);
    }
    for (int i = 0; i < LOG_WRITERS; i++)
        pthread_join(t[i], NULL);
    ring_read(&shared, both_record, &b);
    ring_read_frees(&shared, both_free, &b);
    printf("# free log: %llu records, %llu frees, %llu read before their record\n",
           (unsigned long long)b.records, (unsigned long long)b.frees,
           (unsigned long long)b.misordered);
    CHECK(b.records == (uint64_t)LOG_WRITERS * LOG_PER_WRITER);
    CHECK(b.frees == (uint64_t)LOG_WRITERS * LOG_PER_WRITER);
    CHECK(b.misordered == 0);
    ring_destroy(&shared);
}

/* The collector's side: only a sealed memfd is mapped, and what the writer does to the header
 * after that cannot make the reader leave the mapping or loop for ever. */
static void test_attach_hostile(void)
{
    struct ring w, r;
    char why[160];
    int fd = -1;
    CHECK(ring_create(&w, 64, &fd) == 0);
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
    CHECK(create(&r, 64) == 0);
    int zero = 1;
    for (uint32_t i = 0; i < 64; i++)
        zero &= atomic_load(&r.slots[i].seq) == 0;
    CHECK(zero);
    uint64_t pos;
    CHECK(ring_reserve(&r, &pos) != NULL && pos == 0);
    ring_destroy(&r);
}

int main(void)
{
    test_attach_hostile();
    test_lazy();
    test_check();
    test_basic_and_wrap();
    test_full();
    test_torn();
    test_given_up();
    test_concurrent();
    test_free_log();
    test_free_log_concurrent();
    return check_done();
}
