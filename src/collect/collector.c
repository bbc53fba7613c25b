/* collector.c -- the collector process: start-up, drain loop, end detection (see collector.h).
 * Context: init (collector_start in the application), collector (the rest)
 */
#include "collect/collector.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/maps.h"
#include "collect/profmap.h"
#include "ring/ring.h"

/* Drain period: 50 ms keeps the 2048-slot ring below a quarter full with 64 threads at the
 * kernel's 250 Hz cap (800 records per 50 ms). */
#define DRAIN_PERIOD_MS 50
/* Once the program has closed the lifeline itself, how often the maps are looked at for an
 * exec. */
#define MAPS_PROBE_MS 1000

struct collector {
    const struct collector_config *cfg;
    const struct collector_hooks *hooks;
    struct collector_window *windows;   /* open windows, newest first */
    uint64_t total;                     /* summed weights of every drained record */
    uint64_t unsampled;                 /* of those, GP_REC_UNSAMPLED records' */
    int oom;
};

static void on_record(const struct ring_record *rec, void *ctx)
{
    struct collector *c = ctx;
    c->total += rec->weight;
    if (rec->flags & GP_REC_UNSAMPLED)
        c->unsampled += rec->weight;
    for (struct collector_window *w = c->windows; w; w = w->next)
        if (profmap_add(w->pm, rec, c->cfg->skip_lo, c->cfg->skip_hi) != 0)
            c->oom++;
}

void collector_drops(const struct collector *c, uint64_t *drops)
{
    for (int i = 0; i < GP_DROP_MAX; i++)
        drops[i] = atomic_load_explicit(&c->cfg->ring->hdr->drops[i], memory_order_relaxed);
}

uint64_t collector_total(const struct collector *c)
{
    return c->total;
}

uint64_t collector_unsampled(const struct collector *c)
{
    return c->unsampled;
}

int collector_window_open(struct collector *c, struct collector_window *w, int64_t start_ns)
{
    w->pm = profmap_new();
    if (!w->pm)
        return -ENOMEM;
    w->start_ns = start_ns;
    collector_drops(c, w->drops_start);
    w->next = c->windows;
    c->windows = w;
    return 0;
}

void collector_window_close(struct collector *c, struct collector_window *w, uint64_t *drops)
{
    for (struct collector_window **p = &c->windows; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    w->next = NULL;
    if (drops)
        collector_window_drops(c, w, drops);
}

void collector_window_drops(const struct collector *c, const struct collector_window *w,
                            uint64_t *drops)
{
    collector_drops(c, drops);
    /* The counters only grow: the difference is what was lost while w was open. */
    for (int i = 0; i < GP_DROP_MAX; i++)
        drops[i] -= w->drops_start[i];
}

static size_t drain(struct collector *c)
{
    size_t total = 0, n;
    while ((n = ring_read(c->cfg->ring, on_record, c)) > 0)
        total += n;
    return total;
}

static int kept(int fd, const int *keep, int nkeep)
{
    for (int i = 0; i < nkeep; i++)
        if (fd == keep[i])
            return 1;
    return 0;
}

static void close_inherited_fds(const int *keep, int nkeep)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        for (int fd = 0; fd < 1024; fd++)
            if (!kept(fd, keep, nkeep))
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
        if (fd != dfd && !kept(fd, keep, nkeep))
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
    /* Under a file size limit (ulimit -f, inherited from the program) a write past it must
     * fail with EFBIG, so the writer removes its temporary file and says so, rather than kill
     * us mid-file. */
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGTERM, SIG_DFL);
    /* SIGUSR1 is taken through a signalfd: blocked, so it never kills us or interrupts. */
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_SETMASK, &usr1, NULL);
}

/* Reads every pending SIGUSR1; returns whether there was one. */
static int take_signals(int sigfd)
{
    struct signalfd_siginfo si;
    int got = 0;
    while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si)
        got = 1;
    return got;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum app_state {
    APP_GONE,       /* no address space: exited (a zombie), or no such process */
    APP_RING,       /* the ring is still mapped: the same image */
    APP_REPLACED,   /* an address space without the ring: exec'd */
};

struct ring_probe {
    uint64_t start, inode;   /* the ring's mapping; inode 0: not known yet, take any */
    int lines;
};

static int find_ring(const char *line, void *ctx)
{
    struct ring_probe *p = ctx;
    unsigned long long lo, ino;
    p->lines++;
    if (sscanf(line, "%llx-%*x %*s %*x %*x:%*x %llu", &lo, &ino) != 2 || lo != p->start ||
        (p->inode && ino != p->inode))
        return 0;
    p->inode = ino;
    return 1;
}

/* What /proc/PID/maps says of pid: no lines (or no process), gone; the ring's mapping (start
 * address and shared-memory inode: after an exec another mapping may start at the same
 * address, never with the same inode), the same image; other lines, replaced. The inode is
 * learnt from our own maps (the mapping is inherited) the first time. */
static enum app_state probe_maps(pid_t pid, struct ring_probe *ring)
{
    if (ring->inode == 0)
        maps_each_line(getpid(), find_ring, ring);
    ring->lines = 0;
    int r = maps_each_line(pid, find_ring, ring);
    return r == 1 ? APP_RING : r == 0 && ring->lines > 0 ? APP_REPLACED : APP_GONE;
}

/* Connections to the output name's claim (cfg->keep_fd), answered by cfg->answer_claim: kept
 * (after an exec, files out under the name) or not (ask again). */
static void answer_claim(const struct collector_config *cfg, int kept)
{
    if (cfg->keep_fd >= 0 && cfg->answer_claim)
        cfg->answer_claim(cfg->keep_fd, kept);
}

/* After an exec: the replaced image's files are written; hold the output claim (see
 * collector.h) until the process ends, having given back what can be given back. */
static void stay_until_exit(const struct collector_config *cfg, int pidfd)
{
    prctl(PR_SET_NAME, "goprof-replaced", 0, 0, 0);   /* pgrep -x goprof-PID: the live one */
    ring_destroy(cfg->ring);
    malloc_trim(0);
    for (;;) {
        answer_claim(cfg, 1);
        struct pollfd p[2] = { { pidfd, POLLIN, 0 }, { cfg->keep_fd, POLLIN, 0 } };
        int r = poll(p, 2, pidfd >= 0 ? -1 : 1000);
        if (r > 0 && (p[0].revents & POLLIN))
            return;
        if (pidfd < 0 && kill(cfg->app_pid, 0) != 0 && errno == ESRCH)
            return;
    }
}

__attribute__((noreturn)) static void collector_main(const struct collector_config *cfg,
                                                     const struct collector_hooks *hooks,
                                                     int lifeline)
{
    /* First of all, so that a SIGUSR1 aimed at us never finds the default action (exit). */
    quiet_signals();
    int pidfd = (int)syscall(SYS_pidfd_open, cfg->app_pid, 0);
    int stderr_fd = -1;
    struct stat st;
    /* Keep stderr only where holding it blocks nobody's EOF (a terminal or a file), so write
     * errors can still be reported; a pipe or socket is let go. */
    if (fstat(STDERR_FILENO, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISREG(st.st_mode)))
        stderr_fd = STDERR_FILENO;
    int inherited[] = { lifeline, pidfd, stderr_fd, cfg->keep_fd };
    close_inherited_fds(inherited, (int)(sizeof inherited / sizeof inherited[0]));
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
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    int sigfd = signalfd(-1, &usr1, SFD_NONBLOCK | SFD_CLOEXEC);
    char name[16];
    snprintf(name, sizeof name, "goprof-%d", (int)cfg->app_pid);
    prctl(PR_SET_NAME, name, 0, 0, 0);
    if (chdir("/") != 0) { /* stay where we are: paths are already absolute */ }

    struct ring_probe ring = { (uint64_t)(uintptr_t)cfg->ring->hdr, 0, 0 };
    int64_t next_probe_ms = 0;   /* lifeline closed by the program: when to look again */
    int probes = 0;

    struct collector c = { cfg, hooks, NULL, 0, 0, 0 };
    if (hooks->begin)
        hooks->begin(hooks->ctx, &c);
    enum collector_end how = COLLECTOR_END_EXIT;
    int alive = 1, busy = 0;
    while (alive) {
        /* [0] pidfd, [1] lifeline, [2] SIGUSR1, then the hooks' descriptors; a negative fd is
         * ignored by poll. */
        struct pollfd p[3 + COLLECTOR_MAX_HOOK_FDS] = {
            { pidfd, POLLIN, 0 }, { lifeline, POLLIN, 0 }, { sigfd, POLLIN, 0 },
        };
        int timeout = busy ? 0 : DRAIN_PERIOD_MS;
        int nhook = hooks->poll_fds ? hooks->poll_fds(hooks->ctx, p + 3, COLLECTOR_MAX_HOOK_FDS,
                                                      &timeout) : 0;
        poll(p, (nfds_t)(3 + nhook), timeout < 0 ? 0 : timeout);
        size_t n = drain(&c);
        if (pidfd >= 0 && (p[0].revents & POLLIN)) {
            alive = 0;
        } else if (lifeline >= 0 && (p[1].revents & (POLLIN | POLLHUP))) {
            /* EOF: every holder closed it (the application and its forked children): by
             * exiting, by exec, or by hand. */
            char b;
            if (read(lifeline, &b, 1) <= 0) {
                close(lifeline);
                lifeline = -1;
                next_probe_ms = now_ms();
            }
        } else if (pidfd < 0 && kill(cfg->app_pid, 0) != 0 && errno == ESRCH) {
            alive = 0;
        }
        if (alive && lifeline < 0 && now_ms() >= next_probe_ms) {
            enum app_state state = probe_maps(cfg->app_pid, &ring);
            if (state == APP_GONE)
                alive = 0;
            else if (state == APP_REPLACED)
                alive = 0, how = COLLECTOR_END_EXEC;
            else if (probes++ == 0)
                gp_debug("collector", "pid %d closed the lifeline but runs on", (int)cfg->app_pid);
            next_probe_ms = now_ms() + MAPS_PROBE_MS;
        }
        answer_claim(cfg, 0);   /* a new image after an exec: ask again later */
        if (alive && hooks->alive)
            hooks->alive(hooks->ctx, &c, cfg->app_pid, n, p + 3, nhook);
        if (alive && (p[2].revents & POLLIN) && take_signals(sigfd) && hooks->snapshot)
            hooks->snapshot(hooks->ctx, &c);
        /* A drain that took more than a quarter of the ring: the next one starts at once. */
        busy = n * 4 > cfg->ring->hdr->nslots;
    }
    /* No writer of a gone image can finish a record: read what is committed, step over torn
     * slots, read the rest. An exec'd image keeps running, but its new image has its own ring. */
    drain(&c);
    ring_reader_skip_stalled(cfg->ring);
    drain(&c);
    if (c.oom)
        gp_log("collector", "out of memory: %d samples not aggregated", c.oom);
    /* At an exec, the new image is waiting for the name: settle it before writing. (At an
     * exit the claim lasts until the files are written: _exit.) */
    int keep = 0;
    if (how == COLLECTOR_END_EXEC && cfg->keep_fd >= 0) {
        keep = hooks->keep_name && hooks->keep_name(hooks->ctx);
        if (!keep)
            close(cfg->keep_fd);
        else
            answer_claim(cfg, 1);   /* whoever already asks need not wait for finish */
    }
    int status = hooks->finish(hooks->ctx, &c, how);
    if (keep)
        stay_until_exit(cfg, pidfd);
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
