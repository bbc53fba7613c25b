/* strtab.c -- interned string table for the pprof builder (see strtab.h).
 * Context: library
 */
#include "lib/pprof/strtab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/hash.h"

/* 16 slots: a profile has at least the handful of sample-type strings. */
#define STRTAB_MIN_SLOTS 16

static int strtab_rehash(struct strtab *t, size_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    size_t mask = nslots - 1;
    for (size_t i = 0; i < t->n; i++) {
        size_t j = (size_t)t->hashes[i] & mask;
        while (slots[j])
            j = (j + 1) & mask;
        slots[j] = (uint32_t)(i + 1);
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    return 0;
}

/* Makes room for one more string in strs/hashes and keeps the load factor at most 1/2. */
static int strtab_reserve(struct strtab *t)
{
    if (t->n == UINT32_MAX - 1)
        return -ENOMEM;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : STRTAB_MIN_SLOTS;
        char **strs = realloc(t->strs, cap * sizeof *strs);
        if (!strs)
            return -ENOMEM;
        t->strs = strs;
        uint64_t *hashes = realloc(t->hashes, cap * sizeof *hashes);
        if (!hashes)
            return -ENOMEM;
        t->hashes = hashes;
        t->cap = cap;
    }
    if (2 * (t->n + 1) > t->nslots)
        return strtab_rehash(t, t->nslots ? t->nslots * 2 : STRTAB_MIN_SLOTS);
    return 0;
}

static int64_t strtab_insert(struct strtab *t, const char *s, size_t len, uint64_t h)
{
    int err = strtab_reserve(t);
    if (err)
        return err;
    char *copy = malloc(len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, s, len + 1);
    size_t mask = t->nslots - 1, j = (size_t)h & mask;
    while (t->slots[j])
        j = (j + 1) & mask;
    t->slots[j] = (uint32_t)(t->n + 1);
    t->strs[t->n] = copy;
    t->hashes[t->n] = h;
    return (int64_t)t->n++;
}

int strtab_init(struct strtab *t)
{
    memset(t, 0, sizeof *t);
    /* Index 0 goes through the ordinary path so that "" also resolves to 0 by lookup. */
    int64_t idx = strtab_insert(t, "", 0, gp_hash_bytes("", 0));
    if (idx < 0) {
        strtab_fini(t);
        return (int)idx;
    }
    return 0;
}

void strtab_fini(struct strtab *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->strs[i]);
    free(t->strs);
    free(t->hashes);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

int64_t strtab_intern(struct strtab *t, const char *s)
{
    if (!s || !*s)
        return 0;
    size_t len = strlen(s);
    uint64_t h = gp_hash_bytes(s, len);
    size_t mask = t->nslots - 1;
    for (size_t j = (size_t)h & mask; t->slots[j]; j = (j + 1) & mask) {
        uint32_t i = t->slots[j] - 1;
        if (t->hashes[i] == h && strcmp(t->strs[i], s) == 0)
            return i;
    }
    return strtab_insert(t, s, len, h);
}
