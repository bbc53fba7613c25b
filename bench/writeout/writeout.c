/* writeout.c -- the collector's cost for 10^5 distinct stacks: profMap memory and the time to
 * aggregate, symbolize and write the profile, through libgoprof's own collector code (profmap,
 * symbolize, report_write: what the collector runs when the application exits).
 *
 * Samples are 10^5 distinct 30-frame stacks over a pool of 50000 PCs spread over libc's
 * executable text (so the symbolizer resolves them to libc's ELF symbols), 16 threads:
 *   random   every frame random (no sharing; the incompressible worst case)
 *   shared   the 24 root-side frames are shared by runs of 100 samples, 6 leaf frames random
 *            (closer to real profiles)
 * usage: writeout random|shared OUTFILE; prints key=value lines:
 *   stacks, add_ms (10^5 profmap_add), profmap_bytes (malloc'd by the profMap, heap and mmap:
 *   mallinfo2), write_ms and write_cpu_ms (report_write: symbolize + pprof + gzip + rename;
 *   wall and CPU), file_bytes, rss_kb (peak).
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/record_flags.h"
#include "collector/profmap.h"
#include "collector/report.h"
#include "lib/ring/ring.h"
#include "collector/symbolize.h"

#define STACKS 100000
#define DEPTH 30
#define POOL 50000
#define LEAVES 6
#define RUN 100
#define THREADS 16

static double clock_ms(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t xorshift64(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* libc's executable mapping in this process: [lo, hi). */
static int libc_text(uint64_t *lo, uint64_t *hi)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f)) {
        unsigned long long a, b;
        char perms[8];
        if (sscanf(line, "%llx-%llx %7s", &a, &b, perms) == 3 && perms[2] == 'x' &&
            strstr(line, "/libc.so")) {
            *lo = a;
            *hi = b;
            found = 1;
        }
    }
    if (f)
        fclose(f);
    return found ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "random") && strcmp(argv[1], "shared"))) {
        fprintf(stderr, "usage: writeout random|shared OUTFILE\n");
        return 2;
    }
    int shared = !strcmp(argv[1], "shared");
    uint64_t lo, hi;
    if (libc_text(&lo, &hi) != 0) {
        fprintf(stderr, "writeout: no libc text mapping in /proc/self/maps\n");
        return 1;
    }
    static uint64_t pool[POOL];
    uint64_t rng = 88172645463325252ull;
    for (int i = 0; i < POOL; i++)
        pool[i] = lo + xorshift64(&rng) % (hi - lo);

    struct symbolizer *sym = symbolizer_new();
    struct ring_record *rec = calloc(1, sizeof *rec);
    if (!sym || !rec || symbolizer_update_maps(sym, getpid()) != 0) {
        fprintf(stderr, "writeout: cannot set up the symbolizer\n");
        return 1;
    }

    struct mallinfo2 m0 = mallinfo2();
    double t0 = clock_ms(CLOCK_MONOTONIC);
    struct profmap *pm = profmap_new();
    if (!pm)
        return 1;
    for (int i = 0; i < STACKS; i++) {
        rec->h.tid = 1000 + (uint32_t)(i % THREADS);
        rec->h.weight = 1;
        rec->h.nframes = DEPTH;
        rec->h.flags = 0;
        snprintf(rec->h.thread_name, sizeof rec->h.thread_name, "worker-%d", i % THREADS);
        for (int d = 0; d < DEPTH; d++)     /* pc[0] is the leaf; shared keeps the root side */
            if (!shared || d < LEAVES || i % RUN == 0)
                rec->pc[d] = pool[xorshift64(&rng) % POOL];
        rec->pc[0] |= GP_PC_EXACT;
        if (profmap_add(pm, 0, rec, 0, 0) != 0) {
            fprintf(stderr, "writeout: profmap_add: out of memory\n");
            return 1;
        }
        rec->pc[0] &= ~GP_PC_EXACT;
    }
    double t1 = clock_ms(CLOCK_MONOTONIC);
    struct mallinfo2 m1 = mallinfo2();

    struct report_lost lost[1] = { { "ring full", 0 } };
    const char *comments[] = { "libgoprof bench/writeout" };
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t end = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec;
    struct report_proc proc = { .sym = sym, .pid = 1, .name = "writeout" };
    struct report_input in = {
        .pm = pm, .procs = &proc, .nprocs = 1, .lost = lost, .nlost = 1,
        .start_ns = end - 10000000000ll, .end_ns = end, .period_ns = 10000000,
        .comments = comments, .ncomments = 1,
    };
    double t2 = clock_ms(CLOCK_MONOTONIC), c2 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
    int err = report_write(&in, argv[2]);
    double t3 = clock_ms(CLOCK_MONOTONIC), c3 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
    if (err) {
        fprintf(stderr, "writeout: report_write: %s\n", strerror(-err));
        return 1;
    }
    struct stat st;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("stacks=%zu\nadd_ms=%.1f\nprofmap_bytes=%zu\nwrite_ms=%.1f\nwrite_cpu_ms=%.1f\n"
           "file_bytes=%lld\nrss_kb=%ld\n", profmap_len(pm), t1 - t0,
           (m1.uordblks + m1.hblkhd) - (m0.uordblks + m0.hblkhd), t3 - t2, c3 - c2,
           stat(argv[2], &st) == 0 ? (long long)st.st_size : -1LL, ru.ru_maxrss);
    profmap_free(pm);
    symbolizer_free(sym);
    free(rec);
    return 0;
}
