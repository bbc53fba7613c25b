/* session.c -- the collector's hooks: keep the target's mappings, write the profile at the end.
 * Context: collector
 */
#include "preload/session.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/record_flags.h"
#include "collect/profmap.h"
#include "go/goexe.h"
#include "output/report.h"
#include "ring/cost_hist.h"
#include "ring/ring.h"
#include "symbolize/symbolize.h"

/* Re-read the target's mappings at most this often, and only when a new stack has an address
 * outside every known mapping (a dlopen'ed library's code appears in samples before the profile
 * is written). Reading them on a timer instead cost ~1 ms of CPU per second (sscanf of
 * /proc/PID/maps): most of a long run's overhead. */
#define MAPS_REFRESH_NS 250000000ll

static struct symbolizer *sym;
static int64_t last_maps_ns;
static const struct profmap *checked_pm;   /* entries [0, checked) of it have been looked at */
static size_t checked;
static int maps_stale;

static int64_t now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static struct symbolizer *symbolizer(struct session *s)
{
    if (sym)
        return sym;
    sym = symbolizer_new();
    if (!sym)
        return NULL;
    if (s->go && s->go->is_go)
        symbolizer_set_go(sym, &s->go->pcln, s->go->text_start, s->go->text_end);
    /* This process is a fork of the target taken at its start: our own executable mappings are
     * the target's as of then, and stay readable after the target is gone. */
    symbolizer_update_maps(sym, getpid());
    return sym;
}

static void session_alive(void *ctx, pid_t pid, const struct profmap *pm)
{
    struct session *s = ctx;
    struct symbolizer *sy = symbolizer(s);
    if (!sy)
        return;
    size_t len = profmap_len(pm);
    if (pm != checked_pm || len < checked) {
        checked_pm = pm;
        checked = 0;
    }
    for (; checked < len && !maps_stale; checked++) {
        const struct profmap_entry *e = profmap_get(pm, checked);
        const uint64_t *pc = profmap_frames(pm, e);
        for (size_t i = 0; i < e->nframes && !maps_stale; i++)
            maps_stale = !symbolizer_covers(sy, pc[i] & ~GP_PC_EXACT);
    }
    int64_t now = now_ns(CLOCK_MONOTONIC);
    if (!maps_stale || now - last_maps_ns < MAPS_REFRESH_NS)
        return;
    last_maps_ns = now;
    maps_stale = 0;
    symbolizer_update_maps(sy, pid);
}

static int session_finish(void *ctx, struct profmap *pm, const uint64_t *drops,
                          enum collector_end how)
{
    struct session *s = ctx;
    if (how == COLLECTOR_END_EXEC && profmap_total(pm) == 0)
        return 0;   /* an image replaced by exec before it ran: nothing worth a file */
    struct symbolizer *sy = symbolizer(s);
    if (!sy) {
        gp_log("collector", "cannot symbolize: out of memory; no profile written to %s",
               s->out_path);
        return 1;
    }
    struct report_lost lost[GP_DROP_MAX];
    uint64_t nlost = 0;
    for (int i = 0; i < GP_DROP_MAX; i++) {
        lost[i].reason = ring_drop_name((enum gp_drop_reason)i);
        lost[i].count = drops[i];
        nlost += drops[i];
    }
    char c1[160], c2[160];
    snprintf(c1, sizeof c1, "libgoprof %s, %u Hz%s%s%s%s", PACKAGE_VERSION, s->hz,
             s->version_note[0] ? ", " : "", s->version_note,
             s->layout_note[0] ? ", " : "", s->layout_note);
    snprintf(c2, sizeof c2, "samples %llu, lost %llu%s",
             (unsigned long long)profmap_total(pm), (unsigned long long)nlost,
             how == COLLECTOR_END_EXEC ? ", ended by exec" : "");
    const char *comments[6] = { c1, c2 };
    size_t ncomments = 2;
    char c3[160], c4[160], c4b[160], c5[160];
    struct cost_summary own = { 0 }, fwd = { 0 }, fwd_other = { 0 };
    if (s->ring && s->ring->hdr) {
        cost_hist_summarize(&s->ring->hdr->handler_cost, &own);
        cost_hist_summarize(&s->ring->hdr->forward_cost, &fwd);
        cost_hist_summarize(&s->ring->hdr->forward_other_cost, &fwd_other);
    }
    /* What sampling cost, per signal: our handler, and the program's own SIGPROF handler we
     * forwarded to (Go's sigprof when runtime/pprof runs too), timed the same way; timer signals
     * (one per sample of Go's) apart from the others (setitimer's, mostly dropped at once). */
    snprintf(c3, sizeof c3, "handler_ns: samples=%llu median=%llu p99=%llu max=%llu",
             (unsigned long long)own.n, (unsigned long long)own.median_ns,
             (unsigned long long)own.p99_ns, (unsigned long long)own.max_ns);
    comments[ncomments++] = c3;
    if (fwd.n) {
        snprintf(c4, sizeof c4, "forwarded_ns: signals=%llu median=%llu p99=%llu max=%llu",
                 (unsigned long long)fwd.n, (unsigned long long)fwd.median_ns,
                 (unsigned long long)fwd.p99_ns, (unsigned long long)fwd.max_ns);
        comments[ncomments++] = c4;
    }
    if (fwd_other.n) {
        snprintf(c4b, sizeof c4b,
                 "forwarded_other_ns: signals=%llu median=%llu p99=%llu max=%llu",
                 (unsigned long long)fwd_other.n, (unsigned long long)fwd_other.median_ns,
                 (unsigned long long)fwd_other.p99_ns, (unsigned long long)fwd_other.max_ns);
        comments[ncomments++] = c4b;
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        unsigned long long cpu =
            ((unsigned long long)ru.ru_utime.tv_sec + (unsigned long long)ru.ru_stime.tv_sec) *
                1000000000ull +
            ((unsigned long long)ru.ru_utime.tv_usec + (unsigned long long)ru.ru_stime.tv_usec) *
                1000ull;
        snprintf(c5, sizeof c5, "collector: cpu_ns=%llu maxrss_kb=%ld", cpu, ru.ru_maxrss);
        comments[ncomments++] = c5;
    }
    struct report_input in = {
        .pm = pm, .sym = sy, .lost = lost, .nlost = GP_DROP_MAX,
        .start_ns = s->start_ns, .end_ns = now_ns(CLOCK_REALTIME), .period_ns = s->period_ns,
        .comments = comments, .ncomments = ncomments, .folded = s->folded,
    };
    int err = report_write(&in, s->out_path);
    if (err) {
        gp_log("collector", "cannot write %s: %s", s->out_path, strerror(-err));
        return 1;
    }
    return 0;
}

void session_hooks(struct session *s, struct collector_hooks *hooks)
{
    hooks->ctx = s;
    hooks->alive = session_alive;
    hooks->finish = session_finish;
}
