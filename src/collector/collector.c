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
#include "collector/heapmap.h"
#include "collector/maps.h"
#include "collector/profmap.h"
#include "collector/session.h"
#include "collector/tree.h"
#include "lib/outname/output_claim.h"
#include "lib/ring/ring.h"

/* Drain period: the longest wait after which no ring can be more than a quarter full, within
 * DRAIN_MIN_MS..DRAIN_MAX_MS (drain_period_ms); a drain that took more than a quarter of a ring
 * is followed by another at once. Not a fixed short period: at 50 ms the wake-ups alone (a
 * poll over the session's descriptors, two context switches) came to 0.34-0.39 % of a
 * one-thread program's CPU in heapab's collector row, 0.11-0.14 % at 250 ms. The cost: a
 * library loaded, sampled and unloaded within one period is gone before the drain that would
 * read the maps again (docs/architecture.md, "Drain"). */
#define DRAIN_MIN_MS 10
#define DRAIN_MAX_MS 250
/* Once the leader is PID 1 of its namespace, the one-file profile is rewritten this often:
 * when PID 1 is SIGKILLed the kernel kills the collector with it. */
#define CHECKPOINT_NS (5 * GP_NS_PER_SEC)
/* After the last process asked to end and had its answer: how long to wait for it to go. */
#define LAST_EXIT_WAIT_MS 10000

struct collector {
    const struct collector_config *cfg;
    struct tree *tree;
    struct collector_window *windows;   /* open windows, newest first */
    struct heapmap *heap;               /* C memory counts; NULL: C memory profiling off */
    uint64_t total;                     /* summed weights of every drained record */
    uint64_t unsampled;                 /* of those, GP_REC_UNSAMPLED records' */
    int oom;
    int finished, status;               /* session_finish done, and its result */
    int claim_fd, heap_claim_fd;        /* cfg->keep_fd, cfg->heap_keep_fd until released */
    uint32_t proc;                      /* the process being drained */
    double fill;                        /* the largest share of a ring one process's drain
                                         * took in this loop */
    uint32_t min_slots;                 /* the smallest ring drained in this loop */
    uint32_t ncpus;                     /* configured CPUs (sysconf) */
    const struct tree_proc *cur;
};

static void on_record(const struct ring_record *rec, uint64_t pos, void *ctx)
{
    struct collector *c = ctx;
    (void)pos;
    c->total += rec->h.weight;
    if (rec->h.flags & GP_REC_UNSAMPLED)
        c->unsampled += rec->h.weight;
    for (struct collector_window *w = c->windows; w; w = w->next)
        if (profmap_add(w->pm, c->proc, rec, c->cur->skip_lo, c->cur->skip_hi) != 0)
            c->oom++;
}

/* Every committed record of p. Returns the records read. */
static size_t drain_proc(struct collector *c, struct tree_proc *p)
{
    if (p->state == TREE_ENDED || !p->ring.hdr)
        return 0;
    c->proc = (uint32_t)(p - tree_get(c->tree, 0));
    c->cur = p;
    uint64_t before = c->total;
    size_t total = 0, n;
    while ((n = ring_read(&p->ring, on_record, c)) > 0)
        total += n;
    double fill = (double)total / p->ring.nslots;
    if (fill > c->fill)
        c->fill = fill;
    if (!c->min_slots || p->ring.nslots < c->min_slots)
        c->min_slots = p->ring.nslots;
    /* Ahead of a process that samples: what it wrote since the last drain, twice over, at
     * least 16 slots. */
    if (total)
        ring_reader_touch(&p->ring, total * 2 > 16 ? (uint32_t)(total * 2) : 16);
    p->samples += c->total - before;
    return total;
}

/* p's C memory counts, as of now, into the session's heapmap. */
static void heap_sync_proc(struct collector *c, struct tree_proc *p)
{
    if (!c->heap || p->state == TREE_ENDED || !p->ring.hdr)
        return;
    uint32_t proc = (uint32_t)(p - tree_get(c->tree, 0));
    if (heapmap_sync(c->heap, proc, &p->ring, p->skip_lo, p->skip_hi) != 0)
        c->oom++;
}

/* The image p is ending (tree.c): its last records, and its last C memory counts. */
static void drain_cb(void *ctx, struct tree_proc *p)
{
    drain_proc(ctx, p);
    heap_sync_proc(ctx, p);
}

/* Once an image has told its CPU clock at its end and its ring is drained: the time that no
 * record of its pid accounts for (its start before the first timer, its threads' last ticks,
 * and, for an exec'd image, nothing twice: every image of the pid is subtracted), added to
 * every open window in exact nanoseconds. */
static void add_residual(struct collector *c, struct tree_proc *p)
{
    if (!p->has_exit_cpu || p->residual_done)
        return;
    p->residual_done = 1;
    uint64_t drops[GP_DROP_MAX], accounted = 0;
    tree_drops(c->tree, drops);   /* refreshes every live image's counters */
    for (size_t i = 0; i < tree_count(c->tree); i++) {
        const struct tree_proc *q = tree_get(c->tree, i);
        if (q->pid != p->pid || q > p)
            continue;
        accounted += q->samples;
        for (int k = 0; k < GP_DROP_MAX; k++)
            accounted += q->drops[k];
    }
    uint64_t period = c->cfg->period_ns, seen = accounted * period;
    if (p->exit_cpu_ns <= seen)
        return;
    uint64_t ns = p->exit_cpu_ns - seen;
    uint32_t proc = (uint32_t)(p - tree_get(c->tree, 0));
    for (struct collector_window *w = c->windows; w; w = w->next)
        if (profmap_add_residual(w->pm, proc, ns, period) != 0)
            c->oom++;
    uint64_t periods = (ns + period / 2) / period;
    c->total += periods;
    c->unsampled += periods;
}

/* Residuals of the images that have ended since the last look; their live heap blocks can
 * change no more (their in-use figures stay as at their end). */
static void add_residuals(struct collector *c)
{
    for (size_t i = 0; i < tree_count(c->tree); i++) {
        struct tree_proc *p = tree_get(c->tree, i);
        if (p->state == TREE_ENDED) {
            add_residual(c, p);
            if (c->heap)
                heapmap_end_proc(c->heap, (uint32_t)i);
        }
    }
}

void collector_drops(const struct collector *c, uint64_t *drops)
{
    tree_drops(c->tree, drops);
}

uint64_t collector_total(const struct collector *c)
{
    return c->total;
}

uint64_t collector_unsampled(const struct collector *c)
{
    return c->unsampled;
}

struct tree *collector_tree(const struct collector *c)
{
    return c->tree;
}

struct heapmap *collector_heap(const struct collector *c)
{
    return c->heap;
}

void collector_heap_sync(struct collector *c)
{
    for (size_t i = 0; c->heap && i < tree_count(c->tree); i++)
        heap_sync_proc(c, tree_get(c->tree, i));
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
    /* The counters only grow (tree.c keeps them so): the difference is what was lost while
     * w was open. */
    for (int i = 0; i < GP_DROP_MAX; i++)
        drops[i] = drops[i] >= w->drops_start[i] ? drops[i] - w->drops_start[i] : 0;
}

struct collector *collector_new(const struct collector_config *cfg)
{
    struct collector *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cfg = cfg;
    long ncpus = sysconf(_SC_NPROCESSORS_CONF);
    c->ncpus = ncpus > 0 ? (uint32_t)ncpus : 1024;
    c->claim_fd = cfg->keep_fd;
    c->heap_claim_fd = cfg->heap_keep_fd;
    c->tree = tree_new(cfg);
    if (!c->tree) {
        free(c);
        return NULL;
    }
    if (cfg->heap_rate && !(c->heap = heapmap_new()))
        gp_log("collector", "out of memory: no C memory profile");
    return c;
}

void collector_free(struct collector *c)
{
    if (!c)
        return;
    tree_free(c->tree);
    heapmap_free(c->heap);
    free(c);
}

int collector_add_ring(struct collector *c, int ring_fd, pid_t pid, const char *name)
{
    return tree_add(c->tree, ring_fd, pid, name);
}

size_t collector_drain(struct collector *c)
{
    size_t total = 0;
    for (size_t i = 0; i < tree_count(c->tree); i++)
        total += drain_proc(c, tree_get(c->tree, i));
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

/* Connections to the output names' claims (cfg->keep_fd, cfg->heap_keep_fd): the session holds
 * the names until its files are written, then lets go at once (the next run may take them
 * while this collector still waits for its last process to go). */
static void answer_claim(struct collector *c)
{
    if (c->claim_fd >= 0)
        output_claim_answer(c->claim_fd, 1);
    if (c->heap_claim_fd >= 0)
        output_claim_answer(c->heap_claim_fd, 1);
}

static void release_claim(struct collector *c)
{
    if (c->claim_fd >= 0)
        close(c->claim_fd);
    if (c->heap_claim_fd >= 0)
        close(c->heap_claim_fd);
    c->claim_fd = c->heap_claim_fd = -1;
}

/* Descriptors: only those the collector uses stay open (holding the program's stdout pipe
 * would keep the program's reader waiting for EOF), stdin and stdout become /dev/null. */
static void detach_from_program(const struct collector_config *cfg)
{
    int stderr_fd = -1;
    struct stat st;
    /* Keep stderr only where holding it blocks nobody's EOF (a terminal or a file), so write
     * errors can still be reported; a pipe or socket is let go. */
    if (fstat(STDERR_FILENO, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISREG(st.st_mode)))
        stderr_fd = STDERR_FILENO;
    int inherited[] = { cfg->listen_fd, cfg->conn_fd, stderr_fd, cfg->keep_fd, cfg->heap_keep_fd };
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

/* A process asked to wait for the session at its end. PID 1 (whose end kills us) and the last
 * process end the session first, so that their exit returns with the files final; others
 * only needed their ring drained, which happened before this. Returns 1 when the session
 * ended. */
static int answer_exiting(struct collector *c, struct tree_proc *p)
{
    int last = tree_live(c->tree) == 1 && p->state != TREE_ENDED &&
               tree_take_waiting(c->tree) == 0;
    if ((p->leader && c->cfg->leader_is_init) || last) {
        collector_drain(c);
        add_residuals(c);
        add_residual(c, p);   /* it told its CPU clock before asking */
        tree_close_doors(c->tree);
        c->status = session_finish(c);
        c->finished = 1;
        release_claim(c);
    }
    tree_done(c->tree, p);
    return c->finished;
}

/* How long the rings can go undrained. A process's records come from its threads' CPU-time
 * timers, and its threads' CPU time together cannot outrun the CPUs: at most ncpus * hz records
 * a second (and at most one per CPU per kernel tick, 1000 Hz at most), besides at most one
 * early expiry per thread (one that had nearly a period of CPU time already), which the ring's
 * other three quarters absorb (768 threads at once for 1024 slots). So the time a quarter of
 * the smallest ring takes to fill at that rate: 250 ms (the cap) for 1024 slots, 100 Hz and
 * up to 10 CPUs; 64 ms with 16 CPUs at 250 Hz; 10 ms (the floor) past that, where a ring that
 * fills faster is drained at once again (fill). */
static int drain_period_ms(const struct collector *c)
{
    if (!c->min_slots)
        return DRAIN_MIN_MS;
    double per_s = (double)c->ncpus * (c->cfg->hz < 1000 ? c->cfg->hz : 1000);
    double ms = 1000.0 * (c->min_slots / 4) / per_s;
    return ms > DRAIN_MAX_MS ? DRAIN_MAX_MS : ms < DRAIN_MIN_MS ? DRAIN_MIN_MS : (int)ms;
}

/* Drains every drain_period_ms (at once again after a drain that took more than a quarter of
 * a ring) until the session's last process has ended, serving the session in between. */
static void drain_until_end(struct collector *c, int sigfd)
{
    double fill = 0;
    int64_t next_checkpoint = gp_clock_ns(CLOCK_MONOTONIC) + CHECKPOINT_NS;
    enum { OWN = 3, MAXFDS = OWN + 3 * 320 + 64 + SESSION_MAX_FDS };
    static struct pollfd p[MAXFDS];
    for (;;) {
        /* [0] SIGUSR1, [1] [2] the output names' claims (asked only when someone knocks: an
         * accept that finds no one still costs the kernel a socket), then the session's
         * processes, then the session's descriptors. poll skips a negative fd. */
        p[0] = (struct pollfd){ sigfd, POLLIN, 0 };
        p[1] = (struct pollfd){ c->claim_fd, POLLIN, 0 };
        p[2] = (struct pollfd){ c->heap_claim_fd, POLLIN, 0 };
        int ntree = tree_poll_fds(c->tree, p + OWN, MAXFDS - OWN - SESSION_MAX_FDS);
        int timeout = fill > 0.25 ? 0 : drain_period_ms(c);
        int nsession = session_poll_fds(p + OWN + ntree, SESSION_MAX_FDS, &timeout);
        poll(p, (nfds_t)(OWN + ntree + nsession), timeout < 0 ? 0 : timeout);
        tree_service(c->tree, p + OWN, ntree, drain_cb, c);
        c->fill = 0;
        c->min_slots = 0;
        collector_drain(c);
        add_residuals(c);
        if ((p[1].revents | p[2].revents) & POLLIN)
            answer_claim(c);
        struct tree_proc *ex;
        while ((ex = tree_exiting(c->tree)) != NULL)
            if (answer_exiting(c, ex))
                return;
        if (tree_live(c->tree) == 0 && tree_take_waiting(c->tree) == 0)
            return;
        session_alive(c);
        if ((p[0].revents & POLLIN) && take_signals(sigfd))
            session_snapshot(c);
        if (c->cfg->leader_is_init && gp_clock_ns(CLOCK_MONOTONIC) >= next_checkpoint) {
            next_checkpoint = gp_clock_ns(CLOCK_MONOTONIC) + CHECKPOINT_NS;
            session_checkpoint(c);
        }
        fill = c->fill;
    }
}

/* After the session ended at a process's request: that process is about to go; stay (holding
 * the output name) until it has, so that nothing of ours outlives the tree by much. */
static void wait_last_exit(struct collector *c)
{
    int64_t deadline = gp_clock_ms(CLOCK_MONOTONIC) + LAST_EXIT_WAIT_MS;
    while (gp_clock_ms(CLOCK_MONOTONIC) < deadline) {
        int alive = 0;
        for (size_t i = 0; i < tree_count(c->tree); i++) {
            struct tree_proc *q = tree_get(c->tree, i);
            alive |= q->pidfd >= 0 && kill(q->pid, 0) == 0;
        }
        if (!alive)
            return;
        answer_claim(c);
        poll(NULL, 0, 20);
    }
}

/* A ring this collector does not understand gives no profile of that process: tree.c refuses
 * it (ring_attach) with one debug line. */
void collector_main(const struct collector_config *cfg)
{
    /* First of all, so that a SIGUSR1 aimed at us never finds the default action (exit). */
    quiet_signals();
    detach_from_program(cfg);
    int sigfd = take_name_and_signal(cfg);
    struct collector *c = collector_new(cfg);
    if (!c)
        _exit(1);
    session_begin(cfg, c);
    drain_until_end(c, sigfd);
    if (!c->finished && cfg->leader_is_init) {
        /* PID 1 ended without its exit hook (killed, or crashed): the kernel is killing every
         * process of its namespace, this one included, right now. A write begun here would
         * be cut anywhere, even between naming its file and the rename; the last checkpoint
         * stands (at most CHECKPOINT_NS old). */
        _exit(0);
    }
    if (!c->finished) {
        collector_drain(c);
        add_residuals(c);
        if (c->oom)
            gp_log("collector", "out of memory: %d samples not aggregated", c->oom);
        tree_close_doors(c->tree);
        c->status = session_finish(c);
    } else {
        wait_last_exit(c);
    }
    /* Everything freed, so that a leak checker (tests/stress/test_valgrind.sh) sees a leak as
     * one: a block still held at _exit is "lost" or not depending on whether the compiler
     * kept a pointer to it in a register. */
    int status = c->status;
    collector_free(c);
    _exit(status);
}
