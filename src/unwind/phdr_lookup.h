/* phdr_lookup.h -- is an address inside a loaded object? Answered in signal context.
 * Context: signal
 *
 * glibc's dl_iterate_phdr and dladdr take the loader lock, which deadlocks when the interrupted
 * thread holds it (gperftools #775, libunwind #16). _dl_find_object is documented AS-Safe
 * (glibc >= 2.35) and needs no lock; it covers the executable, every library and the vDSO.
 */
#ifndef GP_PHDR_LOOKUP_H
#define GP_PHDR_LOOKUP_H

#include <stdint.h>

#include "base/sigsafe.h"

/* Non-zero when pc lies in a loaded object (executable, library or vDSO). */
GP_SIGSAFE int phdr_lookup_in_module(uint64_t pc);

#endif
