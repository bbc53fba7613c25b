/* interpose_malloc.h -- set-up of the allocation interposers (interpose_malloc.c).
 * Context: program (the constructor and the fork handlers)
 */
#ifndef GP_INTERPOSE_MALLOC_H
#define GP_INTERPOSE_MALLOC_H

#include <stddef.h>
#include <stdint.h>

/* C++'s operators, by their mangled names (std::align_val_t is a size_t, std::nothrow_t const&
 * a pointer), for interpose_malloc.c to define. */
void *_Znwm(size_t n);
void *_Znam(size_t n);
void *_ZnwmSt11align_val_t(size_t n, size_t al);
void *_ZnamSt11align_val_t(size_t n, size_t al);
void *_ZnwmRKSt9nothrow_t(size_t n, const void *nt);
void *_ZnamRKSt9nothrow_t(size_t n, const void *nt);
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt);
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt);
void _ZdlPv(void *p);
void _ZdaPv(void *p);
void _ZdlPvm(void *p, size_t n);
void _ZdaPvm(void *p, size_t n);
void _ZdlPvRKSt9nothrow_t(void *p, const void *nt);
void _ZdaPvRKSt9nothrow_t(void *p, const void *nt);
void _ZdlPvSt11align_val_t(void *p, size_t al);
void _ZdaPvSt11align_val_t(void *p, size_t al);
void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al);
void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al);
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt);
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt);

/* Starts C memory profiling at one sample per `rate` bytes (0: nothing to do), leaving frames
 * in [skip_lo, skip_hi) (libgoprof's text) out at the leaf of its stacks. 0, or -1 with one
 * line said (malloc is not ours, the table cannot be mapped): allocation goes on unprofiled. */
int heap_start(uint64_t rate, uint64_t skip_lo, uint64_t skip_hi);
/* C memory profiling is off in this process (heap_start was not called, or failed): the
 * objects loaded now call the allocator directly from here on (got_rebind.h). */
void heap_bind_direct(void);
/* In a fork child: forget the parent's sampled blocks and stop recording. */
void heap_forked_child(void);
/* Record again (a fork child that joined the session with a ring of its own). */
void heap_resume(void);
/* GOPROF_DEBUG: one line with this process's counts. */
void heap_report(void);

#endif
