/* raw_syscall.h -- a system call without libc: no errno touched, nothing interposed.
 * Context: library, signal-safe
 */
#ifndef GP_RAW_SYSCALL_H
#define GP_RAW_SYSCALL_H

/* The kernel's result: a value, or -errno (from -4095 to -1). */
static inline long raw_syscall6(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
    long ret;
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r9 __asm__("r9") = a6;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

#endif
