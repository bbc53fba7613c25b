/* session_write.c -- one profile out of one window (see session_write.h).
 * Context: collector
 */
#include "collector/session_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/clock.h"
#include "lib/base/log.h"
#include "lib/base/record_flags.h"
#include "collector/collector.h"
#include "collector/heapmap.h"
#include "collector/profmap.h"
#include "lib/go/goexe.h"
#include "collector/report.h"
#include "lib/ring/cost_hist.h"
#include "lib/ring/ring.h"
#include "collector/symbolize.h"
#include "collector/tree.h"

/* Re-read the target's mappings at most this often, and only when a new stack has an address
 * outside every known mapping (a dlopen'ed library's code appears in samples before the profile
 * is written). Reading them on a timer instead cost ~1 ms of CPU per second (sscanf of
 * /proc/PID/maps): most of a long run's overhead. */
#define MAPS_REFRESH_NS 250000000ll

static int64_t last_maps_ns;
static const struct profmap *checked_pm;   /* entries [0, checked) of it have been looked at */
static size_t checked;
static int maps_stale;

/* A process's symbolizer, with the Go tables of its executable: the leader's from the
 * constructor's analysis (we are its fork), another Go program's analysed here from its file
 * (link-time addresses, looked up through the mapping's load bias: PIE too). */
static struct symbolizer *proc_symbolizer(const struct collector_config *cfg,
                                          struct tree_proc *p)
{
    if (!p->sym && !p->sym_failed) {
        p->sym = symbolizer_new();
        p->sym_failed = !p->sym;
    }
    if (!p->sym || p->go_done)
        return p->sym;
    p->go_done = 1;
    if (p->leader_image && cfg->go && cfg->go->is_go) {
        symbolizer_set_go(p->sym, &cfg->go->pcln, cfg->go->text_start, cfg->go->text_end);
        return p->sym;
    }
    if (!p->exe[0])
        return p->sym;
    struct goexe *g = calloc(1, sizeof *g);
    if (g && goexe_analyze_file(p->exe, g) == 0 && g->is_go &&
        symbolizer_set_go_file(p->sym, &g->pcln, g->text_start, g->text_end, p->exe) == 0) {
        p->go = g;
    } else if (g) {
        goexe_release(g);
        free(g);
    }
    return p->sym;
}

void session_refresh_maps(struct collector *c, const struct profmap *pm, int force)
{
    struct tree *tr = collector_tree(c);
    if (pm) {
        size_t len = profmap_len(pm);
        if (pm != checked_pm || len < checked) {
            checked_pm = pm;
            checked = 0;
        }
        for (; checked < len && !maps_stale; checked++) {
            const struct profmap_entry *e = profmap_get(pm, checked);
            struct tree_proc *p = tree_get(tr, e->proc);
            if (!p || !p->sym || p->state == TREE_ENDED)
                continue;
            const uint64_t *pc = profmap_frames(pm, e);
            for (size_t i = 0; i < e->nframes && !maps_stale; i++)
                maps_stale = !(pc[i] & GP_PC_ELIDED) &&
                             !symbolizer_covers(p->sym, pc[i] & ~GP_PC_EXACT);
        }
    }
    int64_t now = gp_clock_ns(CLOCK_MONOTONIC);
    if (!force && (!maps_stale || now - last_maps_ns < MAPS_REFRESH_NS))
        return;
    last_maps_ns = now;
    maps_stale = 0;
    for (size_t i = 0; i < tree_count(tr); i++) {
        struct tree_proc *p = tree_get(tr, i);
        if (p->state != TREE_ENDED && p->sym)
            symbolizer_update_maps(p->sym, p->pid);
    }
}

int session_has_pid(const struct profmap *pm, struct tree *tr, pid_t pid)
{
    for (size_t i = 0; i < profmap_len(pm); i++) {
        const struct profmap_entry *e = profmap_get(pm, i);
        const struct tree_proc *p = tree_get(tr, e->proc);
        if (p && p->pid == pid && !(e->flags & GP_REC_RESIDUAL))
            return 1;
    }
    return 0;
}

int session_heap_has_pid(const struct heapmap *h, struct tree *tr, pid_t pid)
{
    for (size_t i = 0; h && i < heapmap_len(h); i++) {
        const struct tree_proc *p = tree_get(tr, heapmap_get(h, i)->proc);
        if (p && p->pid == pid)
            return 1;
    }
    return 0;
}

/* Summed drops that are losses (loss=1) or unsampled CPU time (loss=0). */
static unsigned long long sum_drops(const uint64_t *drops, int loss)
{
    unsigned long long n = 0;
    for (int i = 0; i < GP_DROP_MAX; i++)
        if (ring_drop_is_loss((enum gp_drop_reason)i) == loss)
            n += drops[i];
    return n;
}

/* The session's processes for a report (only_pid: the others are omitted), or NULL. */
static struct report_proc *report_procs(const struct collector_config *cfg, struct tree *tr,
                                        pid_t only_pid, const char *path)
{
    size_t nprocs = tree_count(tr);
    struct report_proc *procs = calloc(nprocs ? nprocs : 1, sizeof *procs);
    if (!procs) {
        if (path)
            gp_log("collector", "cannot symbolize: out of memory; no profile written to %s",
                   path);
        return NULL;
    }
    for (size_t i = 0; i < nprocs; i++) {
        struct tree_proc *p = tree_get(tr, i);
        procs[i].sym = proc_symbolizer(cfg, p);
        procs[i].pid = p->own_pid;
        procs[i].name = p->name;
        procs[i].root_frame = !p->leader;
        procs[i].omit = only_pid && p->pid != only_pid;
    }
    return procs;
}

static void processes_comment(struct tree *tr, char *buf, size_t size)
{
    size_t nprocs = tree_count(tr), with_samples = 0;
    for (size_t i = 0; i < nprocs; i++)
        with_samples += tree_get(tr, i)->samples > 0;
    int err;
    uint64_t no_timer = tree_timers_failed(tr, &err);
    int n = snprintf(buf, size, "processes: %zu joined, %zu with samples, %llu refused", nprocs,
                     with_samples, (unsigned long long)tree_refused(tr));
    if (no_timer && n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, "; threads without a CPU timer %llu (%s: their CPU "
                 "time is in [libgoprof] unsampled)", (unsigned long long)no_timer,
                 strerror(err));
}

int session_write_heap(const struct collector_config *cfg, struct collector *c, pid_t only_pid,
                       int allocs, const struct heapmap_snapshot *base, int64_t now_ns,
                       const char *note, const char *path, int fd)
{
    struct tree *tr = collector_tree(c);
    const struct heapmap *h = collector_heap(c);
    if (!h)
        return -ENOENT;
    struct report_proc *procs = report_procs(cfg, tr, only_pid, path);
    if (!procs)
        return -ENOMEM;
    struct heapmap_stats st;
    heapmap_stats(h, &st);
    char c1[200], c2[240], c3[200], c4[200], c5[256], c6[200];
    const char *comments[] = { c1, c2, c6, c3, c4, c5 };
    snprintf(c1, sizeof c1, "libgoprof %s, C memory profile: allocations sampled every %llu "
             "bytes on average (GOPROF_HEAP_RATE)%s%s", PACKAGE_VERSION,
             (unsigned long long)cfg->heap_rate, cfg->version_note[0] ? ", " : "",
             cfg->version_note);
    uint64_t hd[GP_HEAP_DROP_MAX];
    tree_heap_drops(tr, hd);
    snprintf(c2, sizeof c2, "sampled allocations %llu, frees %llu; stacks over the limit "
             "%llu, unreadable %llu%s", (unsigned long long)st.allocs,
             (unsigned long long)st.frees, (unsigned long long)st.overflow_buckets,
             (unsigned long long)st.bad, note ? note : "");
    /* What the programs could not follow: an allocation without its stack is in the overflow
     * bucket; one not followed to its free counts as freed at once. */
    snprintf(c6, sizeof c6, "in the programs: allocations without a stack (their table full) "
             "%llu, allocations not followed to their free (table of sampled blocks full) %llu",
             (unsigned long long)hd[GP_HEAP_DROP_NO_BUCKET],
             (unsigned long long)hd[GP_HEAP_DROP_SET_FULL]);
    snprintf(c3, sizeof c3, "heap table: buckets %zu of %u, frames %zu of %u, %zu KiB",
             st.buckets, (unsigned)HEAPMAP_MAX_BUCKETS, st.frames, (unsigned)HEAPMAP_MAX_FRAMES,
             st.bytes / 1024);
    if (base)
        snprintf(c4, sizeof c4, "delta profile: every figure is its change over the last "
                 "%.1f s (in-use may be negative: freed more than allocated)",
                 (double)(now_ns - base->at_ns) / 1e9);
    else
        snprintf(c4, sizeof c4, "in-use: as of this profile for running processes, as at "
                 "their exit for ended ones (what they never freed); alloc: since the start");
    processes_comment(tr, c5, sizeof c5);
    struct report_input in = {
        .heap = h, .heap_rate = cfg->heap_rate, .allocs = allocs,
        .heap_base = base, .procs = procs, .nprocs = tree_count(tr),
        .start_ns = base ? base->at_ns : now_ns, .end_ns = now_ns,
        .period_ns = cfg->period_ns,
        .comments = comments, .ncomments = sizeof comments / sizeof comments[0],
    };
    int err = path ? report_write(&in, path) : report_write_fd(&in, fd);
    free(procs);
    return err;
}

int session_write(const struct collector_config *cfg, struct collector *c, const struct session_span *sp,
                  const char *path, int fd)
{
    struct tree *tr = collector_tree(c);
    size_t nprocs = tree_count(tr);
    struct report_proc *procs = report_procs(cfg, tr, sp->only_pid, path);
    if (!procs)
        return -ENOMEM;
    struct report_lost lost[GP_DROP_MAX];
    for (int i = 0; i < GP_DROP_MAX; i++) {
        lost[i].label = ring_drop_label((enum gp_drop_reason)i);
        lost[i].count = sp->drops[i];
    }
    uint64_t run_drops[GP_DROP_MAX];
    collector_drops(c, run_drops);
    char c1[160], c2[160], c3[160], c4[160], c5[160], c5b[160], c6[160], c7[256];
    const char *comments[8] = { c1, c2, c3 };
    size_t ncomments = 3;
    snprintf(c1, sizeof c1, "libgoprof %s, %u Hz%s%s%s%s", PACKAGE_VERSION, cfg->hz,
             cfg->version_note[0] ? ", " : "", cfg->version_note,
             cfg->layout_note[0] ? ", " : "", cfg->layout_note);
    /* Unsampled: the estimate of threads' CPU time no signal reported, on their start stacks
     * (records) or, when the ring was full, without a stack (drops); not samples. */
    uint64_t unsampled = profmap_unsampled(sp->pm);
    snprintf(c2, sizeof c2, "samples %llu, lost %llu, unsampled %llu%s",
             (unsigned long long)(profmap_total(sp->pm) - unsampled), sum_drops(sp->drops, 1),
             (unsigned long long)unsampled + sum_drops(sp->drops, 0), sp->note ? sp->note : "");
    /* Totals since the start, counted apart from any window: the files of a series add up
     * to the last one's totals. */
    unsampled = collector_unsampled(c);
    snprintf(c3, sizeof c3, "run so far: samples %llu, lost %llu, unsampled %llu",
             (unsigned long long)(collector_total(c) - unsampled), sum_drops(run_drops, 1),
             (unsigned long long)unsampled + sum_drops(run_drops, 0));
    struct cost_summary own = { 0 }, fwd = { 0 }, fwd_other = { 0 };
    static struct cost_hist sums[3];   /* 5 KiB each: not on the stack */
    tree_costs(tr, sums);
    cost_hist_summarize(&sums[0], &own);
    cost_hist_summarize(&sums[1], &fwd);
    cost_hist_summarize(&sums[2], &fwd_other);
    /* What sampling cost, per signal: our handler, and the program's own SIGPROF handler we
     * forwarded to (Go's sigprof when runtime/pprof runs too), timed the same way; timer signals
     * (one per sample of Go's) apart from the others (setitimer's, mostly dropped at once). */
    snprintf(c4, sizeof c4, "handler_ns: samples=%llu median=%llu p99=%llu max=%llu",
             (unsigned long long)own.n, (unsigned long long)own.median_ns,
             (unsigned long long)own.p99_ns, (unsigned long long)own.max_ns);
    comments[ncomments++] = c4;
    if (fwd.n) {
        snprintf(c5, sizeof c5, "forwarded_ns: signals=%llu median=%llu p99=%llu max=%llu",
                 (unsigned long long)fwd.n, (unsigned long long)fwd.median_ns,
                 (unsigned long long)fwd.p99_ns, (unsigned long long)fwd.max_ns);
        comments[ncomments++] = c5;
    }
    if (fwd_other.n) {
        snprintf(c5b, sizeof c5b,
                 "forwarded_other_ns: signals=%llu median=%llu p99=%llu max=%llu",
                 (unsigned long long)fwd_other.n, (unsigned long long)fwd_other.median_ns,
                 (unsigned long long)fwd_other.p99_ns, (unsigned long long)fwd_other.max_ns);
        comments[ncomments++] = c5b;
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        unsigned long long cpu =
            (unsigned long long)(gp_timeval_ns(ru.ru_utime) + gp_timeval_ns(ru.ru_stime));
        snprintf(c6, sizeof c6, "collector: cpu_ns=%llu maxrss_kb=%ld", cpu, ru.ru_maxrss);
        comments[ncomments++] = c6;
    }
    processes_comment(tr, c7, sizeof c7);
    comments[ncomments++] = c7;
    struct report_input in = {
        .pm = sp->pm, .procs = procs, .nprocs = nprocs, .lost = lost, .nlost = GP_DROP_MAX,
        .start_ns = sp->start_ns, .end_ns = sp->end_ns, .period_ns = cfg->period_ns,
        .comments = comments, .ncomments = ncomments, .folded = cfg->folded,
    };
    /* A failure to write a file is reported once, by the writer (the step, the file, why). */
    int err = path ? report_write(&in, path) : report_write_fd(&in, fd);
    free(procs);
    return err;
}
