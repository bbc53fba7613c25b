/* test_ring.c -- the ring's protocol: order, wrap, full ring, torn slots, concurrent writers;
 * the reader's header check.
 * Context: tests
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
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
};

static void collect(const struct ring_record *rec, void *ctx)
{
    struct seen *s = ctx;
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
    CHECK(ring_check(&r, why, sizeof why) == 0);
    ring_destroy(&r);
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
    return check_done();
}
