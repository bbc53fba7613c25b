/* httpd.c -- the pull endpoint compatible with Go's net/http/pprof (see httpd.h).
 * Context: collector
 */
#include "collector/httpd.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/clock.h"
#include "lib/base/log.h"
#include "collector/collector.h"
#include "collector/profmap.h"
#include "collector/heapmap.h"
#include "collector/httpd_mhd.h"
#include "collector/session.h"

/* Idle keep-alive connections are closed after this (a suspended one waits for its window). */
#define HTTPD_IDLE_TIMEOUT_S 30u
/* Connections at once: the windows, and a few more for index pages and errors. */
#define HTTPD_MAX_CONNECTIONS 32u

struct httpd_request {
    struct MHD_Connection *conn;
    struct collector_window w;
    int window_open;        /* w is linked into the collector */
    int suspended;
    int done;               /* the window is closed: fd holds its profile, or err why not */
    int fd;
    int err;
    int64_t due_ns;         /* monotonic */
    /* A delta heap profile (heap?seconds=N): 1 heap, 2 allocs; the figures at its start. */
    int heap;
    int heap_waiting;       /* its base is taken, its end not yet due */
    struct heapmap_snapshot base;
    struct httpd_request *next;
};

/* Waiting for its due time: a CPU profile's window, or a delta heap profile. */
static int pending(const struct httpd_request *r)
{
    return r->window_open || r->heap_waiting;
}

struct httpd {
    struct httpd_mhd api;
    struct MHD_Daemon *d;
    int epoll_fd;
    struct collector *c;
    struct httpd_request *reqs;   /* every profile request not yet completed */
    int nwindows;
    int accepting;                /* 0 once the listening socket is closed */
};

static const char index_page[] =
    "<html>\n<head>\n<title>/debug/pprof/</title>\n</head>\n<body>\n"
    "/debug/pprof/\n<br>\n<p>Served by libgoprof from the profiled program's collector "
    "process: mixed C and Go stacks.</p>\n"
    "Types of profiles available:\n<table>\n<thead><td>Count</td><td>Profile</td></thead>\n"
    "<tr><td></td><td><a href='profile?seconds=30'>profile</a></td></tr>\n</table>\n"
    "<ul>\n<li><div class=profile-name>profile: </div> CPU profile of every thread, C and Go "
    "frames alike. You can specify the duration in the seconds GET parameter (1 to 600, "
    "default 30). After you get the profile file, use the go tool pprof command to "
    "investigate the profile.</li>\n</ul>\n</body>\n</html>\n";

/* With C memory profiling on. */
static const char index_page_heap[] =
    "<html>\n<head>\n<title>/debug/pprof/</title>\n</head>\n<body>\n"
    "/debug/pprof/\n<br>\n<p>Served by libgoprof from the profiled program's collector "
    "process: mixed C and Go stacks.</p>\n"
    "Types of profiles available:\n<table>\n<thead><td>Count</td><td>Profile</td></thead>\n"
    "<tr><td></td><td><a href='allocs'>allocs</a></td></tr>\n"
    "<tr><td></td><td><a href='heap'>heap</a></td></tr>\n"
    "<tr><td></td><td><a href='profile?seconds=30'>profile</a></td></tr>\n</table>\n"
    "<ul>\n<li><div class=profile-name>allocs: </div> A sampling of all past C memory "
    "allocations (malloc and its family)</li>\n"
    "<li><div class=profile-name>heap: </div> A sampling of the C memory allocations of live "
    "objects.</li>\n"
    "<li><div class=profile-name>profile: </div> CPU profile of every thread, C and Go "
    "frames alike. You can specify the duration in the seconds GET parameter (1 to 600, "
    "default 30). After you get the profile file, use the go tool pprof command to "
    "investigate the profile.</li>\n</ul>\n</body>\n</html>\n";

static enum MHD_Result queue(struct httpd *h, struct MHD_Connection *conn, unsigned status,
                             struct MHD_Response *r, const char *type)
{
    if (!r)
        return MHD_NO;
    h->api.add_response_header(r, "Content-Type", type);
    h->api.add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status >= 400)
        h->api.add_response_header(r, "X-Go-Pprof", "1");   /* as Go's own error replies */
    if (status == 405)
        h->api.add_response_header(r, "Allow", "GET");
    if (status == 503)
        h->api.add_response_header(r, "Retry-After", "5");
    enum MHD_Result ret = h->api.queue_response(conn, status, r);
    h->api.destroy_response(r);
    return ret;
}

static enum MHD_Result reply_text(struct httpd *h, struct MHD_Connection *conn,
                                  unsigned status, const char *body)
{
    struct MHD_Response *r =
        h->api.create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    return queue(h, conn, status, r, "text/plain; charset=utf-8");
}

/* seconds: absent -> the default; otherwise 1 to HTTPD_MAX_SECONDS in plain decimal. */
static int parse_seconds(struct httpd *h, struct MHD_Connection *conn, int *out)
{
    const char *v = NULL;
    size_t n = 0;
    if (h->api.lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, "seconds", 7, &v, &n) !=
        MHD_YES) {
        *out = HTTPD_DEFAULT_SECONDS;
        return 0;
    }
    if (!v || n == 0 || n > 4)
        return -EINVAL;
    int s = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -EINVAL;
        s = s * 10 + (v[i] - '0');
    }
    if (s < 1 || s > HTTPD_MAX_SECONDS)
        return -ERANGE;
    *out = s;
    return 0;
}

/* Links a new request, due in seconds, into the pending ones. */
static void add_request(struct httpd *h, struct MHD_Connection *conn, void **con_cls,
                        struct httpd_request *req, int seconds)
{
    req->conn = conn;
    req->fd = -1;
    req->due_ns = gp_clock_ns(CLOCK_MONOTONIC) + (int64_t)seconds * GP_NS_PER_SEC;
    req->next = h->reqs;
    h->reqs = req;
    h->nwindows++;
    *con_cls = req;
}

static enum MHD_Result start_profile(struct httpd *h, struct MHD_Connection *conn,
                                     void **con_cls)
{
    int seconds;
    if (parse_seconds(h, conn, &seconds) != 0)
        return reply_text(h, conn, 400, "bad seconds: want an integer from 1 to 600 "
                                        "(default 30)\n");
    if (h->nwindows >= HTTPD_MAX_WINDOWS)
        return reply_text(h, conn, 503, "too many profiles in progress; try again later\n");
    struct httpd_request *req = calloc(1, sizeof *req);
    if (!req || collector_window_open(h->c, &req->w, gp_clock_ns(CLOCK_REALTIME)) != 0) {
        free(req);
        return reply_text(h, conn, 500, "out of memory\n");
    }
    req->window_open = 1;
    add_request(h, conn, con_cls, req, seconds);
    return MHD_YES;
}

/* heap?seconds=N, allocs?seconds=N: the figures now are the base; the answer, N seconds on,
 * is the change since (as Go's serveDeltaProfile). */
static enum MHD_Result start_heap_delta(struct httpd *h, struct MHD_Connection *conn,
                                        void **con_cls, int allocs)
{
    int seconds;
    if (parse_seconds(h, conn, &seconds) != 0)
        return reply_text(h, conn, 400, "bad seconds: want an integer from 1 to 600\n");
    if (h->nwindows >= HTTPD_MAX_WINDOWS)
        return reply_text(h, conn, 503, "too many profiles in progress; try again later\n");
    struct httpd_request *req = calloc(1, sizeof *req);
    collector_heap_sync(h->c);
    if (!req || heapmap_snapshot(collector_heap(h->c), gp_clock_ns(CLOCK_REALTIME),
                                 &req->base) != 0) {
        free(req);
        return reply_text(h, conn, 500, "out of memory\n");
    }
    req->heap = allocs ? 2 : 1;
    req->heap_waiting = 1;
    add_request(h, conn, con_cls, req, seconds);
    return MHD_YES;
}

static enum MHD_Result send_profile(struct httpd *h, struct MHD_Connection *conn,
                                    struct httpd_request *req)
{
    if (req->fd < 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "could not write the profile: %s\n", strerror(-req->err));
        return reply_text(h, conn, 500, msg);
    }
    off_t size = lseek(req->fd, 0, SEEK_END);
    struct MHD_Response *r =
        size < 0 ? NULL : h->api.create_response_from_fd((size_t)size, req->fd);
    if (!r)
        return reply_text(h, conn, 500, "could not send the profile\n");
    req->fd = -1;   /* the response closes it */
    h->api.add_response_header(r, "Content-Disposition",
                               req->heap == 2 ? "attachment; filename=\"allocs-delta\""
                               : req->heap    ? "attachment; filename=\"heap-delta\""
                                              : "attachment; filename=\"profile\"");
    return queue(h, conn, 200, r, "application/octet-stream");
}

/* /debug/pprof/heap and /debug/pprof/allocs: the session's C memory profile as of now,
 * answered at once as Go's are; with seconds, the change over the next N seconds. gc is
 * accepted and ignored (nothing to collect: the in-use figures are exact for the sampled
 * blocks); debug must be 0 (Go's debug=1 text format is not written). */
static enum MHD_Result serve_heap(struct httpd *h, struct MHD_Connection *conn, void **con_cls,
                                  int allocs)
{
    const char *v = NULL;
    size_t n = 0;
    if (!collector_heap(h->c))
        return reply_text(h, conn, 404, "Unknown profile: C memory profiling is off (set "
                                        "GOPROF_HEAP_RATE, e.g. 512k)\n");
    if (h->api.lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, "debug", 5, &v, &n) ==
            MHD_YES && !(n == 0 || (n == 1 && v && v[0] == '0')))
        return reply_text(h, conn, 400, "libgoprof writes heap profiles in the protobuf format "
                                        "only: debug=0\n");
    if (h->api.lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, "seconds", 7, &v, &n) ==
        MHD_YES)
        return start_heap_delta(h, conn, con_cls, allocs);
    int fd = memfd_create("goprof-heap", MFD_CLOEXEC);
    int err = fd < 0 ? -errno : session_render_heap(h->c, allocs, NULL, fd);
    off_t size = err ? -1 : lseek(fd, 0, SEEK_END);
    struct MHD_Response *r =
        size < 0 ? NULL : h->api.create_response_from_fd((size_t)size, fd);
    if (!r) {
        if (fd >= 0)
            close(fd);
        return reply_text(h, conn, 500, "could not write the profile\n");
    }
    h->api.add_response_header(r, "Content-Disposition", allocs
                                   ? "attachment; filename=\"allocs\""
                                   : "attachment; filename=\"heap\"");
    return queue(h, conn, 200, r, "application/octet-stream");
}

/* /debug/pprof/symbol, as Go's net/http/pprof serves it: go tool pprof asks it (POST, the
 * addresses in the body; or GET) for the names of every location of a fetched profile that has
 * none, in any mapping, and fails the whole fetch on an error reply. Every name the collector
 * could find is in the profile already (a stripped library, or code the vDSO does not export,
 * stays an address), so the answer is the header alone: "num_symbols: 1" (Go's too: pprof only
 * asks whether it is 0), no address named. A POST's body is read and dropped: its connection
 * holds symbol_post until then. */
static char symbol_post;
static const char symbol_reply[] = "num_symbols: 1\n";

static enum MHD_Result serve_symbol(struct httpd *h, struct MHD_Connection *conn, void **con_cls,
                                    const char *method)
{
    if (!strcmp(method, "POST")) {
        *con_cls = &symbol_post;
        return MHD_YES;
    }
    return reply_text(h, conn, 200, symbol_reply);   /* any other method: as Go, as a GET */
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct httpd *h = cls;
    struct httpd_request *req = *con_cls;
    (void)version;
    (void)upload;
    if (*con_cls == &symbol_post) {
        if (*upload_size) {
            *upload_size = 0;
            return MHD_YES;
        }
        return reply_text(h, conn, 200, symbol_reply);
    }
    if (!req) {
        if (!strcmp(url, "/debug/pprof/symbol"))
            return serve_symbol(h, conn, con_cls, method);
        if (strcmp(method, "GET") != 0)
            return reply_text(h, conn, 405, "method not allowed: only GET is served\n");
        if (!strcmp(url, "/debug/pprof/") || !strcmp(url, "/debug/pprof")) {
            const char *page = collector_heap(h->c) ? index_page_heap : index_page;
            struct MHD_Response *r = h->api.create_response_from_buffer(
                strlen(page), (void *)page, MHD_RESPMEM_PERSISTENT);
            return queue(h, conn, 200, r, "text/html; charset=utf-8");
        }
        if (!strcmp(url, "/debug/pprof/heap") || !strcmp(url, "/debug/pprof/allocs"))
            return serve_heap(h, conn, con_cls, !strcmp(url, "/debug/pprof/allocs"));
        if (strcmp(url, "/debug/pprof/profile") != 0)
            return reply_text(h, conn, 404, "404 page not found: libgoprof serves "
                                            "/debug/pprof/profile, /debug/pprof/heap, "
                                            "/debug/pprof/allocs, /debug/pprof/symbol and "
                                            "/debug/pprof/\n");
        return start_profile(h, conn, con_cls);
    }
    if (*upload_size) {         /* a body we do not want */
        *upload_size = 0;
        return MHD_YES;
    }
    if (!req->done) {           /* until the window is due (httpd_dispatch resumes us) */
        h->api.suspend_connection(conn);
        req->suspended = 1;
        return MHD_YES;
    }
    return send_profile(h, conn, req);
}

static void close_window(struct httpd *h, struct httpd_request *req, uint64_t *drops)
{
    collector_window_close(h->c, &req->w, drops);
    req->window_open = 0;
    h->nwindows--;
}

static void end_heap_delta(struct httpd *h, struct httpd_request *req)
{
    free(req->base.counts);
    req->base.counts = NULL;
    req->heap_waiting = 0;
    h->nwindows--;
}

/* The request is due (or the application is gone): render it and wake its connection. */
static void answer(struct httpd *h, struct httpd_request *req)
{
    int fd = memfd_create("goprof-profile", MFD_CLOEXEC), err;
    if (req->heap) {
        err = fd < 0 ? -errno : session_render_heap(h->c, req->heap == 2, &req->base, fd);
        end_heap_delta(h, req);
    } else {
        uint64_t drops[GP_DROP_MAX];
        close_window(h, req, drops);
        err = fd < 0 ? -errno
                     : session_render_http(h->c, &req->w, gp_clock_ns(CLOCK_REALTIME), drops, fd);
        profmap_free(req->w.pm);
        req->w.pm = NULL;
    }
    if (err) {
        if (fd >= 0)
            close(fd);
        fd = -1;
        gp_debug("http", "profile not written: %s", strerror(-err));
    }
    req->fd = fd;
    req->err = err;
    req->done = 1;
    if (req->suspended) {
        req->suspended = 0;
        h->api.resume_connection(req->conn);
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct httpd *h = cls;
    struct httpd_request *req = *con_cls;
    (void)conn;
    (void)toe;
    if (!req || *con_cls == &symbol_post) {
        *con_cls = NULL;
        return;
    }
    if (req->window_open) {
        close_window(h, req, NULL);
        profmap_free(req->w.pm);
    }
    if (req->heap_waiting)
        end_heap_delta(h, req);
    if (req->fd >= 0)
        close(req->fd);
    for (struct httpd_request **p = &h->reqs; *p; p = &(*p)->next) {
        if (*p == req) {
            *p = req->next;
            break;
        }
    }
    free(req);
    *con_cls = NULL;
}

static int listen_on(const struct sockaddr *addr, socklen_t addrlen)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (addr->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, addr, addrlen) != 0 || listen(fd, 16) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

struct httpd *httpd_start(const struct sockaddr *addr, socklen_t addrlen, const char *text,
                          struct collector *c, int *busy)
{
    struct httpd *h = calloc(1, sizeof *h);
    char why[256];
    if (!h) {
        gp_log("http", "cannot serve %s: %s; profiles are still written to files", text,
               strerror(ENOMEM));
        return NULL;
    }
    if (httpd_mhd_load(&h->api, why, sizeof why) != 0) {
        gp_log("http", "cannot serve %s: %s; profiles are still written to files", text, why);
        free(h);
        return NULL;
    }
    int lfd = listen_on(addr, addrlen);
    if (lfd == -EADDRINUSE && busy) {
        *busy = 1;
        free(h);
        return NULL;
    }
    if (lfd < 0) {
        gp_log("http", "cannot listen on %s: %s; profiles are still written to files", text,
               strerror(-lfd));
        free(h);
        return NULL;
    }
    h->c = c;
    /* External epoll mode: no thread of MHD's, one descriptor for our poll loop. No
     * MHD_USE_ERROR_LOG: the application's stderr gets our one line at most. */
    h->d = h->api.start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
                               on_request, h,
                               MHD_OPTION_LISTEN_SOCKET, lfd,
                               MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                               MHD_OPTION_CONNECTION_LIMIT, HTTPD_MAX_CONNECTIONS,
                               MHD_OPTION_CONNECTION_TIMEOUT, HTTPD_IDLE_TIMEOUT_S,
                               MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        h->d ? h->api.get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (!info) {
        gp_log("http", "cannot serve %s: libmicrohttpd did not start; profiles are still "
               "written to files", text);
        if (h->d)
            h->api.stop_daemon(h->d);
        else
            close(lfd);
        free(h);
        return NULL;
    }
    h->epoll_fd = info->epoll_fd;
    h->accepting = 1;
    gp_debug("http", "serving http://%s/debug/pprof/", text);
    return h;
}

int httpd_poll_fds(struct httpd *h, struct pollfd *fds, int max, int *timeout_ms)
{
    if (!h || max < 1)
        return 0;
    fds[0] = (struct pollfd){ h->epoll_fd, POLLIN, 0 };
    MHD_UNSIGNED_LONG_LONG t;
    if (h->api.get_timeout(h->d, &t) == MHD_YES && t < (MHD_UNSIGNED_LONG_LONG)*timeout_ms)
        *timeout_ms = (int)t;
    int64_t now = gp_clock_ns(CLOCK_MONOTONIC);
    for (struct httpd_request *r = h->reqs; r; r = r->next) {
        if (!pending(r))
            continue;
        int64_t left_ms = (r->due_ns - now + GP_NS_PER_MS - 1) / GP_NS_PER_MS;   /* never early */
        if (left_ms < *timeout_ms)
            *timeout_ms = left_ms < 0 ? 0 : (int)left_ms;
    }
    return 1;
}

void httpd_dispatch(struct httpd *h)
{
    if (!h)
        return;
    h->api.run(h->d);
    int64_t now = gp_clock_ns(CLOCK_MONOTONIC);
    int woke = 0;
    for (struct httpd_request *r = h->reqs; r; r = r->next) {
        if (pending(r) && r->due_ns <= now) {
            answer(h, r);
            woke = 1;
        }
    }
    if (woke)                   /* the resumed connections send their answers */
        h->api.run(h->d);
}

void httpd_stop_accepting(struct httpd *h)
{
    if (!h || !h->accepting)
        return;
    h->accepting = 0;
    int lfd = h->api.quiesce_daemon(h->d);    /* no new connections */
    if (lfd >= 0)
        close(lfd);
}

void httpd_finish(struct httpd *h, int timeout_ms)
{
    if (!h)
        return;
    httpd_stop_accepting(h);
    for (struct httpd_request *r = h->reqs; r; r = r->next)
        if (pending(r))
            answer(h, r);
    int64_t deadline = gp_clock_ns(CLOCK_MONOTONIC) + (int64_t)timeout_ms * GP_NS_PER_MS;
    h->api.run(h->d);
    while (h->reqs && gp_clock_ns(CLOCK_MONOTONIC) < deadline) {
        MHD_UNSIGNED_LONG_LONG t = 50;
        if (h->api.get_timeout(h->d, &t) != MHD_YES || t > 50)
            t = 50;
        struct pollfd p = { h->epoll_fd, POLLIN, 0 };
        poll(&p, 1, (int)t);
        h->api.run(h->d);
    }
    /* Every connection was resumed above, as MHD_stop_daemon requires. */
    h->api.stop_daemon(h->d);
    free(h);
}
