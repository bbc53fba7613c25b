/* fuzz_dwarf.c -- libFuzzer target: the DWARF reader behind the g/m layout (src/lib/go/godwarf.c,
 * src/lib/go/dwarf_reader.c).
 *
 * Input: one byte of options, then up to five sections, each a u32 length and its bytes, in
 * this order: .debug_info, .debug_abbrev, .debug_str, .debug_line_str, .debug_str_offsets
 * (missing ones are absent). The sections are fuzzed uncompressed, where their structure is;
 * the options say what the target turns them into:
 *   bit 0    compress .debug_info (SHF_COMPRESSED, zlib), as the Go linker does: the reader
 *            then streams it through a sliding window, refilled mid-DIE;
 *   bit 1    compress .debug_abbrev too;
 *   bit 2    make the compressed .debug_info's ch_size one too large (a lying header),
 *   bit 3    and cut its deflate stream in half (a truncated file);
 *   bits 4-5 the window: the default (16 KiB), 64, 512 or 4096 bytes.
 * Seeds: the DWARF of real Go and C binaries (seeds.sh), the Go ones cut to the unit holding
 * the runtime types.
 */
#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "lib/elf/elf_file.h"
#include "fuzz_common.h"
#include "lib/go/godwarf.h"

static const char *const sec_names[] = { ".debug_info", ".debug_abbrev", ".debug_str",
                                         ".debug_line_str", ".debug_str_offsets" };
#define NSEC (sizeof sec_names / sizeof sec_names[0])

/* An SHF_COMPRESSED body: Elf64_Chdr then zlib data. NULL on failure. */
static uint8_t *zsection(const uint8_t *p, size_t n, int lie, int cut, size_t *out_n)
{
    uLongf zn = compressBound(n);
    uint8_t *z = malloc(sizeof(Elf64_Chdr) + zn);
    if (!z)
        return NULL;
    if (compress2(z + sizeof(Elf64_Chdr), &zn, p, n, 1) != Z_OK) {
        free(z);
        return NULL;
    }
    Elf64_Chdr ch = { ELFCOMPRESS_ZLIB, 0, n + (lie ? 1 : 0), 1 };
    memcpy(z, &ch, sizeof ch);
    *out_n = sizeof ch + (cut ? zn / 2 : zn);
    return z;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t windows[4] = { 0, 64, 512, 4096 };
    struct fz_in in = { data, size };
    uint8_t opt = fz_u8(&in);
    struct fz_sec secs[NSEC];
    uint8_t *owned[NSEC] = { 0 };
    unsigned n = 0;
    for (unsigned i = 0; i < NSEC && in.n >= 4; i++) {
        size_t len;
        const uint8_t *p = fz_bytes(&in, fz_u32(&in), &len);
        secs[n] = (struct fz_sec){ sec_names[i], SHT_PROGBITS, 0, 0, p, len };
        int compress = (i == 0 && (opt & 1)) || (i == 1 && (opt & 2));
        if (compress) {
            size_t zn;
            owned[i] = zsection(p, len, i == 0 && (opt & 4), i == 0 && (opt & 8), &zn);
            if (!owned[i])
                goto out;
            secs[n].data = owned[i];
            secs[n].size = zn;
            secs[n].flags = SHF_COMPRESSED;
        }
        n++;
    }
    size_t img_size;
    uint8_t *img = fz_elf_build(secs, n, 1, &img_size);
    if (!img)
        goto out;
    struct elf_file *f = elf_file_open_mem(img, img_size);
    if (f) {
        struct go_layout l;
        struct godwarf_stats st;
        int r = godwarf_layout_ex(f, &l, windows[(opt >> 4) & 3], &st);
        if (r == 0 && !l.known)
            abort();   /* success means a complete layout */
        elf_file_close(f);
    }
    free(img);
out:
    for (unsigned i = 0; i < NSEC; i++)
        free(owned[i]);
    return 0;
}
