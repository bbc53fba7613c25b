/* interpose_dl.c -- dl_iterate_phdr wrapper: lock-free answers for libunwind inside our handler
 * (see unwind/phdr_lookup.h), glibc's everywhere else.
 * Context: any (signal context when called by libunwind from our handler)
 */
#include <link.h>

#include "base/sigsafe.h"
#include "preload/interpose.h"
#include "unwind/phdr_lookup.h"

GP_EXPORT int dl_iterate_phdr(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data)
{
    if (phdr_lookup_active())
        return phdr_lookup_iterate(cb, data);
    if (!gp_real.dl_iterate_phdr && interpose_resolve() != 0)
        return 0;
    return gp_real.dl_iterate_phdr(cb, data);
}
