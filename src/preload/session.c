/* session.c -- the collector's hooks: the run's or the interval's window, files, snapshots and
 * the HTTP endpoint (see session.h).
 * Context: collector
 */
#include "preload/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "collect/profmap.h"
#include "output/httpd.h"
#include "output/outpath.h"
#include "preload/config.h"
#include "preload/session_write.h"

/* At the end, how long answers to open HTTP requests may take to send. */
#define HTTP_FINISH_MS 3000
/* A port in use at start is tried again every HTTP_RETRY_MS for HTTP_BUSY_MS before the one
 * line is printed: after an exec, the replaced image's collector holds it until it has seen
 * the exec (it lets go of it before writing its file). */
#define HTTP_RETRY_MS 100
#define HTTP_BUSY_MS 3000

/* State of the collector process (one session per process). */
static struct collector_window cur;    /* the whole run, or the current interval */
static int cur_open;
static unsigned seq = 1;               /* %n of the next interval file */
static int64_t due_ns;                 /* monotonic end of the current interval */
static struct httpd *httpd;            /* NULL: no endpoint */
static int64_t http_retry_ns;          /* monotonic time of the next try; 0: no more tries */
static int64_t http_giveup_ns;         /* after this, a port in use is said and left */

static int64_t now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* After an exec whose image let go of the name (session_keep_name): ".exec.<collector pid>",
 * so that the program that runs on writes under the name itself. */
static char name_suffix[32];

int session_path(const struct session *s, unsigned n, time_t t, char *out, size_t outsz)
{
    int err = outpath_expand(s->out_tmpl, s->pid, t, s->prog, n, out, outsz);
    if (!err && name_suffix[0]) {
        size_t len = strlen(out);
        if (len + strlen(name_suffix) + 1 > outsz)
            return -ENAMETOOLONG;
        strcpy(out + len, name_suffix);
    }
    return err;
}

/* Writes window w, covering [w->start_ns, end_ns), to file number n. */
static int write_file(struct session *s, struct collector *c, const struct collector_window *w,
                      int64_t end_ns, unsigned n, time_t t, const char *note)
{
    char path[sizeof s->out_tmpl + 64];
    int err = session_path(s, n, t, path, sizeof path);
    if (err) {
        gp_log("collector", "cannot name profile %u from %s: %s", n, s->out_tmpl,
               strerror(-err));
        return err;
    }
    uint64_t drops[GP_DROP_MAX];
    collector_window_drops(c, w, drops);
    struct session_span sp = { w->pm, w->start_ns, end_ns, drops, note };
    err = session_write(s, c, &sp, path, -1);
    if (!err)
        gp_debug("collector", "wrote %s: %llu samples", path,
                 (unsigned long long)profmap_total(w->pm));
    return err;
}

/* Interval mode: closes the current interval, opens the next at the same instant (no drain
 * runs in between, so no record is in both or in neither), writes the closed one. */
static int end_interval(struct session *s, struct collector *c, const char *note, int reopen)
{
    int64_t now = now_ns(CLOCK_REALTIME);
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
    struct session_span sp = { done.pm, done.start_ns, now, drops, note };
    char path[sizeof s->out_tmpl + 64];
    int err = session_path(s, seq, (time_t)(done.start_ns / 1000000000ll), path, sizeof path);
    if (!err)
        err = session_write(s, c, &sp, path, -1);
    else
        gp_log("collector", "cannot name profile %u from %s: %s", seq, s->out_tmpl,
               strerror(-err));
    gp_debug("collector", "interval %u: %llu samples", seq,
             (unsigned long long)profmap_total(done.pm));
    seq++;
    profmap_free(done.pm);
    return err;
}

/* An HTTP request's window, as a profile into fd. */
static int http_render(void *ctx, struct collector *c, const struct collector_window *w,
                       int64_t end_ns, const uint64_t *drops, int fd)
{
    struct session *s = ctx;
    session_refresh_maps(s, s->pid, NULL, 1);
    struct session_span sp = { w->pm, w->start_ns, end_ns, drops, ", over HTTP" };
    return session_write(s, c, &sp, NULL, fd);
}

/* One try; while the port is in use and time is left, another is scheduled (session_alive).
 * final: the last try, which says why it failed. */
static void start_http(struct session *s, struct collector *c, int final)
{
    struct sockaddr_in in4 = { 0 };
    struct sockaddr_in6 in6 = { 0 };
    int busy = 0;
    int *busy_p = final ? NULL : &busy;
    if (s->http->family == AF_INET) {
        in4.sin_family = AF_INET;
        in4.sin_port = htons(s->http->port);
        memcpy(&in4.sin_addr, s->http->addr, 4);
        httpd = httpd_start((struct sockaddr *)&in4, sizeof in4, s->http_text, c, http_render, s,
                            busy_p);
    } else {
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons(s->http->port);
        memcpy(&in6.sin6_addr, s->http->addr, 16);
        httpd = httpd_start((struct sockaddr *)&in6, sizeof in6, s->http_text, c, http_render, s,
                            busy_p);
    }
    http_retry_ns = busy ? now_ns(CLOCK_MONOTONIC) + HTTP_RETRY_MS * 1000000ll : 0;
}

static void session_begin(void *ctx, struct collector *c)
{
    struct session *s = ctx;
    /* Before anything of ours is mapped here (libmicrohttpd): its mappings are not the
     * target's. */
    session_symbolizer(s);
    if (collector_window_open(c, &cur, s->start_ns) == 0)
        cur_open = 1;
    else
        gp_log("collector", "out of memory: no samples will be aggregated");
    due_ns = now_ns(CLOCK_MONOTONIC) + (int64_t)s->interval_ns;
    if (s->http && s->http->family) {
        http_giveup_ns = now_ns(CLOCK_MONOTONIC) + HTTP_BUSY_MS * 1000000ll;
        start_http(s, c, 0);
    }
}

static int session_poll_fds(void *ctx, struct pollfd *fds, int max, int *timeout_ms)
{
    struct session *s = ctx;
    int n = httpd_poll_fds(httpd, fds, max, timeout_ms);
    if (http_retry_ns) {
        int64_t left = http_retry_ns - now_ns(CLOCK_MONOTONIC);
        int ms = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
        if (ms < *timeout_ms)
            *timeout_ms = ms;
    }
    if (s->interval_ns) {
        int64_t left = due_ns - now_ns(CLOCK_MONOTONIC);
        int ms = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
        if (ms < *timeout_ms)
            *timeout_ms = ms;
    }
    return n;
}

static void session_alive(void *ctx, struct collector *c, pid_t pid, size_t new_records,
                          const struct pollfd *fds, int nfds)
{
    struct session *s = ctx;
    (void)fds;      /* libmicrohttpd looks at its own descriptors */
    (void)nfds;
    (void)new_records;   /* new stacks are what matters: see session_refresh_maps */
    session_refresh_maps(s, pid, cur_open ? cur.pm : NULL, 0);
    if (http_retry_ns && now_ns(CLOCK_MONOTONIC) >= http_retry_ns)
        start_http(s, c, now_ns(CLOCK_MONOTONIC) >= http_giveup_ns);
    httpd_dispatch(httpd);
    if (s->interval_ns && cur_open && now_ns(CLOCK_MONOTONIC) >= due_ns) {
        session_refresh_maps(s, pid, NULL, 1);
        end_interval(s, c, "", 1);
        due_ns += (int64_t)s->interval_ns;
        int64_t now = now_ns(CLOCK_MONOTONIC);
        if (due_ns <= now)      /* writing took longer than an interval: do not catch up */
            due_ns = now + (int64_t)s->interval_ns;
    }
}

/* SIGUSR1: the file that would be written next, now. One-file mode: the run so far, under the
 * final name (the end of the run replaces it with the complete one). Interval mode: the
 * current interval, cut short; the next one starts now and lasts a full interval. */
static void session_snapshot(void *ctx, struct collector *c)
{
    struct session *s = ctx;
    if (!cur_open)
        return;
    session_refresh_maps(s, s->pid, NULL, 1);
    if (s->interval_ns) {
        end_interval(s, c, ", by SIGUSR1", 1);
        due_ns = now_ns(CLOCK_MONOTONIC) + (int64_t)s->interval_ns;
    } else {
        write_file(s, c, &cur, now_ns(CLOCK_REALTIME), 1, s->start_sec, ", snapshot by SIGUSR1");
    }
}

/* At an exec: interval files already written under the name keep it (the new image takes a
 * changed one); otherwise the name goes to the new image, and this one's profile gets
 * name_suffix. */
static int session_keep_name(void *ctx)
{
    struct session *s = ctx;
    if (s->interval_ns && seq > 1)
        return 1;
    snprintf(name_suffix, sizeof name_suffix, ".exec.%d", (int)getpid());
    return 0;
}

static int session_finish(void *ctx, struct collector *c, enum collector_end how)
{
    struct session *s = ctx;
    if (!cur_open) {
        gp_log("collector", "out of memory: no profile written");
        return 1;
    }
    const char *note = how == COLLECTOR_END_EXEC ? ", ended by exec" : "";
    /* The new image's collector is waiting for the port: let go of it before writing. */
    if (how == COLLECTOR_END_EXEC)
        httpd_stop_accepting(httpd);
    /* Never got the port: the last try says why. */
    if (http_retry_ns)
        start_http(s, c, 1);
    /* An image replaced by exec before it ran: nothing worth a file. */
    int skip = how == COLLECTOR_END_EXEC && profmap_total(cur.pm) == 0;
    int err = 0;
    if (skip)
        collector_window_close(c, &cur, NULL);
    else if (s->interval_ns)
        err = end_interval(s, c, note, 0);
    else
        err = write_file(s, c, &cur, now_ns(CLOCK_REALTIME), 1, s->start_sec, note);
    /* The files first: HTTP clients get what their windows hold, a moment later. */
    httpd_finish(httpd, HTTP_FINISH_MS);
    httpd = NULL;
    return err ? 1 : 0;
}

void session_hooks(struct session *s, struct collector_hooks *hooks)
{
    hooks->ctx = s;
    hooks->begin = session_begin;
    hooks->poll_fds = session_poll_fds;
    hooks->alive = session_alive;
    hooks->snapshot = session_snapshot;
    hooks->finish = session_finish;
    hooks->keep_name = session_keep_name;
}
