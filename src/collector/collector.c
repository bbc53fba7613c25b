/* collector.c -- the collector process: start-up, drain loop, end detection (see collector.h).
 * Context: collector
 */
#include "collector/collector.h"

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

#include "lib/base/clock.h"
#include "lib/base/log.h"
#include "collector/maps.h"
#include "collector/profmap.h"
#include "collector/session.h"
#include "lib/outname/output_claim.h"
#include "lib/ring/ring.h"

/* Drain period: 50 ms keeps the 2048-slot ring below a quarter full with 64 threads at the
 * kernel's 250 Hz cap (800 records per 50 ms). */
#define DRAIN_PERIOD_MS 50
/* Once the program has closed the lifeline itself, how often the maps are looked at for an
 * exec. */
#define MAPS_PROBE_MS 1000

struct collector {
    const struct collector_config *cfg;
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

struct collector *collector_new(const struct collector_config *cfg)
{
    struct collector *c = calloc(1, sizeof *c);
    if (c)
        c->cfg = cfg;
    return c;
}

size_t collector_drain(struct collector *c)
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

/* Connections to the output name's claim (cfg->keep_fd): kept (after an exec, files out under
 * the name) or not (ask again). */
static void answer_claim(const struct collector_config *cfg, int kept)
{
    if (cfg->keep_fd >= 0)
        output_claim_answer(cfg->keep_fd, kept);
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

/* Descriptors: only those the collector uses stay open (holding the program's stdout pipe
 * would keep the program's reader waiting for EOF), stdin and stdout become /dev/null. Returns
 * the pidfd of the program, or -1 where pidfd_open is not available. */
static int detach_from_program(const struct collector_config *cfg, int lifeline)
{
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
    if (chdir("/") != 0) { /* stay where we are: paths are already absolute */ }
    return pidfd;
}

/* The name `pgrep -x goprof-PID` finds, and SIGUSR1 through a signalfd (blocked by
 * quiet_signals). */
static int take_name_and_signal(const struct collector_config *cfg)
{
    char name[16];
    snprintf(name, sizeof name, "goprof-%d", (int)cfg->app_pid);
    prctl(PR_SET_NAME, name, 0, 0, 0);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    return signalfd(-1, &usr1, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* How the collector knows whether the program still runs (see collector.h). */
struct app_watch {
    pid_t pid;
    int pidfd;              /* readable when the program ends; -1: not available */
    int lifeline;           /* EOF when every holder closed it; -1 once seen */
    struct ring_probe ring;
    int64_t next_probe_ms;  /* lifeline closed by the program: when to look at the maps */
    int probes;
};

/* After a wait whose results are in pidfd_ev and lifeline_ev: 1 while the program runs, else 0
 * with *how saying how it ended. */
static int app_still_runs(struct app_watch *w, short pidfd_ev, short lifeline_ev,
                          enum collector_end *how)
{
    if (w->pidfd >= 0 && (pidfd_ev & POLLIN))
        return 0;
    if (w->lifeline >= 0 && (lifeline_ev & (POLLIN | POLLHUP))) {
        /* EOF: every holder closed it (the application and its forked children): by exiting,
         * by exec, or by hand. */
        char b;
        if (read(w->lifeline, &b, 1) <= 0) {
            close(w->lifeline);
            w->lifeline = -1;
            w->next_probe_ms = gp_clock_ms(CLOCK_MONOTONIC);
        }
    } else if (w->pidfd < 0 && kill(w->pid, 0) != 0 && errno == ESRCH) {
        return 0;
    }
    if (w->lifeline < 0 && gp_clock_ms(CLOCK_MONOTONIC) >= w->next_probe_ms) {
        enum app_state state = probe_maps(w->pid, &w->ring);
        if (state == APP_GONE)
            return 0;
        if (state == APP_REPLACED) {
            *how = COLLECTOR_END_EXEC;
            return 0;
        }
        if (w->probes++ == 0)
            gp_debug("collector", "pid %d closed the lifeline but runs on", (int)w->pid);
        w->next_probe_ms = gp_clock_ms(CLOCK_MONOTONIC) + MAPS_PROBE_MS;
    }
    return 1;
}

/* Drains every DRAIN_PERIOD_MS (at once after a busy drain) until the program ends, serving
 * the session in between; returns how it ended. */
static enum collector_end drain_until_end(struct collector *c, struct app_watch *w, int sigfd)
{
    enum collector_end how = COLLECTOR_END_EXIT;
    int busy = 0;
    for (;;) {
        /* [0] pidfd, [1] lifeline, [2] SIGUSR1, then the session's descriptors; a negative fd
         * is ignored by poll. */
        struct pollfd p[3 + SESSION_MAX_FDS] = {
            { w->pidfd, POLLIN, 0 }, { w->lifeline, POLLIN, 0 }, { sigfd, POLLIN, 0 },
        };
        int timeout = busy ? 0 : DRAIN_PERIOD_MS;
        int nsession = session_poll_fds(p + 3, SESSION_MAX_FDS, &timeout);
        poll(p, (nfds_t)(3 + nsession), timeout < 0 ? 0 : timeout);
        size_t n = collector_drain(c);
        int alive = app_still_runs(w, p[0].revents, p[1].revents, &how);
        answer_claim(c->cfg, 0);   /* a new image after an exec: ask again later */
        if (!alive)
            return how;
        session_alive(c);
        if ((p[2].revents & POLLIN) && take_signals(sigfd))
            session_snapshot(c);
        /* A drain that took more than a quarter of the ring: the next one starts at once. */
        busy = n * 4 > c->cfg->ring->hdr->nslots;
    }
}

/* No writer of a gone image can finish a record: read what is committed, step over torn
 * slots, read the rest. An exec'd image keeps running, but its new image has its own ring. */
static void drain_last(struct collector *c)
{
    collector_drain(c);
    ring_reader_skip_stalled(c->cfg->ring);
    collector_drain(c);
    if (c->oom)
        gp_log("collector", "out of memory: %d samples not aggregated", c->oom);
}

/* At an exec, the new image is waiting for the output name: settle it before writing (at an
 * exit the claim lasts until the files are written: _exit). Returns whether it is kept. */
static int settle_name_at_exec(const struct collector_config *cfg, enum collector_end how)
{
    if (how != COLLECTOR_END_EXEC || cfg->keep_fd < 0)
        return 0;
    if (!session_keep_name()) {
        close(cfg->keep_fd);
        return 0;
    }
    answer_claim(cfg, 1);   /* whoever already asks need not wait for the files */
    return 1;
}

/* A ring this collector does not understand (ring_check) gives no profile: one line, said
 * while stderr is still the program's, then exit 1 without writing. */
static void refuse_unknown_ring(const struct ring *ring)
{
    char why[160];
    if (ring_check(ring, why, sizeof why) == 0)
        return;
    gp_log("collector", "ring at %p %s; no profile", (void *)ring->hdr, why);
    _exit(1);
}

void collector_main(const struct collector_config *cfg, int lifeline)
{
    /* First of all, so that a SIGUSR1 aimed at us never finds the default action (exit). */
    quiet_signals();
    refuse_unknown_ring(cfg->ring);
    struct app_watch w = { cfg->app_pid, -1, lifeline,
                           { (uint64_t)(uintptr_t)cfg->ring->hdr, 0, 0 }, 0, 0 };
    w.pidfd = detach_from_program(cfg, lifeline);
    int sigfd = take_name_and_signal(cfg);
    struct collector c = { cfg, NULL, 0, 0, 0 };
    session_begin(cfg, &c);
    enum collector_end how = drain_until_end(&c, &w, sigfd);
    drain_last(&c);
    int keep = settle_name_at_exec(cfg, how);
    int status = session_finish(&c, how);
    if (keep)
        stay_until_exit(cfg, w.pidfd);
    _exit(status);
}
