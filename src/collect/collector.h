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
 * O_CLOEXEC, reaches EOF when it exits or execs; EOF with the pid still alive means exec: the
 * profile of the replaced image is final then.
 */
#ifndef GP_COLLECTOR_H
#define GP_COLLECTOR_H

#include <stdint.h>
#include <sys/types.h>

struct ring;
struct profmap;

enum collector_end {
    COLLECTOR_END_EXIT,    /* the application exited or was killed */
    COLLECTOR_END_EXEC,    /* the application replaced itself with exec */
};

struct collector_hooks {
    void *ctx;
    /* Called after each drain while the application is alive, with the samples so far (e.g. to
     * re-read the target's mappings when a new stack has an address outside them). */
    void (*alive)(void *ctx, pid_t pid, const struct profmap *pm);
    /* Called once at the end with the aggregated samples; its return value is the collector's
     * exit status. */
    int (*finish)(void *ctx, struct profmap *pm, const uint64_t *drops, enum collector_end how);
};

struct collector_config {
    struct ring *ring;
    pid_t app_pid;
    uint64_t skip_lo, skip_hi;   /* libgoprof's own text: its frames are left out */
};

/* Forks the collector. In the application: returns 0 or -errno, and the lifeline's write end is
 * held (close-on-exec). The collector process never returns from this call. */
int collector_start(const struct collector_config *cfg, const struct collector_hooks *hooks);

#endif
