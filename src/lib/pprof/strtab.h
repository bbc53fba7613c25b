/* strtab.h -- interned string table for the pprof builder (index 0 is always "").
 * Context: library
 *
 * Strings are copied on insert and numbered first-seen, so the same sequence of inserts gives
 * the same table (deterministic output). The table array is directly usable as
 * Profile.string_table: every entry is a valid NUL-terminated string, never NULL (a NULL entry
 * crashes protobuf-c's packer). Not thread-safe.
 */
#ifndef GP_STRTAB_H
#define GP_STRTAB_H

#include <stddef.h>
#include <stdint.h>

struct strtab {
    char **strs;        /* strs[0] == "" */
    uint64_t *hashes;   /* hashes[i] of strs[i]; lets the index grow without rehashing text */
    size_t n, cap;
    uint32_t *slots;    /* open addressing: 0 = empty, else string index + 1 */
    size_t nslots;      /* power of two, kept at least 2 * n */
};

/* Sets up an empty table holding only "". Returns 0 or -ENOMEM. */
int strtab_init(struct strtab *t);

/* Frees everything; accepts a zeroed or half-initialised table. */
void strtab_fini(struct strtab *t);

/* Returns the index of s, inserting a copy if new. NULL and "" both give 0.
 * Returns -ENOMEM (negative) on allocation failure; the table is unchanged then. */
int64_t strtab_intern(struct strtab *t, const char *s);

#endif
