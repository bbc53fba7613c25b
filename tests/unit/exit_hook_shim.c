/* exit_hook_shim.c -- LD_PRELOAD test shim: exit_hook_install from a constructor.
 * Context: program (test only)
 *
 * Preloaded (alone, without libgoprof.so) into C and Go fixtures by
 * tests/integration/test_exit_hook.sh. Its constructor analyses /proc/self/exe (goexe) and
 * installs the exit hook with a callback that appends "exit_hook <status> pid <pid>\n" to
 * $EXIT_HOOK_OUT with write(2). At start it appends "install <result> go <0|1>\n".
 *   EXIT_HOOK_OUT       the file (nothing is installed without it)
 *   EXIT_HOOK_SLEEP_MS  the callback sleeps this long after writing its line
 *   EXIT_HOOK_STACK_KB  the callback first writes that much of its stack (the private stack
 *                       is EXIT_HOOK_STACK_SIZE; a goroutine's is a few KiB)
 *   EXIT_HOOK_REENTER=1 the callback ends with _exit(status + 100) (the hook re-entered by the
 *                       thread running it must end the process at once)
 *   EXIT_HOOK_NOOP=1    the callback does nothing (exit latency of the mechanism alone)
 *   EXIT_HOOK_OFF=1     the shim analyses the executable but installs nothing (the baseline
 *                       of the latency measurement)
 * Like libgoprof.so, the shim exports _exit and _Exit (from exit_hook.c).
 */
#ifndef _GNU_SOURCE   /* config.h (the build) defines it already */
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/go/goexe.h"
#include "program/preload/exit_hook.h"

static char out_path[4096];
static long sleep_ms, stack_kb;
static int noop, reenter;
static struct goexe go;

/* Appends the decimal form of v to p; returns the new end. */
static char *put_int(char *p, long v)
{
    char tmp[24];
    int n = 0;
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
    do
        tmp[n++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *p++ = '-';
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

static void put_line(const char *a, long x, const char *b, long y)
{
    char line[128], *p = line;
    size_t la = strlen(a), lb = strlen(b);
    memcpy(p, a, la);
    p = put_int(p + la, x);
    memcpy(p, b, lb);
    p = put_int(p + lb, y);
    *p++ = '\n';
    int fd = open(out_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        ssize_t w = write(fd, line, (size_t)(p - line));
        (void)w;
        close(fd);
    }
}

/* Writes n bytes of stack (a VLA below this frame), reads them back. */
static __attribute__((noinline)) int use_stack(size_t n)
{
    volatile char buf[n];
    int sum = 0;
    for (size_t i = 0; i < n; i += 256)
        buf[i] = (char)i;
    for (size_t i = 0; i < n; i += 256)
        sum += buf[i];
    return sum;
}

static void on_end(int status)
{
    if (noop)
        return;
    if (stack_kb > 0 && use_stack((size_t)stack_kb * 1024) == -1)
        return;
    put_line("exit_hook ", status, " pid ", (long)getpid());
    if (sleep_ms > 0) {
        /* To a deadline: Go's GC, waiting to suspend the goroutine that called os.Exit (it runs
         * this, in C, and never reaches a safe point), sends its thread SIGURG every few
         * microseconds, and a relative sleep restarted with the time left did not end (a full
         * run hung here for 10 minutes: the GC thread in suspendG, this one in nanosleep). */
        struct timespec end;
        clock_gettime(CLOCK_MONOTONIC, &end);
        end.tv_sec += sleep_ms / 1000;
        end.tv_nsec += (sleep_ms % 1000) * 1000000L;
        if (end.tv_nsec >= 1000000000L) {
            end.tv_sec++;
            end.tv_nsec -= 1000000000L;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) == EINTR)
            ;
    }
    if (reenter)
        _exit(status + 100);
}

static int first_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    *(uint64_t *)arg = info->dlpi_addr;
    return 1;   /* the first entry is the main program */
}

__attribute__((constructor)) static void exit_hook_shim_init(void)
{
    const char *out = getenv("EXIT_HOOK_OUT"), *off = getenv("EXIT_HOOK_OFF");
    if (!out || strlen(out) >= sizeof out_path)
        return;
    strcpy(out_path, out);
    const char *s = getenv("EXIT_HOOK_SLEEP_MS");
    sleep_ms = s ? atol(s) : 0;
    s = getenv("EXIT_HOOK_STACK_KB");
    stack_kb = s ? atol(s) : 0;
    s = getenv("EXIT_HOOK_REENTER");
    reenter = s && strcmp(s, "1") == 0;
    s = getenv("EXIT_HOOK_NOOP");
    noop = s && strcmp(s, "1") == 0;
    uint64_t bias = 0;
    dl_iterate_phdr(first_module, &bias);
    int a = goexe_analyze("/proc/self/exe", bias, &go);
    if (off && strcmp(off, "1") == 0)
        return;
    int r = exit_hook_install(on_end, a == 0 && go.is_go ? &go : NULL);
    if (!noop)
        put_line("install ", r, " go ", go.is_go);
}
