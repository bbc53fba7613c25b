/* buildinfo.c -- Go toolchain version from .go.buildinfo (layout: debug/buildinfo).
 * Context: library
 *
 * Blob: 14-byte magic "\xff Go buildinf:", ptrSize u8, flags u8 (0x2 = strings inline, the
 * only format since Go 1.18), padding to 32, then uvarint-length-prefixed version string.
 */
#include "lib/go/buildinfo.h"

#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "lib/base/leb128.h"
#include "lib/elf/elf_file.h"

static const char buildinfo_magic[14] = "\xff Go buildinf:";
#define BUILDINFO_HDR 32
#define BUILDINFO_FLAG_INLINE 0x2
/* Section-less files: the blob sits 16-aligned in a writable segment; cap the scan at 64 MiB. */
#define BUILDINFO_SCAN_MAX (64u << 20)

int go_version_parse(const char *s, int *major, int *minor)
{
    if (strncmp(s, "go", 2) != 0)
        return -EINVAL;
    s += 2;
    int v[2] = { 0, 0 };
    for (int k = 0; k < 2; k++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        while (*s >= '0' && *s <= '9' && v[k] < 100000)
            v[k] = v[k] * 10 + (*s++ - '0');
        if (k == 0 && *s++ != '.')
            return -EINVAL;
    }
    *major = v[0];
    *minor = v[1];
    return 0;
}

static const uint8_t *buildinfo_find(const struct elf_file *f, uint64_t *avail)
{
    struct elf_section s;
    if (elf_file_section(f, ".go.buildinfo", &s) == 0 && s.data && s.size >= BUILDINFO_HDR &&
        memcmp(s.data, buildinfo_magic, sizeof buildinfo_magic) == 0) {
        *avail = s.size;
        return s.data;
    }
    for (unsigned i = 0; i < elf_file_phdr_count(f); i++) {
        Elf64_Phdr ph;
        if (elf_file_phdr(f, i, &ph) != 0 || ph.p_type != PT_LOAD || !(ph.p_flags & PF_W))
            continue;
        uint64_t len = ph.p_filesz < BUILDINFO_SCAN_MAX ? ph.p_filesz : BUILDINFO_SCAN_MAX;
        const uint8_t *p = elf_file_bytes(f, ph.p_offset, len);
        if (!p)
            continue;
        uint64_t start = (16 - (ph.p_vaddr & 15)) & 15;
        for (uint64_t off = start; off + BUILDINFO_HDR <= len; off += 16) {
            if (memcmp(p + off, buildinfo_magic, sizeof buildinfo_magic) == 0) {
                *avail = len - off;
                return p + off;
            }
        }
    }
    return NULL;
}

int go_buildinfo_version(const struct elf_file *f, char *buf, size_t n, int *major, int *minor)
{
    uint64_t avail = 0;
    const uint8_t *p = buildinfo_find(f, &avail);
    if (!p)
        return -ENOENT;
    if (!(p[15] & BUILDINFO_FLAG_INLINE))
        return -ENOTSUP;  /* pre-1.18: pointers to string headers */
    uint64_t len = 0, off = BUILDINFO_HDR;
    int used = off < avail ? gp_uleb128(p + off, (size_t)(avail - off), &len) : GP_LEB_SHORT;
    if (used <= 0)
        return -EINVAL;
    off += (unsigned)used;
    if (len == 0 || len > avail - off)
        return -EINVAL;
    if (n == 0)
        return -ERANGE;
    size_t c = len < n - 1 ? (size_t)len : n - 1;
    memcpy(buf, p + off, c);
    buf[c] = 0;
    int ma = 0, mi = 0;
    (void)go_version_parse(buf, &ma, &mi);
    if (major)
        *major = ma;
    if (minor)
        *minor = mi;
    return 0;
}
