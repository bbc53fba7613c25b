/* interpose_thread.c -- pthread_create wrapper: every new thread arms its own CPU timer.
 * Context: program (the program's threads; never the handler)
 *
 * Go creates every M with pthread_create in cgo programs (docs/go-runtime.md §7), with all
 * signals blocked: a timer armed here stays pending until Go's minit has installed the signal
 * stack and unblocked signals. The trampoline's frame is left out of profiles (collector).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/base/sigsafe.h"
#include "program/preload/go_module.h"
#include "program/preload/interpose.h"
#include "program/sample/sample.h"

struct start {
    void *(*fn)(void *);
    void *arg;
};

static void thread_exit(void *start)
{
    sample_thread_stop((uint64_t)(uintptr_t)((struct start *)start)->fn);
}

static void *thread_trampoline(void *p)
{
    struct start s = *(struct start *)p;
    free(p);
    sample_thread_start();
    void *ret;
    /* Runs on return and on pthread_exit/cancellation alike. */
    pthread_cleanup_push(thread_exit, &s);
    ret = s.fn(s.arg);
    pthread_cleanup_pop(1);
    return ret;
}

GP_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                             void *(*fn)(void *), void *arg)
{
    if (!gp_real.pthread_create && interpose_resolve() != 0)
        return EAGAIN;
    /* (a process made by an unseen clone has our state, not our pid: owner.c) */
    if (!sample_enabled() || !sample_process_is_ours())
        return gp_real.pthread_create(thread, attr, fn, arg);
    go_module_look_again();   /* a Go library dlopen'd since: its runtime's first thread */
    struct start *s = malloc(sizeof *s);
    if (!s)
        return gp_real.pthread_create(thread, attr, fn, arg);
    s->fn = fn;
    s->arg = arg;
    int r = gp_real.pthread_create(thread, attr, thread_trampoline, s);
    if (r != 0)
        free(s);
    return r;
}
