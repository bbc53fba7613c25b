/* collector.c -- the collector process: start-up, drain loop, end detection (see collector.h).
 * Context: init (collector_start in the application), collector (the rest)
 */
#include "collect/collector.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "collect/profmap.h"
#include "ring/ring.h"

/* Drain period: 50 ms keeps the 2048-slot ring below a quarter full with 64 threads at the
 * kernel's 250 Hz cap (800 records per 50 ms). */
#define DRAIN_PERIOD_MS 50
/* After the lifeline closes, how long to wait for the pid to exit before calling it an exec. */
#define EXEC_GRACE_MS 200

struct collector {
    const struct collector_config *cfg;
    const struct collector_hooks *hooks;
    struct profmap *pm;
    int oom;
};

static void on_record(const struct ring_record *rec, void *ctx)
{
    struct collector *c = ctx;
    if (profmap_add(c->pm, rec, c->cfg->skip_lo, c->cfg->skip_hi) != 0)
        c->oom++;
}

static size_t drain(struct collector *c)
{
    size_t total = 0, n;
    while ((n = ring_read(c->cfg->ring, on_record, c)) > 0)
        total += n;
    return total;
}

static void close_inherited_fds(int keep1, int keep2, int keep3)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        for (int fd = 0; fd < 1024; fd++)
            if (fd != keep1 && fd != keep2 && fd != keep3)
                close(fd);
        return;
    }
    int dfd = dirfd(d);
    int fds[1024], n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 1024) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        int fd = atoi(e->d_name);
        if (fd != dfd && fd != keep1 && fd != keep2 && fd != keep3)
            fds[n++] = fd;
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

static void quiet_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    syscall(SYS_rt_sigaction, SIGPROF, &sa, NULL, 8);   /* raw: our own interposer is inert */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGTERM, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_readable(int fd, int timeout_ms)
{
    struct pollfd p = { fd, POLLIN, 0 };
    return poll(&p, 1, timeout_ms) > 0;
}

__attribute__((noreturn)) static void collector_main(const struct collector_config *cfg,
                                                     const struct collector_hooks *hooks,
                                                     int lifeline)
{
    int pidfd = (int)syscall(SYS_pidfd_open, cfg->app_pid, 0);
    int stderr_fd = -1;
    struct stat st;
    /* Keep stderr only where holding it blocks nobody's EOF (a terminal or a file), so write
     * errors can still be reported; a pipe or socket is let go. */
    if (fstat(STDERR_FILENO, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISREG(st.st_mode)))
        stderr_fd = STDERR_FILENO;
    close_inherited_fds(lifeline, pidfd, stderr_fd);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        if (stderr_fd < 0)
            dup2(devnull, STDERR_FILENO);
        if (devnull > STDERR_FILENO)
            close(devnull);
    }
    setsid();
    quiet_signals();
    prctl(PR_SET_NAME, "goprof-collect", 0, 0, 0);
    if (chdir("/") != 0) { /* stay where we are: paths are already absolute */ }

    struct collector c = { cfg, hooks, profmap_new(), 0 };
    if (!c.pm)
        _exit(70);
    enum collector_end how = COLLECTOR_END_EXIT;
    int alive = 1, busy = 0;
    while (alive) {
        struct pollfd p[2] = { { pidfd, POLLIN, 0 }, { lifeline, POLLIN, 0 } };
        int np = pidfd >= 0 ? 2 : 1;
        struct pollfd *pp = pidfd >= 0 ? p : &p[1];
        poll(pp, (nfds_t)np, busy ? 0 : DRAIN_PERIOD_MS);
        size_t n = drain(&c);
        if (pidfd >= 0 && (p[0].revents & POLLIN)) {
            alive = 0;
        } else if (p[1].revents & (POLLIN | POLLHUP)) {
            /* EOF: the application exited or exec'd (or a forked child kept it briefly). */
            char b;
            if (read(lifeline, &b, 1) <= 0) {
                int64_t deadline = now_ms() + EXEC_GRACE_MS;
                int exited = 0;
                while (!exited && now_ms() < deadline) {
                    if (pidfd >= 0)
                        exited = wait_readable(pidfd, 20);
                    else if (!(exited = kill(cfg->app_pid, 0) != 0 && errno == ESRCH))
                        usleep(20000);
                }
                how = exited ? COLLECTOR_END_EXIT : COLLECTOR_END_EXEC;
                alive = 0;
            }
        } else if (pidfd < 0 && kill(cfg->app_pid, 0) != 0 && errno == ESRCH) {
            alive = 0;
        }
        if (alive && hooks->alive)
            hooks->alive(hooks->ctx, cfg->app_pid, c.pm);
        /* A drain that took more than a quarter of the ring: the next one starts at once. */
        busy = n * 4 > cfg->ring->hdr->nslots;
    }
    /* No writer of a gone image can finish a record: read what is committed, step over torn
     * slots, read the rest. An exec'd image keeps running, but its new image has its own ring. */
    drain(&c);
    ring_reader_skip_stalled(cfg->ring);
    drain(&c);
    uint64_t drops[GP_DROP_MAX];
    for (int i = 0; i < GP_DROP_MAX; i++)
        drops[i] = atomic_load(&cfg->ring->hdr->drops[i]);
    if (c.oom)
        gp_log("collector", "out of memory: %d samples not aggregated", c.oom);
    int status = hooks->finish(hooks->ctx, c.pm, drops, how);
    _exit(status);
}

int collector_start(const struct collector_config *cfg, const struct collector_hooks *hooks)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return -errno;
    pid_t child = fork();
    if (child < 0) {
        int err = -errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return err;
    }
    if (child == 0) {
        /* Intermediate child: fork the collector and leave, so the application reaps us now and
         * the collector is re-parented away from it. */
        close(pipefd[1]);
        pid_t grandchild = fork();
        if (grandchild == 0)
            collector_main(cfg, hooks, pipefd[0]);
        _exit(grandchild < 0 ? 1 : 0);
    }
    close(pipefd[0]);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        close(pipefd[1]);
        return -ECHILD;
    }
    /* pipefd[1] stays open in the application for its lifetime: the lifeline. */
    return 0;
}
