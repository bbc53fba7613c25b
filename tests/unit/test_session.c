/* test_session.c -- the collector's session without a fork, on an injected clock: interval files
 * (%n, %t, contiguous spans, counts), SIGUSR1 cuts, one-file snapshots, the end of the run, exec,
 * and C memory profiles (interval and per-process heap files, delta profiles).
 * Context: tests
 *
 * Each case builds a collector_config writing pprof files into a fresh temporary directory, a
 * ring, and a collector (collector_new); records are written with the ring's writer API,
 * collector_drain reads them into the open windows, and the session's calls are made in the
 * order collector_main makes them (drain, session_alive, session_snapshot, session_finish).
 * C memory events are counted into the ring's table of counts by stack as the program counts
 * them (lib/ring/heap_buckets.h: put_heap); the collector reads the tables only when it writes
 * a heap profile (collector_heap_sync).
 * session_set_clock makes time move only when the test says so; the files are read back with
 * pprof_read_file and checked for exact names, sample counts, leaf addresses and spans.
 */
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "collector/collector.h"
#include "collector/heapmap.h"
#include "collector/session.h"
#include "lib/base/clock.h"
#include "lib/base/record_flags.h"
#include "lib/pprof/pprof_impl.h"
#include "lib/pprof/pprof_read.h"
#include "lib/pprof/pprof_view.h"
#include "lib/ring/ring.h"

/* ---- the injected clock: both clocks move together, only in advance() ---- */
static int64_t mono_ns = 5000 * GP_NS_PER_SEC;
static int64_t real_ns = 1700000000 * GP_NS_PER_SEC;

static int64_t fake_clock(clockid_t id)
{
    return id == CLOCK_REALTIME ? real_ns : mono_ns;
}

static void advance_ms(int64_t ms)
{
    mono_ns += ms * GP_NS_PER_MS;
    real_ns += ms * GP_NS_PER_MS;
}

/* Leaf addresses that tell the records of each step apart. */
#define PC_A 0x1000
#define PC_B 0x2000
#define PC_C 0x3000

/* ---- one case's world ---- */
struct world {
    char dir[256];
    struct ring ring, ring2;     /* the first process's, and another's (test_processes) */
    struct collector_config cfg;
    struct collector *c;
    int64_t t0;                 /* wall clock at the start */
};

/* C memory profiling for the next begin(): the rate (0: off) and GOPROF_HEAP_OUT. */
static uint64_t next_heap_rate;
static const char *next_heap_tmpl = "";

/* The program's table of sampled blocks (program/sample/heap_set.h), as put_heap emulates it:
 * each live sampled block's (ring, address) and its bucket and size. */
struct heap_block {
    const struct ring *ring;     /* NULL: a free entry */
    uint64_t addr, size;
    uint32_t bucket;
};
static struct heap_block heap_blocks[64];

/* A new world's rings may be at the old one's addresses: its blocks are forgotten. */
static void heap_blocks_forget(void)
{
    memset(heap_blocks, 0, sizeof heap_blocks);
}

static void begin(struct world *w, const char *tmpl, uint64_t interval_ms)
{
    memset(w, 0, sizeof *w);
    const char *tmp = getenv("TMPDIR");
    snprintf(w->dir, sizeof w->dir, "%s/test_session.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(w->dir)) {
        perror("mkdtemp");
        exit(2);
    }
    int fd = -1, fd2 = -1;
    /* both with C memory profiling's table: the heap cases count into it (put_heap), the
     * others leave it untouched */
    heap_blocks_forget();
    if (ring_create(&w->ring, 64, 1, &fd) != 0 || ring_create(&w->ring2, 64, 1, &fd2) != 0) {
        perror("ring_create");
        exit(2);
    }
    w->t0 = real_ns;
    struct collector_config *cfg = &w->cfg;
    cfg->app_pid = getpid();
    cfg->keep_fd = cfg->heap_keep_fd = cfg->listen_fd = cfg->conn_fd = -1;
    snprintf(cfg->out_tmpl, sizeof cfg->out_tmpl, "%s/%s", w->dir, tmpl);
    cfg->prog = "test_session";
    cfg->start_sec = (time_t)(real_ns / GP_NS_PER_SEC);
    cfg->interval_ns = interval_ms * (uint64_t)GP_NS_PER_MS;
    cfg->period_ns = 10000000;
    cfg->hz = 100;
    cfg->start_ns = real_ns;
    cfg->version_note = "";
    cfg->layout_note = "";
    cfg->heap_rate = next_heap_rate;
    snprintf(cfg->heap_out_tmpl, sizeof cfg->heap_out_tmpl, "%s/%s", w->dir, next_heap_tmpl);
    w->c = collector_new(cfg);
    /* the leader, then a child (pid 1 is surely not ours: its maps are not read here) */
    if (!w->c || collector_add_ring(w->c, fd, getpid(), "test_session") != 0 ||
        collector_add_ring(w->c, fd2, 1, "child") != 0) {
        perror("collector_new");
        exit(2);
    }
    close(fd);
    close(fd2);
    session_begin(cfg, w->c);
}

static void end(struct world *w)
{
    session_reset();
    collector_free(w->c);
    ring_destroy(&w->ring);
    ring_destroy(&w->ring2);
    DIR *d = opendir(w->dir);
    struct dirent *e;
    char path[512];
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", w->dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(w->dir);
}

/* n records of weight 1 with leaf pc, as the signal handler writes them. */
static void put_in(struct ring *ring, uint64_t pc, int n)
{
    for (int i = 0; i < n; i++) {
        uint64_t pos;
        struct ring_slot *rec = ring_reserve(ring, &pos);
        if (!CHECK(rec != NULL))
            return;
        memset(rec, 0, offsetof(struct ring_record, pc));
        rec->h.tid = 42;
        rec->h.weight = 1;
        rec->h.nframes = 2;
        memcpy(rec->h.thread_name, "worker", 7);
        rec->pc[0] = pc | GP_PC_EXACT;
        rec->pc[1] = 0x9000 | GP_PC_EXACT;
        ring_commit(ring, pos);
    }
}

static void put(struct world *w, uint64_t pc, int n)
{
    put_in(&w->ring, pc, n);
}

/* What the collector loop does after each wait while the program runs. */
static size_t drain_alive(struct world *w)
{
    size_t n = collector_drain(w->c);
    session_alive(w->c);
    return n;
}

static int nfiles(const struct world *w)
{
    int n = 0;
    DIR *d = opendir(w->dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    if (d)
        closedir(d);
    return n;
}

static int exists(const struct world *w, const char *name)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", w->dir, name);
    return stat(path, &st) == 0;
}

static struct pprof *load(const struct world *w, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", w->dir, name);
    struct pprof *p = pprof_read_file(path);
    if (!p)
        fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
    return p;
}

/* Samples whose leaf is at pc; *other gets those with any other leaf. */
static int64_t count_leaf(const struct pprof *p, uint64_t pc, int64_t *other)
{
    int64_t n = 0;
    *other = 0;
    for (size_t i = 0; i < pprof_sample_count(p); i++) {
        struct pprof_frame f[4];
        int64_t count = 0;
        size_t nf = pprof_sample_frames(p, i, f, 4, &count);
        if (nf >= 1 && f[0].address == pc)
            n += count;
        else
            *other += count;
    }
    return n;
}

static int has_comment(const struct pprof *p, const char *text)
{
    for (size_t i = 0; i < pprof_comment_count(p); i++)
        if (strstr(pprof_comment(p, i), text))
            return 1;
    return 0;
}

/* name holds exactly n samples, all with leaf pc, and spans [start_ns, end_ns). */
static void check_file(const struct world *w, const char *name, uint64_t pc, int64_t n,
                       int64_t start_ns, int64_t end_ns)
{
    struct pprof *p = load(w, name);
    if (!CHECK(p != NULL))
        return;
    int64_t other;
    if (!CHECK(count_leaf(p, pc, &other) == n) || !CHECK(other == 0))
        fprintf(stderr, "  %s: %lld at %#llx, %lld elsewhere\n", name,
                (long long)count_leaf(p, pc, &other), (unsigned long long)pc, (long long)other);
    CHECK(pprof_total_count(p) == n);
    if (!CHECK(p->time_nanos == start_ns) || !CHECK(pprof_duration_ns(p) == end_ns - start_ns))
        fprintf(stderr, "  %s: time_nanos %lld (want %lld), duration %lld (want %lld)\n", name,
                (long long)p->time_nanos, (long long)start_ns, (long long)pprof_duration_ns(p),
                (long long)(end_ns - start_ns));
    pprof_free(p);
}

/* %t: the UTC time as YYYYmmddTHHMMSS. */
static const char *stamp(int64_t sec)
{
    static char buf[4][32];
    static int i;
    time_t t = (time_t)sec;
    struct tm tm;
    char *b = buf[i++ % 4];
    if (!gmtime_r(&t, &tm) || strftime(b, sizeof buf[0], "%Y%m%dT%H%M%S", &tm) == 0)
        snprintf(b, sizeof buf[0], "?");
    return b;
}

static int poll_timeout(int start_ms)
{
    struct pollfd fds[SESSION_MAX_FDS];
    int timeout = start_ms;
    CHECK(session_poll_fds(fds, SESSION_MAX_FDS, &timeout) == 0);   /* no HTTP */
    return timeout;
}

/* Interval files: %n from 1, %t each interval's start, spans that follow each other, every
 * record in exactly one file, the last partial interval written at the end. */
static void test_intervals(void)
{
    struct world w;
    char name[128];
    begin(&w, "iv.%n.%t.pb.gz", 1000);
    int64_t s0 = w.t0 / GP_NS_PER_SEC;
    CHECK(strcmp(stamp(s0), "20231114T221320") == 0);   /* the first case starts at 1.7e9 s */

    put(&w, PC_A, 3);
    advance_ms(500);
    CHECK(drain_alive(&w) == 3);
    CHECK(nfiles(&w) == 0);                       /* the interval is not over */
    CHECK(poll_timeout(50) == 50);
    CHECK(poll_timeout(1000) == 500);             /* the wait ends when the interval does */
    advance_ms(499);
    CHECK(drain_alive(&w) == 0);
    CHECK(nfiles(&w) == 0);
    CHECK(poll_timeout(1000) == 1);
    put(&w, PC_A, 2);
    advance_ms(1);                                /* 1 s: due */
    CHECK(poll_timeout(1000) == 0);
    CHECK(drain_alive(&w) == 2);                  /* drained before the interval's end */
    CHECK(nfiles(&w) == 1);
    snprintf(name, sizeof name, "iv.1.%s.pb.gz", stamp(s0));
    CHECK(exists(&w, name));
    check_file(&w, name, PC_A, 5, w.t0, w.t0 + 1000 * GP_NS_PER_MS);

    put(&w, PC_B, 4);
    advance_ms(1000);
    CHECK(drain_alive(&w) == 4);
    CHECK(nfiles(&w) == 2);
    snprintf(name, sizeof name, "iv.2.%s.pb.gz", stamp(s0 + 1));
    CHECK(exists(&w, name));
    check_file(&w, name, PC_B, 4, w.t0 + 1000 * GP_NS_PER_MS, w.t0 + 2000 * GP_NS_PER_MS);

    /* Writing took longer than an interval (3.5 s late): one file, no catching up, and the
     * next interval lasts a full one from now. */
    put(&w, PC_C, 1);
    advance_ms(3500);
    CHECK(drain_alive(&w) == 1);
    CHECK(nfiles(&w) == 3);
    snprintf(name, sizeof name, "iv.3.%s.pb.gz", stamp(s0 + 2));
    check_file(&w, name, PC_C, 1, w.t0 + 2000 * GP_NS_PER_MS, w.t0 + 5500 * GP_NS_PER_MS);
    CHECK(poll_timeout(5000) == 1000);
    advance_ms(999);
    CHECK(drain_alive(&w) == 0);
    CHECK(nfiles(&w) == 3);

    /* The end of the run: the last, partial interval. */
    put(&w, PC_B, 2);
    advance_ms(300);                              /* 6.799 s */
    CHECK(collector_drain(w.c) == 2);
    CHECK(session_finish(w.c) == 0);
    CHECK(nfiles(&w) == 4);
    snprintf(name, sizeof name, "iv.4.%s.pb.gz", stamp(s0 + 5));
    CHECK(exists(&w, name));
    check_file(&w, name, PC_B, 2, w.t0 + 5500 * GP_NS_PER_MS, w.t0 + 6799 * GP_NS_PER_MS);
    /* The files add up to the run: 5 + 4 + 1 + 2, which the last one's comment says too. */
    CHECK(collector_total(w.c) == 12);
    struct pprof *p = load(&w, name);
    if (CHECK(p != NULL)) {
        CHECK(has_comment(p, "samples 2, lost 0, unsampled 0"));
        CHECK(has_comment(p, "run so far: samples 12, lost 0, unsampled 0"));
        pprof_free(p);
    }
    end(&w);
}

/* SIGUSR1 in interval mode: the current interval ends at once, the next lasts a full one. */
static void test_interval_cut(void)
{
    struct world w;
    begin(&w, "cut.%n.pb.gz", 1000);
    put(&w, PC_A, 2);
    advance_ms(400);
    CHECK(drain_alive(&w) == 2);
    CHECK(nfiles(&w) == 0);
    session_snapshot(w.c);
    CHECK(nfiles(&w) == 1);
    check_file(&w, "cut.1.pb.gz", PC_A, 2, w.t0, w.t0 + 400 * GP_NS_PER_MS);
    struct pprof *p = load(&w, "cut.1.pb.gz");
    if (CHECK(p != NULL)) {
        CHECK(has_comment(p, "samples 2, lost 0, unsampled 0, by SIGUSR1"));
        pprof_free(p);
    }
    CHECK(poll_timeout(5000) == 1000);

    put(&w, PC_B, 3);
    advance_ms(900);                              /* past the first due time (1 s), not the new */
    CHECK(drain_alive(&w) == 3);
    CHECK(nfiles(&w) == 1);
    CHECK(poll_timeout(5000) == 100);
    advance_ms(100);
    CHECK(drain_alive(&w) == 0);
    CHECK(nfiles(&w) == 2);
    check_file(&w, "cut.2.pb.gz", PC_B, 3, w.t0 + 400 * GP_NS_PER_MS,
               w.t0 + 1400 * GP_NS_PER_MS);

    /* A second cut right after the first: an interval of nothing, numbered on. */
    session_snapshot(w.c);
    CHECK(nfiles(&w) == 3);
    check_file(&w, "cut.3.pb.gz", PC_A, 0, w.t0 + 1400 * GP_NS_PER_MS,
               w.t0 + 1400 * GP_NS_PER_MS);
    put(&w, PC_C, 1);
    advance_ms(250);
    CHECK(collector_drain(w.c) == 1);
    CHECK(session_finish(w.c) == 0);
    CHECK(nfiles(&w) == 4);
    check_file(&w, "cut.4.pb.gz", PC_C, 1, w.t0 + 1400 * GP_NS_PER_MS,
               w.t0 + 1650 * GP_NS_PER_MS);
    p = load(&w, "cut.4.pb.gz");
    if (CHECK(p != NULL)) {
        CHECK(has_comment(p, "samples 1, lost 0, unsampled 0"));
        pprof_free(p);
    }
    end(&w);
}

/* One file for the run: a snapshot writes the run so far under the final name, the end
 * rewrites it complete. */
static void test_one_file(void)
{
    struct world w;
    char name[128];
    begin(&w, "one.%t.pb.gz", 0);
    snprintf(name, sizeof name, "one.%s.pb.gz", stamp(w.t0 / GP_NS_PER_SEC));
    put(&w, PC_A, 2);
    advance_ms(1000);
    CHECK(drain_alive(&w) == 2);
    CHECK(poll_timeout(50) == 50);                /* no interval: nothing to wake up for */
    advance_ms(5000);
    CHECK(drain_alive(&w) == 0);
    CHECK(nfiles(&w) == 0);
    session_snapshot(w.c);
    CHECK(nfiles(&w) == 1);
    check_file(&w, name, PC_A, 2, w.t0, w.t0 + 6000 * GP_NS_PER_MS);
    struct pprof *p = load(&w, name);
    if (CHECK(p != NULL)) {
        CHECK(has_comment(p, "samples 2, lost 0, unsampled 0, snapshot by SIGUSR1"));
        pprof_free(p);
    }

    put(&w, PC_A, 3);
    advance_ms(1500);
    CHECK(drain_alive(&w) == 3);
    CHECK(session_finish(w.c) == 0);
    CHECK(nfiles(&w) == 1);                       /* the same name, rewritten */
    check_file(&w, name, PC_A, 5, w.t0, w.t0 + 7500 * GP_NS_PER_MS);
    p = load(&w, name);
    if (CHECK(p != NULL)) {
        CHECK(!has_comment(p, "SIGUSR1"));
        CHECK(has_comment(p, "run so far: samples 5, lost 0, unsampled 0"));
        pprof_free(p);
    }
    end(&w);
}

/* The run's file is written at the end even when empty. */
static void test_empty(void)
{
    struct world w;
    begin(&w, "exit.pb.gz", 0);
    advance_ms(20);
    CHECK(session_finish(w.c) == 0);
    CHECK(nfiles(&w) == 1);
    check_file(&w, "exit.pb.gz", PC_A, 0, w.t0, w.t0 + 20 * GP_NS_PER_MS);
    end(&w);
}

/* Whether sample i of p has name as its outermost frame. */
static int root_is(const struct pprof *p, size_t i, const char *name)
{
    struct pprof_frame f[8];
    int64_t count;
    size_t n = pprof_sample_frames(p, i, f, 8, &count);
    return n > 0 && n <= 8 && f[n - 1].name && !strcmp(f[n - 1].name, name);
}

/* Two processes: one file holds both, the child's stacks under "[process: child]"; with %p,
 * one file per process, and none for a process without samples. */
static void test_processes(void)
{
    struct world w;
    char name[128];
    begin(&w, "tree.pb.gz", 0);
    put(&w, PC_A, 2);
    put_in(&w.ring2, PC_B, 3);
    advance_ms(100);
    CHECK(drain_alive(&w) == 5);
    CHECK(session_finish(w.c) == 0);
    CHECK(nfiles(&w) == 1);
    struct pprof *p = load(&w, "tree.pb.gz");
    if (CHECK(p != NULL)) {
        int64_t other;
        CHECK(count_leaf(p, PC_A, &other) == 2 && other == 3);
        int child_roots = 0, leader_roots = 0;
        for (size_t i = 0; i < pprof_sample_count(p); i++) {
            child_roots += root_is(p, i, "[process: child]");
            leader_roots += root_is(p, i, "[process: test_session]");
        }
        CHECK(child_roots == 1 && leader_roots == 0);
        CHECK(has_comment(p, "processes: 2 joined, 2 with samples, 0 refused"));
        pprof_free(p);
    }
    end(&w);

    begin(&w, "proc.%p.pb.gz", 0);
    put_in(&w.ring2, PC_B, 3);
    advance_ms(100);
    CHECK(drain_alive(&w) == 3);
    CHECK(session_finish(w.c) == 0);
    CHECK(nfiles(&w) == 1);                       /* the leader took no sample: no file */
    check_file(&w, "proc.1.pb.gz", PC_B, 3, w.t0, w.t0 + 100 * GP_NS_PER_MS);
    end(&w);

    begin(&w, "both.%p.pb.gz", 0);
    put(&w, PC_A, 1);
    put_in(&w.ring2, PC_B, 2);
    advance_ms(100);
    CHECK(drain_alive(&w) == 3);
    CHECK(session_finish(w.c) == 0);
    CHECK(nfiles(&w) == 2);
    snprintf(name, sizeof name, "both.%d.pb.gz", (int)getpid());
    check_file(&w, name, PC_A, 1, w.t0, w.t0 + 100 * GP_NS_PER_MS);
    check_file(&w, "both.1.pb.gz", PC_B, 2, w.t0, w.t0 + 100 * GP_NS_PER_MS);
    end(&w);
}

/* ---- C memory profiles ---- */

#define HEAP_S1 0x4100
#define HEAP_S2 0x4200

/* C memory events, as the program's interposers count them (program/sample/heap_sample.c). */
enum heap_op { HEAP_ALLOC, HEAP_FREE, HEAP_MOVE };

static struct heap_block *heap_block_of(const struct ring *ring, uint64_t addr)
{
    for (size_t i = 0; i < sizeof heap_blocks / sizeof heap_blocks[0]; i++)
        if (heap_blocks[i].ring == ring && heap_blocks[i].addr == addr)
            return &heap_blocks[i];
    return NULL;
}

/* Block addr of ring, with its bucket and size, into the table of sampled blocks; a block
 * already there at addr (freed where the program did not see it) leaves in-use first. */
static void heap_block_put(struct ring *ring, uint64_t addr, uint32_t bucket, uint64_t size)
{
    struct heap_block *e = heap_block_of(ring, addr);
    if (e)
        heap_bucket_count_free(heap_counts_at(ring, e->bucket, (uint32_t)addr), e->size);
    else
        e = heap_block_of(NULL, 0);
    if (!CHECK(e != NULL))   /* (the test's table is large enough) */
        return;
    *e = (struct heap_block){ .ring = ring, .addr = addr, .size = size, .bucket = bucket };
}

/* A sampled C memory event, counted into ring's table as the program counts it: ALLOC of size
 * bytes at addr, stack (leaf, 0x9000), in that stack's bucket; FREE of the block at addr (one
 * the program did not sample or never allocated: nothing); MOVE (realloc) of the block at old
 * to addr, in place or not, now size bytes: it keeps its bucket, its in-use bytes become size. */
static void put_heap(struct ring *ring, enum heap_op op, uint64_t leaf, uint64_t addr,
                     uint64_t size, uint64_t old)
{
    static struct ring_record scratch;   /* 8 KiB: not on the stack, as the program's */
    struct heap_block *e;
    switch (op) {
    case HEAP_ALLOC: {
        memset(&scratch, 0, offsetof(struct ring_record, pc));
        scratch.h.nframes = 2;
        scratch.pc[0] = leaf | GP_PC_EXACT;
        scratch.pc[1] = 0x9000 | GP_PC_EXACT;
        uint32_t i = heap_bucket_find(ring, &scratch);
        CHECK(i < ring->nbuckets);   /* a stack of its own, not the overflow bucket */
        heap_bucket_count_alloc(heap_counts_at(ring, i, (uint32_t)size), size);
        heap_block_put(ring, addr, i, size);
        break;
    }
    case HEAP_FREE:
        if ((e = heap_block_of(ring, addr)) != NULL) {
            heap_bucket_count_free(heap_counts_at(ring, e->bucket, (uint32_t)addr), e->size);
            e->ring = NULL;
        }
        break;
    case HEAP_MOVE:
        if ((e = heap_block_of(ring, old)) != NULL) {
            uint32_t i = e->bucket;
            heap_bucket_count_resize(heap_counts_at(ring, i, (uint32_t)old), e->size, size);
            e->ring = NULL;
            heap_block_put(ring, addr, i, size);
        }
        break;
    }
}

/* The four values of the sample with leaf pc (and, when root is not NULL, that root frame):
 * 1 when found. */
static int heap_values(const struct pprof *p, uint64_t pc, const char *root, int64_t v[4],
                       int64_t *bytes_label)
{
    const char *names[4] = { "alloc_objects", "alloc_space", "inuse_objects", "inuse_space" };
    for (size_t i = 0; i < pprof_sample_count(p); i++) {
        struct pprof_frame f[8];
        int64_t count;
        size_t n = pprof_sample_frames(p, i, f, 8, &count);
        if (n < 1 || n > 8 || f[0].address != pc)
            continue;
        if ((root != NULL) != (f[n - 1].name && !strncmp(f[n - 1].name, "[process: ", 10)))
            continue;
        for (int k = 0; k < 4; k++)
            v[k] = pprof_sample_value(p, i, (size_t)pprof_value_index(p, names[k]));
        *bytes_label = 0;
        pprof_sample_num_label(p, i, "bytes", bytes_label);
        return 1;
    }
    return 0;
}

static int values_are(const struct pprof *p, uint64_t pc, const char *root, int64_t a0,
                      int64_t a1, int64_t i0, int64_t i1, int64_t bytes)
{
    int64_t v[4], b;
    if (!heap_values(p, pc, root, v, &b)) {
        fprintf(stderr, "  no heap sample at %#llx\n", (unsigned long long)pc);
        return 0;
    }
    if (v[0] == a0 && v[1] == a1 && v[2] == i0 && v[3] == i1 && b == bytes)
        return 1;
    fprintf(stderr, "  %#llx: %lld %lld %lld %lld bytes=%lld, want %lld %lld %lld %lld %lld\n",
            (unsigned long long)pc, (long long)v[0], (long long)v[1], (long long)v[2],
            (long long)v[3], (long long)b, (long long)a0, (long long)a1, (long long)i0,
            (long long)i1, (long long)bytes);
    return 0;
}

/* Copies name into $TEST_SESSION_KEEP when set (run_heap_pprof.sh reads them with pprof). */
static void keep(const struct world *w, const char *name)
{
    const char *dir = getenv("TEST_SESSION_KEEP");
    if (!dir || !*dir)
        return;
    char from[512], to[512], buf[4096];
    snprintf(from, sizeof from, "%s/%s", w->dir, name);
    snprintf(to, sizeof to, "%s/%s", dir, name);
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    size_t n;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

/* Interval heap files: Go's four values un-sampled (by hand: python3, c*s and b*s with
 * s = 1/(1-math.exp(-(b/c)/524288))), in-use as of each interval's end (the tables read as
 * each heap file is written), alloc cumulative, the child's buckets its own, a free of a block
 * the process never sampled counting nothing, a realloc in place changing in-use bytes only;
 * the counts are no ring records: CPU files and the drains untouched by them. */
static void test_heap_intervals(void)
{
    struct world w;
    next_heap_rate = 524288;
    next_heap_tmpl = "heap.%n.pb.gz";
    begin(&w, "cpu.%n.pb.gz", 1000);
    put_heap(&w.ring, HEAP_ALLOC, HEAP_S1, 0x1000, 1048576, 0);
    put_heap(&w.ring, HEAP_ALLOC, HEAP_S1, 0x2000, 1048576, 0);
    put_heap(&w.ring, HEAP_ALLOC, HEAP_S2, 0x3000, 100, 0);
    put(&w, PC_A, 1);
    advance_ms(1000);
    CHECK(drain_alive(&w) == 1);
    CHECK(nfiles(&w) == 2);
    check_file(&w, "cpu.1.pb.gz", PC_A, 1, w.t0, w.t0 + 1000 * GP_NS_PER_MS);
    struct pprof *p = load(&w, "heap.1.pb.gz");
    if (CHECK(p != NULL)) {
        CHECK(pprof_value_count(p) == 4 && !strcmp(pprof_value_type(p, 0), "alloc_objects") &&
              !strcmp(pprof_value_type(p, 3), "inuse_space"));
        CHECK(pprof_period_ns(p) == 524288);
        CHECK(pprof_sample_count(p) == 2);
        CHECK(values_are(p, HEAP_S1, NULL, 2, 2425393, 2, 2425393, 1048576));
        CHECK(values_are(p, HEAP_S2, NULL, 5243, 524338, 5243, 524338, 100));
        CHECK(has_comment(p, "sampled allocations 3, frees 0; stacks over the limit 0, "
                             "unreadable 0"));
        CHECK(has_comment(p, "allocations sampled every 524288 bytes"));
        pprof_free(p);
    }
    keep(&w, "heap.1.pb.gz");

    /* the leader frees one MiB block, the child allocates at the same address, and frees a
     * block it never allocated (its parent's: not in its table of sampled blocks, nothing) */
    put_heap(&w.ring, HEAP_FREE, 0, 0x1000, 0, 0);
    put_heap(&w.ring2, HEAP_ALLOC, HEAP_S2, 0x1000, 100, 0);
    put_heap(&w.ring2, HEAP_ALLOC, HEAP_S2, 0x1100, 100, 0);
    put_heap(&w.ring2, HEAP_ALLOC, HEAP_S2, 0x1200, 100, 0);
    put_heap(&w.ring2, HEAP_FREE, 0, 0x2000, 0, 0);
    /* realloc grows the leader's 100-byte block in place */
    put_heap(&w.ring, HEAP_MOVE, 0, 0x3000, 1048576, 0x3000);
    advance_ms(1000);
    CHECK(drain_alive(&w) == 0);
    CHECK(nfiles(&w) == 4);
    check_file(&w, "cpu.2.pb.gz", PC_A, 0, w.t0 + 1000 * GP_NS_PER_MS,
               w.t0 + 2000 * GP_NS_PER_MS);
    p = load(&w, "heap.2.pb.gz");
    if (CHECK(p != NULL)) {
        CHECK(pprof_sample_count(p) == 3);
        CHECK(values_are(p, HEAP_S1, NULL, 2, 2425393, 1, 1212696, 1048576));
        /* in-use of S2 is now one block of 1 MiB (alloc figures stay as allocated) */
        CHECK(values_are(p, HEAP_S2, NULL, 5243, 524338, 1, 1212696, 100));
        CHECK(values_are(p, HEAP_S2, "[process: child]", 15730, 1573014, 15730, 1573014, 100));
        /* the child's free of its parent's block is no free: only the leader's counts */
        CHECK(has_comment(p, "sampled allocations 6, frees 1; stacks over the limit 0"));
        pprof_free(p);
    }
    keep(&w, "heap.2.pb.gz");
    /* the end: a last interval of each */
    CHECK(session_finish(w.c) == 0);
    CHECK(nfiles(&w) == 6 && exists(&w, "heap.3.pb.gz"));
    end(&w);
    next_heap_rate = 0;
    next_heap_tmpl = "";
}

/* %p: one heap file per process with heap samples; off: no heap file, the programs' tables
 * never read. */
static void test_heap_files(void)
{
    struct world w;
    char name[128];
    next_heap_rate = 1;   /* every allocation sampled: no scaling */
    next_heap_tmpl = "h.%p.pb.gz";
    begin(&w, "c.pb.gz", 0);
    put_heap(&w.ring, HEAP_ALLOC, HEAP_S1, 0x1000, 10, 0);
    put_heap(&w.ring2, HEAP_ALLOC, HEAP_S2, 0x1000, 30, 0);
    put_heap(&w.ring2, HEAP_ALLOC, HEAP_S2, 0x2000, 50, 0);
    advance_ms(100);
    CHECK(drain_alive(&w) == 0);
    CHECK(session_finish(w.c) == 0);
    CHECK(nfiles(&w) == 3);
    snprintf(name, sizeof name, "h.%d.pb.gz", (int)getpid());
    struct pprof *p = load(&w, name);
    if (CHECK(p != NULL)) {
        CHECK(pprof_sample_count(p) == 1 && values_are(p, HEAP_S1, NULL, 1, 10, 1, 10, 10));
        pprof_free(p);
    }
    p = load(&w, "h.1.pb.gz");
    if (CHECK(p != NULL)) {
        CHECK(pprof_sample_count(p) == 1);
        CHECK(values_are(p, HEAP_S2, "[process: child]", 2, 80, 2, 80, 40));
        pprof_free(p);
    }
    end(&w);
    next_heap_rate = 0;
    next_heap_tmpl = "";

    begin(&w, "off.pb.gz", 0);
    put_heap(&w.ring, HEAP_ALLOC, HEAP_S1, 0x1000, 10, 0);
    advance_ms(100);
    CHECK(drain_alive(&w) == 0);
    CHECK(session_finish(w.c) == 0);
    CHECK(nfiles(&w) == 1);
    check_file(&w, "off.pb.gz", PC_A, 0, w.t0, w.t0 + 100 * GP_NS_PER_MS);
    end(&w);
}

/* Go's delta profile (heap?seconds=N, allocs?seconds=N): each figure minus its value at the
 * snapshot (taken after a sync of the tables, as httpd.c does); a bucket with no change left
 * out; in-use may go down; a bucket made since counted whole; "bytes" the window's own block
 * size where it allocated; the window's duration. */
static void test_heap_delta(void)
{
    struct world w;
    next_heap_rate = 1;   /* no scaling: the figures are the sampled ones */
    next_heap_tmpl = "d.pb.gz";
    begin(&w, "dc.pb.gz", 0);
    put_heap(&w.ring, HEAP_ALLOC, HEAP_S1, 0x1000, 10, 0);
    put_heap(&w.ring, HEAP_ALLOC, HEAP_S2, 0x2000, 30, 0);
    put_heap(&w.ring, HEAP_ALLOC, PC_A, 0x5000, 99, 0);   /* no change later */
    advance_ms(100);
    CHECK(drain_alive(&w) == 0);
    collector_heap_sync(w.c);
    struct heapmap_snapshot d;
    CHECK(heapmap_snapshot(collector_heap(w.c), real_ns, &d) == 0 && d.len == 3);
    put_heap(&w.ring, HEAP_FREE, 0, 0x1000, 0, 0);
    put_heap(&w.ring, HEAP_ALLOC, HEAP_S2, 0x3000, 50, 0);
    put_heap(&w.ring, HEAP_ALLOC, PC_B, 0x4000, 7, 0);    /* a new bucket */
    advance_ms(1000);
    CHECK(drain_alive(&w) == 0);
    char path[600];
    snprintf(path, sizeof path, "%s/delta.pb.gz", w.dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0 && session_render_heap(w.c, 0, &d, fd) == 0);
    if (fd >= 0)
        close(fd);
    struct pprof *p = load(&w, "delta.pb.gz");
    if (CHECK(p != NULL)) {
        CHECK(pprof_sample_count(p) == 3);
        CHECK(values_are(p, HEAP_S1, NULL, 0, 0, -1, -10, 10));
        CHECK(values_are(p, HEAP_S2, NULL, 1, 50, 1, 50, 50));
        CHECK(values_are(p, PC_B, NULL, 1, 7, 1, 7, 7));
        CHECK(pprof_duration_ns(p) == 1000 * GP_NS_PER_MS);
        CHECK(has_comment(p, "delta profile: every figure is its change over the last 1.0 s"));
        pprof_free(p);
    }
    /* an empty snapshot (no bucket yet): everything counts whole */
    struct heapmap_snapshot none = { .counts = NULL, .len = 0, .at_ns = real_ns - GP_NS_PER_SEC };
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0 && session_render_heap(w.c, 1, &none, fd) == 0);
    if (fd >= 0)
        close(fd);
    p = load(&w, "delta.pb.gz");
    if (CHECK(p != NULL)) {
        CHECK(pprof_sample_count(p) == 4 && values_are(p, PC_A, NULL, 1, 99, 1, 99, 99));
        pprof_free(p);
    }
    free(d.counts);
    CHECK(session_finish(w.c) == 0);
    end(&w);
    next_heap_rate = 0;
    next_heap_tmpl = "";
}

int main(void)
{
    session_set_clock(fake_clock);
    test_intervals();
    test_interval_cut();
    test_one_file();
    test_empty();
    test_processes();
    test_heap_intervals();
    test_heap_files();
    test_heap_delta();
    session_set_clock(NULL);
    return check_done();
}
