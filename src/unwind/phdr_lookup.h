/* phdr_lookup.h -- what libunwind gets from dl_iterate_phdr while it runs inside our handler.
 * Context: signal
 *
 * libunwind 1.6.2 calls dl_iterate_phdr on every cache miss; glibc's takes the loader lock,
 * which deadlocks when the interrupted code holds it or waits on something the interrupted
 * thread holds (gperftools #775, libunwind #16). libgoprof exports its own dl_iterate_phdr
 * (preload/interpose_dl.c). Inside our handler it reports just the one module that contains the
 * address libunwind is resolving, found with glibc's _dl_find_object, which is documented
 * AS-Safe (glibc >= 2.35) and needs no lock; everywhere else it calls glibc's. No wrapper of
 * dlopen/dlclose is needed (wrapping dlopen would change which RPATH glibc searches, because it
 * looks at its caller's address).
 */
#ifndef GP_PHDR_LOOKUP_H
#define GP_PHDR_LOOKUP_H

#include <link.h>
#include <stdint.h>

#include "base/sigsafe.h"

typedef int (*phdr_callback)(struct dl_phdr_info *, size_t, void *);

/* Marks this thread as unwinding in the handler; `ip` is the address being resolved next. */
GP_SIGSAFE void phdr_lookup_begin(uint64_t ip);
GP_SIGSAFE void phdr_lookup_end(void);
/* Non-zero between begin and end on this thread (asked by the dl_iterate_phdr interposer). */
GP_SIGSAFE int phdr_lookup_active(void);
/* dl_iterate_phdr restricted to the module containing the current ip. */
GP_SIGSAFE int phdr_lookup_iterate(phdr_callback cb, void *data);
/* Non-zero when pc lies in a loaded object (executable, library or vDSO). */
GP_SIGSAFE int phdr_lookup_in_module(uint64_t pc);

#endif
