/* record_flags.h -- what a sample record says about its own stack; shared by unwind/ and ring/.
 * Context: library, signal-safe
 */
#ifndef GP_RECORD_FLAGS_H
#define GP_RECORD_FLAGS_H

#define GP_REC_TRUNCATED      0x0001u /* the walk gave up before the root (UNWIND_MAX_WALK) */
#define GP_REC_UNWIND_BROKEN  0x0004u /* the walk stopped before a known stack root */
#define GP_REC_GO_UNKNOWN     0x0008u /* Go runtime layout not recognised: no g/m state used */
/* Not a sample: the CPU time a thread ran after the kernel's last check of its timer, which no
 * signal reported (sample/timer.c: sample_thread_stop), as an estimated weight on the stack the
 * thread started from; shown under a '[libgoprof] unsampled: ...' leaf. */
#define GP_REC_UNSAMPLED      0x0010u
/* Made by the collector, never found in a ring: the CPU time of a process image that neither
 * its samples nor its threads' unsampled records account for (its start before the first
 * timer, its end after the last tick, bursts shorter than a tick), from the process's own CPU
 * clock at exit, in exact nanoseconds; shown under '[libgoprof] unsampled: CPU time no tick
 * saw'. */
#define GP_REC_RESIDUAL       0x0020u
/* Bit 63 of a recorded PC: the PC is exact (an interrupted instruction), not a return address,
 * so the symbolizer must not subtract 1. User-space addresses never have bit 63 set. */
#define GP_PC_EXACT (1ull << 63)
/* Bit 62 of a recorded word: not a PC but the place of the frames left out of a stack deeper
 * than a record holds; the low 32 bits say how many. */
#define GP_PC_ELIDED (1ull << 62)

#endif
