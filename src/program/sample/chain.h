/* chain.h -- the SIGPROF action the application believes is installed, and forwarding to it.
 * Context: signal (record/get from the sigaction interposer; forward from the handler)
 */
#ifndef GP_CHAIN_H
#define GP_CHAIN_H

#include <signal.h>

#include "lib/base/sigsafe.h"

/* `install` is the real sigaction, used to emulate SIG_DFL (terminate) faithfully. */
void chain_init(int (*install)(int, const struct sigaction *, struct sigaction *));
/* Records what the application installed; returns what it had (for its oldact). */
void chain_set(const struct sigaction *act, struct sigaction *old);
void chain_get(struct sigaction *old);
/* Delivers a SIGPROF that is not ours as if our handler were not there. */
GP_SIGSAFE void chain_forward(int sig, siginfo_t *si, void *uc);

#endif
