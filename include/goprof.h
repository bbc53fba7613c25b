/* goprof.h -- the public interface of libgoprof.so.
 *
 * libgoprof is normally used without any code change: LD_PRELOAD=libgoprof.so ./program, with
 * the GOPROF_* environment variables (see goprof(1) and README.md). A program that links it, or
 * that wants to know whether it is being profiled, can use the calls below.
 */
#ifndef GOPROF_H
#define GOPROF_H

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version, e.g. "0.1.0". Thread-safe and async-signal-safe. */
const char *goprof_version(void);

/* 1 while this process is being profiled, 0 otherwise (disabled, bad configuration, or a child
 * that was forked without exec). Thread-safe and async-signal-safe. */
int goprof_active(void);

#ifdef __cplusplus
}
#endif

#endif
