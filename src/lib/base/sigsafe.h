/* sigsafe.h -- rules and markers for code that runs inside the SIGPROF handler.
 * Context: library, signal-safe
 *
 * GP_SIGSAFE marks a function that may run in signal context. Such functions live only in
 * files whose header says "Context: signal"; scripts/check-sigsafe.sh checks, with nm -u,
 * that those objects call nothing outside an allowlist (raw syscalls, _dl_find_object), which
 * also catches a memcpy the compiler inserts.
 *
 * Signal context must not: allocate or free, take locks, use stdio, call dl_iterate_phdr or
 * dladdr, touch dynamic TLS (only initial-exec __thread), leave errno changed, or use more
 * than GP_SIGNAL_STACK_BUDGET bytes of stack.
 *
 * Stack budget: Go runs handlers on a 32 KiB gsignal stack; the kernel's signal frame takes
 * ~3.4 KiB (AVX-512 xsave; AMX up to ~11 KiB) and Go's own handler, which we call on the same
 * stack for signals that are not ours, needs its share. We keep every frame under 6 KiB
 * (checked by -Wstack-usage on the signal objects); the deepest capture path (handler ->
 * unwind_capture -> unwind_native_walk -> cfi_step -> cfi_exec with its remember_state stack)
 * takes ~4.5 KiB (gcc -fstack-usage), leaving >15 KiB headroom.
 */
#ifndef GP_SIGSAFE_H
#define GP_SIGSAFE_H

#define GP_SIGSAFE
#define GP_SIGNAL_STACK_BUDGET 6144

#define GP_EXPORT __attribute__((visibility("default")))

/* Copy without calling memcpy (the compiler may not turn a volatile loop into a call). */
static inline void gp_copy_bytes(void *dst, const void *src, unsigned n)
{
    volatile unsigned char *d = dst;
    const unsigned char *s = src;
    for (unsigned i = 0; i < n; i++)
        d[i] = s[i];
}

#endif
