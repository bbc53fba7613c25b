/* test_heapmap.c -- C memory profiling's aggregation on synthetic heap records: the four figures
 * per bucket through ALLOC, FREE and MOVE, unknown frees, several processes, address reuse after
 * a free, a lost free, ended processes, labels, skipped frames, and Go's un-sampling checked
 * against a hand computation; then a random run checked against a plain model.
 * Context: tests
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "collector/heapmap.h"
#include "lib/base/record_flags.h"
#include "lib/ring/ring.h"

static struct ring_record r;

/* Records as a ring delivers them: each at the next position. */
static uint64_t pos_counter;
static uint64_t next_pos(void)
{
    return pos_counter++;
}

/* A record with stack {leaf, 0x9000}; labels: one "k"="v" pair when lab is set. */
static const struct ring_record *alloc_rec(uint64_t leaf, uint64_t addr, uint64_t size, int lab)
{
    memset(&r, 0, offsetof(struct ring_record, pc));
    r.flags = GP_REC_HEAP_ALLOC;
    r.weight = 1;
    r.nframes = 2;
    r.pc[0] = leaf;
    r.pc[1] = 0x9000;
    r.heap_addr = addr;
    r.heap_size = size;
    if (lab) {
        const uint8_t l[] = { 1, 1, 0, 'k', 'v' };
        memcpy(r.labels, l, sizeof l);
        r.labels_len = sizeof l;
    }
    return &r;
}

static const struct ring_record *free_rec(uint64_t addr)
{
    memset(&r, 0, offsetof(struct ring_record, pc));
    r.flags = GP_REC_HEAP_FREE;
    r.heap_addr = addr;
    return &r;
}

static const struct ring_record *move_rec(uint64_t from, uint64_t to, uint64_t size)
{
    memset(&r, 0, offsetof(struct ring_record, pc));
    r.flags = GP_REC_HEAP_MOVE;
    r.heap_old = from;
    r.heap_addr = to;
    r.heap_size = size;
    return &r;
}

/* The bucket of process proc whose leaf is leaf (labelled or not). */
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

static void test_events(void)
{
    struct heapmap *h = heapmap_new();
    struct heapmap_stats st;
    CHECK(h != NULL);
    CHECK(heapmap_add(h, 0, alloc_rec(S1, 0x1000, 100, 0), next_pos(), 0, 0) == 0);
    CHECK(heapmap_add(h, 0, alloc_rec(S1, 0x2000, 300, 0), next_pos(), 0, 0) == 0);
    CHECK(heapmap_add(h, 0, alloc_rec(S2, 0x3000, 50, 0), next_pos(), 0, 0) == 0);
    CHECK(heapmap_add(h, 0, free_rec(0x1000), next_pos(), 0, 0) == 0);
    CHECK(heapmap_len(h) == 2);
    CHECK(figures(find(h, 0, S1, 0), 2, 400, 1, 300));
    CHECK(figures(find(h, 0, S2, 0), 1, 50, 1, 50));

    /* a free of a block never seen (allocated before profiling, or unsampled): ignored */
    CHECK(heapmap_add(h, 0, free_rec(0x9999), next_pos(), 0, 0) == 0);
    heapmap_stats(h, &st);
    CHECK(st.unknown_frees == 1 && st.frees == 1 && st.allocs == 3 && st.live == 2);
    CHECK(figures(find(h, 0, S1, 0), 2, 400, 1, 300));

    /* another process: the same address and stack are its own */
    CHECK(heapmap_add(h, 1, alloc_rec(S1, 0x2000, 64, 0), next_pos(), 0, 0) == 0);
    CHECK(figures(find(h, 1, S1, 0), 1, 64, 1, 64));
    CHECK(heapmap_add(h, 1, free_rec(0x2000), next_pos(), 0, 0) == 0);
    CHECK(figures(find(h, 1, S1, 0), 1, 64, 0, 0));
    CHECK(figures(find(h, 0, S1, 0), 2, 400, 1, 300));   /* process 0's 0x2000 still lives */

    /* realloc moved process 0's 0x2000 to 0x5000, now 1000 bytes: in-use follows, alloc stays */
    CHECK(heapmap_add(h, 0, move_rec(0x2000, 0x5000, 1000), next_pos(), 0, 0) == 0);
    CHECK(figures(find(h, 0, S1, 0), 2, 400, 1, 1000));
    CHECK(heapmap_add(h, 0, free_rec(0x2000), next_pos(), 0, 0) == 0);   /* the old address */
    heapmap_stats(h, &st);
    CHECK(st.unknown_frees == 2 && st.moves == 1);
    /* in place (same address, new size) */
    CHECK(heapmap_add(h, 0, move_rec(0x5000, 0x5000, 200), next_pos(), 0, 0) == 0);
    CHECK(figures(find(h, 0, S1, 0), 2, 400, 1, 200));
    CHECK(heapmap_add(h, 0, move_rec(0x7777, 0x8888, 5), next_pos(), 0, 0) == 0);   /* unknown */
    heapmap_stats(h, &st);
    CHECK(st.unknown_moves == 1);
    CHECK(heapmap_add(h, 0, free_rec(0x5000), next_pos(), 0, 0) == 0);
    CHECK(figures(find(h, 0, S1, 0), 2, 400, 0, 0));

    /* address reuse after a free, by another stack */
    CHECK(heapmap_add(h, 0, alloc_rec(S2, 0x1000, 70, 0), next_pos(), 0, 0) == 0);
    CHECK(figures(find(h, 0, S2, 0), 2, 120, 2, 120));
    /* allocated again while live (its free not read yet, or lost): it leaves in-use */
    CHECK(heapmap_add(h, 0, alloc_rec(S1, 0x1000, 10, 0), next_pos(), 0, 0) == 0);
    heapmap_stats(h, &st);
    CHECK(st.replaced == 1);
    CHECK(figures(find(h, 0, S2, 0), 2, 120, 1, 50));
    CHECK(figures(find(h, 0, S1, 0), 3, 410, 1, 10));

    /* (process 3) the free log is read after the records: a block freed (logged at its
     * position) and its address allocated again, by another stack, before the free is read.
     * The ALLOC replaces the old block; the free, whose position is before the new block's
     * record, is late: the new block stays in use. A free after it (a later position) frees
     * it. */
    uint64_t p_old = next_pos();
    CHECK(heapmap_add(h, 3, alloc_rec(S2, 0xc000, 40, 0), p_old, 0, 0) == 0);
    uint64_t p_free = next_pos();    /* the free's position: the head when it was logged */
    CHECK(heapmap_add(h, 3, alloc_rec(S1, 0xc000, 60, 0), next_pos(), 0, 0) == 0);
    heapmap_free_block(h, 3, 0xc000, p_free);
    heapmap_stats(h, &st);
    CHECK(st.replaced == 2 && st.late_frees == 1);
    CHECK(figures(find(h, 3, S2, 0), 1, 40, 0, 0));
    CHECK(figures(find(h, 3, S1, 0), 1, 60, 1, 60));
    heapmap_free_block(h, 3, 0xc000, next_pos());
    CHECK(figures(find(h, 3, S1, 0), 1, 60, 0, 0));
    /* in order, a logged free frees its block */
    CHECK(heapmap_add(h, 3, alloc_rec(S2, 0xd000, 5, 0), next_pos(), 0, 0) == 0);
    heapmap_free_block(h, 3, 0xd000, next_pos());
    CHECK(figures(find(h, 3, S2, 0), 2, 45, 0, 0));

    /* labels make their own bucket */
    CHECK(heapmap_add(h, 0, alloc_rec(S1, 0xa000, 8, 1), next_pos(), 0, 0) == 0);
    CHECK(figures(find(h, 0, S1, 1), 1, 8, 1, 8));
    CHECK(figures(find(h, 0, S1, 0), 3, 410, 1, 10));

    /* process 0 ends: its figures stay (the leak report), its blocks are forgotten */
    heapmap_stats(h, &st);
    size_t live_before = st.live;
    heapmap_end_proc(h, 0);
    heapmap_stats(h, &st);
    CHECK(live_before == 3 && st.live == 0);
    CHECK(figures(find(h, 0, S2, 0), 2, 120, 1, 50));
    CHECK(heapmap_add(h, 0, free_rec(0x3000), next_pos(), 0, 0) == 0);
    CHECK(figures(find(h, 0, S2, 0), 2, 120, 1, 50));

    /* libgoprof's own frames (the interposer) are left out */
    struct ring_record *a = (struct ring_record *)alloc_rec(0x70000010, 0xb000, 16, 0);
    a->pc[1] = S2;
    a->pc[2] = 0x9000;
    a->nframes = 3;
    CHECK(heapmap_add(h, 2, a, next_pos(), 0x70000000, 0x70001000) == 0);
    CHECK(figures(find(h, 2, S2, 0), 1, 16, 1, 16));
    CHECK(find(h, 2, S2, 0) && find(h, 2, S2, 0)->nframes == 2);
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

/* A random mix against a plain model: every bucket's in-use figures, many collisions and
 * deletions in the live table (addresses from a small range, three processes). In every other
 * phase of 30 000 events only live blocks are freed or moved, so the table shrinks as well as
 * grows (heapmap.c: halved at an eighth full). */
#define NADDR 4096
static void test_random(void)
{
    struct heapmap *h = heapmap_new();
    static uint64_t size[3][NADDR];     /* 0: not live */
    static int stack[3][NADDR];
    uint64_t inuse_c[3][8] = { { 0 } }, inuse_b[3][8] = { { 0 } };
    size_t most = 0, least_after = SIZE_MAX;
    struct heapmap_stats st;
    srand(7);
    for (int i = 0; i < 300000; i++) {
        uint32_t proc = (uint32_t)(rand() % 3);
        int a = rand() % NADDR, op = rand() % 3;
        uint64_t addr = 0x10000 + (uint64_t)a * 16;
        if ((i / 30000) % 2) {   /* a phase of frees */
            if (!size[proc][a])
                continue;
            op = op ? 1 : 2;
        }
        if (i % 1000 == 0) {
            heapmap_stats(h, &st);
            if (st.bytes > most) {
                most = st.bytes;
                least_after = SIZE_MAX;
            } else if (st.bytes < least_after)
                least_after = st.bytes;
        }
        if (op == 0 || !size[proc][a]) {
            if (size[proc][a]) {   /* lost free */
                inuse_c[proc][stack[proc][a]]--;
                inuse_b[proc][stack[proc][a]] -= size[proc][a];
            }
            int s = rand() % 8;
            uint64_t sz = 1 + (uint64_t)(rand() % 1000);
            heapmap_add(h, proc, alloc_rec(0x100 + (uint64_t)s, addr, sz, 0), next_pos(), 0, 0);
            size[proc][a] = sz;
            stack[proc][a] = s;
            inuse_c[proc][s]++;
            inuse_b[proc][s] += sz;
        } else if (op == 1) {
            heapmap_add(h, proc, free_rec(addr), next_pos(), 0, 0);
            inuse_c[proc][stack[proc][a]]--;
            inuse_b[proc][stack[proc][a]] -= size[proc][a];
            size[proc][a] = 0;
        } else {
            int to = rand() % NADDR;
            uint64_t sz = 1 + (uint64_t)(rand() % 1000);
            int s = stack[proc][a];
            if (to != a && size[proc][to]) {
                inuse_c[proc][stack[proc][to]]--;
                inuse_b[proc][stack[proc][to]] -= size[proc][to];
            }
            inuse_b[proc][s] = inuse_b[proc][s] - size[proc][a] + sz;
            size[proc][a] = 0;
            size[proc][to] = sz;
            stack[proc][to] = s;
            heapmap_add(h, proc, move_rec(addr, 0x10000 + (uint64_t)to * 16, sz), next_pos(), 0, 0);
        }
    }
    int ok = 1;
    size_t live = 0;
    for (uint32_t p = 0; p < 3; p++) {
        for (int s = 0; s < 8; s++) {
            const struct heapmap_bucket *b = find(h, p, 0x100 + (uint64_t)s, 0);
            ok &= b && b->inuse_count == inuse_c[p][s] && b->inuse_bytes == inuse_b[p][s];
        }
        for (int a = 0; a < NADDR; a++)
            live += size[p][a] != 0;
    }
    CHECK(ok);
    heapmap_stats(h, &st);
    CHECK(st.live == live && st.buckets == 24);
    /* the table's memory went down after its largest */
    CHECK(least_after < most);
    if (getenv("SHOW") || least_after >= most)
        fprintf(stderr, "# table bytes: most %zu, least after %zu\n", most, least_after);
    heapmap_end_proc(h, 1);
    heapmap_stats(h, &st);
    size_t live1 = 0;
    for (int a = 0; a < NADDR; a++)
        live1 += size[1][a] != 0;
    CHECK(st.live == live - live1);
    /* the others' blocks are all still found after the removals */
    ok = 1;
    for (uint32_t p = 0; p < 3; p += 2)
        for (int a = 0; a < NADDR; a++)
            if (size[p][a]) {
                heapmap_add(h, p, free_rec(0x10000 + (uint64_t)a * 16), next_pos(), 0, 0);
                inuse_c[p][stack[p][a]]--;
            }
    heapmap_stats(h, &st);
    CHECK(st.live == 0);
    for (uint32_t p = 0; p < 3; p += 2)
        for (int s = 0; s < 8; s++)
            ok &= find(h, p, 0x100 + (uint64_t)s, 0)->inuse_count == 0 && inuse_c[p][s] == 0;
    CHECK(ok);
    heapmap_free(h);
}

int main(void)
{
    test_events();
    test_scale();
    test_random();
    return check_done();
}
