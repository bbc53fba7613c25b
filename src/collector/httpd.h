/* httpd.h -- the pull endpoint: Go's net/http/pprof CPU profile URL, served by the collector.
 * Context: collector
 *
 *   GET /debug/pprof/profile?seconds=N   a CPU profile (gzipped pprof) of the next N seconds,
 *                                        N from 1 to HTTPD_MAX_SECONDS, 30 when absent (as Go)
 *   GET /debug/pprof/heap                the C memory profile as of now (Go's heap format),
 *   GET /debug/pprof/allocs              the same, default sample type alloc_space; both
 *                                        answered at once, 404 when GOPROF_HEAP_RATE is off,
 *                                        gc ignored, debug other than 0 400
 *   GET /debug/pprof/heap?seconds=N      (and allocs) Go's delta profile: every figure's
 *                                        change over the next N seconds, answered then
 *   GET /debug/pprof/                    an index page
 *   POST (or GET) /debug/pprof/symbol    "num_symbols: 1", no address named: go tool pprof
 *                                        asks it for every nameless location of a fetched
 *                                        profile and fails on an error; the profile holds
 *                                        every name the collector found already
 * so `go tool pprof http://HOST:PORT/debug/pprof/profile?seconds=5` works unchanged. A bad
 * seconds value gets 400, an unknown path 404, a method other than GET 405 (symbol aside),
 * more than HTTPD_MAX_WINDOWS profiles at once 503; every error has a one-line text body.
 *
 * The collector stays single-threaded: libmicrohttpd runs in its external epoll mode, its
 * epoll descriptor waited on in the collector's poll loop. A profile request opens a window
 * (collector.h: it gets every record drained from then on), its connection is suspended, and
 * when the window is due its profile is rendered into a memfd and the connection resumed to
 * send it. Requests overlap freely: each has its own window. If the application ends first,
 * each open request is answered at once with what its window holds (a shorter duration_nanos
 * says so) rather than with an error.
 */
#ifndef GP_HTTPD_H
#define GP_HTTPD_H

#include <stdint.h>
#include <sys/socket.h>

struct collector;
struct collector_window;
struct httpd;
struct pollfd;

#define HTTPD_MAX_SECONDS 600
#define HTTPD_DEFAULT_SECONDS 30
#define HTTPD_MAX_WINDOWS 8

/* Loads libmicrohttpd and listens on addr (text: for messages). On any failure prints one line
 * and returns NULL: the program and its profile files go on without the endpoint. Except, when
 * busy is not NULL, for an address in use: then *busy = 1, no line, NULL (the caller may try
 * again: the previous image of an exec'd program lets go of its port a moment later). */
struct httpd *httpd_start(const struct sockaddr *addr, socklen_t addrlen, const char *text,
                          struct collector *c, int *busy);

/* Before the collector's wait: fills fds (at most max, returns how many) and lowers
 * *timeout_ms to when the server next needs to run. */
int httpd_poll_fds(struct httpd *h, struct pollfd *fds, int max, int *timeout_ms);

/* After the wait (and the drain): serves what is ready and answers the windows that are due. */
void httpd_dispatch(struct httpd *h);

/* Closes the listening socket; requests in progress go on. (At an exec, first of all: the new
 * image's collector is waiting for the port.) */
void httpd_stop_accepting(struct httpd *h);

/* The application is gone: stops accepting, answers every open window with what it has, sends
 * the answers (for at most timeout_ms) and stops the server. h is freed. */
void httpd_finish(struct httpd *h, int timeout_ms);

#endif
