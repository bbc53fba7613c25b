/* interpose_malloc.h -- set-up of the allocation interposers (interpose_malloc.c).
 * Context: program (the constructor and the fork handlers)
 */
#ifndef GP_INTERPOSE_MALLOC_H
#define GP_INTERPOSE_MALLOC_H

#include <stdint.h>

/* Starts C memory profiling at one sample per `rate` bytes (0: nothing to do), leaving frames
 * in [skip_lo, skip_hi) (libgoprof's text) out at the leaf of its stacks. 0, or -1 with one
 * line said (malloc is not ours, the table cannot be mapped): allocation goes on unprofiled. */
int heap_start(uint64_t rate, uint64_t skip_lo, uint64_t skip_hi);
/* In a fork child: forget the parent's sampled blocks and stop recording. */
void heap_forked_child(void);
/* Record again (a fork child that joined the session with a ring of its own). */
void heap_resume(void);
/* GOPROF_DEBUG: one line with this process's counts. */
void heap_report(void);

#endif
