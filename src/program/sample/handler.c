/* handler.c -- the SIGPROF handler: take our timer's samples, forward everything else.
 * Context: signal
 * Must not: allocate, lock, use stdio, touch dynamic TLS (only initial-exec), change errno, use
 * more than GP_SIGNAL_STACK_BUDGET bytes of stack (the record is written in place in the ring).
 */
#include <errno.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/clock.h"
#include "lib/base/safe_read.h"
#include "lib/ring/ring.h"
#include "program/sample/chain.h"
#include "program/sample/heap.h"
#include "program/sample/labels.h"
#include "program/sample/sample_internal.h"
#include "program/unwind/unwind.h"

/* The thread name is re-read every THREAD_NAME_REFRESH samples: names are set once, early, and
 * prctl costs a syscall. */
#define THREAD_NAME_REFRESH 64

/* clock_gettime is async-signal-safe and, for CLOCK_MONOTONIC, a vDSO call (~20 ns): cheap
 * enough to time every sample, so the profile can say what sampling cost. */
GP_SIGSAFE static uint64_t monotonic_ns(void)
{
    return (uint64_t)gp_clock_ns(CLOCK_MONOTONIC);
}

/* Pages of the initial thread's stack checked per process_vm_readv (one byte of each). */
#define STACK_PROBE_PAGES 64

/* The initial thread's stack below what was known at start (deep recursion, or just a call
 * chain deeper than the constructor's): plain loads there are safe once every page from the
 * known bottom down to the interrupted SP is shown mapped, which is checked once, with one
 * process_vm_readv per 64 pages; the stack's mapping never shrinks, so what was checked stays
 * good. Stops at the first unreadable page. */
GP_SIGSAFE static void grow_main_stack(struct sample_thread *t, uint64_t sp)
{
    struct iovec remote[STACK_PROBE_PAGES];
    char scratch[STACK_PROBE_PAGES];
    struct iovec local = { scratch, sizeof scratch };
    uint64_t want = sp & ~(uint64_t)4095;
    while (t->unw.stack_lo > want) {
        int n = 0;
        for (uint64_t page = t->unw.stack_lo - 4096; n < STACK_PROBE_PAGES && page >= want;
             page -= 4096)
            remote[n++] = (struct iovec){ (void *)(uintptr_t)page, 1 };
        local.iov_len = (size_t)n;
        long got = safe_read_pieces(gp_unwind_go.pid, &local, remote, n);
        if (got <= 0)
            return;
        t->unw.stack_lo -= (uint64_t)got * 4096;
        if (got < n)
            return;
    }
}

GP_SIGSAFE void sample_stack_reach(struct sample_thread *t, uint64_t sp)
{
    if (sp < t->unw.stack_lo && sp >= t->main_stack_floor && t->main_stack_floor)
        grow_main_stack(t, sp);
}

__thread struct sample_thread gp_thread __attribute__((tls_model("initial-exec")));
struct sample_state gp_sample;

GP_SIGSAFE static void take_sample(void *ucv, uint32_t weight)
{
    struct sample_thread *t = &gp_thread;
    uint64_t pos;
    t->taken += weight;
    struct ring_slot *rec = ring_reserve(gp_sample.ring, &pos);
    if (!rec) {
        ring_drop(gp_sample.ring, GP_DROP_RING_FULL, weight);
        return;
    }
    if (t->tid == 0)
        t->tid = (uint32_t)syscall(SYS_gettid);
    if (t->name_age++ % THREAD_NAME_REFRESH == 0)
        prctl(PR_GET_NAME, t->name, 0, 0, 0);
    rec->h.tid = t->tid;
    rec->h.weight = weight;
    gp_copy_bytes(rec->h.thread_name, t->name, sizeof rec->h.thread_name);
    uint64_t sp = (uint64_t)((const ucontext_t *)ucv)->uc_mcontext.gregs[REG_RSP];
    sample_stack_reach(t, sp);
    struct ring_spill *spill = ring_spill_of(gp_sample.ring, pos);
    struct unwind_out out = sample_out_to(rec, spill, 0);
    unwind_capture((const ucontext_t *)ucv, &t->unw, &out);
    rec->h.nframes = (uint16_t)out.n;
    rec->h.flags = out.flags;
    rec->h.goid = out.goid;
    labels_copy(&rec->h, spill->labels, gp_unwind_go.pid, gp_unwind_go.layout.labels_form,
                out.labels);
    ring_commit(gp_sample.ring, pos);
}

/* Entry assumptions: installed with SA_SIGINFO|SA_ONSTACK|SA_RESTART and all signals blocked, so
 * it never nests on one thread; runs on Go's gsignal stack on Go threads.
 * On return: errno as it was; our samples recorded or counted as lost; other SIGPROFs delivered
 * to the recorded action. */
GP_SIGSAFE void sample_sigprof_handler(int sig, siginfo_t *si, void *uc)
{
    int saved_errno = errno;
    uint64_t t0 = monotonic_ns();
    if (sample_signal_is_ours(si)) {
        if (atomic_load_explicit(&gp_sample.enabled, memory_order_relaxed)) {
            uint32_t weight = sample_signal_weight(si);
            /* Inside C memory profiling's sampled path (heap.h): the unwinder and a ring slot
             * are in use on this thread; the path records this weight when it is done. */
            if (heap_defer_cpu_sample(weight))
                gp_thread.taken += weight;
            else
                take_sample(uc, weight);
            cost_hist_add(&gp_sample.ring->hdr->handler_cost, monotonic_ns() - t0);
        }
    } else {
        chain_forward(sig, si, uc);
        /* The ring outlives every handler (it is never unmapped in the application). */
        if (gp_sample.ring && gp_sample.ring->hdr)
            cost_hist_add(si && si->si_code == SI_TIMER ? &gp_sample.ring->hdr->forward_cost
                                                        : &gp_sample.ring->hdr->forward_other_cost,
                          monotonic_ns() - t0);
    }
    errno = saved_errno;
}
