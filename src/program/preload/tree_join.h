/* tree_join.h -- a process's side of its profiling session: find it, join it, leave it.
 * Context: program
 *
 * The protocol and the rendezvous names are in lib/tree/tree_proto.h. None of these functions
 * blocks on a session that does not answer: connecting is non-blocking, and the only wait,
 * tree_wait_done at exit, is bounded by GOPROF_EXIT_WAIT.
 */
#ifndef GP_TREE_JOIN_H
#define GP_TREE_JOIN_H

#include <stdint.h>
#include <sys/types.h>

#include "lib/tree/tree_proto.h"

/* A connection to the session of the nearest ancestor (this pid first: an exec'd image of a
 * member) whose rendezvous answers: the socket, -ENOENT when none does (this process leads a
 * session of its own), or another -errno when one exists but cannot take us now (its backlog
 * is full: run unprofiled). */
int tree_find(uint64_t hash, uint64_t pidns);
/* Sends the hello with the ring's descriptor over a connected socket: 0 or -errno. */
int tree_send_hello(int sock, const struct tree_hello *h, int ring_fd);
/* The leader's own rendezvous, bound and listening before the collector is forked (which
 * inherits it): the socket or -errno (EADDRINUSE: the pid's name is held by a replaced
 * image's session; descendants then cannot find ours). */
int tree_listen(uint64_t hash, uint64_t pidns, pid_t pid);
/* The connection to the session, and which socket it is. The program may close its number and
 * take the number for a descriptor of its own (a daemon closing every descriptor, then opening
 * its own; a dup2 onto it): libgoprof must then neither write into nor close what the number
 * names. */
struct tree_conn {
    int fd;   /* -1: none */
    dev_t dev;
    ino_t ino;
};
void tree_conn_set(struct tree_conn *c, int fd);
/* c->fd while that number still names the socket set, else -1 (and c forgets it).
 * Async-signal-safe (one fstat). */
int tree_conn_fd(struct tree_conn *c);
/* At exit, from every process: its CPU clock (TREE_MSG_CPU). Never blocks. */
void tree_send_cpu(int sock);
/* At exit: tells the session status and waits for its answer, at most wait_ns. */
void tree_wait_done(int sock, int status, uint64_t wait_ns);

#endif
