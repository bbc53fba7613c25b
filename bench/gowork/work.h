/* work.h -- C half of the Go workloads (bench/gowork): nested C frames and a busy leaf. */
#ifndef GOWORK_WORK_H
#define GOWORK_WORK_H

#include <stdint.h>

/* Descends depth C frames (c_rec), then spins n iterations in c_leaf. */
uint64_t c_rec(int depth, long n);
/* The 25 % half of the ratio workload: a flat C loop of n iterations. */
uint64_t c_work(long n);
/* c_work's twin, used only to calibrate, so that calibration samples never have c_work as leaf. */
uint64_t c_probe(long n);
/* CLOCK_THREAD_CPUTIME_ID of the calling thread, in ns. */
int64_t c_thread_cpu_ns(void);

#endif
