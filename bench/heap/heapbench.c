/* heapbench.c -- the cost of C memory profiling's interposers: ns per malloc/free pair.
 *   heapbench [THREADS [PAIRS_PER_THREAD]]     (default 4 threads, 10 000 000 pairs each;
 *                                               THREADS 0: one, on the initial thread)
 * Each thread keeps 1024 live blocks of 16-4096 bytes (sizes from a xorshift), and in each
 * step frees one at random and allocates a new one in its place, writing its first and last
 * byte. Prints "ns/pair <wall ns per pair per thread>" and "cpu_ns/pair <CPU ns per pair>".
 * bench/heap/run.sh runs it without libgoprof, with it (heap profiling off) and at 512k.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define LIVE 1024

static long pairs = 10000000;

static void *run(void *arg)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)((intptr_t)arg + 1), sum = 0;
    unsigned char *blk[LIVE];
    size_t sz[LIVE];
    for (int i = 0; i < LIVE; i++) {
        sz[i] = 16;
        blk[i] = malloc(16);
    }
    for (long i = 0; i < pairs; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int k = (int)(x % LIVE);
        sum += blk[k][0] + blk[k][sz[k] - 1];
        free(blk[k]);
        size_t n = 16 + (x >> 20) % (4096 - 16 + 1);
        unsigned char *p = malloc(n);
        p[0] = (unsigned char)i;
        p[n - 1] = (unsigned char)x;
        blk[k] = p;
        sz[k] = n;
    }
    for (int i = 0; i < LIVE; i++)
        free(blk[i]);
    return (void *)(uintptr_t)sum;
}

static double now(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int nthreads = argc > 1 ? atoi(argv[1]) : 4;
    if (argc > 2)
        pairs = atol(argv[2]);
    pthread_t t[64];
    if (nthreads < 0 || nthreads > 64)
        return 2;
    double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t sum = 0;
    if (nthreads == 0) {   /* on the initial thread */
        sum = (uint64_t)(uintptr_t)run(NULL);
        nthreads = 1;
    } else {
        for (int i = 0; i < nthreads; i++)
            pthread_create(&t[i], NULL, run, (void *)(intptr_t)i);
        for (int i = 0; i < nthreads; i++) {
            void *r;
            pthread_join(t[i], &r);
            sum += (uint64_t)(uintptr_t)r;
        }
    }
    double w = now(CLOCK_MONOTONIC) - w0, c = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("ns/pair %.2f\ncpu_ns/pair %.2f\nchecksum %llu\n", w / (double)pairs,
           c / ((double)pairs * nthreads), (unsigned long long)sum);
    /* for bench/driver (key=integer lines): CPU picoseconds per pair */
    printf("pair_cpu_ps=%lld\n", (long long)(1000.0 * c / ((double)pairs * nthreads)));
    return 0;
}
