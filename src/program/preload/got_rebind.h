/* got_rebind.h -- binding the loaded objects' calls of an interposed function straight to the
 * definition behind it (got_rebind.c).
 * Context: program (got_rebind: the constructor; got_call_definition: the allocation
 * interposers' lookups, on any thread)
 */
#ifndef GP_GOT_REBIND_H
#define GP_GOT_REBIND_H

#include <stddef.h>
#include <stdint.h>

/* One exported function of libgoprof.so, and where its slots go instead: asked of the caller's
 * next_of at the first slot found (lookups cost microseconds; most names have no slot). */
struct got_target {
    const char *name;
    uintptr_t ours;
    uintptr_t next;   /* valid once asked */
    int asked;
};

/* The definition the lookup would find without libgoprof.so, or 0: leave the name's slots. */
typedef uintptr_t (*got_next_fn)(const struct got_target *t);

struct got_rebind_stats {
    unsigned objects;    /* objects with at least one slot rebound */
    unsigned slots;      /* slots that held ours, now the next definition */
    unsigned lazy;       /* of those, PLT slots not yet resolved (bound ahead) */
    unsigned failed;     /* read-only slots whose page could not be made writable */
};

/* In every object loaded now, each GOT slot (GLOB_DAT, JUMP_SLOT relocation) of a target's name
 * that holds the target's own address, or that is a lazy PLT slot the dynamic linker would
 * resolve to it, is set to the target's next definition. next_of returns 0 for a name whose
 * global lookup does not find ours. Objects loaded later still bind to ours. */
void got_rebind(struct got_target *targets, size_t n, got_next_fn next_of,
                struct got_rebind_stats *stats);

/* Where the calls of name go, given found, what the global lookup (dlsym(RTLD_DEFAULT)) gives
 * for it: found, unless found is a non-PIE executable's PLT entry standing in for the function.
 * An executable whose non-PIC code takes a function's address gets such an entry (an undefined
 * symbol with a value): it is the function's address for the whole process, so dlsym gives it,
 * but the executable does not define the function, and calls go through the entry to the first
 * definition in the lookup order, which this returns (Debian's python3 does that for malloc
 * and free). found where that definition is an IFUNC. */
uintptr_t got_call_definition(const char *name, uintptr_t found);

#endif
