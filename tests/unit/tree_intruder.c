/* tree_intruder.c -- a process that tries to join a session it does not belong to.
 * Context: test (tests/integration/test_tree.sh)
 *
 *   tree_intruder PID [N [badring]]
 *
 * Connects to the rendezvous of PID (the session's leader, found with this process's own
 * GOPROF_* settings, as a descendant would) and sends a well-formed hello claiming its own pid,
 * with a sealed ring already holding N (default 50) committed samples whose leaf is the
 * address 0xbad0000. The collector must refuse it: none of those samples may appear in the
 * profile. Exit status: 0 when the hello was sent, 2 when the rendezvous could not be reached.
 * badring: the ring's header says another version (a libgoprof.so of another version joining
 * the session): run as a child of the leader, it is admitted, and then its ring is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/config/config.h"
#include "lib/ring/ring.h"
#include "lib/tree/tree_proto.h"
#include "program/preload/tree_join.h"

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    pid_t target = (pid_t)atoi(argv[1]);
    int n = argc > 2 ? atoi(argv[2]) : 50;
    int bad_ring = argc > 3 && strcmp(argv[3], "badring") == 0;
    struct ring r;
    int ring_fd = -1;
    if (ring_create(&r, 64, 0, &ring_fd) != 0)
        return 2;
    for (int i = 0; i < n; i++) {
        uint64_t pos;
        struct ring_slot *rec = ring_reserve(&r, &pos);
        if (!rec)
            break;
        memset(rec, 0, sizeof *rec);
        rec->h.tid = (uint32_t)getpid();
        rec->h.weight = 1;
        rec->h.nframes = 1;
        rec->pc[0] = 0xbad0000 | GP_PC_EXACT;
        ring_commit(&r, pos);
    }
    if (bad_ring)
        r.hdr->version = GP_RING_VERSION + 1;
    struct sockaddr_un sa;
    socklen_t len = tree_address(&sa, config_session_hash(), tree_own_pidns(), target);
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, len) != 0) {
        fprintf(stderr, "tree_intruder: connect: %s\n", strerror(errno));
        return 2;
    }
    struct tree_hello h;
    memset(&h, 0, sizeof h);
    h.magic = TREE_MAGIC;
    h.version = TREE_VERSION;
    h.pid = getpid();
    h.pidns = tree_own_pidns();
    snprintf(h.name, sizeof h.name, "intruder");
    if (tree_send_hello(s, &h, ring_fd) != 0)   /* as a process that joins sends it */
        return 2;
    /* Stay while the collector looks at us (a process gone is taken on its uid alone). */
    sleep(1);
    printf("tree_intruder: pid %d sent %d samples\n", (int)getpid(), n);
    return 0;
}
