/* owner.c -- the process libgoprof set up, and when it must go inert.
 * Context: signal (sample_process_is_ours runs at a process's end, in the exit hook; also in
 * pthread_create and at a thread's end)
 * Must not: allocate, lock, call anything but getpid.
 *
 * libgoprof's state is copied into every child, but only a child made by fork() runs our fork
 * handlers and becomes a process of its own (or an unprofiled one). A child made by a raw
 * clone (Chromium's zygote makes its renderers so) has our state and its parent's ring and
 * connection, but another pid, and is often sandboxed soon after: a seccomp filter that kills
 * or traps whatever it does not expect. Chromium's renderers died at their next thread's
 * timer_create. So such a process goes inert: no timer, no C memory sampling, nothing written
 * to its parent's ring or session, no system call of ours from then on. The clone() and
 * syscall() wrappers make such a child inert as it starts, and a process that installs a
 * seccomp filter through libc goes inert first (program/preload/interpose_sandbox.c). A child
 * made by an inline system call is caught here, by its pid, where it would first do something
 * of ours that costs a system call anyway: a thread's start or end, a fork, its own end. Not in
 * the C memory sampling path: a getpid there took ~1 us on this VM, as much again as the
 * sampled path; an inert process has C memory sampling off (gp_heap_on).
 */
#include <stdatomic.h>
#include <unistd.h>

#include "program/sample/heap.h"
#include "program/sample/sample.h"
#include "program/sample/sample_internal.h"
#include "program/unwind/unwind.h"

static _Atomic int inert;   /* never cleared: copied into every child of an inert process */

GP_SIGSAFE void sample_make_inert(void)
{
    atomic_store_explicit(&inert, 1, memory_order_relaxed);
    atomic_store_explicit(&gp_sample.enabled, 0, memory_order_relaxed);
    __atomic_store_n(&gp_heap_on, 0, __ATOMIC_RELAXED);
}

GP_SIGSAFE int sample_inert(void)
{
    return atomic_load_explicit(&inert, memory_order_relaxed);
}

GP_SIGSAFE int sample_process_is_ours(void)
{
    if (sample_inert())
        return 0;
    /* the process's own pid: set at init and in fork children, for the fault-safe reads */
    pid_t own = gp_unwind_go.pid;
    if (!own || getpid() == own)
        return 1;
    sample_make_inert();
    return 0;
}
