/* malloc_peak.c -- LD_PRELOAD heap meter for test_godwarf's bench: live and peak bytes
 * (malloc_usable_size) of every malloc family call in the process, zlib's included.
 * Context: tests (single-threaded programs only: the counters are plain)
 *
 *   malloc_peak_reset()  peak := live, returns live
 *   malloc_peak_get()    the peak since the last reset
 * The test finds both with dlsym(RTLD_DEFAULT, ...) and prints no heap figures without them.
 */
#include <malloc.h>
#include <stddef.h>
#include <string.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

size_t malloc_peak_reset(void);
size_t malloc_peak_get(void);

static size_t live, peak;

static void *count(void *p)
{
    if (p) {
        live += malloc_usable_size(p);
        if (live > peak)
            peak = live;
    }
    return p;
}

void *malloc(size_t n)
{
    return count(__libc_malloc(n));
}

void *calloc(size_t n, size_t size)
{
    return count(__libc_calloc(n, size));
}

void *memalign(size_t align, size_t n)
{
    return count(__libc_memalign(align, n));
}

void *aligned_alloc(size_t align, size_t n)
{
    return count(__libc_memalign(align, n));
}

int posix_memalign(void **out, size_t align, size_t n)
{
    void *p = count(__libc_memalign(align, n));
    if (!p)
        return 12;   /* ENOMEM */
    *out = p;
    return 0;
}

void free(void *p)
{
    if (p)
        live -= malloc_usable_size(p);
    __libc_free(p);
}

void *realloc(void *p, size_t n)
{
    size_t old = p ? malloc_usable_size(p) : 0;
    void *q = __libc_realloc(p, n);
    if (q || n == 0)   /* p is gone (moved, or freed by realloc(p, 0)) */
        live -= old;
    return count(q);
}

size_t malloc_peak_reset(void)
{
    peak = live;
    return live;
}

size_t malloc_peak_get(void)
{
    return peak;
}
