/* nested.c -- C side of cgo_nested (compiled by cgo with -O2 -fomit-frame-pointer); C11,
 * -Wall -Wextra clean (the harness checks it with gcc -std=c11 -Wall -Wextra -Werror).
 * Every function is noinline/noclone; the empty asm statement after each call uses the
 * result, so the call cannot become a tail jump and each caller keeps its frame. */
#include "nested.h"

#if defined(__GNUC__) && !defined(__clang__)
#define NESTED_NOINLINE __attribute__((noinline, noclone))
#else
#define NESTED_NOINLINE __attribute__((noinline))
#endif

volatile uint64_t nested_sink;

/* The hot leaf: real work on a volatile, n iterations. */
NESTED_NOINLINE uint64_t c_inner(long n)
{
    for (long i = 0; i < n; i++)
        nested_sink += (uint64_t)i ^ (nested_sink >> 3);
    return nested_sink;
}

/* c_inner's twin, used only for calibration. */
NESTED_NOINLINE uint64_t c_probe(long n)
{
    for (long i = 0; i < n; i++)
        nested_sink += (uint64_t)i ^ (nested_sink >> 3);
    return nested_sink;
}

NESTED_NOINLINE uint64_t c_middle(long n)
{
    uint64_t r = c_inner(n);
    __asm__ volatile("" : "+r"(r) : : "memory");
    return r + 2;
}

NESTED_NOINLINE uint64_t c_outer(long n)
{
    uint64_t r = c_middle(n);
    __asm__ volatile("" : "+r"(r) : : "memory");
    return r + 1;
}
