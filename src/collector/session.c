/* session.c -- the collector's hooks: the run's or the interval's window, files, snapshots and
 * the HTTP endpoint (see session.h).
 * Context: collector
 */
#include "collector/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/clock.h"
#include "lib/base/log.h"
#include "collector/profmap.h"
#include "collector/heapmap.h"
#include "collector/httpd.h"
#include "lib/outname/outpath.h"
#include "lib/config/config.h"
#include "collector/session_write.h"
#include "collector/tree.h"

/* At the end, how long answers to open HTTP requests may take to send. */
#define HTTP_FINISH_MS 3000
/* A port in use at start is tried again every HTTP_RETRY_MS for HTTP_BUSY_MS before the one
 * line is printed: a session that just ended may still hold it for a moment (its collector
 * answers open requests for up to HTTP_FINISH_MS after writing its files). */
#define HTTP_RETRY_MS 100
#define HTTP_BUSY_MS 3000

/* State of the collector process (one session per process). */
static const struct collector_config *cfg;
static struct collector_window cur;    /* the whole run, or the current interval */
static int cur_open;
static unsigned seq = 1;               /* %n of the next interval file */
static int64_t due_ns;                 /* monotonic end of the current interval */
static struct httpd *httpd;            /* NULL: no endpoint */
static int64_t http_retry_ns;          /* monotonic time of the next try; 0: no more tries */
static int64_t http_giveup_ns;         /* after this, a port in use is said and left */

/* Every time read here goes through clock_ns: gp_clock_ns, or a test's (session_set_clock). */
static int64_t (*clock_ns)(clockid_t) = gp_clock_ns;

void session_set_clock(int64_t (*fn)(clockid_t))
{
    clock_ns = fn ? fn : gp_clock_ns;
}

void session_reset(void)
{
    if (cur_open)
        profmap_free(cur.pm);
    memset(&cur, 0, sizeof cur);
    cur_open = 0;
    seq = 1;
    due_ns = http_retry_ns = http_giveup_ns = 0;
    cfg = NULL;
}

/* With %p in the name, one file per process (the pids of a window's samples, in the order
 * they joined; a pid that took no sample has no file); else one file for the session. */
static int per_process(void)
{
    return outpath_uses(cfg->out_tmpl, 'p');
}

/* The C memory profile as file number n (%n) named with time t (%t), as of now: one file, or
 * with %p in GOPROF_HEAP_OUT one per pid with heap samples. Written next to each CPU file. */
static int write_heap(struct collector *c, unsigned n, time_t t, const char *note)
{
    char path[sizeof cfg->heap_out_tmpl + 64];
    struct tree *tr = collector_tree(c);
    int per_pid = outpath_uses(cfg->heap_out_tmpl, 'p'), err = 0;
    int64_t now = clock_ns(CLOCK_REALTIME);
    collector_heap_sync(c);
    for (size_t i = 0; i < (per_pid ? tree_count(tr) : 1); i++) {
        pid_t pid = cfg->app_pid, only = 0;
        const char *prog = cfg->prog;
        if (per_pid) {
            const struct tree_proc *p = tree_get(tr, i);
            if (tree_first_of_pid(tr, i) != i ||
                !session_heap_has_pid(collector_heap(c), tr, p->pid))
                continue;
            pid = p->own_pid;
            prog = p->name;
            only = p->pid;
        }
        int e = outpath_expand(cfg->heap_out_tmpl, pid, t, prog, n, path, sizeof path);
        if (e)
            gp_log("collector", "cannot name heap profile %u from %s: %s", n,
                   cfg->heap_out_tmpl, strerror(-e));
        else if ((e = session_write_heap(cfg, c, only, 0, NULL, now, note, path, -1)) == 0)
            gp_debug("collector", "wrote %s", path);
        if (e && !err)
            err = e;
    }
    return err;
}

/* The window's span as file number n starting at t: one file, or one per pid with samples;
 * and the heap profile as of now with the same n and t. */
static int write_span(struct collector *c, struct session_span *sp, unsigned n, time_t t)
{
    char path[sizeof cfg->out_tmpl + 64];
    struct tree *tr = collector_tree(c);
    int err = 0;
    for (size_t i = 0; i < (per_process() ? tree_count(tr) : 1); i++) {
        pid_t pid = cfg->app_pid;
        const char *prog = cfg->prog;
        sp->only_pid = 0;
        if (per_process()) {
            const struct tree_proc *p = tree_get(tr, i);
            if (tree_first_of_pid(tr, i) != i || !session_has_pid(sp->pm, tr, p->pid))
                continue;
            pid = p->own_pid;
            prog = p->name;
            sp->only_pid = p->pid;
        }
        int e = outpath_expand(cfg->out_tmpl, pid, t, prog, n, path, sizeof path);
        if (e) {
            gp_log("collector", "cannot name profile %u from %s: %s", n, cfg->out_tmpl,
                   strerror(-e));
        } else if ((e = session_write(cfg, c, sp, path, -1)) == 0) {
            gp_debug("collector", "wrote %s", path);
        }
        if (e && !err)
            err = e;
    }
    if (collector_heap(c)) {
        int e = write_heap(c, n, t, sp->note);
        if (e && !err)
            err = e;
    }
    return err;
}

/* Writes window w, covering [w->start_ns, end_ns), to file number n. */
static int write_file(struct collector *c, const struct collector_window *w,
                      int64_t end_ns, unsigned n, time_t t, const char *note)
{
    uint64_t drops[GP_DROP_MAX];
    collector_window_drops(c, w, drops);
    struct session_span sp = { w->pm, w->start_ns, end_ns, drops, note, 0 };
    return write_span(c, &sp, n, t);
}

/* Interval mode: closes the current interval, opens the next at the same instant (no drain
 * runs in between, so no record is in both or in neither), writes the closed one. */
static int end_interval(struct collector *c, const char *note, int reopen)
{
    int64_t now = clock_ns(CLOCK_REALTIME);
    struct collector_window done = cur;
    uint64_t drops[GP_DROP_MAX];
    collector_window_close(c, &cur, drops);
    cur_open = 0;
    if (reopen) {
        if (collector_window_open(c, &cur, now) == 0)
            cur_open = 1;
        else
            gp_log("collector", "out of memory: no interval after profile %u", seq);
    }
    /* done is a copy: it left the collector's list with cur above */
    struct session_span sp = { done.pm, done.start_ns, now, drops, note, 0 };
    int err = write_span(c, &sp, seq, (time_t)(done.start_ns / GP_NS_PER_SEC));
    gp_debug("collector", "interval %u: %llu samples", seq,
             (unsigned long long)profmap_total(done.pm));
    seq++;
    profmap_free(done.pm);
    return err;
}

/* An HTTP request's window, as a profile into fd. */
int session_render_http(struct collector *c, const struct collector_window *w, int64_t end_ns,
                        const uint64_t *drops, int fd)
{
    session_refresh_maps(c, NULL, 1);
    struct session_span sp = { w->pm, w->start_ns, end_ns, drops, ", over HTTP", 0 };
    return session_write(cfg, c, &sp, NULL, fd);
}

/* The C memory profile as of now, into fd (/debug/pprof/heap, /allocs). */
int session_render_heap(struct collector *c, int allocs, const struct heapmap_snapshot *base,
                        int fd)
{
    session_refresh_maps(c, NULL, 1);
    collector_heap_sync(c);
    return session_write_heap(cfg, c, 0, allocs, base, clock_ns(CLOCK_REALTIME), ", over HTTP",
                              NULL, fd);
}

/* One try; while the port is in use and time is left, another is scheduled (session_alive).
 * final: the last try, which says why it failed. */
static void start_http(struct collector *c, int final)
{
    struct sockaddr_in in4 = { 0 };
    struct sockaddr_in6 in6 = { 0 };
    int busy = 0;
    int *busy_p = final ? NULL : &busy;
    if (cfg->http->family == AF_INET) {
        in4.sin_family = AF_INET;
        in4.sin_port = htons(cfg->http->port);
        memcpy(&in4.sin_addr, cfg->http->addr, 4);
        httpd = httpd_start((struct sockaddr *)&in4, sizeof in4, cfg->http_text, c,
                            busy_p);
    } else {
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons(cfg->http->port);
        memcpy(&in6.sin6_addr, cfg->http->addr, 16);
        httpd = httpd_start((struct sockaddr *)&in6, sizeof in6, cfg->http_text, c,
                            busy_p);
    }
    http_retry_ns = busy ? clock_ns(CLOCK_MONOTONIC) + HTTP_RETRY_MS * GP_NS_PER_MS : 0;
}

void session_begin(const struct collector_config *config, struct collector *c)
{
    cfg = config;
    if (collector_window_open(c, &cur, cfg->start_ns) == 0)
        cur_open = 1;
    else
        gp_log("collector", "out of memory: no samples will be aggregated");
    due_ns = clock_ns(CLOCK_MONOTONIC) + (int64_t)cfg->interval_ns;
    if (cfg->http && cfg->http->family) {
        http_giveup_ns = clock_ns(CLOCK_MONOTONIC) + HTTP_BUSY_MS * GP_NS_PER_MS;
        start_http(c, 0);
    }
}

int session_poll_fds(struct pollfd *fds, int max, int *timeout_ms)
{
    int n = httpd_poll_fds(httpd, fds, max, timeout_ms);
    if (http_retry_ns) {
        int64_t left = http_retry_ns - clock_ns(CLOCK_MONOTONIC);
        int ms = left <= 0 ? 0 : (int)((left + GP_NS_PER_MS - 1) / GP_NS_PER_MS);
        if (ms < *timeout_ms)
            *timeout_ms = ms;
    }
    if (cfg->interval_ns) {
        int64_t left = due_ns - clock_ns(CLOCK_MONOTONIC);
        int ms = left <= 0 ? 0 : (int)((left + GP_NS_PER_MS - 1) / GP_NS_PER_MS);
        if (ms < *timeout_ms)
            *timeout_ms = ms;
    }
    return n;
}

void session_alive(struct collector *c)
{
    /* new stacks are what matters, not new records: see session_refresh_maps */
    session_refresh_maps(c, cur_open ? cur.pm : NULL, 0);
    if (http_retry_ns && clock_ns(CLOCK_MONOTONIC) >= http_retry_ns)
        start_http(c, clock_ns(CLOCK_MONOTONIC) >= http_giveup_ns);
    httpd_dispatch(httpd);
    if (cfg->interval_ns && cur_open && clock_ns(CLOCK_MONOTONIC) >= due_ns) {
        session_refresh_maps(c, NULL, 1);
        end_interval(c, "", 1);
        due_ns += (int64_t)cfg->interval_ns;
        int64_t now = clock_ns(CLOCK_MONOTONIC);
        if (due_ns <= now)      /* writing took longer than an interval: do not catch up */
            due_ns = now + (int64_t)cfg->interval_ns;
    }
}

/* SIGUSR1: the file that would be written next, now. One-file mode: the run so far, under the
 * final name (the end of the run replaces it with the complete one). Interval mode: the
 * current interval, cut short; the next one starts now and lasts a full interval. */
void session_snapshot(struct collector *c)
{
    if (!cur_open)
        return;
    session_refresh_maps(c, NULL, 1);
    if (cfg->interval_ns) {
        end_interval(c, ", by SIGUSR1", 1);
        due_ns = clock_ns(CLOCK_MONOTONIC) + (int64_t)cfg->interval_ns;
    } else {
        write_file(c, &cur, clock_ns(CLOCK_REALTIME), 1, cfg->start_sec, ", snapshot by SIGUSR1");
    }
}

/* The leader is PID 1: the file as of now, in case the namespace is SIGKILLed (one-file mode;
 * interval files are already written as they come). */
void session_checkpoint(struct collector *c)
{
    if (!cur_open || cfg->interval_ns)
        return;
    session_refresh_maps(c, NULL, 1);
    write_file(c, &cur, clock_ns(CLOCK_REALTIME), 1, cfg->start_sec, ", checkpoint");
}

int session_finish(struct collector *c)
{
    if (!cur_open) {
        gp_log("collector", "out of memory: no profile written");
        return 1;
    }
    /* Never got the port: the last try says why. */
    if (http_retry_ns)
        start_http(c, 1);
    session_refresh_maps(c, NULL, 1);
    int err = cfg->interval_ns ? end_interval(c, "", 0)
                               : write_file(c, &cur, clock_ns(CLOCK_REALTIME), 1,
                                            cfg->start_sec, "");
    /* The files first: HTTP clients get what their windows hold, a moment later. */
    httpd_finish(httpd, HTTP_FINISH_MS);
    httpd = NULL;
    return err ? 1 : 0;
}
