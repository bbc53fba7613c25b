/* fuzz_buildinfo.c -- libFuzzer target: the .go.buildinfo blob (src/lib/go/buildinfo.c).
 *
 * Input: one byte of options, then the blob. Bit 0 of the options: the blob is a section
 * named .go.buildinfo (a normal Go binary), else it only lies in a writable PT_LOAD that is
 * scanned for the magic (a binary without section headers); bits 1-4: the segment's address
 * modulo 16 (the scan's alignment); bits 5-7: the size of the caller's buffer. The blob ends
 * the image, so a read past it is a read past the allocation.
 * Seeds: the start of .go.buildinfo of real Go binaries (seeds.sh).
 */
#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/elf/elf_file.h"
#include "fuzz_common.h"
#include "lib/go/buildinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = { data, size };
    uint8_t opt = fz_u8(&in);
    size_t n;
    const uint8_t *blob = fz_bytes(&in, in.n, &n);
    struct fz_sec sec = { ".go.buildinfo", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE,
                          0x500000 + ((opt >> 1) & 15), blob, n };
    size_t img_size;
    uint8_t *img = fz_elf_build(&sec, 1, opt & 1, &img_size);
    if (!img)
        return 0;
    struct elf_file *f = elf_file_open_mem(img, img_size);
    if (f) {
        static const size_t bufsz[8] = { 1, 2, 5, 9, 12, 32, 64, 200 };
        size_t bn = bufsz[opt >> 5];
        char *buf = malloc(bn);
        int major = -1, minor = -1;
        if (buf && go_buildinfo_version(f, buf, bn, &major, &minor) == 0) {
            /* The result is a string inside the buffer, and its version parse is stable. */
            size_t len = strnlen(buf, bn);
            if (len == bn)
                abort();
            int ma = 0, mi = 0;
            if (go_version_parse(buf, &ma, &mi) == 0 && (ma != major || mi != minor))
                abort();
        }
        free(buf);
        elf_file_close(f);
    }
    free(img);
    /* go_version_parse alone, on the blob as a string. */
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, blob, n);
        s[n] = 0;
        int ma, mi;
        (void)go_version_parse(s, &ma, &mi);
        free(s);
    }
    return 0;
}
