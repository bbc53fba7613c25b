/* safe_read.c -- fault-free memory reads for the unwinder (see safe_read.h).
 * Context: library, signal-safe
 * Must not: allocate, lock, call anything but the raw process_vm_readv syscall, touch errno
 * (the handler saves and restores it, but we use the raw syscall to leave it alone anyway).
 */
#include "lib/base/safe_read.h"

#include <sys/syscall.h>
#include <sys/uio.h>

#include "lib/base/raw_syscall.h"

GP_SIGSAFE void safe_reader_add(struct safe_reader *sr, uint64_t lo, uint64_t hi)
{
    if (lo >= hi || sr->nranges >= GP_MAX_STACK_RANGES)
        return;
    sr->range[sr->nranges].lo = lo;
    sr->range[sr->nranges].hi = hi;
    sr->nranges++;
}

GP_SIGSAFE int safe_reader_range_of(const struct safe_reader *sr, uint64_t addr, uint64_t len)
{
    for (int i = 0; i < sr->nranges; i++)
        if (addr >= sr->range[i].lo && addr + len <= sr->range[i].hi && addr + len > addr)
            return i;
    return -1;
}

GP_SIGSAFE int safe_read_slow(int pid, void *dst, uint64_t addr, size_t n)
{
    struct iovec local = { dst, n };
    struct iovec remote = { (void *)(uintptr_t)addr, n };
    long r = raw_syscall6(SYS_process_vm_readv, pid, (long)&local, 1, (long)&remote, 1, 0);
    return r == (long)n ? 0 : -1;
}

GP_SIGSAFE long safe_read_pieces(int pid, const struct iovec *local, const struct iovec *remote,
                                 int n)
{
    return raw_syscall6(SYS_process_vm_readv, pid, (long)local, n, (long)remote, n, 0);
}

GP_SIGSAFE int safe_read_word_other(struct safe_reader *sr, uint64_t addr, uint64_t *out)
{
    if (addr & 7)
        return -1;
    if (safe_reader_range_of(sr, addr, 8) >= 0) {
        *out = *(const volatile uint64_t *)(uintptr_t)addr;
        return 0;
    }
    if (addr < 4096 || addr >= (1ull << 47))
        return -1;
    return safe_read_slow(sr->pid, out, addr, 8);
}
