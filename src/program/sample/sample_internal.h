/* sample_internal.h -- state shared by the handler and the timer code.
 * Context: signal (state shared by the handler and the timers)
 */
#ifndef GP_SAMPLE_INTERNAL_H
#define GP_SAMPLE_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "lib/base/sigsafe.h"
#include "lib/ring/ring.h"
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
    /* Set when the timer was disarmed because the program takes SIGPROF through a signalfd
     * (blocked.c), with the thread's CPU time then: what it uses after is counted apart. */
    int disarmed;
    uint64_t disarmed_cpu_ns;
    /* The initial thread only: how far down its stack may have grown (handler.c extends
     * unw.stack_lo to the interrupted SP after checking the pages), else 0. */
    uint64_t main_stack_floor;
};

struct sample_state {
    struct ring *ring;
    uint64_t period_ns;
    _Atomic int enabled;
    /* Counts the rings ring has been set to; raised before each (release): one who finds a
     * ring (acquire) and then this count has the count of that ring or a later one. What was
     * found in an earlier ring (a bucket's number) is known stale by it, even where a new ring
     * is mapped at an old one's address. */
    _Atomic uint64_t ring_gen;
};

extern __thread struct sample_thread gp_thread __attribute__((tls_model("initial-exec")));
extern struct sample_state gp_sample;

/* Stops sampling and C memory sampling for good (owner.c). */
GP_SIGSAFE void sample_make_inert(void);

/* Disarms the calling thread's timer, keeping it to be deleted and accounted at the thread's
 * end; its CPU time from now on counts as unsampled (timer.c). */
void sample_thread_disarm(void);

/* A weight above this means a corrupt overrun count, not a real backlog. */
#define SAMPLE_MAX_WEIGHT (1u << 20)

/* The cookie our timers carry in sigev_value ("goprof"; Go's leave it zero). A constant, not
 * an address of ours: a signal of ours still pending when its thread calls exec (with SIGPROF
 * blocked) reaches the new image's handler, which must know it rather than forward it to a
 * SIG_DFL that would end the program. */
#define SAMPLE_TIMER_COOKIE ((void *)(uintptr_t)0x676f70726f66ull)

/* Whether si is one of our timers' signals: they alone carry our cookie. */
GP_SIGSAFE static inline int sample_signal_is_ours(const siginfo_t *si)
{
    return si && si->si_code == SI_TIMER && si->si_value.sival_ptr == SAMPLE_TIMER_COOKIE;
}

/* The periods one of our timer's signals stands for: 1 plus the expiries merged into it. */
GP_SIGSAFE static inline uint32_t sample_signal_weight(const siginfo_t *si)
{
    uint32_t overrun = si->si_overrun > 0 ? (uint32_t)si->si_overrun : 0;
    return overrun < SAMPLE_MAX_WEIGHT ? 1 + overrun : SAMPLE_MAX_WEIGHT;
}

/* Makes the stack from sp up readable with plain loads for the unwinder: on the initial
 * thread, extends unw.stack_lo down to sp once the pages are checked (handler.c). Every path
 * that unwinds from its own registers (the handler, the heap sampling path) calls it first:
 * below the known bottom, each read would be a system call. */
GP_SIGSAFE void sample_stack_reach(struct sample_thread *t, uint64_t sp);

/* Where a walk writes a ring record's frames: its slot's, then its spill's (lib/ring/ring.h),
 * from frame `from` of the record on (its earlier frames are the caller's). */
GP_SIGSAFE static inline struct unwind_out sample_out_to(struct ring_slot *s,
                                                         struct ring_spill *sp, int from)
{
    return (struct unwind_out){ .pc = s->pc + from, .more = sp->pc,
                                .split = GP_RING_SLOT_FRAMES - from,
                                .max = GP_RING_MAX_FRAMES - from,
                                .leaf = GP_RING_LEAF_FRAMES };
}

#endif
