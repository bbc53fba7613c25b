/* hash.h -- the one non-cryptographic hash (64-bit FNV-1a), and the one index of the hot paths.
 * Context: library, signal-safe
 *
 * For hash tables and short fixed-size names: keys are short (stacks, symbol names, paths)
 * and nothing is adversarial enough to need more. Continue a hash over several fields by
 * passing the previous result as seed.
 *
 * gp_hash_index is for the few tables indexed where every cycle counts (the signal handler's
 * caches, the table every free() looks at): Fibonacci hashing, one multiply, whose top bits
 * are the index. FNV-1a of 8 bytes is 8 dependent multiplies, so numbers and stacks (arrays of
 * PCs) are hashed a word at a time instead (gp_hash_u64, gp_hash_words): the collector hashes
 * one stack per record, and byte-wise FNV-1a of a 10-frame stack was 80 multiplies in a row.
 */
#ifndef GP_HASH_H
#define GP_HASH_H

#include <stddef.h>
#include <stdint.h>

#define GP_HASH_SEED 0xcbf29ce484222325ull   /* FNV-1a's offset basis */

static inline uint64_t gp_hash_more(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static inline uint64_t gp_hash_bytes(const void *data, size_t n)
{
    return gp_hash_more(GP_HASH_SEED, data, n);
}

/* Of one 64-bit key (an address, an offset): for open-addressing tables keyed by numbers,
 * which take the low bits. Every bit of x reaches every bit of the result (a 64-bit
 * finalizer: xor-shift, multiply, twice), in two multiplies. */
static inline uint64_t gp_hash_u64(uint64_t x)
{
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    return x;
}

/* Continues h over n 64-bit words (a stack's PCs): one multiply and a fold per word, and the
 * high bits of each word reach the low bits that tables index by. */
static inline uint64_t gp_hash_words(uint64_t h, const uint64_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ w[i]) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    return h;
}

/* An index in [0, 2^bits) for a 64-bit key, 1 <= bits <= 63 (Fibonacci hashing). */
static inline uint64_t gp_hash_index(uint64_t x, unsigned bits)
{
    return (x * 0x9e3779b97f4a7c15ull) >> (64 - bits);
}

/* Of a NUL-terminated string, without the NUL (equal to gp_hash_bytes(s, strlen(s))). */
static inline uint64_t gp_hash_str(const char *s)
{
    uint64_t h = GP_HASH_SEED;
    for (; *s; s++)
        h = gp_hash_more(h, s, 1);
    return h;
}

#endif
