/* floor.c -- the floor of per-sample cost: what any SIGPROF profiler pays before its handler
 * does anything (docs/architecture.md, "What a sample costs").
 *
 *   delivery   tgkill(self, SIGPROF) in a loop at a stack depth of ~32 C frames, once with
 *              SIG_IGN (the kernel drops the signal at generation: the syscall alone) and once
 *              with an empty SA_SIGINFO handler; the difference per signal is the cost of
 *              delivering a signal (signal frame, xsave, handler entry, rt_sigreturn).
 *              Interleaved, REPS x LOOP signals each.
 *   in-handler the time inside an empty handler, read with CLOCK_MONOTONIC at its entry and
 *              exit as libgoprof's handler_ns is, under a real 250 Hz CLOCK_THREAD_CPUTIME_ID
 *              timer on a busy loop at depth ~32: the resolution of that measurement.
 *   tick       signals and overruns per CPU-second of a per-thread timer asked for 1000 Hz:
 *              the kernel checks CPU timers once per tick, so signals/s shows CONFIG_HZ.
 *
 * usage: floor [REPS [LOOP [MS]]] (defaults 7, 100000, 1000: MS of CPU per in-handler rep);
 * prints key=value lines, lists comma-separated (one per rep).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))
#define MAX_SAMPLES 4096

static volatile uint64_t sink;
static volatile int action;             /* 0: busy loop, 1: tgkill loop */
static long loop_n;
static pid_t pid, tid;
static volatile long nsig, noverrun;
static volatile int measure;
static uint64_t inside[MAX_SAMPLES];
static volatile long ninside;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void empty_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    if (!measure) {
        nsig++;
        return;
    }
    uint64_t t0 = mono_ns();
    nsig++;
    noverrun += si->si_overrun;
    long i = ninside;
    if (i < MAX_SAMPLES) {
        inside[i] = mono_ns() - t0;
        ninside = i + 1;
    }
}

NOINLINE static void leaf(void)
{
    if (action == 1) {
        for (long i = 0; i < loop_n; i++)
            syscall(SYS_tgkill, pid, tid, SIGPROF);
        return;
    }
    uint64_t x = sink | 1;
    for (long i = 0; i < loop_n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    sink = x;
}

NOINLINE static int rec(int d)
{
    int r = 0;
    if (d <= 0)
        leaf();
    else
        r = rec(d - 1);
    __asm__ volatile("" : "+r"(r) : : "memory");
    return r + 1;
}

static void set_handler(int ignore)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    if (ignore) {
        sa.sa_handler = SIG_IGN;
    } else {
        sa.sa_sigaction = empty_handler;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
    }
    sigfillset(&sa.sa_mask);
    sigaction(SIGPROF, &sa, NULL);
}

static timer_t make_timer(long hz)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev._sigev_un._tid = tid;
    timer_t t;
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &t) != 0) {
        perror("floor: timer_create");
        exit(1);
    }
    long ns = 1000000000L / hz;
    struct itimerspec its = { { 0, ns }, { 0, ns } };
    timer_settime(t, 0, &its, NULL);
    return t;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Busy loop of about cpu_ms ms of thread CPU; returns the iterations used. */
static long busy_iters(long cpu_ms)
{
    action = 0;
    loop_n = 1 << 20;
    uint64_t c0 = thread_cpu_ns();
    rec(30);
    uint64_t d = thread_cpu_ns() - c0;
    return (long)((double)(1 << 20) * (double)cpu_ms * 1e6 / (double)(d ? d : 1));
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 7;
    long loop = argc > 2 ? atol(argv[2]) : 100000;
    long ms = argc > 3 ? atol(argv[3]) : 1000;
    if (reps < 1 || reps > 64 || loop < 1 || ms < 10)
        return 2;
    pid = getpid();
    tid = (pid_t)syscall(SYS_gettid);

    /* delivery: interleaved SIG_IGN / empty handler */
    double ign[64], emp[64];
    action = 1;
    loop_n = loop;
    for (int k = 0; k < reps; k++) {
        for (int m = 0; m < 2; m++) {
            set_handler(m == 0);
            uint64_t t0 = mono_ns();
            rec(30);
            double per = (double)(mono_ns() - t0) / (double)loop;
            if (m == 0)
                ign[k] = per;
            else
                emp[k] = per;
        }
    }
    printf("delivery_ign_ns=");
    for (int k = 0; k < reps; k++)
        printf("%s%.0f", k ? "," : "", ign[k]);
    printf("\ndelivery_empty_ns=");
    for (int k = 0; k < reps; k++)
        printf("%s%.0f", k ? "," : "", emp[k]);
    printf("\n");

    /* in-handler time under a real 250 Hz timer, about ms of CPU per rep */
    long iters = busy_iters(10);
    set_handler(0);
    uint64_t med[64], p99[64], mx[64];
    for (int k = 0; k < reps; k++) {
        ninside = 0;
        measure = 1;
        action = 0;
        loop_n = iters * (ms / 10);
        timer_t t = make_timer(250);
        rec(30);
        timer_delete(t);
        measure = 0;
        long n = ninside;
        if (n == 0) {
            med[k] = p99[k] = mx[k] = 0;
            continue;
        }
        qsort(inside, (size_t)n, sizeof inside[0], cmp_u64);
        med[k] = inside[n / 2];
        p99[k] = inside[(n * 99) / 100];
        mx[k] = inside[n - 1];
    }
    const char *names[3] = { "inhandler_median_ns", "inhandler_p99_ns", "inhandler_max_ns" };
    uint64_t *vals[3] = { med, p99, mx };
    for (int j = 0; j < 3; j++) {
        printf("%s=", names[j]);
        for (int k = 0; k < reps; k++)
            printf("%s%llu", k ? "," : "", (unsigned long long)vals[j][k]);
        printf("\n");
    }

    /* tick: a 1000 Hz per-thread timer for about ms/2 of CPU */
    nsig = noverrun = 0;
    measure = 1;
    ninside = MAX_SAMPLES;      /* count only */
    loop_n = iters * (ms / 20);
    uint64_t c0 = thread_cpu_ns();
    timer_t t = make_timer(1000);
    rec(30);
    timer_delete(t);
    double cpu_s = (double)(thread_cpu_ns() - c0) / 1e9;
    printf("signals_per_cpu_s_1000hz=%.0f\nsignals_plus_overruns_per_cpu_s_1000hz=%.0f\n",
           nsig / cpu_s, (nsig + noverrun) / cpu_s);
    return 0;
}
