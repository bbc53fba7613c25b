/* test_claim.c -- the output name's claim (lib/outname/output_claim.h) between processes: a
 * name kept, changed to ".<pid>" then ".2", ".3", freed by its holder's exit, and the exec case
 * (a holder with our own pid answering 'K', closing, or not answering).
 * Context: tests
 *
 * Other holders are forked children that claim, report the template they ended with through a
 * pipe, and hold the claim until the parent closes their release pipe. Every wait is bounded.
 * Templates live under a name unique to this run (the claims are keyed by a hash of the
 * expanded template, so concurrent runs never meet).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "lib/base/clock.h"
#include "lib/outname/output_claim.h"

#define WAIT_MS 5000

static char base[128];   /* unique prefix of every template */

struct holder {
    pid_t pid;
    int release;          /* closing it lets the child exit */
    int ok;               /* its claim succeeded */
    char tmpl[300];       /* the template it ended with */
};

/* Reads up to n bytes from fd within WAIT_MS, until EOF or a NUL; returns the count. */
static size_t read_bounded(int fd, char *buf, size_t n)
{
    size_t got = 0;
    int64_t deadline = gp_clock_ms(CLOCK_MONOTONIC) + WAIT_MS;
    while (got < n) {
        int64_t left = deadline - gp_clock_ms(CLOCK_MONOTONIC);
        struct pollfd p = { fd, POLLIN, 0 };
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (memchr(buf, 0, got))
            break;
    }
    return got;
}

/* In a child: closes every inherited descriptor but stdio, a and b (another holder's release
 * pipe or claim kept open here would outlive that holder). */
static void close_others(int a, int b)
{
    for (int fd = 3; fd < 1024; fd++)
        if (fd != a && fd != b)
            close(fd);
}

/* A child that claims tmpl as pid_arg (0: its own pid) with program name prog and holds it. */
static struct holder spawn_holder(const char *tmpl, pid_t pid_arg, const char *prog)
{
    struct holder h;
    memset(&h, 0, sizeof h);
    int res[2], rel[2];
    if (pipe(res) != 0 || pipe(rel) != 0) {
        perror("pipe");
        exit(2);
    }
    fflush(NULL);
    h.pid = fork();
    if (h.pid < 0) {
        perror("fork");
        exit(2);
    }
    if (h.pid == 0) {
        close_others(res[1], rel[0]);
        char t[256];
        snprintf(t, sizeof t, "%s", tmpl);
        int fd = output_claim(t, sizeof t, pid_arg ? pid_arg : getpid(), prog);
        char msg[260];
        int len = snprintf(msg, sizeof msg, "%c%s", fd >= 0 ? '1' : '0', t);
        if (write(res[1], msg, (size_t)len + 1) != len + 1)
            _exit(3);
        char b;
        struct pollfd p = { rel[0], POLLIN, 0 };
        if (poll(&p, 1, 4 * WAIT_MS) == 1 && read(rel[0], &b, 1) < 0)
            _exit(4);
        _exit(fd >= 0 ? 0 : 1);
    }
    close(res[1]);
    close(rel[0]);
    h.release = rel[1];
    char msg[260] = { 0 };
    size_t n = read_bounded(res[0], msg, sizeof msg - 1);
    close(res[0]);
    if (n >= 2) {
        h.ok = msg[0] == '1';
        snprintf(h.tmpl, sizeof h.tmpl, "%s", msg + 1);
    }
    return h;
}

/* Lets the child go and reaps it: its claim is free once this returns. */
static void release_holder(struct holder *h)
{
    close(h->release);
    int st = 0;
    CHECK(waitpid(h->pid, &st, 0) == h->pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int claim(char *tmpl, size_t sz, const char *name, pid_t pid, const char *prog)
{
    snprintf(tmpl, sz, "%s/%s", base, name);
    return output_claim(tmpl, sz, pid, prog);
}

static int same(const char *tmpl, const char *name)
{
    char want[512];
    snprintf(want, sizeof want, "%s/%s", base, name);
    if (strcmp(tmpl, want) == 0)
        return 1;
    fprintf(stderr, "  template %s, want %s\n", tmpl, want);
    return 0;
}

static void test_first_claim(void)
{
    char t[256];
    int fd = claim(t, sizeof t, "first.pb.gz", getpid(), "prog");
    CHECK(fd >= 0);
    CHECK(same(t, "first.pb.gz"));
    /* the claim is a listening socket, close-on-exec */
    int listening = 0;
    socklen_t len = sizeof listening;
    CHECK(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening);
    CHECK(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC));
    close(fd);
    /* closed: free again at once, same name */
    fd = claim(t, sizeof t, "first.pb.gz", getpid(), "prog");
    CHECK(fd >= 0);
    CHECK(same(t, "first.pb.gz"));
    close(fd);
}

/* Held by other processes, a template without %p: ".<pid>", then ".<pid>.2", ".<pid>.3" (the
 * pid itself: %p would make a session write a file per process). */
static void test_other_holder(void)
{
    char name[256], t[256], want[64];
    pid_t me = getpid();
    snprintf(name, sizeof name, "%s/other.pb.gz", base);
    struct holder h1 = spawn_holder(name, 0, "prog");
    CHECK(h1.ok);
    CHECK(same(h1.tmpl, "other.pb.gz"));
    int fd = claim(t, sizeof t, "other.pb.gz", me, "prog");
    CHECK(fd >= 0);
    snprintf(want, sizeof want, "other.pb.gz.%d", (int)me);
    CHECK(same(t, want));
    /* Another process that claims as pid `me` (the key only knows the expanded name): both
     * taken, ".2" after the ".<pid>". */
    struct holder h2 = spawn_holder(name, me, "prog");
    CHECK(h2.ok);
    snprintf(want, sizeof want, "other.pb.gz.%d.2", (int)me);
    CHECK(same(h2.tmpl, want));
    struct holder h3 = spawn_holder(name, me, "prog");
    CHECK(h3.ok);
    snprintf(want, sizeof want, "other.pb.gz.%d.3", (int)me);
    CHECK(same(h3.tmpl, want));
    /* Another pid's suffix is another name: free. */
    struct holder h4 = spawn_holder(name, me + 1, "prog");
    CHECK(h4.ok);
    snprintf(want, sizeof want, "other.pb.gz.%d", (int)me + 1);
    CHECK(same(h4.tmpl, want));
    release_holder(&h1);
    release_holder(&h2);
    release_holder(&h3);
    release_holder(&h4);
    close(fd);
}

/* A template with %p: the suffixes are ".2", ".3" (no second ".%p"). */
static void test_with_pid(void)
{
    char name[256], t[256];
    pid_t me = getpid();
    snprintf(name, sizeof name, "%s/run.%%p.pb.gz", base);
    struct holder h1 = spawn_holder(name, me, "prog");
    CHECK(h1.ok);
    CHECK(same(h1.tmpl, "run.%p.pb.gz"));
    int fd = claim(t, sizeof t, "run.%p.pb.gz", me, "prog");
    CHECK(fd >= 0);
    CHECK(same(t, "run.%p.pb.gz.2"));
    struct holder h2 = spawn_holder(name, me, "prog");
    CHECK(h2.ok);
    CHECK(same(h2.tmpl, "run.%p.pb.gz.3"));
    release_holder(&h1);
    release_holder(&h2);
    close(fd);
}

/* name with ".<pid>" appended (what a taken name without %p becomes). */
static const char *with_pid(const char *name, pid_t pid)
{
    static char buf[4][128];
    static int i;
    char *b = buf[i++ % 4];
    snprintf(b, sizeof buf[0], "%s.%d", name, (int)pid);
    return b;
}

/* The key: %p and %e expanded, %t and %n as written (an interval series is one claim). */
static void test_key(void)
{
    char name[256], t[256];
    snprintf(name, sizeof name, "%s/series.%%e.%%n.%%t.pb.gz", base);
    struct holder h = spawn_holder(name, 0, "alpha");
    CHECK(h.ok);
    CHECK(same(h.tmpl, "series.%e.%n.%t.pb.gz"));
    int fd = claim(t, sizeof t, "series.%e.%n.%t.pb.gz", getpid(), "alpha");
    CHECK(fd >= 0);
    CHECK(same(t, with_pid("series.%e.%n.%t.pb.gz", getpid())));
    close(fd);
    fd = claim(t, sizeof t, "series.%e.%n.%t.pb.gz", getpid(), "beta");   /* another %e */
    CHECK(fd >= 0);
    CHECK(same(t, "series.%e.%n.%t.pb.gz"));
    close(fd);
    release_holder(&h);
}

/* A holder that exited leaves nothing behind: the name is free again. */
static void test_released(void)
{
    char name[256], t[256];
    snprintf(name, sizeof name, "%s/released.pb.gz", base);
    struct holder h = spawn_holder(name, 0, "prog");
    CHECK(h.ok);
    CHECK(same(h.tmpl, "released.pb.gz"));
    release_holder(&h);
    int fd = claim(t, sizeof t, "released.pb.gz", getpid(), "prog");
    CHECK(fd >= 0);
    CHECK(same(t, "released.pb.gz"));
    /* a changed name's holder, too: ".<its pid>" is free once it exited */
    h = spawn_holder(name, 0, "prog");
    CHECK(h.ok);
    pid_t hpid = h.pid;
    CHECK(same(h.tmpl, with_pid("released.pb.gz", hpid)));
    release_holder(&h);
    int fd2 = claim(t, sizeof t, with_pid("released.pb.gz", hpid), hpid, "prog");
    CHECK(fd2 >= 0);
    CHECK(same(t, with_pid("released.pb.gz", hpid)));
    close(fd2);
    close(fd);
}

/* The exec case: the claim is held by a process with our pid (the collector of the image this
 * one replaced: here a child that inherited the listening socket, which keeps the parent's
 * credentials). How the child answers the first connection: 'K' (kept), closing it unanswered
 * then letting go of the claim ('C'), or never ('N'). */
struct same_pid {
    pid_t pid;
    int release;
};

static struct same_pid spawn_same_pid_holder(int listen_fd, char how)
{
    struct same_pid s = { -1, -1 };
    int rel[2];
    if (pipe(rel) != 0) {
        perror("pipe");
        exit(2);
    }
    fflush(NULL);
    s.pid = fork();
    if (s.pid < 0) {
        perror("fork");
        exit(2);
    }
    if (s.pid == 0) {
        close_others(listen_fd, rel[0]);
        struct pollfd p[2] = { { listen_fd, POLLIN, 0 }, { rel[0], POLLIN, 0 } };
        if (how != 'N' && poll(p, 1, WAIT_MS) != 1)
            _exit(5);
        if (how == 'K') {
            output_claim_answer(listen_fd, 1);
        } else if (how == 'C') {
            output_claim_answer(listen_fd, 0);
            close(listen_fd);
            _exit(0);
        }
        poll(p + 1, 1, 4 * WAIT_MS);   /* until released */
        _exit(0);
    }
    close(rel[0]);
    s.release = rel[1];
    return s;
}

static void reap_same_pid(struct same_pid *s)
{
    close(s->release);
    int st = 0;
    CHECK(waitpid(s->pid, &st, 0) == s->pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_same_pid(void)
{
    char t[256];
    pid_t me = getpid();
    /* 'K': the name is kept by the replaced image, ours changes; no waiting for the deadline */
    int l = claim(t, sizeof t, "exec.pb.gz", me, "prog");
    CHECK(l >= 0);
    struct same_pid s = spawn_same_pid_holder(l, 'K');
    close(l);                                 /* as the program closes its copy */
    int64_t t0 = gp_clock_ms(CLOCK_MONOTONIC);
    int fd = claim(t, sizeof t, "exec.pb.gz", me, "prog");
    int64_t took = gp_clock_ms(CLOCK_MONOTONIC) - t0;
    CHECK(fd >= 0);
    CHECK(same(t, with_pid("exec.pb.gz", me)));
    if (!CHECK(took < 900))
        fprintf(stderr, "  'K' took %lld ms\n", (long long)took);
    close(fd);
    reap_same_pid(&s);

    /* closed unanswered, then let go: ask again, and the name is ours */
    l = claim(t, sizeof t, "gone.pb.gz", me, "prog");
    CHECK(l >= 0);
    s = spawn_same_pid_holder(l, 'C');
    close(l);
    t0 = gp_clock_ms(CLOCK_MONOTONIC);
    fd = claim(t, sizeof t, "gone.pb.gz", me, "prog");
    took = gp_clock_ms(CLOCK_MONOTONIC) - t0;
    CHECK(fd >= 0);
    CHECK(same(t, "gone.pb.gz"));
    if (!CHECK(took < 900))
        fprintf(stderr, "  let go took %lld ms\n", (long long)took);
    close(fd);
    reap_same_pid(&s);

    /* no answer: after HOLDER_WAIT_MS (1 s) the name counts as held */
    l = claim(t, sizeof t, "mute.pb.gz", me, "prog");
    CHECK(l >= 0);
    s = spawn_same_pid_holder(l, 'N');
    close(l);
    t0 = gp_clock_ms(CLOCK_MONOTONIC);
    fd = claim(t, sizeof t, "mute.pb.gz", me, "prog");
    took = gp_clock_ms(CLOCK_MONOTONIC) - t0;
    CHECK(fd >= 0);
    CHECK(same(t, with_pid("mute.pb.gz", me)));
    if (!CHECK(took >= 900 && took < 3000))
        fprintf(stderr, "  no answer took %lld ms\n", (long long)took);
    close(fd);
    reap_same_pid(&s);
}

/* A template the changed name does not fit: -ENAMETOOLONG, the claim left to the holder. */
static void test_too_long(void)
{
    char name[256];
    snprintf(name, sizeof name, "%s/long", base);
    struct holder h = spawn_holder(name, 0, "prog");
    CHECK(h.ok);
    char t[256];
    size_t sz = strlen(name) + 1;             /* room for the name only */
    snprintf(t, sizeof t, "%s", name);
    CHECK(output_claim(t, sz, getpid(), "prog") == -ENAMETOOLONG);
    CHECK(strcmp(t, name) == 0);
    release_holder(&h);
}

int main(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(base, sizeof base, "/nonexistent/test_claim.%d.%ld", (int)getpid(), (long)ts.tv_nsec);
    test_first_claim();
    test_other_holder();
    test_with_pid();
    test_key();
    test_released();
    test_same_pid();
    test_too_long();
    return check_done();
}
