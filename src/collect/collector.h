/* collector.h -- the reader process: drains the ring, aggregates, and has the profile written
 * when the application ends, however it ends.
 * Context: init (collector_start, in the application), collector (everything it calls)
 *
 * Why a process: Go ends a program with a raw exit_group, so neither atexit handlers nor ELF
 * destructors run, and a reader living inside the application would lose the end of every
 * profile (notes/design.md, decision 5). The constructor forks (single-threaded at that point);
 * the intermediate child forks the collector and exits at once, so the application's wait()
 * never sees the collector, which runs in its own session (Ctrl-C and kills aimed at the
 * application's process group do not reach it) with every inherited descriptor closed.
 *
 * End of the application: a pidfd becomes readable when it exits (any way: return, exit,
 * os.Exit, a crash, SIGKILL). A lifeline pipe, whose write end the application holds with
 * O_CLOEXEC, reaches EOF when it exits or execs, and then /proc/PID/maps tells which: no
 * address space, an exit (the kernel drops a process's memory before its descriptors); an
 * address space without the ring, an exec (the profile of the replaced image is final then);
 * the ring still mapped, the program closed the descriptor itself (a daemon closing every
 * descriptor), and the collector goes on, looking at the maps once a second from then on.
 * At an exec, hooks->keep_name decides about cfg->keep_fd (the output name's claim, see
 * output/output_claim.h): let go, it is closed before anything is written; kept (files
 * already out under the name), the collector stays after writing, holding it and answering
 * 'K' to connections to it, until the process ends. Before that, connections to keep_fd are
 * closed unanswered (ask again).
 *
 * Windows. Every drained record is added to each open window (struct collector_window), each
 * with its own profmap: the whole run or the current interval (session.c), and one per HTTP
 * request in progress (output/httpd.c). Opening and closing happen between drains, so a
 * record lands in every window that was open when it was drained, and only in those.
 *
 * Name and signal. The collector calls itself "goprof-<app pid>" (prctl(PR_SET_NAME); 7 + at
 * most 7 digits fit its 15 characters), so `pgrep -x goprof-1234` finds it. SIGUSR1 sent to it
 * calls hooks->snapshot; the application's own signals are never touched.
 */
#ifndef GP_COLLECTOR_H
#define GP_COLLECTOR_H

#include <stdint.h>
#include <sys/types.h>

#include "ring/ring.h"

struct pollfd;
struct profmap;
struct collector;

enum collector_end {
    COLLECTOR_END_EXIT,    /* the application exited or was killed */
    COLLECTOR_END_EXEC,    /* the application replaced itself with exec */
};

/* Samples drained while the window is open. Owned by the caller; linked into the collector
 * between collector_window_open and collector_window_close. */
struct collector_window {
    struct profmap *pm;
    int64_t start_ns;                    /* wall clock when opened, ns since the epoch */
    uint64_t drops_start[GP_DROP_MAX];   /* the ring's cumulative drop counters then */
    struct collector_window *next;       /* reserved for the collector's list */
};

/* Hooks run in the collector process, one at a time (it is single-threaded). */
#define COLLECTOR_MAX_HOOK_FDS 4
struct collector_hooks {
    void *ctx;
    /* Once, before the first drain. */
    void (*begin)(void *ctx, struct collector *c);
    /* Before each wait: fills up to max descriptors to wait on as well and may lower
     * *timeout_ms (never below 0). Returns how many it filled. */
    int (*poll_fds)(void *ctx, struct pollfd *fds, int max, int *timeout_ms);
    /* After each drain while the application is alive, with the descriptors from poll_fds and
     * their revents. */
    void (*alive)(void *ctx, struct collector *c, pid_t pid, size_t new_records,
                  const struct pollfd *fds, int nfds);
    /* SIGUSR1 arrived (after a drain). */
    void (*snapshot)(void *ctx, struct collector *c);
    /* Once at the end, after the last drain; its return value is the collector's exit status. */
    int (*finish)(void *ctx, struct collector *c, enum collector_end how);
    /* At an exec, before finish: 1 to keep the output name's claim (cfg->keep_fd), 0 to let
     * the new image have it (closed at once). NULL: let go. */
    int (*keep_name)(void *ctx);
};

struct collector_config {
    struct ring *ring;
    pid_t app_pid;
    uint64_t skip_lo, skip_hi;   /* libgoprof's own text: its frames are left out */
    int keep_fd;                 /* held by the collector to its end, or -1 (the application
                                  * closes its own copy after collector_start) */
    void (*answer_claim)(int keep_fd, int kept);   /* answers connections to keep_fd
                                  * (output/output_claim.h: output_claim_answer) */
};

/* Forks the collector. In the application: returns 0 or -errno, and the lifeline's write end is
 * held (close-on-exec). The collector process never returns from this call. */
int collector_start(const struct collector_config *cfg, const struct collector_hooks *hooks);

/* Collector side. Opens w (allocating its profmap) at wall time start_ns: 0 or -ENOMEM. */
int collector_window_open(struct collector *c, struct collector_window *w, int64_t start_ns);
/* Unlinks w; drops (GP_DROP_MAX entries, may be NULL) receives what was lost while it was open.
 * w->pm stays the caller's to read and profmap_free. */
void collector_window_close(struct collector *c, struct collector_window *w, uint64_t *drops);
/* What was lost since w was opened (GP_DROP_MAX entries): the ring's counters are cumulative,
 * so this is their difference. */
void collector_window_drops(const struct collector *c, const struct collector_window *w,
                            uint64_t *drops);
/* Summed weights of every sample aggregated since the start, and the ring's drop counters
 * (GP_DROP_MAX entries), for the run-so-far line in each profile. */
uint64_t collector_total(const struct collector *c);
uint64_t collector_unsampled(const struct collector *c);   /* of the total: GP_REC_UNSAMPLED */
void collector_drops(const struct collector *c, uint64_t *drops);

#endif
