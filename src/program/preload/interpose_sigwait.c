/* interpose_sigwait.c -- sigwait, sigwaitinfo, sigtimedwait and signalfd wrappers: a program
 * that takes its signals itself never receives one of our timer's.
 * Context: program (the program's own calls, on any of its threads; never the handler)
 *
 * Why, and what is counted: program/sample/blocked.c. A call whose set does not hold SIGPROF,
 * or made while libgoprof does not own SIGPROF, goes to libc's function untouched.
 */
#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <time.h>

#include "lib/base/clock.h"
#include "lib/base/sigsafe.h"
#include "program/preload/interpose.h"
#include "program/sample/sample.h"

static int takes_sigprof(const sigset_t *set)
{
    return set && sigismember(set, SIGPROF) == 1 &&
           __atomic_load_n(&gp_owns_sigprof, __ATOMIC_ACQUIRE);
}

/* sigtimedwait that waits past our signals; timeout NULL: for good. The time already waited
 * counts against the timeout, so a wait never lasts longer than the program asked. */
static int wait_past_ours(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
    int64_t deadline = 0;
    struct timespec left;
    if (timeout) {
        deadline = gp_clock_ns(CLOCK_MONOTONIC) + gp_timespec_ns(*timeout);
        left = *timeout;
    }
    for (;;) {
        siginfo_t si;
        int sig = gp_real.sigtimedwait(set, &si, timeout ? &left : NULL);
        if (sig != SIGPROF || !sample_signal_taken(&si)) {
            if (sig > 0 && info)
                *info = si;
            return sig;
        }
        if (timeout) {
            int64_t rest = deadline - gp_clock_ns(CLOCK_MONOTONIC);
            left = gp_ns_timespec(rest > 0 ? rest : 0);   /* 0: one more look, then EAGAIN */
        }
    }
}

/* Before the constructor (or from one that runs first), the real functions are found here. */
static int resolved(void)
{
    if (!gp_real.sigtimedwait || !gp_real.sigwaitinfo || !gp_real.sigwait || !gp_real.signalfd)
        interpose_resolve();
    if (gp_real.sigtimedwait && gp_real.sigwaitinfo && gp_real.sigwait && gp_real.signalfd)
        return 1;
    errno = ENOSYS;
    return 0;
}

GP_EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
    if (!resolved())
        return -1;
    if (!takes_sigprof(set))
        return gp_real.sigtimedwait(set, info, timeout);
    return wait_past_ours(set, info, timeout);
}

GP_EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
    if (!resolved())
        return -1;
    if (!takes_sigprof(set))
        return gp_real.sigwaitinfo(set, info);
    return wait_past_ours(set, info, NULL);
}

/* As glibc's: retried on EINTR; returns 0 or an error number, and leaves errno alone. */
GP_EXPORT int sigwait(const sigset_t *set, int *sig)
{
    if (!resolved())
        return ENOSYS;
    if (!takes_sigprof(set))
        return gp_real.sigwait(set, sig);
    int saved = errno, got;
    do
        got = wait_past_ours(set, NULL, NULL);
    while (got < 0 && errno == EINTR);
    int err = got < 0 ? errno : 0;
    errno = saved;
    if (got > 0)
        *sig = got;
    return err;
}

GP_EXPORT int signalfd(int fd, const sigset_t *mask, int flags)
{
    if (!resolved())
        return -1;
    if (takes_sigprof(mask))
        sample_thread_quiet();
    return gp_real.signalfd(fd, mask, flags);
}
