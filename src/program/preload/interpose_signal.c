/* interpose_signal.c -- sigaction/signal wrappers that keep our SIGPROF handler installed.
 * Context: program (any thread; sigaction is async-signal-safe and so is this wrapper)
 *
 * Go (through cgo's x_cgo_sigaction) and applications install SIGPROF handlers through libc.
 * While libgoprof owns SIGPROF, such an install is recorded (chain.h) instead of performed, and a
 * query returns what the application installed, so it sees exactly its own handler. An install
 * of our own handler (Go restoring what it found, in c-archive mode) is ignored, otherwise we
 * would forward to ourselves.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "lib/base/sigsafe.h"
#include "program/preload/interpose.h"
#include "program/sample/chain.h"
#include "program/sample/sample.h"

GP_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (!gp_real.sigaction && interpose_resolve() != 0) {
        errno = ENOSYS;
        return -1;
    }
    if (sig != SIGPROF || !__atomic_load_n(&gp_owns_sigprof, __ATOMIC_ACQUIRE))
        return gp_real.sigaction(sig, act, old);
    if (act && act->sa_sigaction == sample_sigprof_handler)
        act = NULL;
    chain_set(act, old);
    return 0;
}

static __sighandler_t install_simple(int sig, __sighandler_t handler, int flags)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}

/* signal() and sysv_signal() for SIGPROF go through our sigaction with their own semantics;
 * any other signal goes to libc's function untouched. */
static __sighandler_t simple_signal(__sighandler_t (*real)(int, __sighandler_t), int sig,
                                    __sighandler_t handler, int flags)
{
    if (!real) {
        errno = ENOSYS;
        return SIG_ERR;
    }
    if (sig != SIGPROF || !__atomic_load_n(&gp_owns_sigprof, __ATOMIC_ACQUIRE))
        return real(sig, handler);
    return install_simple(sig, handler, flags);
}

/* glibc's signal() has BSD semantics: the handler stays, interrupted calls restart. */
GP_EXPORT __sighandler_t signal(int sig, __sighandler_t handler)
{
    if (!gp_real.signal)
        interpose_resolve();
    return simple_signal(gp_real.signal, sig, handler, SA_RESTART);
}

__sighandler_t bsd_signal(int sig, __sighandler_t handler);   /* glibc declares it only for
                                                               older standards */
GP_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t handler)
{
    return signal(sig, handler);
}

/* System V semantics: one-shot, not blocked while running. */
GP_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t handler)
{
    if (!gp_real.sysv_signal)
        interpose_resolve();
    return simple_signal(gp_real.sysv_signal, sig, handler, (int)(SA_RESETHAND | SA_NODEFER));
}
