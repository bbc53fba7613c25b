/* preload.c -- the library constructor: the composition root of libgoprof.
 * Context: program
 *
 * In order: configuration, the session (joined, or led: output name, collector), Go
 * analysis, ring, handler, timers, exit hook, fork handlers.
 *
 * Runs before main (and before the Go runtime's rt0_go) while the process has one thread. Any
 * failure leaves the program running exactly as without libgoprof: configuration errors print
 * one line naming the variable; other failures print one line and profiling stays off.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/clock.h"
#include "lib/base/log.h"
#include "collector/collector.h"
#include "lib/go/goexe.h"
#include "lib/outname/outpath.h"
#include "lib/config/config.h"
#include "program/preload/collector_spawn.h"
#include "program/preload/exit_hook.h"
#include "program/preload/go_module.h"
#include "program/preload/interpose.h"
#include "program/preload/interpose_malloc.h"
#include "program/preload/tree_join.h"
#include "lib/outname/output_claim.h"
#include "lib/ring/ring.h"
#include "program/sample/sample.h"
#include "program/unwind/unwind.h"

struct real_functions gp_real;
int gp_owns_sigprof;

static struct gp_config config;
static struct ring ring;
static struct goexe goexe;
static struct collector_config collector;

/* This process in its session (lib/tree/tree_proto.h). */
static struct tree_hello hello;
static uint64_t session_hash;
static struct tree_conn session = { -1, 0, 0 };   /* to the collector, O_CLOEXEC */
static int is_leader;

int interpose_resolve(void)
{
    gp_real.sigaction = dlsym(RTLD_NEXT, "sigaction");
    gp_real.signal = dlsym(RTLD_NEXT, "signal");
    gp_real.sysv_signal = dlsym(RTLD_NEXT, "sysv_signal");
    gp_real.pthread_create = dlsym(RTLD_NEXT, "pthread_create");
    gp_real.clone = dlsym(RTLD_NEXT, "clone");
    gp_real.syscall = dlsym(RTLD_NEXT, "syscall");
    gp_real.sigtimedwait = dlsym(RTLD_NEXT, "sigtimedwait");
    gp_real.sigwaitinfo = dlsym(RTLD_NEXT, "sigwaitinfo");
    gp_real.sigwait = dlsym(RTLD_NEXT, "sigwait");
    gp_real.signalfd = dlsym(RTLD_NEXT, "signalfd");
    if (!gp_real.sigaction || !gp_real.signal || !gp_real.pthread_create)
        return -ENOSYS;
    return 0;
}

struct self_text {
    uint64_t lo, hi, main_bias;
    int main_seen;
    int main_has_go_note;   /* the executable carries Go's build ID note */
};

static int find_modules(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct self_text *st = data;
    if (!st->main_seen) {   /* the first entry is the main program */
        st->main_seen = 1;
        st->main_bias = info->dlpi_addr;
        st->main_has_go_note = go_module_has_note(info);
    }
    uint64_t me = (uint64_t)(uintptr_t)&find_modules;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uint64_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && me >= lo && me < hi) {
            st->lo = lo;
            st->hi = hi;
        }
    }
    return 0;
}

/* The output names' claims (output_claim.h): the collector keeps copies; ours are closed once
 * it has started, or when profiling is off after all. */
static int claim_fd = -1, heap_claim_fd = -1;

static void drop_claim(void)
{
    if (claim_fd >= 0)
        close(claim_fd);
    if (heap_claim_fd >= 0)
        close(heap_claim_fd);
    claim_fd = heap_claim_fd = -1;
}

/* GOPROF_HEAP_OUT for the collector, as prepare_output does GOPROF_OUT: absolute (the
 * collector runs in "/"), claimed (a name another session writes to is changed the same way),
 * numbered in interval mode. The same name as GOPROF_OUT's, or a template that cannot be used,
 * turns C memory profiling off, in one line; CPU profiling goes on. */
static void prepare_heap_output(time_t start, const char *cpu_tmpl)
{
    char *tmpl = collector.heap_out_tmpl, expanded[PATH_MAX], cwd[PATH_MAX];
    size_t tsz = sizeof collector.heap_out_tmpl;
    collector.heap_rate = 0;
    tmpl[0] = 0;
    if (!config.heap_rate)
        return;
    if (config.heap_out[0] != '/' &&
        (!getcwd(cwd, sizeof cwd) || outpath_append_literal(tmpl, tsz, cwd) != 0 ||
         outpath_append_literal(tmpl, tsz, "/") != 0))
        tmpl[0] = 0;
    else if (strlen(tmpl) + strlen(config.heap_out) + sizeof ".%n" > tsz)
        tmpl[0] = 0;
    else
        strcat(tmpl, config.heap_out);
    if (tmpl[0] && !strcmp(tmpl, cpu_tmpl)) {
        gp_log("config", "GOPROF_HEAP_OUT=\"%s\" is GOPROF_OUT's name: each would overwrite the "
               "other; no C memory profile for this run", config.heap_out);
        tmpl[0] = 0;
        return;
    }
    if (tmpl[0]) {
        heap_claim_fd = output_claim(tmpl, tsz - sizeof ".%n", collector.app_pid, collector.prog);
        if (heap_claim_fd < 0)
            gp_debug("preload", "heap output name not claimed (%s): %s",
                     strerror(-heap_claim_fd), tmpl);
    }
    if (tmpl[0] && config.interval_ns && !outpath_uses(config.heap_out, 'n'))
        strcat(tmpl, ".%n");
    if (!tmpl[0] || outpath_expand(tmpl, getpid(), start, collector.prog, 1, expanded,
                                   sizeof expanded) != 0) {
        gp_log("config", "GOPROF_HEAP_OUT=\"%s\" cannot be used; no C memory profile for this "
               "run", config.heap_out);
        tmpl[0] = 0;
        return;
    }
    collector.heap_rate = config.heap_rate;
}

static int prepare_output(time_t start)
{
    char *tmpl = collector.out_tmpl, expanded[PATH_MAX];
    size_t tsz = sizeof collector.out_tmpl;
    tmpl[0] = 0;
    /* The collector runs in "/": make the template absolute now. */
    if (config.out[0] != '/') {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return -errno;
        if (outpath_append_literal(tmpl, tsz, cwd) != 0 ||
            outpath_append_literal(tmpl, tsz, "/") != 0)
            return -ENAMETOOLONG;
    }
    if (strlen(tmpl) + strlen(config.out) + 1 > tsz)
        return -ENAMETOOLONG;
    strcat(tmpl, config.out);
    collector.prog = program_invocation_short_name;
    collector.app_pid = getpid();
    collector.start_sec = start;
    /* A name another profiled process (or this one's image before an exec) writes to is
     * changed: ".%p", then ".2", ".3"... (output_claim.h). */
    char unclaimed[sizeof collector.out_tmpl];
    strcpy(unclaimed, tmpl);
    claim_fd = output_claim(tmpl, tsz - sizeof ".%n", collector.app_pid, collector.prog);
    if (claim_fd == -ENAMETOOLONG)
        return -ENAMETOOLONG;
    if (claim_fd < 0)
        gp_debug("preload", "output name not claimed (%s): %s", strerror(-claim_fd), tmpl);
    /* Interval files need distinct names: number them. */
    if (config.interval_ns && !outpath_uses(config.out, 'n'))
        strcat(tmpl, ".%n");
    int r = outpath_expand(tmpl, collector.app_pid, start, collector.prog, 1, expanded,
                           sizeof expanded);
    if (r) {
        gp_log("config", "GOPROF_OUT=\"%s\" cannot be expanded (%s); profiling is off for "
               "this run", config.out, strerror(-r));
        return r;
    }
    char *slash = strrchr(expanded, '/');
    if (slash == expanded)
        slash[1] = 0;
    else
        *slash = 0;
    if (access(expanded, W_OK | X_OK) != 0) {
        int err = -errno;
        gp_log("config", "GOPROF_OUT=\"%s\": directory %s is not writable (%s); profiling is "
               "off for this run", config.out, expanded, strerror(errno));
        return err;
    }
    prepare_heap_output(start, unclaimed);
    return 0;
}

/* Threads that exist before us (rare: a library constructor that started one). Read with
 * getdents64 into a buffer on the stack: opendir's 32 KiB malloc'd buffer cost a start more
 * than the rest of this. */
static void arm_existing_threads(void)
{
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    pid_t self = (pid_t)syscall(SYS_gettid);
    char buf[2048];
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            const struct dirent64 *e = (const struct dirent64 *)(buf + off);
            pid_t tid = (pid_t)atoi(e->d_name);
            int r;
            if (tid > 0 && tid != self && (r = sample_arm_thread(tid)) != 0)
                gp_debug("sample", "timer for running thread %d: %s", (int)tid, strerror(-r));
            off += e->d_reclen;
        }
    }
    close(fd);
}

/* What this process tells its session about itself. */
static void fill_hello(const struct self_text *st, struct timespec now, uint64_t pidns)
{
    memset(&hello, 0, sizeof hello);
    hello.magic = TREE_MAGIC;
    hello.version = TREE_VERSION;
    hello.pid = getpid();
    hello.pidns = pidns;
    hello.skip_lo = st->lo;
    hello.skip_hi = st->hi;
    hello.start_ns = gp_timespec_ns(now);
    strncpy(hello.name, program_invocation_short_name, sizeof hello.name - 1);
}

/* The connection a fork child will join through, made by the forking thread before the fork:
 * a child whose parent exits at once (a daemon's double fork) finds its parent's rendezvous,
 * even the whole session, gone; a connection made before the fork keeps the session from
 * ending (the collector takes every connection waiting before it ends) and is admitted on
 * the parent's credentials. */
static __thread int fork_conn = -1;

static void forking(void)
{
    if (sample_inert())   /* nothing of ours in such a process, nor in its children (owner.c) */
        return;
    if (session.fd >= 0 && config.follow && sample_process_is_ours()) {
        int saved = errno;
        fork_conn = tree_find(session_hash, hello.pidns);
        errno = saved;
    }
}

static void forked_parent(void)
{
    if (fork_conn >= 0)
        close(fork_conn);
    fork_conn = -1;
}

/* fork without exec: the child has no timers, and must not write into its parent's ring nor
 * hold its parent's connection. With GOPROF_FOLLOW it joins the session as a process of its
 * own (a prefork worker), with a ring of its own, and its thread sampled again. */
static void forked_child(void)
{
    if (sample_inert())
        return;
    sample_forked_child();
    heap_forked_child();
    /* the unwinder's fault-safe reads (process_vm_readv) are of this process now */
    gp_unwind_go.pid = getpid();
    int parents = tree_conn_fd(&session);   /* (not a number the program took since) */
    if (parents >= 0)
        close(parents);
    session.fd = -1;
    is_leader = 0;
    int saved = errno;
    int sock = fork_conn;
    fork_conn = -1;
    if (!config.follow || sock < 0) {
        if (sock >= 0)
            close(sock);
        errno = saved;
        return;
    }
    struct ring fresh;
    int ring_fd = -1;
    hello.pid = getpid();
    hello.flags = TREE_FORKED;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    hello.start_ns = gp_timespec_ns(now);
    if (ring_create(&fresh, config.ring_slots, config.heap_rate != 0, &ring_fd) == 0) {
        if (tree_send_hello(sock, &hello, ring_fd) == 0) {
            struct ring old = ring;
            ring = fresh;
            sample_set_ring(&ring);
            ring_destroy(&old);
            tree_conn_set(&session, sock);
            sample_enable(1);
            heap_resume();
            sample_thread_start();
        } else {
            gp_debug("preload", "fork child %d not profiled: its session is out of reach",
                     (int)getpid());
            close(sock);
            ring_destroy(&fresh);
        }
        close(ring_fd);
    } else {
        close(sock);
    }
    errno = saved;
}

/* The libc functions we wrap: without them nothing else can be done. */
static int find_real_functions(void)
{
    if (interpose_resolve() != 0) {
        gp_log("preload", "libc's sigaction/pthread_create not found; profiling is off");
        return -1;
    }
    return 0;
}

/* GOPROF_*: 0 to go on, -1 when disabled or invalid (said in at most one line). */
static int read_config(void)
{
    char err[512], warn[256];
    int r = config_parse(&config, err, sizeof err, warn, sizeof warn);
    gp_log_debug_enabled = config.debug;
    /* GOPROF_DISABLE=1 takes libgoprof out of a program without editing the rest of its
     * environment: then nothing is changed, not even stderr by a line about another variable. */
    if (config.disable)
        return -1;
    /* At most one line: a bad value (profiling off) is said rather than an unknown name. */
    if (r) {
        gp_log("config", "%s", err);
        return -1;
    }
    if (warn[0])
        gp_log("config", "%s", warn);
    return 0;
}

/* The Go tables (goexe) of the executable, or of the Go shared library a C program was linked
 * with, and what the unwinder may use of them; never fails: without usable tables, Go code is
 * profiled as native code. A Go shared library loaded later, by dlopen, is looked for as its
 * runtime starts (go_module.c). */
static void analyze_go(const struct self_text *st)
{
    if (!st->main_has_go_note) {   /* a C/C++ program, perhaps with Go in a library */
        int found = go_module_find_lib(&goexe);
        unwind_configure(found > 0 ? &goexe : NULL);
        if (found == 0)
            go_module_watch();
        if (found <= 0)
            return;
    } else {
        int r = goexe_analyze("/proc/self/exe", st->main_bias, &goexe);
        if (r != 0 && r != -ENOENT && goexe.is_go) {
            /* A .go.buildinfo but tables we cannot use (a C program carrying one, a future
             * pclntab format): half-read tables must not reach the unwinder; one line, then
             * native code. */
            gp_log("go", "%s executable: its Go tables are not usable (%s); it is profiled as "
                   "native code", goexe.version, strerror(-r));
            goexe.is_go = 0;
        } else if (r != 0 && r != -ENOENT) {
            gp_log("go", "this Go program's layout is not supported (%s): Go frames are "
                   "unwound without runtime state", strerror(-r));
        }
        unwind_configure(goexe.is_go ? &goexe : NULL);
    }
    if (goexe.is_go && !gp_unwind_go.layout.known)
        gp_log("go", "%s: runtime layout not recognised (no usable DWARF, and only Go 1.21-1.26 "
               "are known): goroutine state is not read; stacks may end early at morestack",
               goexe.version);
}

/* The process's own ring: 0 with *fd its memfd, or -errno, said in one line by the leader
 * (a member's children would each say it again: debug only). */
static int make_ring(struct ring *r, int *fd, int leader)
{
    int err = ring_create(r, config.ring_slots, config.heap_rate != 0, fd);
    if (err == 0 || (!leader && !gp_log_debug_enabled))
        return err;
    if (err == -EFBIG)
        gp_log("ring", "even a 16-slot ring is larger than the file size limit (ulimit -f) "
               "allows; profiling is off");
    else
        gp_log("ring", "cannot map %u slots: %s; profiling is off", config.ring_slots,
               strerror(-err));
    return err;
}

/* The rest of what the collector is told (prepare_output filled the output's part). */
static void fill_collector_config(struct timespec now)
{
    collector.period_ns = (uint64_t)GP_NS_PER_SEC / config.hz;
    collector.hz = config.hz;
    collector.start_ns = gp_timespec_ns(now);
    collector.go = goexe.is_go ? &goexe : NULL;
    collector.folded = config.format == GP_FORMAT_FOLDED;
    collector.version_note = goexe.is_go ? goexe.version : "";
    collector.interval_ns = config.interval_ns;
    if (config.http_addr.family) {
        collector.http = &config.http_addr;
        collector.http_text = config.http;
    }
    collector.layout_note = !goexe.is_go ? ""
                          : !gp_unwind_go.layout.known ? "runtime layout not recognised"
                          : goexe.layout_from_dwarf ? "runtime layout from DWARF"
                          : "runtime layout from the version table";
    collector.keep_fd = claim_fd;
    collector.heap_keep_fd = heap_claim_fd;
    collector.session_hash = session_hash;
    collector.pidns = hello.pidns;
    collector.leader_is_init = getpid() == 1;
}

/* At this process's end (exit_hook.h), on a private stack, async-signal-safe: every process
 * tells the session its CPU clock (what no sample saw is accounted for); the leader, and
 * PID 1 of a namespace (whose end SIGKILLs a collector inside it), then wait for the
 * session's answer, so that the files are final when the exit returns (when it was the last
 * process) and nothing is lost to PID 1's end. */
static void before_exit(int status)
{
    if (!sample_process_is_ours())   /* a raw clone's child, or sandboxed: nothing of ours */
        return;
    int conn = tree_conn_fd(&session);   /* (not a number the program took since) */
    if (conn < 0)
        return;
    tree_send_cpu(conn);
    if ((is_leader || getpid() == 1) && config.exit_wait_ns)
        tree_wait_done(conn, status, config.exit_wait_ns);
}

/* Before the hello: the collector reads this process's maps when it takes the hello, and
 * patching Go's text splits the executable's mapping while it is writable. The leader
 * installs it after forking the collector, which must not inherit it. */
static void hook_exit(void)
{
    int r = exit_hook_install(before_exit, goexe.is_go ? &goexe : NULL);
    if (r == 0 || r == -EALREADY)
        return;
    /* Only PID 1 loses its profile without the hook; elsewhere the files come a moment
     * after the exit instead of with it. */
    if (getpid() == 1)
        gp_log("exit", "cannot hook Go's exit (%s): as PID 1, the end of this run may be lost",
               strerror(-r));
    else
        gp_debug("exit", "cannot hook Go's exit: %s", strerror(-r));
}

/* Forks the collector, which keeps its own copies of the claim, of our rendezvous and of its
 * end of our connection; ours are closed either way. Then joins it like any member. */
static int start_collector(int ring_fd)
{
    int pair[2] = { -1, -1 };
    int listen_fd = tree_listen(session_hash, hello.pidns, getpid());
    if (listen_fd < 0)
        gp_debug("preload", "no rendezvous for descendants: %s", strerror(-listen_fd));
    int r = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0 ? -errno : 0;
    if (r == 0) {
        collector.listen_fd = listen_fd;
        collector.conn_fd = pair[1];
        r = collector_spawn(&collector);
        close(pair[1]);
    }
    drop_claim();
    if (listen_fd >= 0)
        close(listen_fd);
    hello.flags = TREE_LEADER;
    if (r == 0)
        hook_exit();
    if (r == 0 && (r = tree_send_hello(pair[0], &hello, ring_fd)) == 0)
        tree_conn_set(&session, pair[0]);
    else if (pair[0] >= 0)
        close(pair[0]);
    if (r != 0) {
        gp_log("collector", "cannot start: %s; profiling is off", strerror(-r));
        ring_destroy(&ring);
    }
    return r;
}

/* The handler, then the timers: this thread's, and those of threads already running. */
static void start_sampling(void)
{
    /* The leader has just forked the collector: its caches' pages are written now, or each
     * would be copied at its first write in a handler. A process that joined has no such
     * copies to fear: a first touch in the handler costs a fault, which nothing must spend
     * at the start of every short child. */
    if (is_leader)
        unwind_warm();
    struct sample_config sc = { .period_ns = (uint64_t)GP_NS_PER_SEC / config.hz, .ring = &ring };
    int r = sample_setup(&sc, gp_real.sigaction);
    if (r != 0) {
        gp_log("sample", "cannot install the SIGPROF handler: %s; profiling is off",
               strerror(-r));
        return;
    }
    __atomic_store_n(&gp_owns_sigprof, 1, __ATOMIC_RELEASE);
    sample_enable(1);
    /* C memory profiling (GOPROF_HEAP_RATE): its records go to the same ring; our own frames
     * are those the collector leaves out. */
    heap_start(config.heap_rate, hello.skip_lo, hello.skip_hi);
    pthread_atfork(forking, forked_parent, forked_child);
    sample_thread_start();
    arm_existing_threads();
    gp_debug("preload", "profiling pid %d at %u Hz into %s%s%s", (int)getpid(), config.hz,
             collector.out_tmpl, goexe.is_go ? ", Go " : "", goexe.is_go ? goexe.version : "");
}

/* A descendant of a session's process: joins it (0), or stays unprofiled (-1): the session
 * cannot take it. */
static int join_session(int sock)
{
    if (sock < 0) {
        gp_debug("preload", "not profiled: the session cannot take us (%s)", strerror(-sock));
        return -1;
    }
    int ring_fd = -1;
    if (make_ring(&ring, &ring_fd, 0) != 0) {
        close(sock);
        return -1;
    }
    hook_exit();
    int r = tree_send_hello(sock, &hello, ring_fd);
    close(ring_fd);
    if (r != 0) {
        gp_debug("preload", "not profiled: joining the session failed (%s)", strerror(-r));
        close(sock);
        ring_destroy(&ring);
        return -1;
    }
    tree_conn_set(&session, sock);
    return 0;
}

/* The first process of a tree: output name, ring, collector. */
static int lead_session(struct timespec now)
{
    if (prepare_output(now.tv_sec) != 0) {
        drop_claim();
        return -1;
    }
    int ring_fd = -1;
    if (make_ring(&ring, &ring_fd, 1) != 0) {
        drop_claim();
        return -1;
    }
    fill_collector_config(now);
    int r = start_collector(ring_fd);
    close(ring_fd);
    if (r != 0)
        return -1;
    is_leader = 1;
    return 0;
}

static void init(void)
{
    if (find_real_functions() != 0 || read_config() != 0)
        return;
    /* First whether an ancestor has a session: with GOPROF_FOLLOW=0 that is all a descendant
     * does before it runs on unprofiled. */
    session_hash = config_session_hash();
    uint64_t pidns = tree_own_pidns();
    int sock = tree_find(session_hash, pidns);
    if (sock != -ENOENT && !config.follow) {
        if (sock >= 0)
            close(sock);
        return;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct self_text st = { 0 };
    dl_iterate_phdr(find_modules, &st);   /* our own text, and the executable's load bias */
    fill_hello(&st, now, pidns);
    /* (the leader analyses before forking: its collector symbolizes with that analysis) */
    analyze_go(&st);
    if (sock != -ENOENT ? join_session(sock) != 0 : lead_session(now) != 0)
        return;
    start_sampling();
}

__attribute__((constructor)) static void libgoprof_init(void)
{
    init();
    heap_bind_direct();   /* unless C memory profiling started */
}
