/* sample.h -- CPU-time sampling: per-thread timers and the SIGPROF handler.
 * Context: program (setup, per-thread start and stop; the handler is signal context)
 *
 * Every thread gets a timer_create(CLOCK_THREAD_CPUTIME_ID) timer that delivers SIGPROF to that
 * thread (SIGEV_THREAD_ID) with our cookie in sigev_value. Go leaves sigev_value zero, kill and
 * setitimer carry no cookie, so the handler takes exactly the signals that carry the cookie and
 * forwards every other SIGPROF to the handler the application (or Go) installed (chain.h).
 */
#ifndef GP_SAMPLE_H
#define GP_SAMPLE_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/base/sigsafe.h"

struct ring;

struct sample_config {
    uint64_t period_ns;    /* 1e9 / GOPROF_HZ */
    struct ring *ring;
};

/* Sets the configuration and installs the handler with `install` (the real sigaction); the
 * action found in place becomes the one we forward to. Returns 0 or -errno. Context: init. */
int sample_setup(const struct sample_config *cfg,
                 int (*install)(int, const struct sigaction *, struct sigaction *));
/* Starts/stops sampling for the whole process (a forked child stops). */
void sample_enable(int on);
int sample_enabled(void);

/* Called on the thread itself: records its stack bounds and arms its timer. Context: thread
 * start (our pthread_create trampoline, which asked sample_process_is_ours first, or the
 * constructor for the main thread). */
void sample_thread_start(void);
/* Deletes the calling thread's timer, and records the CPU time its timer never reported (see
 * timer.c) on start_pc, the thread's start function. Context: thread exit. */
void sample_thread_stop(uint64_t start_pc);
/* Arms a timer on another, already running thread of this process (found in /proc/self/task).
 * Its stack bounds are unknown, so its unwinds use fault-safe reads. The timer is deleted once
 * the thread is seen gone (timer.c). Returns 0 or -errno (-ENOSPC: too many such threads). */
int sample_arm_thread(pid_t tid);
/* The ring samples go to from now on (a fork child's own, once it has joined the session). */
void sample_set_ring(struct ring *ring);
/* In a fork child (pthread_atfork): sampling stops, and the parent's timers, which the child
 * does not have, are forgotten. */
void sample_forked_child(void);

/* 1 in the process libgoprof set up (its pid is gp_unwind_go.pid, set at init and in a fork
 * child); 0 in an inert one, and in a process made from it without our fork handlers (a raw
 * clone), which goes inert here: sampling and C memory sampling stop, and the
 * caller must make no system call of ours, write nothing to the ring or the session. One
 * getpid. Context: any, async-signal-safe. */
GP_SIGSAFE int sample_process_is_ours(void);
/* This process goes inert for good: before a seccomp filter is installed, which may kill our
 * system calls (delete_timer: the calling thread's timer is deleted; other threads' stay armed,
 * and the handler ignores their signals, sampling being off); or in a child made by clone()
 * or a raw clone system call, which ran no fork handler (delete_timer 0: no system call; its
 * timers were its parent's). */
void sample_go_inert(int delete_timer);
/* Inert (no call of this returns 0 again). Async-signal-safe. */
GP_SIGSAFE int sample_inert(void);

/* The program took a SIGPROF itself (sigwait, sigwaitinfo, sigtimedwait): 1 when it was one of
 * our timer's, now counted as unsampled time, which the program must not see; else 0. Context:
 * the program's call, on the thread that took the signal (blocked.c). */
int sample_signal_taken(const siginfo_t *si);
/* The calling thread makes a signalfd that reads SIGPROF: its timer is disarmed for good, and a
 * signal of ours already pending is taken off (blocked.c). */
void sample_thread_quiet(void);

/* The handler itself, so the sigaction interposer can recognise (and ignore) installs of it. */
void sample_sigprof_handler(int sig, siginfo_t *si, void *uc);

#endif
