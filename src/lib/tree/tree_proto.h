/* tree_proto.h -- how the processes of one profiling session find its collector and talk to it.
 * Context: library (the program's constructor and fork handler; the collector)
 *
 * A session is one collector and every process of one tree that inherited the preload with the
 * same GOPROF_* settings. Its first process (the leader) forks the collector; a descendant finds
 * it through a rendezvous socket named after an ancestor:
 *
 *   "\0goprof/<settings hash>/<pid namespace inode>/<pid>"   (abstract, SOCK_SEQPACKET)
 *
 * The leader binds its own name before forking the collector, which inherits the socket; the
 * collector binds one more for each process that joins. A starting process tries its own pid
 * (it may be the exec'd image of a member) and then its ancestors' (parent, grandparent, ...,
 * at most TREE_MAX_DEPTH) and joins the first session that answers. The settings hash is part
 * of the name, so a process started with other settings (another GOPROF_OUT, say) never finds
 * the session and starts its own; the pid namespace too, so equal pids of two namespaces that
 * share a network namespace never meet.
 *
 * Joining is one message, struct tree_hello, with the process's ring (a sealed memfd,
 * lib/ring/ring.h) attached as SCM_RIGHTS. There is no answer: the process samples into its
 * ring at once, and the collector either maps the ring or, refusing the process (another user,
 * not a descendant of a member, too many processes), closes the connection and never reads it.
 * Nothing ever waits for a session that cannot be reached: the socket is non-blocking.
 *
 * After joining, the connection stays open (O_CLOEXEC) for the process's life and carries
 * three more messages: TREE_MSG_CPU from every process at its end (its CPU clock, so that the
 * collector can account for the time no sample saw: its start and its last tick); then,
 * from a process that must wait for the session (the leader; PID 1 of a namespace),
 * TREE_MSG_EXITING, and TREE_MSG_DONE back when the collector has drained its ring and, if
 * the session ends with it, written its files. End of file on the
 * connection means the process exited or exec'd (or closed its descriptors); the collector
 * tells which from the process's pidfd and maps.
 */
#ifndef GP_TREE_PROTO_H
#define GP_TREE_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#define TREE_MAGIC 0x676f7474u   /* "gott" */
#define TREE_VERSION 1u
#define TREE_MAX_DEPTH 32

enum tree_hello_flags {
    TREE_FORKED = 1,      /* a child forked without exec (its image is its parent's) */
    TREE_LEADER = 2,      /* the session's first process (sent through the leader's pair) */
};

struct tree_hello {
    uint32_t magic, version;
    int32_t pid;                /* as the process sees itself (its own pid namespace) */
    uint32_t flags;             /* enum tree_hello_flags */
    uint64_t pidns;             /* inode of its pid namespace */
    uint64_t skip_lo, skip_hi;  /* libgoprof's own text in it: left out of stacks */
    int64_t start_ns;           /* wall clock when it started */
    char name[16];              /* program_invocation_short_name, NUL-padded */
};

enum tree_msg_type {
    TREE_MSG_EXITING = 1,   /* process -> collector: arg is the exit status; wants DONE */
    TREE_MSG_DONE = 2,      /* collector -> process */
    TREE_MSG_CPU = 3,       /* process -> collector, at its end: value is its CPU clock
                             * (CLOCK_PROCESS_CPUTIME_ID, ns); no answer */
};

struct tree_msg {
    uint32_t magic;
    uint32_t type;          /* enum tree_msg_type */
    int32_t arg;
    uint32_t pad;
    uint64_t value;
};

/* The rendezvous name of pid in pid namespace pidns for a session with settings hash; returns
 * the address length to pass to bind/connect. */
socklen_t tree_address(struct sockaddr_un *sa, uint64_t hash, uint64_t pidns, pid_t pid);
/* The inode of the calling process's pid namespace (0 when /proc is missing). */
uint64_t tree_own_pidns(void);
/* The start of /proc/PID/FILE, NUL-terminated, into buf: 0, or -1 (no such process, unreadable,
 * empty). */
int tree_read_proc(pid_t pid, const char *file, char *buf, size_t size);
/* The parent of pid from /proc/PID/stat: >0, or 0 when unknown (gone, or outside our
 * namespace). */
pid_t tree_parent_of(pid_t pid);
/* 1 when pid exists and has not exited (a zombie waiting for its parent has): 0 otherwise. */
int tree_running(pid_t pid);

#endif
