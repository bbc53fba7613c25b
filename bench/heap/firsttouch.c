/* firsttouch.c -- what the first write to each slot of a fresh ring costs on this machine: the
 * ring's first lap (BENCHMARKS.md, tenth session). A memfd of 1024 slots of 8 KiB, mapped
 * shared as libgoprof's ring is; the time per slot of writing one word in each slot's first
 * page, after:
 *   0  nothing (the page is allocated by the write)
 *   1  another process wrote each first page (as the collector's touch-ahead does)
 *   2  as 1, and this process reads the slot before it writes it
 *   3  as 1, then MADV_POPULATE_WRITE of the whole mapping here (its time apart)
 *
 *   gcc -O2 -o firsttouch bench/heap/firsttouch.c && for m in 0 1 2 3; do ./firsttouch $m; done
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 1024
#define SLOT 8192

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    int mode = argc > 1 ? atoi(argv[1]) : 0;
    size_t size = (size_t)SLOTS * SLOT;
    int fd = memfd_create("firsttouch", 0);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0)
        return 1;
    volatile uint64_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return 1;
    if (mode >= 1) {
        pid_t pid = fork();
        if (pid == 0) {
            volatile uint64_t *c = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            for (size_t i = 0; c != MAP_FAILED && i < SLOTS; i++)
                __atomic_fetch_add(&c[i * SLOT / 8], 0, __ATOMIC_RELAXED);
            _exit(0);
        }
        waitpid(pid, NULL, 0);
    }
    double t0 = now_ns();
    if (mode == 3)
        (void)madvise((void *)m, size, MADV_POPULATE_WRITE);
    double t1 = now_ns();
    for (size_t i = 0; i < SLOTS; i++) {
        if (mode == 2)
            (void)m[i * SLOT / 8];
        m[i * SLOT / 8 + 8] = i;
    }
    double t2 = now_ns();
    printf("mode %d: %.2f us per slot's first write (before them: %.2f us per slot)\n", mode,
           (t2 - t1) / 1e3 / SLOTS, (t1 - t0) / 1e3 / SLOTS);
    return 0;
}
