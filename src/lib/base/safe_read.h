/* safe_read.h -- memory reads that cannot fault, for the unwinder.
 * Context: library, signal-safe
 *
 * The unwinder reads words at addresses it computed from other words. Reads inside a stack
 * whose bounds are known (the thread's own stack, the goroutine and g0 stacks from Go's g/m)
 * are plain loads; anything else goes through process_vm_readv on our own pid, which returns
 * EFAULT instead of raising SIGSEGV (Go owns SIGSEGV; we never install a handler for it).
 */
#ifndef GP_SAFE_READ_H
#define GP_SAFE_READ_H

#include <stddef.h>
#include <stdint.h>

#include "lib/base/sigsafe.h"

#define GP_MAX_STACK_RANGES 4

struct stack_range {
    uint64_t lo, hi;   /* [lo, hi) */
};

struct safe_reader {
    struct stack_range range[GP_MAX_STACK_RANGES];
    int nranges;
    int pid;           /* our pid, for process_vm_readv */
};

/* Adds a known-readable range (ignored when empty or when the table is full). */
GP_SIGSAFE void safe_reader_add(struct safe_reader *sr, uint64_t lo, uint64_t hi);
/* Index of the range holding [addr, addr+len), or -1. */
GP_SIGSAFE int safe_reader_range_of(const struct safe_reader *sr, uint64_t addr, uint64_t len);
/* safe_read_word's other cases: another range, or process_vm_readv. */
GP_SIGSAFE int safe_read_word_other(struct safe_reader *sr, uint64_t addr, uint64_t *out);

/* Reads one 8-byte word. Returns 0, or -1 if the address is unreadable. Inline for the first
 * range (the walking thread's own stack, where most words an unwinder reads are): a call
 * per word was a third of a warm native frame's cost. */
static inline int safe_read_word(struct safe_reader *sr, uint64_t addr, uint64_t *out)
{
    if (sr->nranges > 0 && addr - sr->range[0].lo <= sr->range[0].hi - sr->range[0].lo - 8 &&
        !(addr & 7) && sr->range[0].hi - sr->range[0].lo >= 8) {
        *out = *(const volatile uint64_t *)(uintptr_t)addr;
        return 0;
    }
    return safe_read_word_other(sr, addr, out);
}
/* Reads n bytes through process_vm_readv only. Returns 0 or -1. */
GP_SIGSAFE int safe_read_slow(int pid, void *dst, uint64_t addr, size_t n);
/* Reads n pieces in one process_vm_readv: remote[i] into local[i], in order, stopping at the
 * first unreadable piece. Returns the bytes read (a prefix of the pieces), or -1. */
struct iovec;
GP_SIGSAFE long safe_read_pieces(int pid, const struct iovec *local, const struct iovec *remote,
                                 int n);

#endif
