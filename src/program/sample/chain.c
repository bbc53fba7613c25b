/* chain.c -- forwarding of SIGPROFs that are not ours to the application's or Go's handler.
 * Context: signal (also called from the sigaction interposer)
 * Must not (chain_forward): allocate, lock, use stdio.
 *
 * The recorded action is read from signal context while the application may be changing it, so
 * handler and flags live in separate atomics; a torn pair is harmless on x86-64 (a one-argument
 * handler called with three arguments ignores the rest).
 */
#include "program/sample/chain.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static _Atomic uintptr_t app_handler;   /* SIG_DFL (0) until someone installs one */
static _Atomic int app_flags;
static sigset_t app_mask;               /* reported back only; we run chained handlers with all
                                           signals blocked, as Go requires */
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

void chain_init(int (*install)(int, const struct sigaction *, struct sigaction *))
{
    real_sigaction = install;
}

void chain_get(struct sigaction *old)
{
    memset(old, 0, sizeof *old);
    old->sa_sigaction = (void (*)(int, siginfo_t *, void *))atomic_load(&app_handler);
    old->sa_flags = atomic_load(&app_flags);
    old->sa_mask = app_mask;
}

void chain_set(const struct sigaction *act, struct sigaction *old)
{
    if (old)
        chain_get(old);
    if (!act)
        return;
    app_mask = act->sa_mask;
    atomic_store(&app_flags, act->sa_flags);
    atomic_store(&app_handler, (uintptr_t)act->sa_sigaction);
}

GP_SIGSAFE void chain_forward(int sig, siginfo_t *si, void *uc)
{
    uintptr_t h = atomic_load(&app_handler);
    int flags = atomic_load(&app_flags);
    if (h == (uintptr_t)SIG_IGN)
        return;
    if (h == (uintptr_t)SIG_DFL) {
        /* SIGPROF's default action ends the process; do exactly that. The signal stays pending
         * (blocked in this handler) and is delivered as soon as we return. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        if (real_sigaction)
            real_sigaction(sig, &dfl, NULL);
        syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
        return;
    }
    if (flags & SA_RESETHAND)
        atomic_store(&app_handler, (uintptr_t)SIG_DFL);
    if (flags & SA_SIGINFO)
        ((void (*)(int, siginfo_t *, void *))h)(sig, si, uc);
    else
        ((void (*)(int))h)(sig);
}
