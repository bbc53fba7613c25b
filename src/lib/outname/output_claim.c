/* output_claim.c -- one writer per output name, across processes (see output_claim.h).
 * Context: library (output_claim in the program's constructor, output_claim_answer in the collector)
 */
#include "lib/outname/output_claim.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/clock.h"
#include "lib/base/hash.h"
#include "lib/outname/outpath.h"

#define MAX_TRIES 99
/* How long a new image waits for the image it replaced to say whether it keeps a name. */
#define HOLDER_WAIT_MS 1000

/* The claim's address for template tmpl; 0 or -errno. */
static int claim_address(const char *tmpl, pid_t pid, const char *prog, struct sockaddr_un *a,
                         socklen_t *alen)
{
    char key[4096];
    int r = outpath_expand(tmpl, pid, 0, prog, 0, key, sizeof key);
    if (r)
        return r;
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    /* sun_path[0] = 0: the abstract namespace, no file. */
    int len = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "libgoprof-out-%016llx",
                       (unsigned long long)gp_hash_str(key));
    *alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
    return 0;
}

/* Binds and listens (the listener's credentials say which process claimed it): the
 * descriptor, or -errno (-EADDRINUSE: claimed). Non-blocking, for the collector's accepts. */
static int bind_claim(const struct sockaddr_un *a, socklen_t alen)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (const struct sockaddr *)a, alen) != 0 || listen(fd, 16) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

/* The name is claimed: asks its holder. 1: it is another process's, or an earlier image of
 * this process (before an exec) wrote a profile under it and keeps it (it answers 'K'), or no
 * answer by the deadline; 0: ask again (the holder let go, or has not decided yet). */
static int held_for_good(const struct sockaddr_un *a, socklen_t alen, int64_t deadline)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return 1;
    if (connect(fd, (const struct sockaddr *)a, alen) != 0) {
        int err = errno;
        close(fd);
        return err != ECONNREFUSED;     /* refused: nobody listens any more */
    }
    struct ucred cr;
    socklen_t crlen = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) != 0 || cr.pid != getpid()) {
        close(fd);
        return 1;
    }
    int64_t left = deadline - gp_clock_ms(CLOCK_MONOTONIC);
    struct pollfd p = { fd, POLLIN, 0 };
    int r = left > 0 ? poll(&p, 1, (int)left) : 0;
    char b = 0;
    ssize_t n = r > 0 ? read(fd, &b, 1) : -1;
    close(fd);
    if (r == 0 || (n == 1 && b == 'K'))
        return 1;
    /* EOF: closed unanswered, by a collector still running or by its exit. */
    struct timespec pause = { 0, 1000000 };
    nanosleep(&pause, NULL);
    return gp_clock_ms(CLOCK_MONOTONIC) >= deadline;
}

/* Claims tmpl as it is: the descriptor, -EADDRINUSE, or another -errno. */
static int claim_one(const char *tmpl, pid_t pid, const char *prog, int64_t deadline)
{
    struct sockaddr_un a;
    socklen_t alen;
    int r = claim_address(tmpl, pid, prog, &a, &alen);
    if (r)
        return r;
    for (;;) {
        int fd = bind_claim(&a, alen);
        if (fd != -EADDRINUSE || held_for_good(&a, alen, deadline))
            return fd;
    }
}

int output_claim(char *tmpl, size_t tsz, pid_t pid, const char *prog)
{
    int64_t deadline = gp_clock_ms(CLOCK_MONOTONIC) + HOLDER_WAIT_MS;
    int fd = claim_one(tmpl, pid, prog, deadline);
    if (fd != -EADDRINUSE)
        return fd;
    if (!outpath_uses(tmpl, 'p')) {
        /* the pid itself, not %p: %p would make the session write one file per process */
        size_t len = strlen(tmpl);
        if (len + 2 + 3 * sizeof(pid_t) > tsz)
            return -ENAMETOOLONG;
        snprintf(tmpl + len, tsz - len, ".%d", (int)pid);
        if ((fd = claim_one(tmpl, pid, prog, deadline)) != -EADDRINUSE)
            return fd;
    }
    size_t base = strlen(tmpl);
    for (int k = 2; k <= MAX_TRIES; k++) {
        if (base + sizeof ".99" > tsz)
            return -ENAMETOOLONG;
        snprintf(tmpl + base, tsz - base, ".%d", k);
        if ((fd = claim_one(tmpl, pid, prog, deadline)) != -EADDRINUSE)
            return fd;
    }
    tmpl[base] = 0;
    return -EADDRINUSE;
}

void output_claim_answer(int fd, int kept)
{
    int c;
    while (fd >= 0 && (c = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        if (kept && write(c, "K", 1) != 1) { /* the asker is gone: nothing to tell */ }
        close(c);
    }
}
