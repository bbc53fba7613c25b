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
#include "lib/outname/outpath.h"

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
    fputs("usage: goprof record [-o FILE] [-F HZ] [-d DURATION] [--heap-rate SIZE [--heap-out FILE]]\n"
          "                     [--] COMMAND [ARG...]\n"
          "  -o FILE      profile path (default goprof.<command>.<pid>.pb.gz, taken literally)\n"
          "  -F HZ        samples per CPU-second per thread (GOPROF_HZ)\n"
          "  -d DURATION  stop the command after DURATION (30 or 30s, 1.5s, 500ms, 2m; 100ms-24h):\n"
          "               SIGINT, then SIGTERM and SIGKILL 5 s apart\n"
          "  --heap-rate SIZE  profile C memory too, one allocation sampled per SIZE bytes on\n"
          "               average (GOPROF_HEAP_RATE: 512k, 1m, ...)\n"
          "  --heap-out FILE   C memory profile path (default goprof.<command>.<pid>.heap.pb.gz,\n"
          "               taken literally)\n", out);
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
static int set_env(const char *lib, const char *out, const char *hz, const char *heap_rate,
                   const char *heap_out, char *err, size_t errsz)
{
    char esc[PATH_MAX * 2];
    if (strpbrk(lib, " :")) {
        snprintf(err, errsz, "%s: LD_PRELOAD cannot hold a path with ' ' or ':'", lib);
        return -EINVAL;
    }
    const char *old = getenv("LD_PRELOAD");
    char *preload = malloc(strlen(lib) + (old ? strlen(old) : 0) + 2);
    esc[0] = 0;   /* GOPROF_OUT expands %-conversions; -o is a plain path */
    if (!preload || outpath_append_literal(esc, sizeof esc, out) != 0) {
        free(preload);
        snprintf(err, errsz, "%s: path too long", out);
        return -ENAMETOOLONG;
    }
    sprintf(preload, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "");
    int r = setenv("LD_PRELOAD", preload, 1) | setenv("GOPROF_OUT", esc, 1) |
            (hz ? setenv("GOPROF_HZ", hz, 1) : 0);
    if (heap_rate) {
        esc[0] = 0;
        if (outpath_append_literal(esc, sizeof esc, heap_out) != 0) {
            free(preload);
            snprintf(err, errsz, "%s: path too long", heap_out);
            return -ENAMETOOLONG;
        }
        r |= setenv("GOPROF_HEAP_RATE", heap_rate, 1) | setenv("GOPROF_HEAP_OUT", esc, 1);
    }
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
            int timeout = deadline ? (int)((deadline - now) / GP_NS_PER_MS + 1) : -1;
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

/* A step's result when record_main goes on to the next; any other is goprof's exit status. */
enum { GO_ON = -1 };

/* What the command line asks for. */
struct options {
    const char *out, *hz;
    const char *heap_rate, *heap_out;   /* --heap-rate, --heap-out; NULL: not given */
    int64_t duration;           /* ns; 0: none */
    char **cmd;
};

/* Parses goprof record's options into o. Returns GO_ON to go on, else goprof's exit status. */
static int parse_options(int argc, char **argv, struct options *o)
{
    int c;
    memset(o, 0, sizeof *o);
    optind = 1;
    opterr = 0;
    static const struct option longopts[] = {
        { "heap-rate", required_argument, NULL, 'H' },
        { "heap-out", required_argument, NULL, 'M' },
        { NULL, 0, NULL, 0 },
    };
    uint64_t bytes;
    while ((c = getopt_long(argc, argv, "+o:F:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'H':
            if (config_parse_size(optarg, &bytes) != 0) {
                fprintf(stderr, "goprof: --heap-rate \"%s\" is invalid (%s)\n", optarg,
                        GP_SIZE_ACCEPTED);
                return 2;
            }
            o->heap_rate = bytes ? optarg : NULL;
            break;
        case 'M': o->heap_out = optarg; break;
        case 'o': o->out = optarg; break;
        case 'F': o->hz = optarg; break;
        case 'd':
            if (config_parse_duration(optarg, &o->duration) != 0) {
                fprintf(stderr, "goprof: -d \"%s\" is invalid (%s)\n", optarg,
                        GP_DURATION_ACCEPTED);
                return 2;
            }
            break;
        case 'h': usage_record(stdout); return 0;
        default:
            if (optopt)
                fprintf(stderr, "goprof: record: bad option -%c\n", optopt);
            else
                fprintf(stderr, "goprof: record: bad option %s\n", argv[optind - 1]);
            usage_record(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage_record(stderr);
        return 2;
    }
    if (o->heap_out && !o->heap_rate) {
        fprintf(stderr, "goprof: --heap-out needs --heap-rate\n");
        return 2;
    }
    o->cmd = argv + optind;
    return GO_ON;
}

/* Puts the library and the profile's absolute path (into path) in the environment the command
 * inherits, and with --heap-rate the C memory profile's (into heap_path). Returns GO_ON to go
 * on, else goprof's exit status. */
static int prepare_environment(const struct options *o, char *path, size_t n, char *heap_path)
{
    char lib[PATH_MAX], msg[PATH_MAX * 3 + 64], deflt[NAME_MAX + 64], hdeflt[NAME_MAX + 64];
    if (locate_library(lib, sizeof lib) != 0) {
        fprintf(stderr, "goprof: libgoprof.so %s\n", lib);
        return 125;
    }
    const char *out = o->out;
    if (!out) {
        const char *base = strrchr(o->cmd[0], '/') ? strrchr(o->cmd[0], '/') + 1 : o->cmd[0];
        const char *fmt = getenv("GOPROF_FORMAT");
        snprintf(deflt, sizeof deflt, "goprof.%.200s.%ld.%s", base, (long)getpid(),
                 fmt && !strcmp(fmt, "folded") ? "folded" : "pb.gz");
        out = deflt;
    }
    const char *base = strrchr(o->cmd[0], '/') ? strrchr(o->cmd[0], '/') + 1 : o->cmd[0];
    snprintf(hdeflt, sizeof hdeflt, "goprof.%.200s.%ld.heap.pb.gz", base, (long)getpid());
    const char *heap_out = o->heap_out ? o->heap_out : hdeflt;
    heap_path[0] = 0;
    if (o->heap_rate && absolute(heap_out, heap_path, n) != 0) {
        fprintf(stderr, "goprof: %s: path too long\n", heap_out);
        return 125;
    }
    if (absolute(out, path, n) != 0 ||
        set_env(lib, path, o->hz, o->heap_rate, heap_path, msg, sizeof msg) != 0) {
        fprintf(stderr, "goprof: %s\n", absolute(out, path, n) ? out : msg);
        return 125;
    }
    return GO_ON;
}

/* What the library will make of this environment: a bad value means no profile (the library
 * prints the one line saying why), so there is nothing to wait for. Sets *profiled. Returns
 * GO_ON to go on, else goprof's exit status. */
static int check_config(const struct options *o, struct gp_config *conf, int *profiled)
{
    char cerr[512], cwarn[256];
    int bad = config_parse(conf, cerr, sizeof cerr, cwarn, sizeof cwarn) != 0;
    if (bad && o->hz && strstr(cerr, "GOPROF_HZ=")) {
        fprintf(stderr, "goprof: -F %s: not a rate (an integer from 1 to 10000)\n", o->hz);
        return 2;
    }
    *profiled = !bad && !conf->disable;
    return GO_ON;
}

/* The profile's directory must take the collector's file. Returns GO_ON to go on, or 125. */
static int check_directory(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    if (access(dir[0] ? dir : "/", W_OK | X_OK) != 0) {
        fprintf(stderr, "goprof: cannot write into %s: %s\n", dir, strerror(errno));
        return 125;
    }
    return GO_ON;
}

/* Runs the command to its end (or -d's). Returns GO_ON when it ran, with run->status set, else
 * goprof's exit status. */
static int run_command(const struct options *o, struct run *run)
{
    int64_t started = gp_clock_ns(CLOCK_MONOTONIC);
    if (start(o->cmd, run) != 0) {
        fprintf(stderr, "goprof: cannot start %s: %s\n", o->cmd[0], strerror(errno));
        return 125;
    }
    wait_child(run, o->duration ? started + o->duration : 0);
    restore_signals();
    if (run->exec_errno) {
        fprintf(stderr, "goprof: cannot run %s: %s\n", o->cmd[0], strerror(run->exec_errno));
        return run->exec_errno == ENOENT ? 127 : 126;
    }
    if (WIFSIGNALED(run->status))
        fprintf(stderr, "goprof: %s was killed by signal %d (%s); exit status %d\n", o->cmd[0],
                WTERMSIG(run->status), strsignal(WTERMSIG(run->status)), exit_status(run));
    return GO_ON;
}

/* Waits for the profile the collector writes and summarizes it; then the C memory profile,
 * written right after it, when heap_path is not "". */
static void collect_profile(const char *path, const struct run *run, const struct stat *before,
                            int existed, const struct gp_config *conf, const char *heap_path,
                            const struct stat *heap_before, int heap_existed)
{
    char found[PATH_MAX + 16];
    if (wait_profile(path, run->pid, before, existed, found, sizeof found) != 0) {
        fprintf(stderr, "goprof: no profile appeared at %s within %d s (a statically linked "
                "program cannot be profiled: build it with cgo)\n", path, RECORD_WAIT_S);
        return;
    }
    report(found, conf->format == GP_FORMAT_FOLDED);
    if (!heap_path[0])
        return;
    if (wait_profile(heap_path, run->pid, heap_before, heap_existed, found, sizeof found) != 0) {
        fprintf(stderr, "goprof: no C memory profile appeared at %s\n", heap_path);
        return;
    }
    report(found, 0);
}

int record_main(int argc, char **argv)
{
    struct options o;
    struct gp_config conf;
    struct run run;
    struct stat before, heap_before;
    char path[PATH_MAX], heap_path[PATH_MAX];
    int profiled, r;
    if ((r = parse_options(argc, argv, &o)) != GO_ON ||
        (r = prepare_environment(&o, path, sizeof path, heap_path)) != GO_ON ||
        (r = check_config(&o, &conf, &profiled)) != GO_ON ||
        (r = check_directory(path)) != GO_ON)
        return r;
    int existed = stat(path, &before) == 0;   /* the profile is the file that replaces it */
    memset(&heap_before, 0, sizeof heap_before);
    int heap_existed = heap_path[0] && stat(heap_path, &heap_before) == 0;
    if ((r = run_command(&o, &run)) != GO_ON)
        return r;
    if (!profiled)
        fprintf(stderr, "goprof: no profile: %s\n",
                conf.disable ? "GOPROF_DISABLE is set" : "the GOPROF_* configuration is invalid");
    else
        collect_profile(path, &run, &before, existed, &conf, heap_path, &heap_before,
                        heap_existed);
    return exit_status(&run);
}
