/* sample_internal.h -- state shared by the handler and the timer code.
 * Context: signal (state shared by the handler and the timers)
 */
#ifndef GP_SAMPLE_INTERNAL_H
#define GP_SAMPLE_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "lib/base/sigsafe.h"
#include "program/sample/sample.h"
#include "program/unwind/unwind.h"

struct sample_thread {
    struct unwind_thread unw;
    uint32_t tid;
    uint32_t name_age;
    char name[16];
    timer_t timer;
    int has_timer;
    /* Our timer's first expiry on the thread's CPU clock, and the summed weights of the
     * samples the handler took on this thread (timer.c: sample_thread_stop). */
    uint64_t first_expiry_ns;
    uint64_t taken;
    /* The initial thread only: how far down its stack may have grown (handler.c extends
     * unw.stack_lo to the interrupted SP after checking the pages), else 0. */
    uint64_t main_stack_floor;
};

/* Its address is the cookie in sigev_value: unique in this process, and never zero. */
struct sample_state {
    struct ring *ring;
    uint64_t period_ns;
    _Atomic int enabled;
};

extern __thread struct sample_thread gp_thread __attribute__((tls_model("initial-exec")));
extern struct sample_state gp_sample;

/* Makes the stack from sp up readable with plain loads for the unwinder: on the initial
 * thread, extends unw.stack_lo down to sp once the pages are checked (handler.c). Every path
 * that unwinds from its own registers (the handler, the heap sampling path) calls it first:
 * below the known bottom, each read would be a system call. */
GP_SIGSAFE void sample_stack_reach(struct sample_thread *t, uint64_t sp);

#endif
