/* phdr_lookup.c -- loaded-object membership in signal context (see phdr_lookup.h).
 * Context: signal
 * Must not: allocate, lock, call anything but _dl_find_object (AS-Safe).
 */
#include "unwind/phdr_lookup.h"

#include <dlfcn.h>

GP_SIGSAFE int phdr_lookup_in_module(uint64_t pc)
{
    struct dl_find_object obj;
    return _dl_find_object((void *)(uintptr_t)pc, &obj) == 0;
}
