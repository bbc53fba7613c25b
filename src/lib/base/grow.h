/* grow.h -- the one way an array on the heap grows: by doubling.
 * Context: library
 */
#ifndef GP_GROW_H
#define GP_GROW_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* Makes the array *p (*cap elements of elem bytes) hold at least need elements: the capacity
 * doubles, starting from first. Returns 0, or -ENOMEM with *p and *cap unchanged. */
static inline int gp_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : first;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return -ENOMEM;
        n *= 2;
    }
    if (n > SIZE_MAX / elem)
        return -ENOMEM;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

#endif
