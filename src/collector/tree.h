/* tree.h -- the processes of the session: who joined, their rings, when each ends.
 * Context: collector
 *
 * Every process image that joined (lib/tree/tree_proto.h) has an entry, kept to the end of the
 * session: its number is the `proc` of its samples in every profmap, and reports take its pid,
 * name and symbolizer from here. A process that execs ends its image's entry; the pid keeps its
 * rendezvous and pidfd in the new image's entry when that one joins.
 *
 * Admission. A connection is taken only from a process of the collector's own user (the
 * peer's credentials, SO_PEERCRED) that is a member or a descendant of a live member (its
 * /proc ancestry), and only while fewer than TREE_MAX_LIVE are live. Anything else is closed
 * unread and counted; its process runs on, unprofiled. The ring it sends must be a sealed memfd
 * of a ring this collector reads (ring_attach).
 *
 * Life of an entry: LIVE (connection open) -> on end of file, ENDED when the process has
 * exited or its image was replaced by exec (its ring holds no longer), or NOCONN when it only
 * closed its descriptors (read on until its pidfd says it exited). The session is over when no
 * entry is LIVE or NOCONN and no pid waits for its exec'd image.
 */
#ifndef GP_TREE_H
#define GP_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/ring/cost_hist.h"
#include "lib/ring/ring.h"

struct collector_config;
struct goexe;
struct pollfd;
struct symbolizer;

enum tree_state { TREE_LIVE, TREE_NOCONN, TREE_ENDED };

struct tree_proc {
    pid_t pid;                  /* in the collector's pid namespace */
    pid_t own_pid;              /* as it sees itself */
    uint64_t pidns;
    char name[16];              /* its program name */
    int leader;                 /* the session's first pid (any of its images) */
    int forked;                 /* forked without exec */
    int64_t start_ns;
    uint64_t skip_lo, skip_hi;  /* libgoprof's text in it */
    enum tree_state state;
    int conn, listen_fd, pidfd; /* -1 when closed */
    struct ring ring;           /* mapped while not ENDED */
    uint64_t ring_inode;        /* its memfd: still mapped in /proc/PID/maps = same image */
    int64_t next_probe_ms;      /* NOCONN: next look at the maps for an exec */
    int exiting;                /* it said it is ending and waits for DONE */
    uint64_t exit_cpu_ns;       /* its CPU clock at its end (TREE_MSG_CPU), if has_exit_cpu */
    int has_exit_cpu, residual_done;
    uint64_t drops[GP_DROP_MAX];   /* its ring's counters, never decreasing */
    uint64_t heap_drops[GP_HEAP_DROP_MAX];   /* the same for C memory events */
    uint32_t timers_failed, timer_errno;     /* threads without a CPU timer, the last errno */
    uint64_t samples;           /* summed weights drained */
    char exe[256];              /* its executable's path (readlink /proc/PID/exe), or "" */
    int leader_image;           /* the leader's first image, or forked from the same file:
                                 * the constructor's Go analysis applies (we are its fork) */
    struct symbolizer *sym;     /* from its first maps, read when it joined */
    struct goexe *go;           /* another Go executable's tables, analysed here */
    int go_done, sym_failed;
};

struct tree;

/* The table, with the leader's rendezvous and connection from cfg. NULL on ENOMEM. */
struct tree *tree_new(const struct collector_config *cfg);
void tree_free(struct tree *t);

size_t tree_count(const struct tree *t);
struct tree_proc *tree_get(struct tree *t, size_t i);
/* Entries not ENDED, and pids waiting for their exec'd image: 0 means the session is over. */
size_t tree_live(const struct tree *t);

/* Descriptors to wait on (at most max); after the wait, tree_service with the same array. */
int tree_poll_fds(struct tree *t, struct pollfd *fds, int max);
/* Accepts joins, reads messages, notices ends. Entries that end are drained to their last
 * record through drain (with ctx) before their ring is unmapped. */
void tree_service(struct tree *t, const struct pollfd *fds, int n,
                  void (*drain)(void *ctx, struct tree_proc *p), void *ctx);

/* Summed drop counters of every ring (live and ended); and their three cost histograms merged
 * into sums[0..2] (handler_cost, forward_cost, forward_other_cost). */
void tree_drops(const struct tree *t, uint64_t *drops);
/* The same for C memory events (GP_HEAP_DROP_*), summed over the session's processes. */
void tree_heap_drops(const struct tree *t, uint64_t *drops);
/* Threads of the session's processes left without a CPU timer, and the last failure's errno. */
uint64_t tree_timers_failed(const struct tree *t, int *last_errno);
void tree_costs(const struct tree *t, struct cost_hist *sums);
/* Processes refused (wrong user, not a descendant, too many). */
uint64_t tree_refused(const struct tree *t);

/* Entries that asked to wait for the session at their end (TREE_MSG_EXITING): the first one,
 * or NULL. tree_done answers it and forgets the request. */
struct tree_proc *tree_exiting(struct tree *t);
void tree_done(struct tree *t, struct tree_proc *p);

/* Connections waiting at any rendezvous, taken now (before the session may end: a fork
 * child's, made by its parent just before the parent ended): how many. */
int tree_take_waiting(struct tree *t);
/* Closes every rendezvous: the session takes nobody any more (its end). */
void tree_close_doors(struct tree *t);

/* The first entry with the pid of entry i (images of one pid share a %p file). */
size_t tree_first_of_pid(const struct tree *t, size_t i);

/* Tests only: a process (pid, name) that joined with the ring in ring_fd. 0 or -errno. */
int tree_add(struct tree *t, int ring_fd, pid_t pid, const char *name);

#endif
