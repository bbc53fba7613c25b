/* session.h -- what the collector process does with the samples: one file for the run or one
 * per interval, a snapshot on SIGUSR1, the HTTP endpoint. The collector's loop (collector.c) calls these in turn.
 * Context: collector
 *
 * Files. Without an interval, one profile covers the whole run and is written at the end; a
 * SIGUSR1 writes it early (the run so far, same name), and the end rewrites it complete. With
 * GOPROF_INTERVAL, each file covers one interval only (its own samples, time_nanos and
 * duration_nanos; its losses are the ring's drop counters' difference over the interval), %n
 * numbers them from 1 and %t is the interval's start; a SIGUSR1 ends the current interval at
 * once (the next one starts then) and the end of the run writes the last, partial interval.
 * Every file appears by rename of "<name>.tmp.<collector pid>" in the same directory.
 *
 * C memory profiles (cfg->heap_rate): every time a CPU file is written (the end, each interval,
 * a snapshot, a checkpoint), the heap profile is written too, to GOPROF_HEAP_OUT expanded with
 * the same %n and %t (one file per pid with heap samples when it has %p). Each is the state at
 * that moment: alloc figures since the start, in-use as of now (as of their exit for ended
 * processes), so `go tool pprof -base` of two interval files shows what happened between them.
 */
#ifndef GP_SESSION_H
#define GP_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "collector/collector.h"

struct pollfd;

/* At most this many descriptors from session_poll_fds (libmicrohttpd's epoll descriptor). */
#define SESSION_MAX_FDS 4

/* Once, before the first drain: the symbolizer, the first window, the HTTP endpoint. cfg must
 * stay valid for the process's life. */
void session_begin(const struct collector_config *cfg, struct collector *c);
/* Before each wait: fills up to max descriptors to wait on as well and may lower *timeout_ms
 * (never below 0). Returns how many it filled. */
int session_poll_fds(struct pollfd *fds, int max, int *timeout_ms);
/* After each drain while the application is alive: mappings, HTTP, the interval's end. */
void session_alive(struct collector *c);
/* SIGUSR1 arrived (after a drain). */
void session_snapshot(struct collector *c);
/* The leader is PID 1 of its namespace: the one-file profile as of now, rewritten. */
void session_checkpoint(struct collector *c);
/* Once at the end, after the last drain; returns the collector's exit status. */
int session_finish(struct collector *c);
/* An HTTP request's window w, covering [w->start_ns, end_ns) with drops lost in it, as a
 * gzipped profile into fd: 0 or -errno. */
int session_render_http(struct collector *c, const struct collector_window *w, int64_t end_ns,
                        const uint64_t *drops, int fd);
/* The C memory profile as of now as a gzipped heap profile into fd (allocs: default sample
 * type alloc_space; base: NULL, or the change since that snapshot, collector/heapmap.h): 0,
 * -ENOENT when C memory profiling is off, or -errno. */
struct heapmap_snapshot;
int session_render_heap(struct collector *c, int allocs, const struct heapmap_snapshot *base,
                        int fd);

/* Tests only (tests/unit/test_session.c); the collector process calls neither. The clock
 * session.c reads, in place of gp_clock_ns: CLOCK_MONOTONIC for the intervals' due times and
 * the HTTP retries, CLOCK_REALTIME for the windows' ends and the %t of interval files (their
 * starts are cfg->start_ns and the ends before them). NULL restores gp_clock_ns. */
void session_set_clock(int64_t (*clock_ns)(clockid_t));
/* After session_finish, and once the collector is dropped: forgets the session (the current
 * window's profmap that session_finish may leave, %n, the name's suffix), so that
 * session_begin can start another one in the same process. */
void session_reset(void);

#endif
