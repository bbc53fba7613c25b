/* clock.h -- time as int64 nanoseconds: the one conversion from the kernel's structs.
 * Context: library, signal-safe (clock_gettime is async-signal-safe)
 *
 * Every time in libgoprof is nanoseconds in an int64_t (±292 years), wall clock
 * (CLOCK_REALTIME: pprof's time_nanos, %t) or monotonic (deadlines), or a thread's CPU clock.
 */
#ifndef GP_CLOCK_H
#define GP_CLOCK_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#define GP_NS_PER_SEC 1000000000ll
#define GP_NS_PER_MS 1000000ll

static inline int64_t gp_timespec_ns(struct timespec ts)
{
    return (int64_t)ts.tv_sec * GP_NS_PER_SEC + ts.tv_nsec;
}

static inline int64_t gp_timeval_ns(struct timeval tv)
{
    return (int64_t)tv.tv_sec * GP_NS_PER_SEC + (int64_t)tv.tv_usec * 1000;
}

static inline struct timespec gp_ns_timespec(int64_t ns)
{
    struct timespec ts = { (time_t)(ns / GP_NS_PER_SEC), (long)(ns % GP_NS_PER_SEC) };
    return ts;
}

/* The clock's time now; 0 if it cannot be read (an invalid clock id). */
static inline int64_t gp_clock_ns(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0)
        return 0;
    return gp_timespec_ns(ts);
}

static inline int64_t gp_clock_ms(clockid_t clock)
{
    return gp_clock_ns(clock) / GP_NS_PER_MS;
}

#endif
