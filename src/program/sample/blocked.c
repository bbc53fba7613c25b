/* blocked.c -- our timer's signals on a thread that blocks SIGPROF and takes signals itself.
 * Context: program (inside the program's own sigwait-family and signalfd calls; never the
 * handler)
 *
 * A container's init in front of the service (tini, dumb-init, catatonit) blocks every signal
 * and takes them itself, with sigtimedwait, sigwait or a signalfd, to forward them to its child.
 * Our timer's SIGPROF to such a thread never reaches our handler: it stays pending until the
 * program takes it, and then tini sends SIGPROF on to its child, and a child that has not
 * installed our handler yet dies of it (exit status 155 behind tini, seen in CI). So the program
 * never receives a signal of ours:
 *   - one that a sigwait-family call took is counted, and the call waits on (the preload's
 *     interpose_sigwait.c calls sample_signal_taken);
 *   - a thread that makes a signalfd for SIGPROF has its timer disarmed, and a signal of ours
 *     already pending is taken off first: a read of the descriptor cannot be waited past.
 * The time no timer signal measured this way is "[libgoprof] unsampled: SIGPROF blocked by the
 * program", so the profile's totals still match the CPU time.
 *
 * The timer is not paused while the program merely blocks SIGPROF: the mask is also restored
 * behind libc's interposable functions (siglongjmp, swapcontext, a handler's return, Go's raw
 * system calls), and a timer paused then would stay silent for good. A blocked signal that is
 * never taken does no harm: it waits, and the handler takes it once the mask allows.
 */
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/ring/ring.h"
#include "program/sample/sample_internal.h"

/* Counts a signal of ours the program took instead of the handler: the periods it stands for
 * are unsampled CPU time of this thread (its timer is thread-directed, so the thread that took
 * it is the thread it measured). */
static void count_taken(const siginfo_t *si)
{
    uint32_t weight = sample_signal_weight(si);
    /* One instruction: the handler may run on this thread between two program statements. */
    __atomic_fetch_add(&gp_thread.taken, weight, __ATOMIC_RELAXED);
    struct ring *r = __atomic_load_n(&gp_sample.ring, __ATOMIC_ACQUIRE);
    if (r && sample_enabled())
        ring_drop(r, GP_DROP_SIGPROF_BLOCKED, weight);
}

int sample_signal_taken(const siginfo_t *si)
{
    if (!sample_signal_is_ours(si))
        return 0;
    count_taken(si);
    return 1;
}

/* Takes a SIGPROF waiting on this thread off, if there is one: ours is counted, someone else's
 * goes back for the program to read. At most one waits (a standard signal does not queue). The
 * system call, not libc's sigtimedwait, which is our own wrapper. */
static void take_pending_sigprof(void)
{
    sigset_t prof, pending;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    if (sigpending(&pending) != 0 || !sigismember(&pending, SIGPROF))
        return;
    siginfo_t si;
    struct timespec zero = { 0, 0 };
    memset(&si, 0, sizeof si);
    if (syscall(SYS_rt_sigtimedwait, &prof, &si, &zero, (size_t)_NSIG / 8) != SIGPROF)
        return;
    if (sample_signal_is_ours(&si))
        count_taken(&si);
    else
        syscall(SYS_rt_tgsigqueueinfo, getpid(), (pid_t)syscall(SYS_gettid), SIGPROF, &si);
}

void sample_thread_quiet(void)
{
    /* Before the timer is disarmed: on newer kernels (6.18 here) a timer's signal still
     * pending when the timer is set again is dropped unseen, with the periods it stood for
     * (measured: c_sigwait's signalfd run counted nothing when the timer was disarmed first).
     * After: one that came in between, on kernels that still deliver it. */
    take_pending_sigprof();
    sample_thread_disarm();
    take_pending_sigprof();
}
