/* tree_join.c -- finding, joining and leaving the session (see tree_join.h).
 * Context: program
 */
#include "program/preload/tree_join.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/clock.h"

static int connect_to(uint64_t hash, uint64_t pidns, pid_t pid)
{
    struct sockaddr_un sa;
    socklen_t len = tree_address(&sa, hash, pidns, pid);
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return -errno;
    if (connect(s, (struct sockaddr *)&sa, len) == 0)
        return s;
    int err = -errno;
    close(s);
    return err;
}

int tree_find(uint64_t hash, uint64_t pidns)
{
    pid_t p = getpid();
    for (int depth = 0; depth < TREE_MAX_DEPTH && p > 0; depth++) {
        int s = connect_to(hash, pidns, p);
        /* No such name, or a name whose collector is gone: look further up. A full backlog
         * (EAGAIN) is a session that exists but is busy: do not start another. */
        if (s >= 0 || (s != -ECONNREFUSED && s != -ENOENT))
            return s;
        if (p == 1)
            break;
        p = depth == 0 ? getppid() : tree_parent_of(p);
    }
    return -ENOENT;
}

int tree_send_hello(int sock, const struct tree_hello *h, int ring_fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = { (void *)h, sizeof *h };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &ring_fd, sizeof(int));
    ssize_t n;
    while ((n = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return n == (ssize_t)sizeof *h ? 0 : n < 0 ? -errno : -EIO;
}

int tree_listen(uint64_t hash, uint64_t pidns, pid_t pid)
{
    struct sockaddr_un sa;
    socklen_t len = tree_address(&sa, hash, pidns, pid);
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return -errno;
    if (bind(s, (struct sockaddr *)&sa, len) != 0 || listen(s, 128) != 0) {
        int err = -errno;
        close(s);
        return err;
    }
    return s;
}

void tree_conn_set(struct tree_conn *c, int fd)
{
    struct stat st;
    int saved = errno;
    c->fd = fd >= 0 && fstat(fd, &st) == 0 ? fd : -1;
    c->dev = c->fd >= 0 ? st.st_dev : 0;
    c->ino = c->fd >= 0 ? st.st_ino : 0;
    errno = saved;
}

int tree_conn_fd(struct tree_conn *c)
{
    if (c->fd < 0)
        return -1;
    struct stat st;
    int saved = errno;
    if (fstat(c->fd, &st) != 0 || st.st_dev != c->dev || st.st_ino != c->ino)
        c->fd = -1;
    errno = saved;
    return c->fd;
}

void tree_send_cpu(int sock)
{
    int saved = errno;
    struct tree_msg m = { TREE_MAGIC, TREE_MSG_CPU, 0, 0,
                          (uint64_t)gp_clock_ns(CLOCK_PROCESS_CPUTIME_ID) };
    if (send(sock, &m, sizeof m, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof m) {
        /* a full socket or a gone collector: the estimate from samples stands */
    }
    errno = saved;
}

void tree_wait_done(int sock, int status, uint64_t wait_ns)
{
    int saved = errno;
    struct tree_msg m = { TREE_MAGIC, TREE_MSG_EXITING, status, 0, 0 };
    if (send(sock, &m, sizeof m, MSG_NOSIGNAL) != (ssize_t)sizeof m) {
        errno = saved;
        return;
    }
    int64_t deadline = gp_clock_ns(CLOCK_MONOTONIC) + (int64_t)wait_ns;
    for (;;) {
        int64_t left = deadline - gp_clock_ns(CLOCK_MONOTONIC);
        if (left <= 0)
            break;
        struct pollfd p = { sock, POLLIN, 0 };
        int r = poll(&p, 1, (int)(left / GP_NS_PER_MS + 1));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        ssize_t n = recv(sock, &m, sizeof m, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        /* DONE, or the session went away (end of file): either way, nothing to wait for */
        break;
    }
    errno = saved;
}
