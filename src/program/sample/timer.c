/* timer.c -- per-thread CPU-time timers and the thread bookkeeping around them.
 * Context: program (constructor, thread start and exit; never the handler)
 *
 * Every timer created is deleted. A thread started through our pthread_create trampoline keeps
 * its timer in its gp_thread and deletes it at its exit (sample_thread_stop). A thread that was
 * already running when the constructor armed it (sample_arm_thread) runs none of our code when
 * it ends, so its timer is kept in a fixed table (EARLY_MAX entries; the threads beyond are
 * not armed) and deleted once tgkill(pid, tid, 0) says ESRCH. That is looked at where timer.c
 * already runs: at every thread start and exit through the trampoline, and at every arm. A
 * timer may thus outlive its thread until the next such event, and longer if the kernel
 * reuses the tid for a new thread first (it stays silent meanwhile: its thread is gone). A
 * fork child inherits no timers: sample_forked_child forgets them all.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "lib/base/clock.h"
#include "lib/base/log.h"
#include "lib/base/record_flags.h"
#include "lib/ring/ring.h"
#include "program/sample/chain.h"
#include "program/sample/sample_internal.h"
#include "program/unwind/unwind.h"

/* MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED): the clock of another thread (what
 * pthread_getcpuclockid returns); CLOCK_THREAD_CPUTIME_ID always means the caller. */
#define THREAD_CPUCLOCK(tid) ((clockid_t)((~(unsigned)(tid) << 3) | 6))

static uint64_t rand_state;

/* Threads found running at start-up are few (a library constructor that started one). */
#define EARLY_MAX 64

/* tid: 0 free, -1 being filled or deleted, else the thread the timer belongs to. Entries are
 * claimed and released with compare-and-swap: threads start and exit concurrently, and a
 * fork may come at any moment (no lock to leave held in the child). */
static struct early_timer {
    _Atomic int tid;
    timer_t timer;
} early[EARLY_MAX];
static _Atomic int nearly;   /* entries in use: the common case (none) is one load */

static uint64_t thread_cpu_ns(void)
{
    return (uint64_t)gp_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* xorshift64*: the first expiry is random in [1, period] so that short-lived and rarely running
 * threads are not biased against (as Go does). */
static uint64_t next_random(uint32_t tid)
{
    uint64_t x = __atomic_add_fetch(&rand_state, 0x9e3779b97f4a7c15ull + tid, __ATOMIC_RELAXED);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    return x * 0x2545f4914f6cdd1dull;
}

/* A thread left without a timer is counted in the ring, so that the profile says why its CPU
 * time is all unsampled (RLIMIT_SIGPENDING reached, for one: every timer holds a signal). */
static void count_timer_failure(int err)
{
    struct ring *r = __atomic_load_n(&gp_sample.ring, __ATOMIC_ACQUIRE);
    if (!r)
        return;
    atomic_fetch_add_explicit(&r->hdr->timers_failed, 1, memory_order_relaxed);
    atomic_store_explicit(&r->hdr->timer_errno, (uint32_t)err, memory_order_relaxed);
}

/* Creates and starts a timer on clock for thread tid; *first_ns: its first expiry, relative. */
static int arm(clockid_t clock, pid_t tid, timer_t *out, uint64_t *first_ns)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev.sigev_value.sival_ptr = SAMPLE_TIMER_COOKIE;
    sev._sigev_un._tid = tid;
    if (timer_create(clock, &sev, out) != 0)
        return -errno;
    uint64_t period = gp_sample.period_ns;
    uint64_t first = 1 + next_random((uint32_t)tid) % period;
    *first_ns = first;
    struct itimerspec its = {
        .it_interval = gp_ns_timespec((int64_t)period),
        .it_value = gp_ns_timespec((int64_t)first),
    };
    if (timer_settime(*out, 0, &its, NULL) != 0) {
        int err = -errno;
        timer_delete(*out);
        return err;
    }
    return 0;
}

/* Deletes the timers of early threads that are gone. */
static void reap_early_timers(void)
{
    if (atomic_load_explicit(&nearly, memory_order_relaxed) == 0)
        return;
    int saved = errno;
    pid_t pid = getpid();
    for (int i = 0; i < EARLY_MAX; i++) {
        int tid = atomic_load_explicit(&early[i].tid, memory_order_acquire);
        if (tid <= 0 || syscall(SYS_tgkill, pid, tid, 0) == 0 || errno != ESRCH)
            continue;
        /* acquire: pairs with the release that published the entry in sample_arm_thread */
        if (!atomic_compare_exchange_strong_explicit(&early[i].tid, &tid, -1,
                                                     memory_order_acquire, memory_order_relaxed))
            continue;   /* another thread is deleting it */
        timer_delete(early[i].timer);
        atomic_store_explicit(&early[i].tid, 0, memory_order_release);
        atomic_fetch_sub_explicit(&nearly, 1, memory_order_relaxed);
    }
    errno = saved;
}

int sample_setup(const struct sample_config *cfg,
                 int (*install)(int, const struct sigaction *, struct sigaction *))
{
    atomic_fetch_add_explicit(&gp_sample.ring_gen, 1, memory_order_relaxed);
    __atomic_store_n(&gp_sample.ring, cfg->ring, __ATOMIC_RELEASE);
    gp_sample.period_ns = cfg->period_ns;
    rand_state = (uint64_t)getpid() * 0x100000001b3ull ^ (uint64_t)time(NULL);
    chain_init(install);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = sample_sigprof_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (install(SIGPROF, &sa, &old) != 0)
        return -errno;
    chain_set(&old, NULL);
    return 0;
}

void sample_enable(int on)
{
    atomic_store(&gp_sample.enabled, on);
}

int sample_enabled(void)
{
    return atomic_load(&gp_sample.enabled);
}

/* The initial thread's stack, without pthread_getattr_np (which reads /proc/self/maps: ~90 us
 * of every start): from the page of this frame, mapped now and for good (the main stack only
 * grows), up to the page holding __libc_stack_end (the arguments and environment above it are
 * in the same mapping). Deeper frames than this one are read through the fault-safe path. */
extern void *__libc_stack_end;
#define MAIN_STACK_REACH ((uint64_t)128 << 20)

static int main_stack_bounds(struct sample_thread *t)
{
    uintptr_t here = (uintptr_t)__builtin_frame_address(0), top = (uintptr_t)__libc_stack_end;
    /* Not on the initial stack (a fork child of another thread: its tid is the pid too) when
     * this frame is not just below the stack's top. */
    if (!top || top <= here || top - here > ((uintptr_t)1 << 20))
        return -1;
    t->unw.stack_lo = (uint64_t)(here & ~(uintptr_t)4095);
    t->unw.stack_hi = (uint64_t)((top | 4095) + 1);
    /* The kernel keeps at least 128 MiB below the initial stack's top free of other mappings
     * (mmap_base's gap), so an SP in there is on this stack, whose mapping only grows. */
    t->main_stack_floor = t->unw.stack_hi > MAIN_STACK_REACH ? t->unw.stack_hi - MAIN_STACK_REACH
                                                             : 0;
    return 0;
}

static void record_stack_bounds(struct sample_thread *t)
{
    if (t->tid == (uint32_t)getpid() && main_stack_bounds(t) == 0)
        return;
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
        t->unw.stack_lo = (uint64_t)(uintptr_t)addr;
        t->unw.stack_hi = (uint64_t)(uintptr_t)addr + size;
    }
    pthread_attr_destroy(&attr);
}

void sample_thread_start(void)
{
    struct sample_thread *t = &gp_thread;
    if (!sample_enabled() || t->has_timer)
        return;
    reap_early_timers();
    t->tid = (uint32_t)syscall(SYS_gettid);
    record_stack_bounds(t);
    uint64_t first;
    t->taken = 0;   /* before the timer exists: a fork child's thread starts counting anew */
    uint64_t cpu = thread_cpu_ns();
    int err = arm(CLOCK_THREAD_CPUTIME_ID, (pid_t)t->tid, &t->timer, &first);
    t->first_expiry_ns = cpu + first;
    if (err) {
        gp_debug("sample", "timer for thread %u: %s", t->tid, strerror(-err));
        count_timer_failure(-err);
        return;
    }
    t->has_timer = 1;
}

/* Records `weight` periods of unsampled CPU time on the stack the thread started from: start_pc
 * (its start function) over the frames below this call (the trampoline's, left out by the
 * collector like all of libgoprof's, then start_thread and clone). 0, or -ENOSPC when the ring
 * is full. SIGPROF is blocked meanwhile so that our handler does not walk into the half-written
 * record's thread. */
static int record_unsampled(struct sample_thread *t, uint64_t start_pc, uint64_t weight)
{
    sigset_t prof, old;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, &old);
    int err = -ENOSPC;
    ucontext_t uc;
    uint64_t pos;
    struct ring_slot *rec = NULL;
    if (getcontext(&uc) == 0 && (rec = ring_reserve(gp_sample.ring, &pos)) != NULL) {
        rec->h.tid = t->tid;
        rec->h.weight = weight < UINT32_MAX ? (uint32_t)weight : UINT32_MAX;
        prctl(PR_GET_NAME, t->name, 0, 0, 0);
        memcpy(rec->h.thread_name, t->name, sizeof rec->h.thread_name);
        rec->pc[0] = start_pc | GP_PC_EXACT;   /* its entry: inside it, and not a return */
        struct unwind_out out = sample_out_to(rec, ring_spill_of(gp_sample.ring, pos), 1);
        unwind_capture(&uc, &t->unw, &out);
        rec->h.nframes = (uint16_t)(1 + out.n);
        rec->h.flags = (uint16_t)(out.flags | GP_REC_UNSAMPLED);
        rec->h.goid = 0;
        rec->h.labels_len = 0;
        rec->h.labels_left = 0;
        ring_commit(gp_sample.ring, pos);
        err = 0;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}

void sample_thread_stop(uint64_t start_pc)
{
    struct sample_thread *t = &gp_thread;
    if (!t->has_timer)
        return;
    if (!sample_process_is_ours()) {   /* its timer is another process's (owner.c) */
        t->has_timer = 0;
        return;
    }
    reap_early_timers();
    t->has_timer = 0;
    timer_delete(t->timer);
    /* The kernel checks CPU timers at its tick (CONFIG_HZ, often 250 Hz) and delivers what
     * expired since, as one signal plus overruns; expiries after a thread's last tick are never
     * delivered. A thread that lives a few ticks loses a large part of its CPU time that way
     * (1.5 ms threads at 1000 Hz: ~80 %). What its timer should have delivered up to now, minus
     * what the handler took, is recorded as unsampled on the thread's start function, so that
     * totals still match the CPU time and the time has a place; counted without a stack when
     * the ring is full. (A signal already pending may still arrive after this: at most one
     * sample counted twice.) */
    uint64_t cpu = thread_cpu_ns(), due = 0;
    if (t->disarmed) {
        /* Its CPU time since the timer was disarmed had no timer to measure it. */
        uint64_t quiet = (cpu - t->disarmed_cpu_ns) / gp_sample.period_ns;
        if (quiet && sample_enabled() && gp_sample.ring)
            ring_drop(gp_sample.ring, GP_DROP_SIGPROF_BLOCKED, quiet);
        cpu = t->disarmed_cpu_ns;
        t->disarmed = 0;
    }
    if (cpu >= t->first_expiry_ns)
        due = 1 + (cpu - t->first_expiry_ns) / gp_sample.period_ns;
    if (due > t->taken && sample_enabled() && gp_sample.ring &&
        record_unsampled(t, start_pc, due - t->taken) != 0)
        ring_drop(gp_sample.ring, GP_DROP_THREAD_EXIT, due - t->taken);
}

void sample_thread_disarm(void)
{
    struct sample_thread *t = &gp_thread;
    timer_t *timer = t->has_timer ? &t->timer : NULL;
    if (!timer && atomic_load_explicit(&nearly, memory_order_relaxed) != 0) {
        /* A thread armed by sample_arm_thread: its entry stays while it lives. */
        int tid = (int)syscall(SYS_gettid);
        for (int i = 0; i < EARLY_MAX && !timer; i++)
            if (atomic_load_explicit(&early[i].tid, memory_order_acquire) == tid)
                timer = &early[i].timer;
    }
    if (!timer || t->disarmed)
        return;
    struct itimerspec off;
    memset(&off, 0, sizeof off);
    if (timer_settime(*timer, 0, &off, NULL) == 0) {
        t->disarmed_cpu_ns = thread_cpu_ns();
        t->disarmed = 1;
    }
}

int sample_arm_thread(pid_t tid)
{
    reap_early_timers();
    /* The entry first: a timer that could not be kept would never be deleted. */
    int i;
    for (i = 0; i < EARLY_MAX; i++) {
        int free_entry = 0;
        if (atomic_compare_exchange_strong_explicit(&early[i].tid, &free_entry, -1,
                                                    memory_order_acquire, memory_order_relaxed))
            break;
    }
    if (i == EARLY_MAX)
        return -ENOSPC;
    uint64_t first;
    int err = arm(THREAD_CPUCLOCK(tid), tid, &early[i].timer, &first);
    if (err) {
        atomic_store_explicit(&early[i].tid, 0, memory_order_release);
        count_timer_failure(-err);
        return err;
    }
    atomic_fetch_add_explicit(&nearly, 1, memory_order_relaxed);
    atomic_store_explicit(&early[i].tid, (int)tid, memory_order_release);
    return 0;
}

void sample_set_ring(struct ring *ring)
{
    /* The handler's forwarding path writes cost histograms into the ring even while sampling
     * is off: it sees the old ring or the new one, both mapped until the caller unmaps. */
    atomic_fetch_add_explicit(&gp_sample.ring_gen, 1, memory_order_relaxed);
    __atomic_store_n(&gp_sample.ring, ring, __ATOMIC_RELEASE);
}

void sample_go_inert(int delete_timer)
{
    struct sample_thread *t = &gp_thread;
    if (delete_timer && t->has_timer && sample_process_is_ours())
        timer_delete(t->timer);
    sample_make_inert();
    t->has_timer = 0;
    t->disarmed = 0;
}

void sample_forked_child(void)
{
    /* Single-threaded here; nothing in the child may delete a timer by an id of the parent's:
     * the child's own timer_create hands out the same ids. */
    sample_enable(0);
    gp_thread.has_timer = 0;
    gp_thread.disarmed = 0;
    for (int i = 0; i < EARLY_MAX; i++)
        atomic_store_explicit(&early[i].tid, 0, memory_order_relaxed);
    atomic_store_explicit(&nearly, 0, memory_order_relaxed);
}
