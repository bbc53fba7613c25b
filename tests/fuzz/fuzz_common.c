/* fuzz_common.c -- synthetic ELF images and input reading for the fuzz targets; a silent
 * gp_log (the readers log their refusals, which would flood the fuzzer's output). */
#include "fuzz_common.h"

#include <elf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/log.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define FZ_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#endif
#endif
#ifndef FZ_POISON
#define FZ_POISON(p, n) ((void)(p), (void)(n))
#endif

int gp_log_debug_enabled = 0;

/* Formats the line as the real one does (so a bad format argument still shows up under the
 * sanitizers) and drops it. */
void gp_log(const char *subsystem, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int k = snprintf(line, sizeof line, "libgoprof: %s: ", subsystem);
    if (k > 0 && (size_t)k < sizeof line)
        vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap);
    va_end(ap);
}

uint8_t fz_u8(struct fz_in *in)
{
    if (in->n == 0)
        return 0;
    uint8_t v = in->p[0];
    in->p++;
    in->n--;
    return v;
}

uint32_t fz_u32(struct fz_in *in)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)fz_u8(in) << (8 * i);
    return v;
}

uint64_t fz_u64(struct fz_in *in)
{
    uint64_t lo = fz_u32(in);
    return lo | (uint64_t)fz_u32(in) << 32;
}

const uint8_t *fz_bytes(struct fz_in *in, size_t len, size_t *got)
{
    const uint8_t *p = in->p;
    if (len > in->n)
        len = in->n;
    in->p += len;
    in->n -= len;
    *got = len;
    return p;
}

uint8_t *fz_dup(const void *p, size_t n)
{
    if (n == 0)
        return NULL;
    uint8_t *d = malloc(n);
    if (d)
        memcpy(d, p, n);
    return d;
}

#define FZ_MAX_SECS 16
/* Bytes between two sections, poisoned under ASan: a read past a section's end is reported
 * even when another section follows it. */
#define FZ_GAP 32

static size_t fz_align8(size_t v)
{
    return (v + 7) & ~(size_t)7;
}

uint8_t *fz_elf_build(const struct fz_sec *secs, unsigned n, int with_shdrs, size_t *size)
{
    if (n > FZ_MAX_SECS)
        return NULL;
    /* Layout: Ehdr, Phdrs, Shdrs (null + n + .shstrtab), .shstrtab, section data. */
    unsigned nload = 0;
    size_t strsz = 1 + sizeof ".shstrtab";
    for (unsigned i = 0; i < n; i++) {
        nload += (secs[i].flags & SHF_ALLOC) != 0;
        strsz += strlen(secs[i].name) + 1;
    }
    size_t off_ph = sizeof(Elf64_Ehdr);
    size_t off_sh = off_ph + nload * sizeof(Elf64_Phdr);
    unsigned shnum = with_shdrs ? n + 2 : 0;
    size_t off_str = off_sh + shnum * sizeof(Elf64_Shdr);
    size_t off_data[FZ_MAX_SECS];
    size_t end = fz_align8(off_str + strsz) + FZ_GAP;
    for (unsigned i = 0; i < n; i++) {
        off_data[i] = end;
        end = i + 1 < n ? fz_align8(end + secs[i].size) + FZ_GAP : end + secs[i].size;
    }
    uint8_t *img = calloc(1, end);
    if (!img)
        return NULL;
    Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_ident[EI_VERSION] = EV_CURRENT;
    eh->e_type = ET_EXEC;
    eh->e_machine = EM_X86_64;
    eh->e_version = EV_CURRENT;
    eh->e_ehsize = sizeof(Elf64_Ehdr);
    eh->e_phoff = nload ? off_ph : 0;
    eh->e_phentsize = sizeof(Elf64_Phdr);
    eh->e_phnum = (uint16_t)nload;
    eh->e_shoff = shnum ? off_sh : 0;
    eh->e_shentsize = sizeof(Elf64_Shdr);
    eh->e_shnum = (uint16_t)shnum;
    eh->e_shstrndx = (uint16_t)(shnum ? n + 1 : 0);
    char *str = (char *)img + off_str;
    size_t so = 1;
    Elf64_Phdr *ph = (Elf64_Phdr *)(img + off_ph);
    Elf64_Shdr *sh = (Elf64_Shdr *)(img + off_sh);
    for (unsigned i = 0; i < n; i++) {
        const struct fz_sec *s = &secs[i];
        if (s->data && s->size)
            memcpy(img + off_data[i], s->data, s->size);
        if (s->flags & SHF_ALLOC) {
            ph->p_type = PT_LOAD;
            ph->p_flags = PF_R | (s->flags & SHF_WRITE ? PF_W : 0) |
                          (s->flags & SHF_EXECINSTR ? PF_X : 0);
            ph->p_offset = off_data[i];
            ph->p_vaddr = ph->p_paddr = s->addr;
            ph->p_filesz = s->type == SHT_NOBITS ? 0 : s->size;
            ph->p_memsz = s->size;
            ph->p_align = 1;
            ph++;
        }
        if (shnum) {
            Elf64_Shdr *d = &sh[i + 1];
            d->sh_name = (uint32_t)so;
            d->sh_type = s->type;
            d->sh_flags = s->flags;
            d->sh_addr = s->addr;
            d->sh_offset = off_data[i];
            d->sh_size = s->size;
            d->sh_addralign = 8;
            memcpy(str + so, s->name, strlen(s->name) + 1);
            so += strlen(s->name) + 1;
        }
    }
    if (shnum) {
        Elf64_Shdr *d = &sh[n + 1];
        d->sh_name = (uint32_t)so;
        d->sh_type = SHT_STRTAB;
        d->sh_offset = off_str;
        d->sh_size = strsz;
        d->sh_addralign = 1;
        memcpy(str + so, ".shstrtab", sizeof ".shstrtab");
    }
    if (n)
        FZ_POISON(img + off_str + strsz, off_data[0] - off_str - strsz);
    for (unsigned i = 0; i + 1 < n; i++)
        FZ_POISON(img + off_data[i] + secs[i].size, off_data[i + 1] - off_data[i] - secs[i].size);
    *size = end;
    return img;
}
