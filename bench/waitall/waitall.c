/* waitall.c -- runs a command and waits for it and for every descendant orphaned to us, so that
 * `perf stat -- waitall CMD` counts libgoprof's collector (forked by the application, outliving
 * it by its final write) completely, not up to the moment perf stat reads its counters.
 *   waitall CMD ARGS...
 * Exits as the command did (same status, or the same signal). On stderr, last line:
 *   waitall: app_cpu_ns=N others_cpu_ns=N others_maxrss_kb=N
 * (user+sys of the command, and user+sys and peak RSS of the orphans)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: waitall CMD ARGS...\n");
        return 2;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
        perror("waitall: prctl(PR_SET_CHILD_SUBREAPER)");
        return 2;
    }
    pid_t app = fork();
    if (app < 0) {
        perror("waitall: fork");
        return 2;
    }
    if (app == 0) {
        execvp(argv[1], argv + 1);
        perror("waitall: exec");
        _exit(127);
    }
    int app_status = 0;
    long long app_ns = 0, others_ns = 0;
    long others_rss = 0;
    for (;;) {
        int st;
        struct rusage ru;
        pid_t p = wait4(-1, &st, 0, &ru);
        if (p < 0) {
            if (errno == EINTR)
                continue;
            break;      /* ECHILD: everyone is gone */
        }
        long long ns = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ll +
                       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ll;
        if (p == app) {
            app_status = st;
            app_ns = ns;
            continue;
        }
        others_ns += ns;
        if (ru.ru_maxrss > others_rss)
            others_rss = ru.ru_maxrss;
    }
    fprintf(stderr, "waitall: app_cpu_ns=%lld others_cpu_ns=%lld others_maxrss_kb=%ld\n", app_ns,
            others_ns, others_rss);
    if (WIFSIGNALED(app_status)) {
        signal(WTERMSIG(app_status), SIG_DFL);
        raise(WTERMSIG(app_status));
    }
    return WIFEXITED(app_status) ? WEXITSTATUS(app_status) : 1;
}
