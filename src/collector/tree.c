/* tree.c -- the session's processes (see tree.h).
 * Context: collector
 */
#include "collector/tree.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "collector/collector.h"
#include "collector/maps.h"
#include "collector/symbolize.h"
#include "lib/base/clock.h"
#include "lib/base/log.h"
#include "lib/go/goexe.h"
#include "lib/tree/tree_proto.h"

/* Live processes at once; more are refused (a fork bomb must not exhaust the collector's
 * descriptors: three each). */
#define TREE_MAX_LIVE 300
/* Connections accepted but without their hello yet. */
#define TREE_MAX_PENDING 64
/* A connection that sends no hello within this is dropped. */
#define HELLO_TIMEOUT_MS 2000
/* After a process closed its connection but still maps its ring: how often to look for an
 * exec. */
#define PROBE_MS 1000

/* A verdict left to the hello (struct pending). */
static const char NOT_YET[] = "";

struct pending {
    int fd;
    struct ucred cred;
    int64_t deadline_ms;
    int leader;           /* the leader's own pair: trusted */
    const char *refuse;   /* the verdict at accept time, NULL: admitted so far */
};

struct tree {
    const struct collector_config *cfg;
    struct tree_proc *procs;
    size_t n, cap;
    struct pending pending[TREE_MAX_PENDING];
    int npending;
    int leader_listen;          /* until the leader's hello: its rendezvous */
    uid_t uid;
    uint64_t own_pidns;
    uint64_t refused;
    struct cost_hist ended_cost[3];   /* merged histograms of unmapped rings */
    int doors_closed;
    char leader_exe[256];
};

static int64_t now_ms(void)
{
    return gp_clock_ms(CLOCK_MONOTONIC);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

struct tree *tree_new(const struct collector_config *cfg)
{
    struct tree *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->cfg = cfg;
    t->uid = geteuid();
    t->own_pidns = cfg->pidns;
    t->leader_listen = cfg->listen_fd;
    if (cfg->conn_fd >= 0) {
        t->pending[0] = (struct pending){ cfg->conn_fd, { cfg->app_pid, t->uid, getegid() },
                                          now_ms() + HELLO_TIMEOUT_MS, 1, NULL };
        t->npending = 1;
    }
    return t;
}

void tree_free(struct tree *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        struct tree_proc *p = &t->procs[i];
        close_fd(&p->conn);
        close_fd(&p->listen_fd);
        close_fd(&p->pidfd);
        ring_destroy(&p->ring);
        symbolizer_free(p->sym);
        if (p->go) {
            goexe_release(p->go);
            free(p->go);
        }
    }
    for (int i = 0; i < t->npending; i++)
        close(t->pending[i].fd);
    if (t->leader_listen >= 0)
        close(t->leader_listen);
    free(t->procs);
    free(t);
}

size_t tree_count(const struct tree *t)
{
    return t->n;
}

struct tree_proc *tree_get(struct tree *t, size_t i)
{
    return i < t->n ? &t->procs[i] : NULL;
}

/* A pid whose image ended by exec keeps its pidfd until its next image joins or it exits. */
static int waits_for_image(const struct tree_proc *p)
{
    return p->state == TREE_ENDED && p->pidfd >= 0;
}

size_t tree_live(const struct tree *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += t->procs[i].state != TREE_ENDED || waits_for_image(&t->procs[i]);
    return n + (size_t)t->npending;
}

uint64_t tree_refused(const struct tree *t)
{
    return t->refused;
}

/* ---- ends ---- */

static void keep_drops(struct tree_proc *p)
{
    for (int i = 0; i < GP_DROP_MAX; i++) {
        uint64_t v = atomic_load_explicit(&p->ring.hdr->drops[i], memory_order_relaxed);
        if (v > p->drops[i])   /* a process can only spoil its own counters upwards */
            p->drops[i] = v;
    }
    for (int i = 0; i < GP_HEAP_DROP_MAX; i++) {
        uint64_t v = atomic_load_explicit(&p->ring.hdr->heap_drops[i], memory_order_relaxed);
        if (v > p->heap_drops[i])
            p->heap_drops[i] = v;
    }
    uint32_t tf = atomic_load_explicit(&p->ring.hdr->timers_failed, memory_order_relaxed);
    if (tf > p->timers_failed) {
        p->timers_failed = tf;
        p->timer_errno = atomic_load_explicit(&p->ring.hdr->timer_errno, memory_order_relaxed);
    }
}

/* Takes the messages waiting on p's connection; returns 0 at its end of file (or error), 1
 * when it is still open. */
static int take_messages(struct tree_proc *p)
{
    for (;;) {
        struct tree_msg m;
        ssize_t n = recv(p->conn, &m, sizeof m, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 1;
        if (n <= 0)
            return 0;
        if (n != (ssize_t)sizeof m || m.magic != TREE_MAGIC)
            continue;
        if (m.type == TREE_MSG_EXITING) {
            p->exiting = 1;
        } else if (m.type == TREE_MSG_CPU) {
            p->exit_cpu_ns = m.value;
            p->has_exit_cpu = 1;
        }
    }
}

/* The ring's three cost histograms (handler, forwarded timer signals, other forwarded
 * signals), added to dst[0..2]. */
static void add_costs(struct cost_hist *dst, const struct ring_header *h)
{
    cost_hist_merge(&dst[0], &h->handler_cost);
    cost_hist_merge(&dst[1], &h->forward_cost);
    cost_hist_merge(&dst[2], &h->forward_other_cost);
}

/* The image is gone (exit or exec): no writer can finish a record any more. Its last records
 * are drained, then its ring unmapped. keep_pid: the pid lives on in a new image. */
static void end_image(struct tree *t, struct tree_proc *p, int keep_pid,
                      void (*drain)(void *, struct tree_proc *), void *ctx)
{
    if (p->state == TREE_ENDED)
        return;
    if (p->conn >= 0)
        take_messages(p);   /* its CPU clock, sent just before it ended */
    drain(ctx, p);
    ring_reader_skip_stalled(&p->ring);
    drain(ctx, p);
    keep_drops(p);
    add_costs(t->ended_cost, p->ring.hdr);
    ring_destroy(&p->ring);
    close_fd(&p->conn);
    p->state = TREE_ENDED;
    /* Nothing of it will ever be looked up (its CPU time, if any, has no stack): a service
     * that starts short children all day keeps no symbol tables of theirs. */
    if (p->samples == 0) {
        symbolizer_free(p->sym);
        p->sym = NULL;
        p->sym_failed = 1;
    }
    if (!keep_pid) {
        close_fd(&p->listen_fd);
        close_fd(&p->pidfd);
    }
}

static int exited(const struct tree_proc *p)
{
    if (p->pidfd >= 0) {
        struct pollfd q = { p->pidfd, POLLIN, 0 };
        return poll(&q, 1, 0) > 0;
    }
    return kill(p->pid, 0) != 0 && errno == ESRCH;
}

struct ring_probe {
    uint64_t inode;
    int lines;
};

static int find_inode(const char *line, void *ctx)
{
    struct ring_probe *rp = ctx;
    unsigned long long ino;
    rp->lines++;
    return sscanf(line, "%*x-%*x %*s %*x %*x:%*x %llu", &ino) == 1 && ino == rp->inode;
}

/* 1: the ring is still mapped (same image); 0: replaced by exec; -1: no address space. */
static int same_image(const struct tree_proc *p)
{
    struct ring_probe rp = { p->ring_inode, 0 };
    int r = maps_each_line(p->pid, find_inode, &rp);
    return r == 1 ? 1 : r == 0 && rp.lines > 0 ? 0 : -1;
}

/* The connection reached its end: exit, exec, or the process closed its descriptors. */
static void conn_closed(struct tree *t, struct tree_proc *p,
                        void (*drain)(void *, struct tree_proc *), void *ctx)
{
    close_fd(&p->conn);   /* (its last messages were taken) */
    if (exited(p)) {
        end_image(t, p, 0, drain, ctx);
        return;
    }
    int same = same_image(p);
    if (same == 1) {
        p->state = TREE_NOCONN;
        p->next_probe_ms = now_ms() + PROBE_MS;
        gp_debug("collector", "pid %d closed its connection but runs on", (int)p->pid);
    } else {
        end_image(t, p, same == 0, drain, ctx);
    }
}

/* ---- joins ---- */

static struct tree_proc *find_pid(struct tree *t, pid_t pid, int want_live)
{
    for (size_t i = t->n; i-- > 0;) {
        struct tree_proc *p = &t->procs[i];
        if (p->pid == pid && (!want_live || p->state != TREE_ENDED || waits_for_image(p)))
            return p;
    }
    return NULL;
}

/* pid, or one of its ancestors, is a live member: 1; 0 not; -1 pid is already gone (a short
 * child that exited before we looked). Checked at accept time, right after its connect. */
static int in_tree(struct tree *t, pid_t pid)
{
    for (int depth = 0; depth < 64 && pid > 0; depth++) {
        if (find_pid(t, pid, 1))
            return 1;
        pid_t parent = tree_parent_of(pid);
        if (parent == 0 && depth == 0)
            return -1;
        pid = parent;
    }
    return 0;
}

/* The pid the process gave for itself is the one its credentials say, seen from its own
 * namespace (the last NSpid entry). */
static int pid_matches(const struct tree *t, pid_t peer, const struct tree_hello *h)
{
    if (h->pidns == t->own_pidns)
        return h->pid == peer;
    char buf[2048];
    if (tree_read_proc(peer, "status", buf, sizeof buf) != 0)
        return 0;
    char *line = strstr(buf, "\nNSpid:");
    if (!line)
        return 0;
    char *end = strchr(line + 1, '\n');
    if (end)
        *end = 0;
    char *last = strrchr(line, '\t');
    return last && atoi(last + 1) == h->pid;
}

static int bind_rendezvous(const struct tree *t, const struct tree_hello *h)
{
    struct sockaddr_un sa;
    socklen_t len = tree_address(&sa, t->cfg->session_hash, h->pidns, h->pid);
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return -1;
    if (bind(s, (struct sockaddr *)&sa, len) != 0 || listen(s, 128) != 0) {
        close(s);
        return -1;
    }
    return s;
}

static const char *admit(struct tree *t, const struct pending *pd, const struct tree_hello *h)
{
    if (h->magic != TREE_MAGIC || h->version != TREE_VERSION)
        return "speaks another protocol version";
    if (pd->leader)
        return NULL;
    if (t->doors_closed)
        return "came after the session's end";
    /* Not in the tree at accept: its member's own hello may have come in the same round. */
    if (pd->refuse == NOT_YET && in_tree(t, pd->cred.pid) == 0)
        return "is not a descendant of the session's processes";
    if (pd->refuse && pd->refuse != NOT_YET)
        return pd->refuse;
    if (h->flags & TREE_FORKED) {
        /* connected by its parent before the fork (preload.c: forking): it is the child of
         * the peer, in the peer's (and our) pid namespace, unless it is gone already */
        if (h->pidns != t->own_pidns)
            return "was forked in another pid namespace";
        pid_t parent = tree_parent_of(h->pid);
        /* (re-parented, when its parent is gone already: a daemon's child; a parent that has
         * exited but is not reaped yet still answers kill(), so its state is read) */
        if (parent && parent != pd->cred.pid && tree_running(pd->cred.pid))
            return "gave a pid that is not its parent's child";
    } else if (kill(pd->cred.pid, 0) == 0 && !pid_matches(t, pd->cred.pid, h)) {
        /* a process gone by now cannot be looked at: its credentials' uid has to do */
        return "gave a pid that is not its own";
    }
    size_t live = 0;
    for (size_t i = 0; i < t->n; i++)
        live += t->procs[i].state != TREE_ENDED;
    if (live >= TREE_MAX_LIVE)
        return "would exceed the session's process limit";
    return NULL;
}

static struct tree_proc *new_entry(struct tree *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct tree_proc *v = realloc(t->procs, cap * sizeof *v);
        if (!v)
            return NULL;
        t->procs = v;
        t->cap = cap;
    }
    struct tree_proc *p = &t->procs[t->n++];
    memset(p, 0, sizeof *p);
    p->conn = p->listen_fd = p->pidfd = -1;
    return p;
}

/* Symbolization must see the mappings while the process still has them: a short-lived child
 * may be gone by its first report. The leader's start is in our own maps (we are its fork). */
static void first_maps(struct tree *t, struct tree_proc *p)
{
    char link[40];
    snprintf(link, sizeof link, "/proc/%d/exe", (int)p->pid);
    ssize_t n = readlink(link, p->exe, sizeof p->exe - 1);
    p->exe[n > 0 ? n : 0] = 0;
    p->leader_image = p->leader_image || (p->forked && p->exe[0] && t->leader_exe[0] &&
                                          !strcmp(p->exe, t->leader_exe));
    p->sym = symbolizer_new();
    p->sym_failed = !p->sym;
    /* The leader's own maps are ours as of the fork, should it be gone already. */
    if (p->sym && symbolizer_update_maps(p->sym, p->pid) != 0 && p->leader_image && !p->forked)
        symbolizer_update_maps(p->sym, getpid());
}

static void join(struct tree *t, struct pending *pd, const struct tree_hello *h, int ring_fd,
                 void (*drain)(void *, struct tree_proc *), void *ctx)
{
    const char *why = admit(t, pd, h);
    char ring_why[160] = "";
    struct ring ring = { 0 };
    struct stat st;
    int bad_ring = 0;
    if (!why && ring_attach(&ring, ring_fd, ring_why, sizeof ring_why) != 0)
        why = ring_why, bad_ring = 1;
    if (!why && fstat(ring_fd, &st) != 0)
        why = "sent no ring";
    if (why) {
        /* A ring of another layout (a libgoprof.so of another version in the same session) is
         * said always, in one line: that process goes unprofiled. The other refusals are
         * processes that are not the session's, which is their business. */
        if (bad_ring)
            gp_log("collector", "pid %d is not profiled: its ring %s", (int)pd->cred.pid, why);
        else
            gp_debug("collector", "pid %d refused: it %s", (int)pd->cred.pid, why);
        t->refused++;
        ring_destroy(&ring);
        close(pd->fd);
        return;
    }
    pid_t pid = (h->flags & TREE_FORKED) ? h->pid : pd->cred.pid;
    /* An exec'd image of a member: the old image's end may not have been seen yet. */
    struct tree_proc *old = find_pid(t, pid, 1);
    if (old && old->state != TREE_ENDED && (h->flags & TREE_FORKED)) {
        /* A fork child's hello behind its own exec'd image's: that image is gone already. */
        gp_debug("collector", "pid %d: forked image came after its exec'd one", (int)pid);
        ring_destroy(&ring);
        close(pd->fd);
        return;
    }
    if (old && old->state != TREE_ENDED)
        end_image(t, old, 1, drain, ctx);
    int old_idx = old ? (int)(old - t->procs) : -1;
    struct tree_proc *p = new_entry(t);
    if (!p) {
        ring_destroy(&ring);
        close(pd->fd);
        return;
    }
    old = old_idx >= 0 ? &t->procs[old_idx] : NULL;
    p->pid = pid;
    p->own_pid = h->pid;
    p->pidns = h->pidns;
    memcpy(p->name, h->name, sizeof p->name);
    p->name[sizeof p->name - 1] = 0;
    p->forked = (h->flags & TREE_FORKED) != 0;
    p->leader = pd->leader || (old && old->leader);
    p->start_ns = h->start_ns;
    p->skip_lo = h->skip_lo;
    p->skip_hi = h->skip_hi;
    p->state = TREE_LIVE;
    p->conn = pd->fd;
    p->ring = ring;
    p->ring_inode = (uint64_t)st.st_ino;
    if (old) {   /* the pid's rendezvous and pidfd move to its new image */
        p->listen_fd = old->listen_fd;
        p->pidfd = old->pidfd;
        old->listen_fd = old->pidfd = -1;
    } else {
        p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pd->leader) {
            p->listen_fd = t->leader_listen;
            t->leader_listen = -1;
        } else {
            p->listen_fd = bind_rendezvous(t, h);
        }
    }
    p->leader_image = pd->leader;
    first_maps(t, p);
    if (pd->leader)
        memcpy(t->leader_exe, p->exe, sizeof t->leader_exe);
    gp_debug("collector", "pid %d (%s) joined%s", (int)pid, p->name,
             p->forked ? ", forked" : old ? ", exec'd" : "");
}

/* Reads a hello with its descriptor: 1 done (joined or refused), 0 not yet, -1 failed. */
static int take_hello(struct tree *t, struct pending *pd,
                      void (*drain)(void *, struct tree_proc *), void *ctx)
{
    struct tree_hello h;
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { &h, sizeof h };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
    ssize_t n = recvmsg(pd->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    int ring_fd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); n > 0 && c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (ring_fd < 0)
                ring_fd = fd;
            else
                close(fd);   /* one descriptor is expected; more are not ours to keep */
        }
    }
    if (n != (ssize_t)sizeof h || ring_fd < 0 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        if (ring_fd >= 0)
            close(ring_fd);
        t->refused += !pd->leader;
        close(pd->fd);
        return -1;
    }
    join(t, pd, &h, ring_fd, drain, ctx);
    close(ring_fd);
    return 1;
}

static void accept_all(struct tree *t, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        struct ucred cred;
        socklen_t len = sizeof cred;
        if (t->npending == TREE_MAX_PENDING || t->doors_closed ||
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
            t->refused++;
            close(fd);
            continue;
        }
        /* Verdicts now, while the process surely still exists (it is in its constructor);
         * one that is gone already is taken on its uid (the kernel's word) alone. */
        const char *refuse = cred.uid != t->uid ? "runs as another user"
                             : in_tree(t, cred.pid) == 0 ? NOT_YET : NULL;
        t->pending[t->npending++] =
            (struct pending){ fd, cred, now_ms() + HELLO_TIMEOUT_MS, 0, refuse };
    }
}

/* ---- the loop's side ---- */

static int add_fd(struct pollfd *fds, int *n, int max, int fd)
{
    if (fd < 0 || *n >= max)
        return 0;
    fds[*n] = (struct pollfd){ fd, POLLIN, 0 };
    (*n)++;
    return 1;
}

int tree_poll_fds(struct tree *t, struct pollfd *fds, int max)
{
    int n = 0;
    add_fd(fds, &n, max, t->leader_listen);
    for (int i = 0; i < t->npending; i++)
        add_fd(fds, &n, max, t->pending[i].fd);
    for (size_t i = 0; i < t->n; i++) {
        struct tree_proc *p = &t->procs[i];
        add_fd(fds, &n, max, p->conn);
        add_fd(fds, &n, max, p->listen_fd);
        add_fd(fds, &n, max, p->pidfd);
    }
    return n;
}

static short revents_of(const struct pollfd *fds, int n, int fd)
{
    for (int i = 0; fd >= 0 && i < n; i++)
        if (fds[i].fd == fd)
            return fds[i].revents;
    return 0;
}

static void read_conn(struct tree *t, struct tree_proc *p,
                      void (*drain)(void *, struct tree_proc *), void *ctx)
{
    if (!take_messages(p))
        conn_closed(t, p, drain, ctx);
}

/* Accepts at every rendezvous that poll found readable (fds), or at every one (fds NULL). */
static void accept_at_doors(struct tree *t, const struct pollfd *fds, int n)
{
    if (t->leader_listen >= 0 && (!fds || revents_of(fds, n, t->leader_listen)))
        accept_all(t, t->leader_listen);
    for (size_t i = 0; i < t->n; i++) {
        int fd = t->procs[i].listen_fd;
        if (fd >= 0 && (!fds || revents_of(fds, n, fd)))
            accept_all(t, fd);
    }
}

void tree_service(struct tree *t, const struct pollfd *fds, int n,
                  void (*drain)(void *, struct tree_proc *), void *ctx)
{
    accept_at_doors(t, fds, n);
    /* Hellos in arrival order; the leader's pair is first, so its children find it. */
    int64_t now = now_ms();
    for (int i = 0; i < t->npending;) {
        struct pending pd = t->pending[i];
        int r = take_hello(t, &pd, drain, ctx);
        if (r == 0 && now < pd.deadline_ms) {
            i++;
            continue;
        }
        if (r == 0) {
            t->refused++;
            close(pd.fd);
        }
        /* keep arrival order: a fork child's hello comes before its exec'd image's */
        memmove(&t->pending[i], &t->pending[i + 1],
                (size_t)(t->npending - i - 1) * sizeof t->pending[0]);
        t->npending--;
    }
    for (size_t i = 0; i < t->n; i++) {
        struct tree_proc *p = &t->procs[i];
        if (p->conn >= 0 && revents_of(fds, n, p->conn))
            read_conn(t, p, drain, ctx);
        if (p->state == TREE_ENDED) {
            if (p->pidfd >= 0 && exited(p)) {   /* an exec'd pid whose next image never came */
                close_fd(&p->listen_fd);
                close_fd(&p->pidfd);
            }
            continue;
        }
        if (exited(p)) {
            end_image(t, p, 0, drain, ctx);
        } else if (p->state == TREE_NOCONN && now >= p->next_probe_ms) {
            p->next_probe_ms = now + PROBE_MS;
            if (same_image(p) != 1)
                end_image(t, p, 1, drain, ctx);
        }
    }
}

void tree_drops(const struct tree *t, uint64_t *drops)
{
    for (int i = 0; i < GP_DROP_MAX; i++)
        drops[i] = 0;
    for (size_t k = 0; k < t->n; k++) {
        struct tree_proc *p = &t->procs[k];
        if (p->state != TREE_ENDED)
            keep_drops(p);
        for (int i = 0; i < GP_DROP_MAX; i++)
            drops[i] += p->drops[i];
    }
}

uint64_t tree_timers_failed(const struct tree *t, int *last_errno)
{
    uint64_t cpu[GP_DROP_MAX], n = 0;
    tree_drops(t, cpu);   /* refreshes every live image's counters */
    *last_errno = 0;
    for (size_t k = 0; k < t->n; k++)
        if (t->procs[k].timers_failed) {
            n += t->procs[k].timers_failed;
            *last_errno = (int)t->procs[k].timer_errno;
        }
    return n;
}

void tree_heap_drops(const struct tree *t, uint64_t *drops)
{
    uint64_t cpu[GP_DROP_MAX];
    tree_drops(t, cpu);   /* refreshes every live image's counters, the heap's too */
    for (int i = 0; i < GP_HEAP_DROP_MAX; i++)
        drops[i] = 0;
    for (size_t k = 0; k < t->n; k++)
        for (int i = 0; i < GP_HEAP_DROP_MAX; i++)
            drops[i] += t->procs[k].heap_drops[i];
}

void tree_costs(const struct tree *t, struct cost_hist *sums)
{
    memcpy(sums, t->ended_cost, sizeof t->ended_cost);
    for (size_t k = 0; k < t->n; k++) {
        const struct tree_proc *p = &t->procs[k];
        if (p->state != TREE_ENDED && p->ring.hdr)
            add_costs(sums, p->ring.hdr);
    }
}

struct tree_proc *tree_exiting(struct tree *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->procs[i].exiting)
            return &t->procs[i];
    return NULL;
}

void tree_done(struct tree *t, struct tree_proc *p)
{
    (void)t;
    p->exiting = 0;
    struct tree_msg m = { TREE_MAGIC, TREE_MSG_DONE, 0, 0, 0 };
    if (p->conn >= 0 && send(p->conn, &m, sizeof m, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        gp_debug("collector", "pid %d: DONE not sent: %s", (int)p->pid, strerror(errno));
}

int tree_take_waiting(struct tree *t)
{
    int before = t->npending;
    accept_at_doors(t, NULL, 0);
    return t->npending - before;
}

void tree_close_doors(struct tree *t)
{
    t->doors_closed = 1;
    close_fd(&t->leader_listen);
    for (size_t i = 0; i < t->n; i++)
        close_fd(&t->procs[i].listen_fd);
}

size_t tree_first_of_pid(const struct tree *t, size_t i)
{
    for (size_t k = 0; k < i; k++)
        if (t->procs[k].pid == t->procs[i].pid)
            return k;
    return i;
}

int tree_add(struct tree *t, int ring_fd, pid_t pid, const char *name)
{
    char why[160];
    struct ring ring = { 0 };
    int err = ring_attach(&ring, ring_fd, why, sizeof why);
    if (err)
        return err;
    struct tree_proc *p = new_entry(t);
    if (!p) {
        ring_destroy(&ring);
        return -ENOMEM;
    }
    p->pid = p->own_pid = pid;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->leader = t->n == 1;
    p->state = TREE_LIVE;
    p->ring = ring;
    return 0;
}
