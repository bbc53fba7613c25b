/* heapab.c -- the program's side of C memory profiling's cost, side by side in one process.
 *   heapab [THREADS [ROUNDS [PAIRS_PER_BLOCK [WARM_S]]]]
 *          (default 2 threads, 2000 rounds, 10 000 pairs, no warm-up)
 * Each thread runs heapbench's loop (1024 live blocks of 16-4096 bytes, one freed at random and
 * one allocated in its place per pair) on two sets of blocks: one through malloc and free as the
 * program calls them (libgoprof.so's interposers, when preloaded with GOPROF_HEAP_RATE set),
 * the other through libc's own, looked up in libc.so.6 (dlsym on its handle, which the
 * interposers do not see). The two alternate in blocks of PAIRS_PER_BLOCK pairs (about 1 ms),
 * each block timed by the thread's CPU clock; a round is one block of each, in turn first.
 * The ratio of the two in a round cancels what moves both (this VM's other tenants move whole
 * runs by 10-25 %); the median of the rounds' ratios is the figure. Without libgoprof both
 * sets call libc: that run's ratio is the method's own bias (which set is where in the heap,
 * code layout), to divide by.
 *
 * What it does not see: the collector's CPU, which the interposed half causes and which takes
 * a core from the program when all are busy. So it reads the collector's CPU time (schedstat of
 * the process named goprof-<our pid>) over the rounds, to add as a share of the interposed
 * half's CPU time. Nor what libgoprof's presence costs both halves alike, which cancels in the
 * ratio: direct_pair_ps, the direct half's time a pair, set against runs without libgoprof,
 * shows it. Whole runs (run.sh) pay it: on the development VM, CPU profiling's signals by their
 * rate (0.1-0.5 % at 100 Hz); an idle libgoprof, nothing measurable (BENCHMARKS.md,
 * 2026-12-06, third session). Prints key=integer lines for bench/driver.
 *
 * WARM_S: the threads first run both loops, unmeasured, for that many seconds of wall time,
 * and the rounds (and the collector's CPU) are measured after. A process's first samples cost
 * more than its later ones: each CPU sample takes a slot of the ring that no sample has used
 * before, whose page is new to both processes (a page fault in the signal handler and one in
 * the collector's touch-ahead: 5-13 us each on the development VM), until the ring has lapped
 * (GOPROF_RING_SLOTS samples: about 5 s at 100 Hz with two busy threads). A warm-up at least
 * that long measures the steady state a long-running program sees; without one, heapab's
 * seconds-long runs lie within the first lap.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LIVE 1024
#define MAX_THREADS 16

struct set {
    unsigned char *blk[LIVE];
    size_t sz[LIVE];
    uint64_t x;
};

struct worker {
    pthread_t t;
    struct set via_program, via_libc;
    double *ratio;             /* per round: interposed / direct */
    double interposed_ns, direct_ns;
    uint64_t sum;
};

static void *(*libc_malloc)(size_t);
static void (*libc_free)(void *);
static int rounds = 2000;
static long pairs = 10000;
static double warm_s;
static pthread_barrier_t warmed, measuring;   /* the threads and main */

static double thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One block of pairs on s, through alloc and release (the same loop as heapbench.c). */
#define PAIRS(s, alloc, release, sum)                                                     \
    for (long i = 0; i < pairs; i++) {                                                    \
        uint64_t x = (s)->x;                                                              \
        x ^= x << 13;                                                                     \
        x ^= x >> 7;                                                                      \
        x ^= x << 17;                                                                     \
        (s)->x = x;                                                                       \
        int k = (int)(x % LIVE);                                                          \
        (sum) += (s)->blk[k][0] + (s)->blk[k][(s)->sz[k] - 1];                            \
        release((s)->blk[k]);                                                             \
        size_t n = 16 + (x >> 20) % (4096 - 16 + 1);                                      \
        unsigned char *p = alloc(n);                                                      \
        p[0] = (unsigned char)i;                                                          \
        p[n - 1] = (unsigned char)x;                                                      \
        (s)->blk[k] = p;                                                                  \
        (s)->sz[k] = n;                                                                   \
    }

static __attribute__((noinline)) void block_program(struct set *s, uint64_t *sum)
{
    PAIRS(s, malloc, free, *sum)
}

static __attribute__((noinline)) void block_libc(struct set *s, uint64_t *sum)
{
    PAIRS(s, libc_malloc, libc_free, *sum)
}

static void *work(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < LIVE; i++) {
        w->via_program.sz[i] = w->via_libc.sz[i] = 16;
        w->via_program.blk[i] = malloc(16);
        w->via_libc.blk[i] = libc_malloc(16);
    }
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    double until = (double)t.tv_sec + (double)t.tv_nsec * 1e-9 + warm_s;
    do {   /* warm both, for warm_s at least */
        block_program(&w->via_program, &w->sum);
        block_libc(&w->via_libc, &w->sum);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((double)t.tv_sec + (double)t.tv_nsec * 1e-9 < until);
    pthread_barrier_wait(&warmed);      /* main reads the collector's CPU */
    pthread_barrier_wait(&measuring);
    for (int r = 0; r < rounds; r++) {
        double in = 0, di = 0;
        for (int half = 0; half < 2; half++) {   /* odd rounds call libc's first */
            int via_libc = half == (r & 1 ? 0 : 1);
            double t0 = thread_cpu_ns();
            if (via_libc)
                block_libc(&w->via_libc, &w->sum);
            else
                block_program(&w->via_program, &w->sum);
            *(via_libc ? &di : &in) = thread_cpu_ns() - t0;
        }
        w->ratio[r] = in / di;
        w->interposed_ns += in;
        w->direct_ns += di;
    }
    for (int i = 0; i < LIVE; i++) {
        free(w->via_program.blk[i]);
        libc_free(w->via_libc.blk[i]);
    }
    return NULL;
}

/* CPU ns of the collector serving this process (goprof-<pid>, all its threads), or -1. */
static long long collector_cpu_ns(void)
{
    char want[32], path[600], comm[64];
    snprintf(want, sizeof want, "goprof-%d\n", (int)getpid());
    DIR *proc = opendir("/proc");
    if (!proc)
        return -1;
    long long total = -1;
    struct dirent *d;
    while (total < 0 && (d = readdir(proc)) != NULL) {
        if (d->d_name[0] < '1' || d->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/comm", d->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        int is = fgets(comm, sizeof comm, f) && strcmp(comm, want) == 0;
        fclose(f);
        if (!is)
            continue;
        snprintf(path, sizeof path, "/proc/%s/task", d->d_name);
        DIR *tasks = opendir(path);
        struct dirent *t;
        total = 0;
        while (tasks && (t = readdir(tasks)) != NULL) {
            if (t->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "/proc/%s/task/%s/schedstat", d->d_name, t->d_name);
            long long ns;
            if ((f = fopen(path, "r")) != NULL) {
                if (fscanf(f, "%lld", &ns) == 1)
                    total += ns;
                fclose(f);
            }
        }
        if (tasks)
            closedir(tasks);
    }
    closedir(proc);
    return total;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int nthreads = argc > 1 ? atoi(argv[1]) : 2;
    if (argc > 2)
        rounds = atoi(argv[2]);
    if (argc > 3)
        pairs = atol(argv[3]);
    if (argc > 4)
        warm_s = atof(argv[4]);
    if (nthreads < 1 || nthreads > MAX_THREADS || rounds < 1 || pairs < 1 || !(warm_s >= 0))
        return 2;
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    libc_malloc = libc ? (void *(*)(size_t))dlsym(libc, "malloc") : NULL;
    libc_free = libc ? (void (*)(void *))dlsym(libc, "free") : NULL;
    if (!libc_malloc || !libc_free) {
        fprintf(stderr, "heapab: libc's malloc not found\n");
        return 1;
    }
    static struct worker w[MAX_THREADS];
    double *all = calloc((size_t)nthreads * (size_t)rounds, sizeof *all);
    if (!all)
        return 1;
    /* The collector names itself just after its fork: give it up to 2 s when preloaded. */
    long long c0 = collector_cpu_ns();
    for (int i = 0; c0 < 0 && getenv("LD_PRELOAD") && i < 200; i++) {
        usleep(10000);
        c0 = collector_cpu_ns();
    }
    pthread_barrier_init(&warmed, NULL, (unsigned)nthreads + 1);
    pthread_barrier_init(&measuring, NULL, (unsigned)nthreads + 1);
    for (int i = 0; i < nthreads; i++) {
        w[i].via_program.x = w[i].via_libc.x = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
        w[i].ratio = all + (size_t)i * (size_t)rounds;
        pthread_create(&w[i].t, NULL, work, &w[i]);
    }
    pthread_barrier_wait(&warmed);
    if (c0 >= 0)
        c0 = collector_cpu_ns();
    pthread_barrier_wait(&measuring);
    double in = 0, di = 0;
    uint64_t sum = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(w[i].t, NULL);
        in += w[i].interposed_ns;
        di += w[i].direct_ns;
        sum += w[i].sum;
    }
    long long c1 = collector_cpu_ns();
    size_t n = (size_t)nthreads * (size_t)rounds;
    qsort(all, n, sizeof *all, by_value);
    double total_pairs = (double)nthreads * rounds * pairs;
    printf("interposed/direct: median %.4f (quartiles %.4f %.4f), direct %.2f ns/pair, "
           "malloc %s libc's\n",
           all[n / 2], all[n / 4], all[3 * n / 4], di / total_pairs,
           libc_malloc == (void *(*)(size_t))malloc ? "is" : "is not");
    printf("ab_ratio_ppm=%lld\n", (long long)(all[n / 2] * 1e6));
    printf("direct_pair_ps=%lld\n", (long long)(1000.0 * di / total_pairs));
    printf("interposed_cpu_ns=%lld\n", (long long)in);
    printf("collector_cpu_ns=%lld\n", c0 >= 0 && c1 >= c0 ? c1 - c0 : -1LL);
    printf("checksum=%llu\n", (unsigned long long)(sum & 0xffff));
    free(all);
    return 0;
}
