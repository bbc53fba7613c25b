/* fuzz_common.h -- helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * The targets build minimal ELF64 images around fuzzed section bytes, so that the readers see
 * them through the same elf_file API as a real executable. Every buffer handed to a reader is
 * its own malloc'd block of exactly the right size, so AddressSanitizer reports a read one byte
 * past it.
 */
#ifndef GP_FUZZ_COMMON_H
#define GP_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* A section of a synthetic image. data may be NULL for SHT_NOBITS. */
struct fz_sec {
    const char *name;
    uint32_t type;          /* SHT_* */
    uint64_t flags;         /* SHF_* */
    uint64_t addr;
    const void *data;
    size_t size;
};

/* Builds an ELF64 LSB image holding the sections in the order given, each 8-aligned and
 * followed by a gap that is poisoned under ASan, the last one ending the image (so that reading
 * past any section is reported). with_shdrs 0 drops the
 * section headers (a stripped-of-sections file). Each section of flag SHF_ALLOC also gets a
 * PT_LOAD (PF_R, plus PF_W for SHF_WRITE, PF_X for SHF_EXECINSTR). Returns a malloc'd image and
 * its size in *size, or NULL. */
uint8_t *fz_elf_build(const struct fz_sec *secs, unsigned n, int with_shdrs, size_t *size);

/* A little-endian reader over the fuzz input: values past the end read as 0. */
struct fz_in {
    const uint8_t *p;
    size_t n;
};
uint8_t fz_u8(struct fz_in *in);
uint32_t fz_u32(struct fz_in *in);
uint64_t fz_u64(struct fz_in *in);
/* The next len bytes, clipped to what is left; *got receives the clipped length. */
const uint8_t *fz_bytes(struct fz_in *in, size_t len, size_t *got);

/* Copies n bytes into a new exactly sized allocation (NULL when n is 0 or on ENOMEM). */
uint8_t *fz_dup(const void *p, size_t n);

#endif
