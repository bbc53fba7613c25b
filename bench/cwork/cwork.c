/* cwork.c -- the C workloads of the benchmarks (bench/README.md).
 *
 * Built -O2 without frame pointers, as distribution C code is: only .eh_frame CFI unwinds it.
 * Every mode does a fixed amount of work in units of about 1 ms of CPU (the driver measures
 * the iterations per unit once per session with `calib` and passes them with -i):
 *
 *   cwork spin  -t N -u U [-d D]    N threads, each U units: c_rec x D -> c_leaf
 *   cwork churn -t N -u U -l L      N slots, each running U units as a series of short-lived
 *                                   threads of L units (created, joined, replaced)
 *   cwork ratio -u U                50/50: c_a and c_b in chunks of 0.5-1.5 units (random), always
 *                                   running the one behind in CLOCK_THREAD_CPUTIME_ID; prints the
 *                                   true split
 *   cwork calib                     prints citers= (c_leaf iterations per ms)
 *
 * stdout (key=value lines): wall_ns and win_cpu_ns (getrusage user+sys) of the work window,
 * threads (created), a_cpu_ns/b_cpu_ns (ratio), cpu_ns (the process's getrusage at the end),
 * rss_kb (VmHWM: this image's peak RSS; wait4's ru_maxrss would include the parent's before exec).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define NOINLINE __attribute__((noinline, noclone))

static volatile uint64_t sink;
static long iters = 0;          /* c_leaf iterations per unit */
static int depth = 30;
static long units = 1000, life = 1;

static int64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* VmHWM of /proc/self/status, in KiB (-1 if unreadable). */
static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static int64_t rusage_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* The same loop in each leaf, with a different constant K so that the compiler cannot fold the
 * functions into one (GCC's identical code folding would give them all one name). */
#define XORSHIFT_LOOP(n, K)                                                                      \
    uint64_t x = sink | 1;                                                                       \
    for (long i = 0; i < (n); i++) {                                                             \
        x ^= x << 13;                                                                            \
        x ^= x >> 7;                                                                             \
        x ^= x << 17;                                                                            \
        x += (K);                                                                                \
    }                                                                                            \
    sink = x;                                                                                    \
    return x;

NOINLINE static uint64_t c_leaf(long n) { XORSHIFT_LOOP(n, 1) }
NOINLINE static uint64_t c_a(long n) { XORSHIFT_LOOP(n, 3) }
NOINLINE static uint64_t c_b(long n) { XORSHIFT_LOOP(n, 5) }
NOINLINE static uint64_t c_probe(long n) { XORSHIFT_LOOP(n, 7) }

NOINLINE static uint64_t c_rec(int d, long n)
{
    uint64_t r = d <= 0 ? c_leaf(n) : c_rec(d - 1, n);
    __asm__ volatile("" : "+r"(r) : : "memory");
    return r + 1;
}

static void *spin_thread(void *arg)
{
    long u = *(long *)arg;
    for (long i = 0; i < u; i++)
        c_rec(depth, iters);
    return NULL;
}

static long created;
static pthread_mutex_t created_mu = PTHREAD_MUTEX_INITIALIZER;

static int spawn(pthread_t *t, long *u)
{
    int err = pthread_create(t, NULL, spin_thread, u);
    if (err) {
        fprintf(stderr, "cwork: pthread_create: %s\n", strerror(err));
        exit(1);
    }
    pthread_mutex_lock(&created_mu);
    created++;
    pthread_mutex_unlock(&created_mu);
    return 0;
}

/* One churn slot: its units as a series of short threads of `life` units each. */
static void *churn_slot(void *arg)
{
    (void)arg;
    for (long done = 0; done < units; done += life) {
        long u = units - done < life ? units - done : life;
        pthread_t t;
        spawn(&t, &u);
        pthread_join(t, NULL);
    }
    return NULL;
}

static long per_ms(void)
{
    const long probe = 1 << 20;
    int64_t best = INT64_MAX;
    for (int i = 0; i < 9; i++) {
        int64_t t0 = clock_ns(CLOCK_MONOTONIC);
        c_probe(probe);
        int64_t d = clock_ns(CLOCK_MONOTONIC) - t0;
        if (d < best)
            best = d;
    }
    return (long)((double)probe * 1e6 / (double)(best > 0 ? best : 1));
}

static void usage(void)
{
    fprintf(stderr, "usage: cwork spin|churn|ratio|calib [-t threads] [-u units] [-l life] "
                    "[-d depth] [-i iters]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    int nthreads = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        long v = atol(argv[i + 1]);
        if (!strcmp(argv[i], "-t")) nthreads = (int)v;
        else if (!strcmp(argv[i], "-u")) units = v;
        else if (!strcmp(argv[i], "-l")) life = v;
        else if (!strcmp(argv[i], "-d")) depth = (int)v;
        else if (!strcmp(argv[i], "-i")) iters = v;
        else usage();
    }
    if (nthreads < 1 || units < 1 || life < 1 || depth < 0)
        usage();
    if (!strcmp(mode, "calib") || iters <= 0) {
        iters = per_ms();
        if (!strcmp(mode, "calib")) {
            printf("citers=%ld\n", iters);
            return 0;
        }
    }
    int64_t c0 = rusage_cpu(), t0 = clock_ns(CLOCK_MONOTONIC);
    int64_t a_ns = 0, b_ns = 0;
    if (!strcmp(mode, "spin") || !strcmp(mode, "churn")) {
        int churn = !strcmp(mode, "churn");
        pthread_t *t = calloc((size_t)nthreads, sizeof *t);
        if (!t)
            return 1;
        for (int i = 0; i < nthreads; i++) {
            if (churn) {
                int err = pthread_create(&t[i], NULL, churn_slot, NULL);
                if (err) {
                    fprintf(stderr, "cwork: pthread_create: %s\n", strerror(err));
                    return 1;
                }
            } else {
                spawn(&t[i], &units);
            }
        }
        for (int i = 0; i < nthreads; i++)
            pthread_join(t[i], NULL);
        free(t);
    } else if (!strcmp(mode, "ratio")) {
        /* Chunks of a random 0.5-1.5 units: fixed-length chunks alias with the 4 ms tick that
         * delivers the timer's signals (a tick would keep landing in the same function). */
        uint64_t rng = 0x9E3779B97F4A7C15ull;
        for (long u = 0; u < units; u++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            long n = iters / 2 + (long)(rng % (uint64_t)iters);
            int64_t s = clock_ns(CLOCK_THREAD_CPUTIME_ID);
            if (a_ns <= b_ns) {
                c_a(n);
                a_ns += clock_ns(CLOCK_THREAD_CPUTIME_ID) - s;
            } else {
                c_b(n);
                b_ns += clock_ns(CLOCK_THREAD_CPUTIME_ID) - s;
            }
        }
    } else {
        usage();
    }
    int64_t wall = clock_ns(CLOCK_MONOTONIC) - t0, win = rusage_cpu() - c0;
    printf("wall_ns=%lld\nwin_cpu_ns=%lld\nthreads=%ld\n", (long long)wall, (long long)win,
           created);
    if (!strcmp(mode, "ratio"))
        printf("a_cpu_ns=%lld\nb_cpu_ns=%lld\n", (long long)a_ns, (long long)b_ns);
    printf("cpu_ns=%lld\nrss_kb=%ld\n", (long long)rusage_cpu(), peak_rss_kb());
    return 0;
}
