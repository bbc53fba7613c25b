/* interpose_sandbox.c -- prctl, syscall and clone wrappers: the calls by which a process leaves
 * libgoprof's reach (a seccomp filter, a child made without fork) make it inert first.
 * Context: program (the program's own calls, on any of its threads; clone_child in the child).
 * libgoprof's own syscall() and prctl() calls come here too, the SIGPROF handler's and the C
 * memory sampling path's among them (gettid, tgkill, PR_GET_NAME): for those the wrappers only
 * compare numbers and make the call, async-signal-safe; only a seccomp or clone call does more.
 *
 * A seccomp filter may kill the process, or trap into a handler that crashes it, at any
 * system call it does not expect: OpenSSH's privilege-separated child allows a short list and
 * kills on the rest, Chromium's renderers crash on one of our timer_create calls. Once one is
 * installed, a thread start (timer_create), a sampled allocation (process_vm_readv), the end
 * of the process (send to the session, the exit hook's getpid) could each be that call. So
 * before the filter goes in, the process stops being profiled for good
 * (sample_go_inert): the calling thread's timer is deleted, C memory sampling stops,
 * the exit hook is disowned, and nothing of ours makes a system call there again. What it did
 * until then stays in the profile. Caught: prctl(PR_SET_SECCOMP, ...), as OpenSSH installs
 * its filter, and syscall(SYS_seccomp, SECCOMP_SET_MODE_*, ...), as libseccomp does.
 *
 * A child made by clone() or by syscall(SYS_clone / SYS_clone3 / SYS_fork) runs no fork
 * handler: it has our state, its parent's ring and connection, and another pid. Chromium's
 * zygote makes its renderers with clone() and sandboxes them. Such a child goes inert as it
 * starts, without a system call (sample_go_inert). Children sharing the parent's memory
 * (CLONE_VM: threads, posix_spawn's) are left alone. A child made by an inline system call, or
 * one that resumes on a stack of its own (CHILD_OWN_STACK), is caught later, by its pid, at
 * its first thread start or end (owner.c).
 *
 * prctl and syscall make the call themselves, as glibc's do: no lookup of the next
 * definition, so they work from the first call of the process on. The exception is a clone
 * whose child resumes on a stack of its own: only glibc's syscall returns there as the program
 * expects.
 */
#include <errno.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/base/log.h"
#include "lib/base/raw_syscall.h"
#include "lib/base/sigsafe.h"
#include "program/preload/exit_hook.h"
#include "program/preload/interpose.h"
#include "program/sample/sample.h"

static long set_errno(long r)
{
    if ((unsigned long)r > -4096ul) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

static void before_filter(const char *how)
{
    if (sample_inert())
        return;
    gp_debug("preload", "pid %d installs a seccomp filter (%s): it is not profiled from here on",
             (int)getpid(), how);
    sample_go_inert(1);
    exit_hook_disown();
}

/* In a child made without our fork handlers, as it starts: no system call. */
static void child_without_fork(void)
{
    sample_go_inert(0);
    exit_hook_disown();
}

GP_EXPORT int prctl(int option, ...)
{
    va_list ap;
    va_start(ap, option);
    unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long),
                  a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
    va_end(ap);
    if (option == PR_SET_SECCOMP)
        before_filter("prctl");
    return (int)set_errno(raw_syscall6(SYS_prctl, option, (long)a2, (long)a3, (long)a4,
                                       (long)a5, 0));
}

/* What a system call makes, as far as this file cares. */
enum child_kind {
    NO_CHILD,         /* no new process, or one sharing our memory after it resumes here */
    CHILD_COPY,       /* a new process with a copy of our memory, resuming here (fork-like) */
    CHILD_OWN_STACK,  /* a child resuming on a stack of its own (a new stack, or the parent's
                       * while the parent waits: vfork): it returns as from glibc's syscall, a
                       * leaf function, with a `ret` from that stack, not into a frame of ours */
};

static enum child_kind child_of(long number, long a1, long a2)
{
    unsigned long long flags;
    if (number == SYS_fork)
        return CHILD_COPY;
    if (number == SYS_vfork)
        return CHILD_OWN_STACK;
    if (number == SYS_clone) {
        if (a2 != 0 || (a1 & CLONE_VFORK))
            return CHILD_OWN_STACK;
        flags = (unsigned long)a1;
    } else if (number == SYS_clone3) {
        const struct clone_args *ca = (const struct clone_args *)a1;
        if (!ca || ca->stack || (ca->flags & CLONE_VFORK))
            return CHILD_OWN_STACK;
        flags = ca->flags;
    } else {
        return NO_CHILD;
    }
    return flags & CLONE_VM ? NO_CHILD : CHILD_COPY;
}

/* (The sixth argument is read from the caller's stack even when fewer were passed, as glibc's
 * syscall does: a word of the caller's frame, always mapped; ASan would call it an underflow.) */
GP_EXPORT __attribute__((no_sanitize_address)) long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long),
         a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
    va_end(ap);
    enum child_kind child = child_of(number, a1, a2);
    if (child == CHILD_OWN_STACK) {
        if (!gp_real.syscall)
            (void)interpose_resolve();
        if (gp_real.syscall)   /* (its child is caught by its pid later: owner.c) */
            return gp_real.syscall(number, a1, a2, a3, a4, a5, a6);
    }
    if (number == SYS_seccomp && (a1 == SECCOMP_SET_MODE_STRICT || a1 == SECCOMP_SET_MODE_FILTER))
        before_filter("seccomp");
    long r = raw_syscall6(number, a1, a2, a3, a4, a5, a6);
    if (child == CHILD_COPY && r == 0)
        child_without_fork();
    return set_errno(r);
}

struct clone_start {
    int (*fn)(void *);
    void *arg;
};

static int clone_child(void *p)
{
    struct clone_start s = *(struct clone_start *)p;   /* our copy of the parent's frame */
    child_without_fork();
    return s.fn(s.arg);
}

/* (ctid is read from the caller's stack even when not passed, as glibc's clone does.) */
GP_EXPORT __attribute__((no_sanitize_address)) int clone(int (*fn)(void *), void *stack, int flags,
                                                         void *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    pid_t *ptid = va_arg(ap, pid_t *);
    void *tls = va_arg(ap, void *);
    pid_t *ctid = va_arg(ap, pid_t *);
    va_end(ap);
    if (!gp_real.clone)
        (void)interpose_resolve();
    if (!gp_real.clone) {
        errno = ENOSYS;
        return -1;
    }
    if (flags & CLONE_VM)   /* the parent's memory: what the child does is the parent's */
        return gp_real.clone(fn, stack, flags, arg, ptid, tls, ctid);
    struct clone_start s = { fn, arg };   /* copied into the child with the stack */
    return gp_real.clone(clone_child, stack, flags, &s, ptid, tls, ctid);
}
