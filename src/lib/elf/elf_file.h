/* elf_file.h -- read-only, bounds-checked view of an ELF64 little-endian file or image.
 * Context: library
 *
 * The file is mmapped (or, for the vDSO, an in-memory image is borrowed). Every offset,
 * size and string taken from the file is checked against the image size, so truncated or
 * corrupt input yields errors, never out-of-bounds reads. Malformed program or section
 * header tables are treated as absent rather than failing the open.
 *
 * Not thread-safe: the function-symbol index is built lazily by the first
 * elf_file_symbol_lookup() call. Pointers returned (section data, names) stay valid
 * until elf_file_close().
 */
#ifndef GP_ELF_FILE_H
#define GP_ELF_FILE_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

struct elf_file;

struct elf_section {
    const char *name;       /* never NULL ("" when the name is unreadable) */
    uint32_t type;          /* SHT_* */
    uint64_t flags;         /* SHF_* */
    uint64_t addr;          /* link-time virtual address */
    uint64_t offset;        /* file offset */
    uint64_t size;          /* sh_size */
    const uint8_t *data;    /* size bytes of file data; NULL for SHT_NOBITS or out of bounds */
    unsigned index;
};

/* Opens and validates path; NULL with errno set (ENOEXEC if not ELF64 LSB). */
struct elf_file *elf_file_open(const char *path);
/* Borrows an in-memory image (e.g. the vDSO); base must stay mapped until close. */
struct elf_file *elf_file_open_mem(const void *base, size_t size);
void elf_file_close(struct elf_file *f);

const Elf64_Ehdr *elf_file_header(const struct elf_file *f);
/* len bytes at file offset off, or NULL when out of bounds. */
const uint8_t *elf_file_bytes(const struct elf_file *f, uint64_t off, uint64_t len);

/* Sections: 0 or -ENOENT. */
int elf_file_section(const struct elf_file *f, const char *name, struct elf_section *out);
int elf_file_section_at(const struct elf_file *f, unsigned index, struct elf_section *out);
unsigned elf_file_section_count(const struct elf_file *f);
/* Returns the (decompressed if SHF_COMPRESSED with ELFCOMPRESS_ZLIB) contents in a malloc'd
 * buffer the caller frees. 0, -ENOTSUP (other compression), -EINVAL (corrupt), -ENOMEM. */
int elf_file_section_decompress(const struct elf_file *f, const struct elf_section *s,
                                uint8_t **out, size_t *out_size);

/* Program headers: count, and the i-th header (0 or -ENOENT). */
unsigned elf_file_phdr_count(const struct elf_file *f);
int elf_file_phdr(const struct elf_file *f, unsigned i, Elf64_Phdr *out);
/* First header of the given p_type (PT_TLS, PT_NOTE, ...): 0 or -ENOENT. */
int elf_file_phdr_find(const struct elf_file *f, uint32_t type, Elf64_Phdr *out);

/* NT_GNU_BUILD_ID as lowercase hex into buf (n >= 2*len+1). 0, -ENOENT, -ERANGE. */
int elf_file_build_id(const struct elf_file *f, char *buf, size_t n);

/* Any symbol (.symtab, then .dynsym) with exactly this name: 0 or -ENOENT. */
int elf_file_symbol_find(const struct elf_file *f, const char *name, Elf64_Sym *out);
int elf_file_symbol_addr(const struct elf_file *f, const char *name, uint64_t *addr);

/* Name of the function symbol containing link-time address vaddr, or NULL. *offset_out
 * (optional) receives vaddr - symbol start. Builds the index on first use. */
const char *elf_file_symbol_lookup(struct elf_file *f, uint64_t vaddr, uint64_t *offset_out);
/* Number of indexed function symbols (builds the index); -ENOMEM on failure. */
long elf_file_symbol_count(struct elf_file *f);

#endif
