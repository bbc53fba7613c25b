/* test_heap.c -- C memory profiling's program side without a preload: the table of sampled
 * blocks (random operations against a reference, each address's meta given back by its remove,
 * concurrent threads, a full table), the sampled path's counts in the ring's table of buckets
 * (an allocation's stack from its caller, its free and realloc by the bucket and size the table
 * kept, an address allocated again, a full table, CPU samples deferred to the path's end, our
 * own frames left out), and the sampling intervals' distribution.
 * Context: tests
 *
 *   test_heap [SECONDS]   (the random and concurrent parts run for SECONDS, default 2 in all)
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "lib/ring/ring.h"
#include "program/sample/heap.h"
#include "program/sample/heap_set.h"
#include "program/sample/sample_internal.h"
#include "program/unwind/unwind.h"

static double budget = 2.0;

/* Every address goes into the table with a meta of its own, which its remove must give back. */
#define META_OF(addr) ((addr) * 3 + 1)
static _Atomic int meta_errors;
static enum heap_set_insert_result ins(struct heap_set *s, uint64_t addr)
{
    uint64_t old;
    return heap_set_insert(s, addr, META_OF(addr), &old);
}
static int rem(struct heap_set *s, uint64_t addr)
{
    uint64_t meta = 0;
    int r = heap_set_remove(s, addr, &meta);
    if (r && meta != META_OF(addr))
        atomic_fetch_add(&meta_errors, 1);
    return r;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Homes hashed (-1, as at GOPROF_HEAP_RATE under 4 KiB), a line per filter word (0, as at
 * 4 KiB) or per 4 words (2, as at 16 KiB; the interposers' table goes to 16 from 64 KiB):
 * main runs the table's tests each way. */
static int home_shift;

/* The filter's bits for a table of 2^line_bits lines: as many words a line as the homes take. */
static unsigned filter_bits(unsigned line_bits)
{
    return line_bits + (unsigned)(home_shift > 0 ? home_shift : 0);
}

/* The summary's span for a filter of 2^bits words: four of the filter's regions (the
 * interposers' spans 32), so that addresses a few regions apart share summary bits and filter
 * words, and the tests' addresses, spread over terabytes, fold onto a small table. */
static unsigned test_span(unsigned bits)
{
    unsigned span = bits + HEAP_FILTER_WINDOW_SHIFT + 2;
    return span < HEAP_SUMMARY_PAGE_SHIFT + 5 ? HEAP_SUMMARY_PAGE_SHIFT + 5 : span;
}

/* A table's lines and, after them, its filter and summary, in one zero-filled block. */
static void *table_mem(unsigned line_bits)
{
    unsigned bits = filter_bits(line_bits);
    size_t n = heap_set_bytes(line_bits) + heap_set_filter_words(bits) * 8 +
               HEAP_SET_SUMMARY_WORDS(test_span(bits)) * 8;
    void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);
    if (p)
        memset(p, 0, n);
    return p;
}

static void table_init(struct heap_set *s, void *mem, unsigned line_bits)
{
    unsigned bits = filter_bits(line_bits);
    char *filter = (char *)mem + heap_set_bytes(line_bits);
    heap_set_init(s, mem, line_bits, (_Atomic uint64_t *)filter,
                  (_Atomic uint64_t *)(filter + heap_set_filter_words(bits) * 8), bits,
                  test_span(bits), home_shift);
}

/* Every slot empty, every line's counts zero, every filter and summary bit clear. */
static int all_empty(const struct heap_set *s)
{
    int ok = 1;
    for (uint64_t l = 0; l <= s->mask; l++) {
        ok &= atomic_load(&s->line[l].passing) == 0;
        for (int i = 0; i < HEAP_SET_LINE_SLOTS; i++)
            ok &= atomic_load(&s->line[l].slot[i]) == HEAP_SET_EMPTY;
    }
    for (uint64_t i = 0; i < heap_set_filter_words(s->bits); i++)   /* (above the bits: the
                                                                   * words' insert counts) */
        ok &= (atomic_load(&s->filter[i]) & (HEAP_FILTER_INSERT_ONE - 1)) == 0;
    for (size_t i = 0; i < HEAP_SET_SUMMARY_WORDS(s->span); i++)
        ok &= (atomic_load(&s->summary[i]) & (HEAP_FILTER_INSERT_ONE - 1)) == 0;
    return ok;
}

/* ---- the table against a reference ---------------------------------------------------------- */

#define REF_MAX 4096

/* Addresses that collide on purpose: few distinct 16-byte-aligned values in a small range,
 * so that lines overflow, probes pass through full lines and slots are emptied and reused. */
static void random_ops(unsigned bits, uint64_t range, double secs)
{
    struct heap_set s;
    void *mem = table_mem(bits);
    table_init(&s, mem, bits);
    static uint8_t in_ref[REF_MAX];
    memset(in_ref, 0, sizeof in_ref);
    uint64_t seed = 0x1234567u + bits, live = 0, ops = 0, full = 0;
    int ok = 1, filter_ok = 1;
    double end = now_s() + secs;
    while (ok && (ops & 1023 || now_s() < end)) {
        uint64_t k = rnd(&seed) % range;
        uint64_t addr = 0x7f0000000000ull + k * 16;
        switch (rnd(&seed) % 3) {
        case 0: {
            enum heap_set_insert_result r = ins(&s, addr);
            if (in_ref[k])
                ok &= r == HEAP_SET_PRESENT;
            else if (r == HEAP_SET_INSERTED)
                in_ref[k] = 1, live++;
            else
                /* full: the lines a probe may use from the home are all full */
                ok &= r == HEAP_SET_FULL &&
                      live >= (uint64_t)HEAP_SET_LINE_SLOTS * (uint64_t)s.max_lines, full++;
            break;
        }
        case 1:
            ok &= rem(&s, addr) == in_ref[k];
            if (in_ref[k])
                in_ref[k] = 0, live--;
            break;
        default:
            ok &= heap_set_contains(&s, addr) == in_ref[k];
            if (in_ref[k])
                filter_ok &= heap_set_maybe(&s, addr);
        }
        ops++;
    }
    /* everything the reference holds is there, and nothing else */
    for (uint64_t k = 0; k < range; k++)
        ok &= heap_set_contains(&s, 0x7f0000000000ull + k * 16) == in_ref[k];
    for (uint64_t k = 0; k < range; k++)
        if (in_ref[k])
            ok &= rem(&s, 0x7f0000000000ull + k * 16) == 1;
    ok &= all_empty(&s);
    CHECK(ok);
    CHECK(filter_ok);
    printf("# table 2^%u, %llu keys: %llu operations, %llu full, %llu live at the end\n", bits,
           (unsigned long long)range, (unsigned long long)ops, (unsigned long long)full,
           (unsigned long long)live);
    free(mem);
}

/* A long run of a program: 2 million sampled blocks come and go, a few hundred live at a
 * time, in a table of 2^8 lines. The first design left a tombstone per removal and ended with
 * every lookup probing its bound; here the table is as empty at the end as at the start: every
 * slot empty, every home and passing count and every filter bit zero. The blocks are 16 bytes
 * apart where homes are hashed (every allocation sampled), and where they go by window, one to
 * two lines, as at the rate that home_shift stands for: 4 KiB apart with a window a line, 16 KiB
 * with four (16 bytes apart, 128 to a window, they would fill its line and the 31 after it). */
static void churn(void)
{
    struct heap_set s;
    void *mem = table_mem(8);
    table_init(&s, mem, 8);
    enum { LIVE = 300 };
    uint64_t held[LIVE] = { 0 }, seed = 42, next = 1, stride = home_shift >= 0 ? (uint64_t)4096 << home_shift : 16;
    int ok = 1;
    for (long i = 0; i < 2000000; i++) {
        int k = (int)(rnd(&seed) % LIVE);
        if (held[k])
            ok &= rem(&s, held[k]) == 1;
        held[k] = 0x7f0000000000ull + next++ * stride;   /* never one held already */
        if (ins(&s, held[k]) != HEAP_SET_INSERTED)
            held[k] = 0, ok = 0;
    }
    CHECK(ok);
    for (int k = 0; k < LIVE; k++)
        if (held[k])
            CHECK(rem(&s, held[k]) == 1);
    CHECK(all_empty(&s));
    free(mem);
}

static void full_table(void)
{
    struct heap_set s;
    void *mem = table_mem(5);
    table_init(&s, mem, 5);
    uint64_t n = 0;
    while (ins(&s, 0x10000 + n * 16) == HEAP_SET_INSERTED)
        n++;
    CHECK(n == (uint64_t)HEAP_SET_LINE_SLOTS << 5);   /* a probe reaches every line: all taken */
    CHECK(ins(&s, 0x999990) == HEAP_SET_FULL);
    for (uint64_t i = 0; i < n; i++)
        CHECK(heap_set_contains(&s, 0x10000 + i * 16));
    for (uint64_t i = 0; i < n; i += 2)
        CHECK(rem(&s, 0x10000 + i * 16) == 1);
    CHECK(ins(&s, 0x999990) == HEAP_SET_INSERTED);
    CHECK(heap_set_contains(&s, 0x999990));
    CHECK(rem(&s, 0x999990) == 1 && rem(&s, 0x999990) == 0);
    /* every address out: every slot empty, every count (home and passing) and the filter
     * zero again -- nothing dead is left behind */
    for (uint64_t i = 1; i < n; i += 2)
        rem(&s, 0x10000 + i * 16);
    CHECK(all_empty(&s));
    for (uint64_t i = 0; i < n; i++)
        CHECK(!heap_set_maybe(&s, 0x10000 + i * 16));
    CHECK(ins(&s, 0) == HEAP_SET_FULL);
    free(mem);
}

/* The summary's bit of a page: set while a live address has its bit in either filter word of
 * the page's pair, clear once neither has; a lone address's free() path asks the filter only
 * there. */
static int summary_bit_of(const struct heap_set *s, uint64_t addr)
{
    uint64_t p = heap_summary_page(addr, s->span);
    return (int)((atomic_load(&s->summary[p / HEAP_FILTER_BITS]) >> (p % HEAP_FILTER_BITS)) & 1);
}

static void summary_pages(void)
{
    struct heap_set s;
    void *mem = table_mem(8);
    table_init(&s, mem, 8);
    unsigned span = s.span, w = HEAP_FILTER_WINDOW_SHIFT, fb = s.bits;
    /* a and b: the two windows of one page, so the two words of one pair; c: the next page */
    uint64_t a = 0x7f1234560000ull, b = a + (1u << w) + 64, c = a + (2u << w);
    CHECK(heap_filter_word(a, fb, span) % 2 == 0);   /* the rotation is even */
    CHECK(heap_filter_word(b, fb, span) == heap_filter_word(a, fb, span) + 1);
    CHECK(heap_summary_page(b, span) == heap_summary_page(a, span));
    CHECK(heap_summary_page(c, span) != heap_summary_page(a, span));
    CHECK(!summary_bit_of(&s, a) && !heap_set_maybe(&s, a));
    CHECK(ins(&s, a) == HEAP_SET_INSERTED && ins(&s, b) == HEAP_SET_INSERTED);
    CHECK(summary_bit_of(&s, a) && heap_set_maybe(&s, a) && heap_set_maybe(&s, b));
    CHECK(!summary_bit_of(&s, c) && !heap_set_maybe(&s, c));
    CHECK(!heap_set_maybe(&s, a + 64));   /* the bit's page, but not the filter's granule */
    CHECK(rem(&s, a) == 1);
    CHECK(summary_bit_of(&s, b) && heap_set_maybe(&s, b));   /* b still lives in the page */
    CHECK(rem(&s, b) == 1);
    CHECK(!summary_bit_of(&s, a) && all_empty(&s));

    /* d: a's page in the next span. It shares a's summary bit and, rotated alike, a's filter
     * word; e: a's page in the next region of a's span, whose rotation differs */
    uint64_t d = a + ((uint64_t)1 << span) + 128, e = a + ((uint64_t)1 << (fb + w));
    CHECK(heap_summary_page(d, span) == heap_summary_page(a, span));
    CHECK(heap_filter_word(d, fb, span) == heap_filter_word(a, fb, span));
    CHECK(heap_summary_page(e, span) != heap_summary_page(a, span));
    CHECK(heap_filter_word(e, fb, span) != heap_filter_word(a, fb, span));
    CHECK(ins(&s, a) == HEAP_SET_INSERTED && ins(&s, d) == HEAP_SET_INSERTED);
    CHECK(rem(&s, a) == 1);
    CHECK(summary_bit_of(&s, d) && heap_set_maybe(&s, d));   /* d keeps the bit */
    CHECK(!heap_set_maybe(&s, a));   /* (a's granule is not d's) */
    CHECK(rem(&s, d) == 1);
    CHECK(!summary_bit_of(&s, d) && all_empty(&s));

    /* f: another page of a's span, in another region, whose rotation maps it onto a's filter
     * word: a's summary bit clears when a leaves although f's filter bit is still in the pair
     * (kept, it would stay set after f left too) */
    uint64_t f = 0;
    for (uint64_t k = 1; k < ((uint64_t)1 << (span - w)) && !f; k++)
        if (heap_filter_word(a + (k << w), fb, span) == heap_filter_word(a, fb, span))
            f = a + (k << w);
    CHECK(f && heap_summary_page(f, span) != heap_summary_page(a, span));
    CHECK(ins(&s, a) == HEAP_SET_INSERTED && ins(&s, f) == HEAP_SET_INSERTED);
    CHECK(rem(&s, a) == 1);
    CHECK(!summary_bit_of(&s, a) && summary_bit_of(&s, f) && heap_set_maybe(&s, f));
    CHECK(rem(&s, f) == 1);
    CHECK(all_empty(&s));
    free(mem);
}

/* ---- concurrent threads ---------------------------------------------------------------------
 * Each thread owns its addresses (as a thread owns the blocks malloc gave it): inserts,
 * removes, looks up, checking against its own reference; and hands some over to the next
 * thread through a mailbox, which removes them (a free on another thread). */
#define NTHREADS 4
#define PER_THREAD 512
#define MAILBOX 64

static struct heap_set shared;
static _Atomic uint64_t mailbox[NTHREADS][MAILBOX];
static _Atomic int conc_errors;
static _Atomic uint64_t conc_ops, handed;
static double conc_end;
/* 0: each thread's addresses in a region of their own; 1: the threads' addresses side by side,
 * 16 bytes apart, so that every filter bit is shared by all of them: a remove that cleared a
 * bit another thread's live address has fails the bit checks (it does when filter_release
 * skips its lookup). The instant between a clear and a set back, which the insert count in
 * each word closes, is too short for this run to hit: the old clear-then-set passed it too. */
static int conc_interleaved;

static uint64_t conc_addr(int id, uint64_t k, int fresh)
{
    uint64_t base = fresh ? 0x80000000ull : 0;
    if (conc_interleaved)
        return 0x100000000ull + base + (k * NTHREADS + (uint64_t)id) * 16;
    return 0x100000000ull * (uint64_t)(id + 1) + base + k * 16;
}

static void *conc_thread(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint8_t mine[PER_THREAD] = { 0 };
    uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1), ops = 0, next = 0;
    int errors = 0;
    while (ops & 1023 || now_s() < conc_end) {
        uint64_t k = rnd(&seed) % PER_THREAD;
        uint64_t addr = conc_addr(id, k, 0);
        switch (rnd(&seed) % 4) {
        case 0:
            if (!mine[k]) {
                enum heap_set_insert_result r = ins(&shared, addr);
                if (r == HEAP_SET_INSERTED) {
                    mine[k] = 1;
                    /* at once: where another thread's remove of the bit may be under way */
                    if (!heap_set_maybe(&shared, addr))
                        errors++;
                }
                else if (r == HEAP_SET_PRESENT)
                    errors++;
            }
            break;
        case 1:
            if (rem(&shared, addr) != mine[k])
                errors++;
            mine[k] = 0;
            break;
        case 2:
            if (heap_set_contains(&shared, addr) != mine[k] ||
                (mine[k] && !heap_set_maybe(&shared, addr)))
                errors++;
            break;
        default: {
            /* hand a fresh block over, and take what was handed to us */
            int slot = (int)(rnd(&seed) % MAILBOX);
            uint64_t fresh = conc_addr(id, next++, 1);
            if (ins(&shared, fresh) == HEAP_SET_INSERTED) {
                uint64_t empty = 0;
                if (!atomic_compare_exchange_strong(&mailbox[(id + 1) % NTHREADS][slot], &empty,
                                                    fresh) &&
                    rem(&shared, fresh) != 1)
                    errors++;
            }
            uint64_t got = atomic_exchange(&mailbox[id][slot], 0);
            if (got) {
                if (rem(&shared, got) != 1)
                    errors++;
                atomic_fetch_add(&handed, 1);
            }
        }
        }
        ops++;
    }
    for (uint64_t k = 0; k < PER_THREAD; k++) {
        uint64_t addr = conc_addr(id, k, 0);
        if (mine[k] && rem(&shared, addr) != 1)
            errors++;
    }
    atomic_fetch_add(&conc_errors, errors);
    atomic_fetch_add(&conc_ops, ops);
    return NULL;
}

static void concurrent(double secs, int interleaved)
{
    conc_interleaved = interleaved;
    atomic_store(&conc_errors, 0);
    atomic_store(&conc_ops, 0);
    atomic_store(&handed, 0);
    /* small: 4 x 512 addresses (and those handed over) contend for 2^8 lines of 7 slots:
     * lines overflow */
    void *mem = table_mem(8);
    table_init(&shared, mem, 8);
    conc_end = now_s() + secs;
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        pthread_create(&t[i], NULL, conc_thread, (void *)(intptr_t)i);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    /* what is still in the mailboxes is still in the table */
    for (int i = 0; i < NTHREADS; i++)
        for (int j = 0; j < MAILBOX; j++) {
            uint64_t a = atomic_exchange(&mailbox[i][j], 0);
            if (a && rem(&shared, a) != 1)
                atomic_fetch_add(&conc_errors, 1);
        }
    CHECK(atomic_load(&conc_errors) == 0);
    CHECK(all_empty(&shared));
    printf("# concurrent, %s: %d threads, %llu operations, %llu handed over\n",
           interleaved ? "addresses side by side" : "addresses apart", NTHREADS,
           (unsigned long long)conc_ops, (unsigned long long)handed);
    free(mem);
}

/* ---- the sampled path's records ------------------------------------------------------------- */

struct rec_seen {
    int n;
    struct ring_record r[64];
};

static void keep(const struct ring_record *rec, uint64_t pos, void *ctx)
{
    (void)pos;
    struct rec_seen *s = ctx;
    if (s->n < 64)
        s->r[s->n] = *rec;
    s->n++;
}

/* Bodies for heap_sampled_call, as the interposers' are. */
static uint64_t alloc_body(uint64_t addr, uint64_t size, uint64_t c, const struct unwind_regs *at)
{
    (void)c;
    heap_record_alloc(addr, size, at);
    return 0;
}
static uint64_t free_body(uint64_t meta, uint64_t b, uint64_t c, const struct unwind_regs *at)
{
    (void)b, (void)c, (void)at;
    heap_record_free(meta);
    return 0;
}
static uint64_t move_body(uint64_t meta, uint64_t addr, uint64_t size,
                          const struct unwind_regs *at)
{
    heap_record_move(meta, addr, size, at);
    return 0;
}

/* An interposer as gcc -O2 compiles ours: it jumps to heap_sampled_call (written here in
 * assembly, so that the test does not depend on the compiler making the tail call). */
uint64_t jumping_interposer(heap_sampled_body *body, uint64_t a, uint64_t b, uint64_t c);
__asm__(".text\n"
        ".type jumping_interposer, @function\n"
        "jumping_interposer:\n"
        "    .cfi_startproc\n"
        "    jmp heap_sampled_call\n"
        "    .cfi_endproc\n"
        ".size jumping_interposer, . - jumping_interposer\n");

/* An interposer compiled without the tail call: its frame is on the stack (and in libgoprof's
 * text, skipped at the leaf). */
__attribute__((noinline)) static uint64_t calling_interposer(uint64_t addr, uint64_t size)
{
    uint64_t r = heap_sampled_call(alloc_body, addr, size, 0);
    __asm__ volatile("" ::: "memory");
    return r;
}

/* The program's allocation sites. */
__attribute__((noinline)) static void alloc_site(uint64_t addr, uint64_t size)
{
    jumping_interposer(alloc_body, addr, size, 0);
    __asm__ volatile("" ::: "memory");   /* not a tail call: alloc_site stays on the stack */
}
__attribute__((noinline)) static void alloc_site_called(uint64_t addr, uint64_t size)
{
    calling_interposer(addr, size);
    __asm__ volatile("" ::: "memory");
}
/* A sampled block's free and realloc, once heap_take gave its meta. */
static void free_site(uint64_t meta)
{
    jumping_interposer(free_body, meta, 0, 0);
}
static void move_site(uint64_t meta, uint64_t addr, uint64_t size)
{
    jumping_interposer(move_body, meta, addr, size);
}

static int pc_in(uint64_t pc, void *fn)
{
    uint64_t f = (uint64_t)(uintptr_t)fn;
    pc &= ~GP_PC_EXACT;
    return pc > f && pc < f + 256;
}

/* Bucket b's counters, over every stripe. */
static struct heap_totals *totals_of(struct ring *r, const struct heap_bucket *b)
{
    static struct heap_totals t;
    heap_bucket_totals(r, (uint32_t)(b - r->buckets), &t);
    return &t;
}

/* The four counters summed over the buckets made for stacks whose leaf is the return address
 * leaf: each call site of records() is a stack of its own. */
static struct heap_totals *sum_at_leaf(struct ring *r, uint64_t leaf)
{
    static struct heap_totals sum;
    int any = 0;
    memset(&sum, 0, sizeof sum);
    uint64_t made = atomic_load(&r->hdr->heap_buckets_made);
    for (uint64_t k = 0; k < made && k < r->nbuckets; k++) {
        uint32_t i = atomic_load(&r->bucket_order[k]);
        struct heap_bucket *b = i ? &r->buckets[i - 1] : NULL;
        if (b && atomic_load(&b->ready) && b->nframes > 1 && r->heap_frames[b->frames] == leaf) {
            any = 1;
            struct heap_totals *t = totals_of(r, b);
            sum.alloc_count += t->alloc_count;
            sum.alloc_bytes += t->alloc_bytes;
            sum.free_count += t->free_count;
            sum.free_bytes += t->free_bytes;
        }
    }
    return any ? &sum : NULL;
}

static int counts(const struct heap_totals *b, uint64_t ac, uint64_t ab, uint64_t fc,
                  uint64_t fb)
{
    if (b && b->alloc_count == ac && b->alloc_bytes == ab && b->free_count == fc &&
        b->free_bytes == fb)
        return 1;
    if (b)
        fprintf(stderr, "  buckets: %llu %llu %llu %llu, want %llu %llu %llu %llu\n",
                (unsigned long long)b->alloc_count, (unsigned long long)b->alloc_bytes,
                (unsigned long long)b->free_count, (unsigned long long)b->free_bytes,
                (unsigned long long)ac, (unsigned long long)ab, (unsigned long long)fc,
                (unsigned long long)fb);
    return 0;
}

static void records(void)
{
    static struct rec_seen seen;
    struct ring ring;
    int fd = -1;
    uint64_t m;
    CHECK(ring_create(&ring, 16, 1, &fd) == 0);
    close(fd);
    void *mem = table_mem(7);
    table_init(&gp_heap.set, mem, 7);
    gp_heap.rate = 512 * 1024;
    gp_heap.skip_lo = gp_heap.skip_hi = 0;   /* (libgoprof.so's text in the library) */
    gp_sample.ring = &ring;
    atomic_store(&gp_sample.enabled, 1);
    unwind_configure(NULL);   /* a C program; our pid for the fault-safe reads */

    /* one call site, so one stack: one bucket */
    static const uint64_t addr[2] = { 0x5000, 0x6000 }, size[2] = { 100, 200 };
    for (volatile int i = 0; i < 2; i++)   /* (volatile: not unrolled into two sites) */
        alloc_site(addr[i], size[i]);
    CHECK(atomic_load(&ring.hdr->heap_buckets_made) == 1);
    struct heap_bucket *b = &ring.buckets[atomic_load(&ring.bucket_order[0]) - 1];
    CHECK(counts(totals_of(&ring, b), 2, 300, 0, 0));
    /* the walk starts at the interposer's caller: the leaf is alloc_site's call, a return
     * address (not exact) */
    printf("# the bucket's stack: %d frames\n", b->nframes);
    CHECK(b->nframes > 2 && !(ring.heap_frames[b->frames] & GP_PC_EXACT) &&
          pc_in(ring.heap_frames[b->frames], alloc_site));
    uint32_t bi = (uint32_t)(b - ring.buckets);
    uint64_t in_alloc_site = ring.heap_frames[b->frames];
    /* the table keeps each block's bucket and size, for its free */
    CHECK(heap_take(0x5000, &m) == 1 && heap_meta_bucket(m) == bi && heap_meta_size(m) == 100);
    CHECK(heap_take(0x5000, &m) == 0);
    free_site(m);
    CHECK(counts(totals_of(&ring, b), 2, 300, 1, 100));
    /* realloc: moved and grown (200 -> 300), then shrunk in place (300 -> 50): in-use bytes
     * (alloc - free) follow, the block keeps its bucket */
    CHECK(heap_take(0x6000, &m) == 1);
    move_site(m, 0x7000, 300);
    struct heap_totals *t = totals_of(&ring, b);
    CHECK(t->alloc_bytes - t->free_bytes == 300 && t->free_count == 1);
    CHECK(heap_take(0x7000, &m) == 1 && heap_meta_bucket(m) == bi && heap_meta_size(m) == 300);
    move_site(m, 0x7000, 50);
    t = totals_of(&ring, b);
    CHECK(t->alloc_bytes - t->free_bytes == 50);
    CHECK(heap_take(0x9000, &m) == 0);   /* never sampled */
    CHECK(heap_take(0x7000, &m) == 1 && heap_meta_size(m) == 50);
    free_site(m);
    t = totals_of(&ring, b);
    CHECK(t->alloc_count == t->free_count && t->alloc_bytes == t->free_bytes);
    /* nothing of it reaches the ring */
    seen.n = 0;
    CHECK(ring_read(&ring, keep, &seen) == 0);

    /* an address allocated again without its free seen: the old block leaves in-use */
    static const uint64_t again[2] = { 24, 40 };
    for (volatile int i = 0; i < 2; i++)
        alloc_site(0x100010, again[i]);
    CHECK(counts(sum_at_leaf(&ring, in_alloc_site), 4, 364, 3, 324));   /* with b's */
    CHECK(heap_take(0x100010, &m) == 1 && heap_meta_size(m) == 40);
    free_site(m);

    /* a full table: the allocation is counted, and counted as freed at once (it cannot be
     * followed); the loss said */
    const uint64_t tries = 64 * (HEAP_SET_LINE_SLOTS << 7), held = heap_set_count(&gp_heap.set);
    for (uint64_t i = 0; i < tries; i++)
        heap_set_insert(&gp_heap.set, 0x400000 + i * 16, 0, &m);
    CHECK(heap_set_count(&gp_heap.set) == (HEAP_SET_LINE_SLOTS << 7));   /* every slot */
    alloc_site(0x500000, 32);
    CHECK(!heap_set_contains(&gp_heap.set, 0x500000));
    CHECK(atomic_load(&ring.hdr->heap_drops[GP_HEAP_DROP_SET_FULL]) == 1);
    CHECK(counts(sum_at_leaf(&ring, in_alloc_site), 5, 396, 5, 396));
    for (uint64_t i = 0; i < tries; i++)
        heap_set_remove(&gp_heap.set, 0x400000 + i * 16, &m);
    CHECK(heap_set_count(&gp_heap.set) == held);

    /* our SIGPROF handler's samples while the path is busy are deferred to its end: a CPU
     * record in the ring */
    gp_heap_thread.busy = 1;
    CHECK(heap_defer_cpu_sample(3) == 1);
    gp_heap_thread.busy = 0;
    CHECK(heap_defer_cpu_sample(1) == 0);
    alloc_site(0x200000, 64);
    seen.n = 0;
    ring_read(&ring, keep, &seen);
    CHECK(seen.n == 1 && seen.r[0].h.flags == 0 && seen.r[0].h.weight == 3 &&
          seen.r[0].h.nframes > 0);
    CHECK(seen.r[0].h.tid == (uint32_t)gettid() && seen.r[0].h.thread_name[0] != 0);
    CHECK(gp_heap_thread.deferred == 0);
    CHECK(counts(sum_at_leaf(&ring, in_alloc_site), 6, 460, 5, 396));

    /* an interposer that called heap_sampled_call: its frame is on the stack, and left out
     * when it is in libgoprof's text (here: [calling_interposer, its return address]) */
    alloc_site_called(0x210000, 64);
    uint64_t made = atomic_load(&ring.hdr->heap_buckets_made);
    struct heap_bucket *bc = &ring.buckets[atomic_load(&ring.bucket_order[made - 1]) - 1];
    CHECK(counts(totals_of(&ring, bc), 1, 64, 0, 0) && bc->nframes > 2 &&
          pc_in(ring.heap_frames[bc->frames], calling_interposer) &&
          pc_in(ring.heap_frames[bc->frames + 1], alloc_site_called));
    uint64_t in_called = ring.heap_frames[bc->frames + 1];
    gp_heap.skip_lo = (uint64_t)(uintptr_t)calling_interposer;
    gp_heap.skip_hi = (ring.heap_frames[bc->frames] & ~GP_PC_EXACT) + 1;
    alloc_site_called(0x220000, 64);
    gp_heap.skip_lo = gp_heap.skip_hi = 0;
    CHECK(atomic_load(&ring.hdr->heap_buckets_made) == made + 1);
    CHECK(counts(sum_at_leaf(&ring, in_called), 1, 64, 0, 0));
    CHECK(atomic_load(&ring.hdr->heap_drops[GP_HEAP_DROP_NO_BUCKET]) == 0);

    /* sampling off (a fork child that did not join): nothing is counted */
    atomic_store(&gp_sample.enabled, 0);
    alloc_site(0x300000, 64);
    CHECK(counts(sum_at_leaf(&ring, in_alloc_site), 6, 460, 5, 396));
    CHECK(!heap_set_contains(&gp_heap.set, 0x300000));
    gp_sample.ring = NULL;
    ring_destroy(&ring);
    free(mem);
}

/* ---- intervals ------------------------------------------------------------------------------ */

static void intervals(void)
{
    gp_heap.rate = 512 * 1024;
    /* off (before the start, a fork child that did not join): nothing is sampled, and a thread
     * whose countdown ran out looks at gp_heap_on again only HEAP_OFF_LEFT bytes later */
    __atomic_store_n(&gp_heap_on, 0, __ATOMIC_RELAXED);
    gp_heap_thread.rng = 0;
    gp_heap_thread.left = 0;
    uint64_t off_picked = 0;
    for (int i = 0; i < 100000; i++)
        off_picked += (uint64_t)heap_pick(i % 2 ? 16 : 1024 * 1024);
    CHECK(off_picked == 0);
    gp_heap_thread.left = 0;
    CHECK(heap_pick(16) == 0 && gp_heap_thread.left == HEAP_OFF_LEFT);
    CHECK(heap_pick(16) == 0 && gp_heap_thread.left == HEAP_OFF_LEFT - 16);
    CHECK(gp_heap_thread.rng == 0);   /* no interval drawn while off */
    /* on: heap_start's and heap_resume's restart makes the next allocation draw the first one */
    __atomic_store_n(&gp_heap_on, 1, __ATOMIC_RELEASE);
    gp_heap_thread.rng = 12345;
    heap_thread_restart();
    CHECK(gp_heap_thread.left == 0 && gp_heap_thread.rng == 0);
    CHECK(heap_pick(16) == 0 && gp_heap_thread.rng != 0 && gp_heap_thread.left > 0);
    /* 64-byte allocations: one in rate/64 is sampled, on average */
    uint64_t n = 40000000, picked = 0;
    for (uint64_t i = 0; i < n; i++)
        picked += (uint64_t)heap_pick(64);
    double want = (double)n * 64 / (double)gp_heap.rate;
    printf("# 64-byte allocations: %llu sampled of %llu, expected %.0f\n",
           (unsigned long long)picked, (unsigned long long)n, want);
    CHECK(fabs((double)picked - want) < 0.05 * want);
    /* large blocks: sampled with probability 1 - exp(-size/rate) */
    uint64_t big = 1024 * 1024, m = 200000;
    picked = 0;
    for (uint64_t i = 0; i < m; i++)
        picked += (uint64_t)heap_pick(big);
    double p = 1 - exp(-(double)big / (double)gp_heap.rate);
    printf("# 1 MiB allocations: %.3f sampled, expected %.3f\n", (double)picked / (double)m, p);
    CHECK(fabs((double)picked / (double)m - p) < 0.01);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        budget = atof(argv[1]);
    /* the interposers' table (2^20 filter words, 2^16 lines) by rate: a line spans at most
     * rate / 2, and 16 windows at most */
    CHECK(heap_set_home_shift(4095, 20, 16) == -1);
    CHECK(heap_set_home_shift(4096, 20, 16) == 0);
    CHECK(heap_set_home_shift(8191, 20, 16) == 0);
    CHECK(heap_set_home_shift(8192, 20, 16) == 1);
    CHECK(heap_set_home_shift(64 * 1024, 20, 16) == 4);
    CHECK(heap_set_home_shift(512 * 1024, 20, 16) == 4);
    CHECK(heap_set_home_shift(512 * 1024, 16, 16) == 0);
    static const int shifts[] = { -1, 0, 2 };
    for (size_t m = 0; m < sizeof shifts / sizeof shifts[0]; m++) {
        home_shift = shifts[m];
        if (home_shift < 0)
            printf("# homes hashed\n");
        else
            printf("# homes by window, %d a line\n", 1 << home_shift);
        full_table();
        summary_pages();
        /* 300 in 896 slots: hashed, lines overflow and none is full; by window these dense
         * addresses (16 bytes apart) crowd a few homes, and inserts find them full */
        random_ops(7, 300, budget * 0.1);
        random_ops(7, 2000, budget * 0.1);   /* 2000: the table fills */
        random_ops(3, 100, budget * 0.05);   /* tiny (8 lines): long probes, wrap-around */
        churn();
        concurrent(budget * 0.1, 0);
        concurrent(budget * 0.1, 1);
    }
    home_shift = 0;   /* (records' full table: 24 576 addresses 16 bytes apart reach every home) */
    records();
    intervals();
    CHECK(meta_errors == 0);
    return check_done();
}
