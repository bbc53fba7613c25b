/* record.c -- goprof record: runs a command under the profiler (see record.h).
 * Context: goprof
 *
 * The command runs as goprof's child with LD_PRELOAD=<libgoprof.so>, GOPROF_OUT and, with -F,
 * GOPROF_HZ added to goprof's environment; its stdin, stdout and stderr are goprof's. Signals:
 *   - a signal the terminal sends (Ctrl-C, Ctrl-\) reaches the whole foreground process group,
 *     the command included; goprof only survives it, to report;
 *   - SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2 and SIGALRM sent to goprof's pid by a
 *     process (kill, a supervisor) are forwarded to the command, and goprof survives them;
 *   - the child gets goprof's original signal mask and dispositions (an ignored SIGHUP under
 *     nohup stays ignored) before exec.
 * -d stops the command with SIGINT after the duration, then SIGTERM 5 s later and SIGKILL 5 s
 * after that if it is still running. When the command has ended, goprof waits (at most
 * RECORD_WAIT_S seconds) for the collector to rename the profile into place, then prints the
 * summary. Exit status: see record.h.
 */
#include "goprof/record.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/clock.h"
#include "goprof/locate.h"
#include "goprof/summary.h"
#include "lib/pprof/pprof_read.h"
#include "lib/config/config.h"

/* The collector writes the profile after the command's end; symbolizing a large Go binary and
 * writing takes a second or two. */
#define RECORD_WAIT_S 30
/* -d: SIGINT at the deadline, SIGTERM and SIGKILL this much later each. */
#define RECORD_ESCALATE_NS (5 * GP_NS_PER_SEC)

static const int forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM };
#define NFORWARDED (sizeof forwarded / sizeof forwarded[0])

static volatile sig_atomic_t child_pid;

static void forward(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    /* si_code <= 0: sent by a process (SI_USER, SI_QUEUE, SI_TKILL); the terminal's signals are
     * SI_KERNEL and have reached the command already. */
    pid_t pid = child_pid;
    if (pid > 0 && si && si->si_code <= 0 && si->si_pid != pid) {
        int saved = errno;
        kill(pid, sig);
        errno = saved;
    }
}

static void usage_record(FILE *out)
{
    fputs("usage: goprof record [-o FILE] [-F HZ] [-d DURATION] [--] COMMAND [ARG...]\n"
          "  -o FILE      profile path (default goprof.<command>.<pid>.pb.gz, taken literally)\n"
          "  -F HZ        samples per CPU-second per thread (GOPROF_HZ)\n"
          "  -d DURATION  stop the command after DURATION (e.g. 30, 30s, 500ms, 2m): SIGINT,\n"
          "               then SIGTERM and SIGKILL 5 s apart\n", out);
}

/* "30", "30s", "1.5s", "500ms", "2m", "1h" -> ns; -1 if invalid. */
static int64_t parse_duration(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    double unit = 1e9;
    if (!strcmp(end, "ms"))
        unit = 1e6;
    else if (!strcmp(end, "m"))
        unit = 60e9;
    else if (!strcmp(end, "h"))
        unit = 3600e9;
    else if (*end && strcmp(end, "s"))
        return -1;
    double ns = v * unit;
    return ns > 9e18 ? -1 : (int64_t)ns;
}

/* GOPROF_OUT expands %-conversions; -o is a plain path, so every '%' is doubled. */
static int escape_percent(const char *in, char *out, size_t n)
{
    size_t j = 0;
    for (; *in; in++) {
        if (j + 3 > n)
            return -ENAMETOOLONG;
        if (*in == '%')
            out[j++] = '%';
        out[j++] = *in;
    }
    out[j] = 0;
    return 0;
}

static int absolute(const char *path, char *out, size_t n)
{
    char cwd[PATH_MAX];
    if (path[0] == '/')
        return (size_t)snprintf(out, n, "%s", path) < n ? 0 : -ENAMETOOLONG;
    if (!getcwd(cwd, sizeof cwd))
        return -errno;
    return (size_t)snprintf(out, n, "%s/%s", cwd, path) < n ? 0 : -ENAMETOOLONG;
}

/* Sets up the command's environment in goprof's own (the child inherits it). Returns 0 or a
 * message in err. */
static int set_env(const char *lib, const char *out, const char *hz, char *err, size_t errsz)
{
    char esc[PATH_MAX * 2];
    if (strpbrk(lib, " :")) {
        snprintf(err, errsz, "%s: LD_PRELOAD cannot hold a path with ' ' or ':'", lib);
        return -EINVAL;
    }
    const char *old = getenv("LD_PRELOAD");
    char *preload = malloc(strlen(lib) + (old ? strlen(old) : 0) + 2);
    if (!preload || escape_percent(out, esc, sizeof esc) != 0) {
        free(preload);
        snprintf(err, errsz, "%s: path too long", out);
        return -ENAMETOOLONG;
    }
    sprintf(preload, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "");
    int r = setenv("LD_PRELOAD", preload, 1) | setenv("GOPROF_OUT", esc, 1) |
            (hz ? setenv("GOPROF_HZ", hz, 1) : 0);
    free(preload);
    if (r) {
        snprintf(err, errsz, "cannot set the environment: %s", strerror(errno));
        return -errno;
    }
    return 0;
}

struct run {
    pid_t pid;
    int status;
    int exec_errno;             /* execvp's errno in the child, 0 if it ran */
};

static struct sigaction saved_actions[NFORWARDED];
static sigset_t saved_mask;

static void install_forwarding(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = forward;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaction(forwarded[i], &sa, &saved_actions[i]);
}

static void restore_signals(void)
{
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaction(forwarded[i], &saved_actions[i], NULL);
    sigprocmask(SIG_SETMASK, &saved_mask, NULL);
}

/* Forks and execs argv; the exec error, if any, comes back through a close-on-exec pipe. */
static int start(char **argv, struct run *run)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return -errno;
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &saved_mask);
    install_forwarding();
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        restore_signals();
        execvp(argv[0], argv);
        int e = errno;
        ssize_t w = write(pfd[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    int err = pid < 0 ? -errno : 0;
    child_pid = pid > 0 ? pid : 0;
    sigprocmask(SIG_SETMASK, &saved_mask, NULL);
    close(pfd[1]);
    run->pid = pid;
    run->exec_errno = 0;
    if (!err) {
        ssize_t r;
        do
            r = read(pfd[0], &run->exec_errno, sizeof run->exec_errno);
        while (r < 0 && errno == EINTR);
        if (r != (ssize_t)sizeof run->exec_errno)
            run->exec_errno = 0;
    }
    close(pfd[0]);
    return err;
}

/* Waits for the child; with a deadline (ns, monotonic; 0 = none) sends SIGINT, then SIGTERM and
 * SIGKILL RECORD_ESCALATE_NS apart. Uses a pidfd to sleep until either happens; without one
 * (Linux < 5.3), polls every 10 ms. */
static void wait_child(struct run *run, int64_t deadline)
{
    static const int escalation[] = { SIGINT, SIGTERM, SIGKILL };
    size_t step = 0;
    int pidfd = (int)syscall(SYS_pidfd_open, run->pid, 0);
    for (;;) {
        pid_t r = waitpid(run->pid, &run->status, deadline || pidfd < 0 ? WNOHANG : 0);
        if (r == run->pid)
            break;
        if (r < 0 && errno != EINTR)
            break;
        int64_t now = gp_clock_ns(CLOCK_MONOTONIC);
        if (deadline && now >= deadline && step < 3) {
            kill(run->pid, escalation[step++]);
            deadline = step < 3 ? now + RECORD_ESCALATE_NS : 0;
            continue;
        }
        if (r == 0 || r < 0) {
            int timeout = deadline ? (int)((deadline - now) / 1000000 + 1) : -1;
            if (pidfd >= 0) {
                struct pollfd p = { .fd = pidfd, .events = POLLIN };
                poll(&p, 1, timeout);
            } else {
                struct timespec ts = { 0, 10000000 };
                nanosleep(&ts, NULL);
            }
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    child_pid = 0;
}

static int fresh(const char *path, const struct stat *before, int existed)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
           (!existed || st.st_ino != before->st_ino || st.st_dev != before->st_dev);
}

/* Waits until path is a file other than `before` (the collector renames a new inode into
 * place), or path.<pid> appears: the library adds the pid when it believes its parent is
 * profiled too (it looks for "libgoprof" in the parent's mappings, which goprof's own path may
 * contain); that file is renamed to path, where the user asked for it. found gets the path of
 * the profile. Returns 0, or -ETIMEDOUT. */
static int wait_profile(const char *path, pid_t pid, const struct stat *before, int existed,
                        char *found, size_t n)
{
    int64_t end = gp_clock_ns(CLOCK_MONOTONIC) + RECORD_WAIT_S * GP_NS_PER_SEC;
    char alt[PATH_MAX + 16];
    snprintf(alt, sizeof alt, "%s.%ld", path, (long)pid);
    for (;;) {
        if (fresh(path, before, existed)) {
            snprintf(found, n, "%s", path);
            return 0;
        }
        if (fresh(alt, before, 0)) {
            int moved = rename(alt, path) == 0;
            if (!moved)
                fprintf(stderr, "goprof: cannot rename %s to %s: %s\n", alt, path,
                        strerror(errno));
            snprintf(found, n, "%s", moved ? path : alt);
            return 0;
        }
        if (gp_clock_ns(CLOCK_MONOTONIC) >= end)
            return -ETIMEDOUT;
        struct timespec ts = { 0, 20000000 };
        nanosleep(&ts, NULL);
    }
}

static int exit_status(const struct run *run)
{
    if (WIFEXITED(run->status))
        return WEXITSTATUS(run->status);
    if (WIFSIGNALED(run->status))
        return 128 + WTERMSIG(run->status);
    return 125;
}

static void report(const char *path, int folded)
{
    int err;
    if (folded) {
        err = summary_print_folded(stderr, path);
    } else {
        struct pprof *p = pprof_read_file(path);
        err = p ? summary_print(stderr, path, p) : -errno;
        pprof_free(p);
    }
    if (err)
        fprintf(stderr, "goprof: cannot read %s: %s\n", path, strerror(-err));
}

int record_main(int argc, char **argv)
{
    const char *out = NULL, *hz = NULL;
    int64_t duration = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt(argc, argv, "+o:F:d:h")) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'F': hz = optarg; break;
        case 'd':
            if ((duration = parse_duration(optarg)) <= 0) {
                fprintf(stderr, "goprof: -d %s: not a duration (e.g. 30, 30s, 500ms, 2m)\n",
                        optarg);
                return 2;
            }
            break;
        case 'h': usage_record(stdout); return 0;
        default:
            fprintf(stderr, "goprof: record: bad option -%c\n", optopt);
            usage_record(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage_record(stderr);
        return 2;
    }
    char **cmd = argv + optind;

    char lib[PATH_MAX], path[PATH_MAX], msg[PATH_MAX * 3 + 64];
    if (locate_library(lib, sizeof lib) != 0) {
        fprintf(stderr, "goprof: libgoprof.so %s\n", lib);
        return 125;
    }
    char deflt[NAME_MAX + 64];
    if (!out) {
        const char *base = strrchr(cmd[0], '/') ? strrchr(cmd[0], '/') + 1 : cmd[0];
        const char *fmt = getenv("GOPROF_FORMAT");
        snprintf(deflt, sizeof deflt, "goprof.%.200s.%ld.%s", base, (long)getpid(),
                 fmt && !strcmp(fmt, "folded") ? "folded" : "pb.gz");
        out = deflt;
    }
    if (absolute(out, path, sizeof path) != 0 || set_env(lib, path, hz, msg, sizeof msg) != 0) {
        fprintf(stderr, "goprof: %s\n", absolute(out, path, sizeof path) ? out : msg);
        return 125;
    }
    /* What the library will make of this environment: a bad value means no profile (the
     * library prints the one line saying why), so there is nothing to wait for. */
    struct gp_config conf;
    char cerr[512], cwarn[256];
    int bad = config_parse(&conf, cerr, sizeof cerr, cwarn, sizeof cwarn) != 0;
    if (bad && hz && strstr(cerr, "GOPROF_HZ=")) {
        fprintf(stderr, "goprof: -F %s: not a rate (an integer from 1 to 10000)\n", hz);
        return 2;
    }
    int profiled = !bad && !conf.disable;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    if (access(dir[0] ? dir : "/", W_OK | X_OK) != 0) {
        fprintf(stderr, "goprof: cannot write into %s: %s\n", dir, strerror(errno));
        return 125;
    }
    struct stat before;
    int existed = stat(path, &before) == 0;

    struct run run;
    int64_t started = gp_clock_ns(CLOCK_MONOTONIC);
    if (start(cmd, &run) != 0) {
        fprintf(stderr, "goprof: cannot start %s: %s\n", cmd[0], strerror(errno));
        return 125;
    }
    wait_child(&run, duration ? started + duration : 0);
    restore_signals();
    if (run.exec_errno) {
        fprintf(stderr, "goprof: cannot run %s: %s\n", cmd[0], strerror(run.exec_errno));
        return run.exec_errno == ENOENT ? 127 : 126;
    }
    int status = exit_status(&run);
    if (WIFSIGNALED(run.status))
        fprintf(stderr, "goprof: %s was killed by signal %d (%s); exit status %d\n", cmd[0],
                WTERMSIG(run.status), strsignal(WTERMSIG(run.status)), status);
    if (!profiled) {
        fprintf(stderr, "goprof: no profile: %s\n",
                conf.disable ? "GOPROF_DISABLE is set" : "the GOPROF_* configuration is invalid");
        return status;
    }
    char found[PATH_MAX + 16];
    if (wait_profile(path, run.pid, &before, existed, found, sizeof found) != 0) {
        fprintf(stderr, "goprof: no profile appeared at %s within %d s (a statically linked "
                "program cannot be profiled: build it with cgo)\n", path, RECORD_WAIT_S);
        return status;
    }
    report(found, conf.format == GP_FORMAT_FOLDED);
    return status;
}
