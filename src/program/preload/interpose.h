/* interpose.h -- the libc functions libgoprof replaces, and the real ones behind them.
 * Context: program (resolution in the constructor; the wrappers on any thread)
 */
#ifndef GP_INTERPOSE_H
#define GP_INTERPOSE_H

#include <pthread.h>
#include <signal.h>
#include <time.h>

struct real_functions {
    int (*sigaction)(int, const struct sigaction *, struct sigaction *);
    __sighandler_t (*signal)(int, __sighandler_t);
    __sighandler_t (*sysv_signal)(int, __sighandler_t);
    int (*pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    int (*sigtimedwait)(const sigset_t *, siginfo_t *, const struct timespec *);
    int (*sigwaitinfo)(const sigset_t *, siginfo_t *);
    int (*sigwait)(const sigset_t *, int *);
    int (*signalfd)(int, const sigset_t *, int);
    int (*clone)(int (*)(void *), void *, int, void *, ...);
    long (*syscall)(long, ...);
};

extern struct real_functions gp_real;
/* Set once profiling is fully set up; the wrappers only intervene while it is set. */
extern int gp_owns_sigprof;

/* Resolves the real functions with dlsym(RTLD_NEXT). Returns 0 or -ENOSYS. */
int interpose_resolve(void);

#endif
