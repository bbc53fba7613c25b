/* elf_file.c -- read-only, bounds-checked view of an ELF64 file (see elf_file.h).
 * Context: library
 *
 * Every value read from the image is treated as hostile: offsets and sizes are checked with
 * overflow-safe helpers before any dereference, and strings must be NUL-terminated inside
 * their string table. This file is a fuzzing target.
 */
#include "lib/elf/elf_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Decompressed sections larger than this are refused: 1 GiB is far beyond any DWARF we
 * would read, and it bounds the damage a forged ch_size can do. */
#define ELF_FILE_MAX_DECOMPRESSED (1ull << 30)

struct elf_sym_entry {
    uint64_t addr;
    uint64_t size;
    uint64_t limit;  /* end of the containing section: bound for size-0 symbols */
    const char *name;
};

struct elf_file {
    const uint8_t *base;
    size_t size;
    int mapped;                     /* munmap on close */
    const Elf64_Ehdr *eh;
    const Elf64_Phdr *phdrs;        /* NULL when absent or malformed */
    unsigned phnum;
    const Elf64_Shdr *shdrs;        /* NULL when absent or malformed */
    unsigned shnum;
    unsigned shstrndx;
    int syms_state;                 /* 0 = not built, 1 = built, -1 = failed */
    struct elf_sym_entry *syms;
    size_t nsyms;
    char *plt_names;                /* the "<name>@plt" strings of syms */
};

/* True when [off, off+len) lies inside an image of the given size (no overflow). */
static int elf_in_bounds(size_t size, uint64_t off, uint64_t len)
{
    return off <= size && len <= size - off;
}

const uint8_t *elf_file_bytes(const struct elf_file *f, uint64_t off, uint64_t len)
{
    if (!f || !elf_in_bounds(f->size, off, len))
        return NULL;
    return f->base + off;
}

const Elf64_Ehdr *elf_file_header(const struct elf_file *f)
{
    return f->eh;
}

/* String at off inside a table of tsize bytes, or NULL when not NUL-terminated inside it. */
static const char *elf_strtab_get(const uint8_t *tab, uint64_t tsize, uint64_t off)
{
    if (!tab || off >= tsize)
        return NULL;
    const void *nul = memchr(tab + off, 0, tsize - off);
    return nul ? (const char *)tab + off : NULL;
}

static void elf_parse_tables(struct elf_file *f)
{
    const Elf64_Ehdr *eh = f->eh;
    if (eh->e_phnum && eh->e_phentsize == sizeof(Elf64_Phdr) &&
        elf_in_bounds(f->size, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)) &&
        eh->e_phoff % 8 == 0) {
        f->phdrs = (const Elf64_Phdr *)(f->base + eh->e_phoff);
        f->phnum = eh->e_phnum;
    }
    if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff % 8 != 0 ||
        !elf_in_bounds(f->size, eh->e_shoff, sizeof(Elf64_Shdr)))
        return;
    const Elf64_Shdr *sh0 = (const Elf64_Shdr *)(f->base + eh->e_shoff);
    /* Extended numbering: counts that do not fit the header live in section 0. */
    uint64_t shnum = eh->e_shnum ? eh->e_shnum : sh0->sh_size;
    uint64_t shstrndx = eh->e_shstrndx == SHN_XINDEX ? sh0->sh_link : eh->e_shstrndx;
    if (shnum == 0 || shnum > 0xfffffff ||
        !elf_in_bounds(f->size, eh->e_shoff, shnum * sizeof(Elf64_Shdr)))
        return;
    f->shdrs = sh0;
    f->shnum = (unsigned)shnum;
    f->shstrndx = shstrndx < shnum ? (unsigned)shstrndx : 0;
}

static struct elf_file *elf_file_init(const uint8_t *base, size_t size, int mapped)
{
    if (size < sizeof(Elf64_Ehdr) || memcmp(base, ELFMAG, SELFMAG) != 0 ||
        base[EI_CLASS] != ELFCLASS64 || base[EI_DATA] != ELFDATA2LSB)
        return errno = ENOEXEC, NULL;
    struct elf_file *f = calloc(1, sizeof *f);
    if (!f)
        return errno = ENOMEM, NULL;
    f->base = base;
    f->size = size;
    f->mapped = mapped;
    f->eh = (const Elf64_Ehdr *)base;
    elf_parse_tables(f);
    return f;
}

struct elf_file *elf_file_open(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return errno = e, NULL;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
        close(fd);
        return errno = ENOEXEC, NULL;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return errno = e, NULL;
    struct elf_file *f = elf_file_init(p, (size_t)st.st_size, 1);
    if (!f) {
        e = errno;
        munmap(p, (size_t)st.st_size);
        return errno = e, NULL;
    }
    return f;
}

struct elf_file *elf_file_open_mem(const void *base, size_t size)
{
    if (!base)
        return errno = EINVAL, NULL;
    return elf_file_init(base, size, 0);
}

void elf_file_close(struct elf_file *f)
{
    if (!f)
        return;
    if (f->mapped)
        munmap((void *)f->base, f->size);
    free(f->syms);
    free(f->plt_names);
    free(f);
}

unsigned elf_file_section_count(const struct elf_file *f)
{
    return f->shnum;
}

int elf_file_section_at(const struct elf_file *f, unsigned index, struct elf_section *out)
{
    if (!f->shdrs || index >= f->shnum)
        return -ENOENT;
    const Elf64_Shdr *sh = &f->shdrs[index];
    const Elf64_Shdr *ss = &f->shdrs[f->shstrndx];
    const char *name = NULL;
    if (f->shstrndx && ss->sh_type != SHT_NOBITS)
        name = elf_strtab_get(elf_file_bytes(f, ss->sh_offset, ss->sh_size), ss->sh_size,
                              sh->sh_name);
    out->name = name ? name : "";
    out->type = sh->sh_type;
    out->flags = sh->sh_flags;
    out->addr = sh->sh_addr;
    out->offset = sh->sh_offset;
    out->size = sh->sh_size;
    out->index = index;
    out->data = sh->sh_type == SHT_NOBITS ? NULL : elf_file_bytes(f, sh->sh_offset, sh->sh_size);
    return 0;
}

int elf_file_section(const struct elf_file *f, const char *name, struct elf_section *out)
{
    for (unsigned i = 1; i < f->shnum; i++) {
        if (elf_file_section_at(f, i, out) == 0 && strcmp(out->name, name) == 0)
            return 0;
    }
    return -ENOENT;
}

int elf_file_section_decompress(const struct elf_file *f, const struct elf_section *s,
                                uint8_t **out, size_t *out_size)
{
    (void)f;
    if (!s->data)
        return -EINVAL;
    if (!(s->flags & SHF_COMPRESSED)) {
        /* Uniform ownership for callers: an uncompressed section comes back as a copy. */
        uint8_t *copy = malloc(s->size ? s->size : 1);
        if (!copy)
            return -ENOMEM;
        memcpy(copy, s->data, s->size);
        *out = copy;
        *out_size = s->size;
        return 0;
    }
    if (s->size < sizeof(Elf64_Chdr))
        return -EINVAL;
    Elf64_Chdr ch;
    memcpy(&ch, s->data, sizeof ch);  /* section data need not be 8-aligned in the file */
    if (ch.ch_type != ELFCOMPRESS_ZLIB)
        return -ENOTSUP;
    if (ch.ch_size > ELF_FILE_MAX_DECOMPRESSED)
        return -EINVAL;
    uint8_t *buf = malloc(ch.ch_size ? ch.ch_size : 1);
    if (!buf)
        return -ENOMEM;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK) {
        free(buf);
        return -ENOMEM;
    }
    /* Feed in chunks: avail_in is 32-bit and the section may in theory be larger. */
    const uint8_t *in = s->data + sizeof ch;
    uint64_t in_left = s->size - sizeof ch;
    zs.next_out = buf;
    zs.avail_out = (uInt)ch.ch_size;
    int zr = Z_OK;
    while (zr == Z_OK) {
        if (zs.avail_in == 0) {
            if (in_left == 0)
                break;
            uInt chunk = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
            zs.next_in = (Bytef *)in;
            zs.avail_in = chunk;
            in += chunk;
            in_left -= chunk;
        }
        zr = inflate(&zs, Z_NO_FLUSH);
    }
    uint64_t produced = zs.total_out;
    inflateEnd(&zs);
    if (zr != Z_STREAM_END || produced != ch.ch_size) {
        free(buf);
        return -EINVAL;
    }
    *out = buf;
    *out_size = (size_t)ch.ch_size;
    return 0;
}

unsigned elf_file_phdr_count(const struct elf_file *f)
{
    return f->phnum;
}

int elf_file_phdr(const struct elf_file *f, unsigned i, Elf64_Phdr *out)
{
    if (!f->phdrs || i >= f->phnum)
        return -ENOENT;
    *out = f->phdrs[i];
    return 0;
}

int elf_file_phdr_find(const struct elf_file *f, uint32_t type, Elf64_Phdr *out)
{
    for (unsigned i = 0; i < f->phnum; i++) {
        if (f->phdrs[i].p_type == type) {
            *out = f->phdrs[i];
            return 0;
        }
    }
    return -ENOENT;
}

/* Scans one note area for NT_GNU_BUILD_ID; 0, -ENOENT or -ERANGE. */
static int elf_notes_build_id(const uint8_t *p, uint64_t size, uint64_t align, char *buf, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    align = align == 8 ? 8 : 4;
    uint64_t off = 0;
    while (size - off >= sizeof(Elf64_Nhdr)) {
        Elf64_Nhdr nh;
        memcpy(&nh, p + off, sizeof nh);
        off += sizeof nh;
        uint64_t namesz = ((uint64_t)nh.n_namesz + align - 1) & ~(align - 1);
        uint64_t descsz = ((uint64_t)nh.n_descsz + align - 1) & ~(align - 1);
        if (namesz > size - off || descsz > size - off - namesz)
            return -ENOENT;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && memcmp(p + off, "GNU", 4) == 0) {
            const uint8_t *d = p + off + namesz;
            if (nh.n_descsz == 0)
                return -ENOENT;
            if (n < 2 * (size_t)nh.n_descsz + 1)
                return -ERANGE;
            for (uint32_t i = 0; i < nh.n_descsz; i++) {
                buf[2 * i] = hex[d[i] >> 4];
                buf[2 * i + 1] = hex[d[i] & 15];
            }
            buf[2 * nh.n_descsz] = 0;
            return 0;
        }
        off += namesz + descsz;
    }
    return -ENOENT;
}

int elf_file_build_id(const struct elf_file *f, char *buf, size_t n)
{
    for (unsigned i = 0; i < f->phnum; i++) {
        const Elf64_Phdr *ph = &f->phdrs[i];
        const uint8_t *p = ph->p_type == PT_NOTE ? elf_file_bytes(f, ph->p_offset, ph->p_filesz) : NULL;
        if (p) {
            int r = elf_notes_build_id(p, ph->p_filesz, ph->p_align, buf, n);
            if (r != -ENOENT)
                return r;
        }
    }
    /* Files without program headers (relocatable or odd links) may still carry the section. */
    struct elf_section s;
    for (unsigned i = 1; elf_file_section_at(f, i, &s) == 0; i++) {
        if (s.type == SHT_NOTE && s.data) {
            const Elf64_Shdr *sh = &f->shdrs[i];
            int r = elf_notes_build_id(s.data, s.size, sh->sh_addralign, buf, n);
            if (r != -ENOENT)
                return r;
        }
    }
    return -ENOENT;
}

/* Symbol table section of the given type with its linked string table; NULL when absent. */
static const Elf64_Sym *elf_symtab(const struct elf_file *f, uint32_t type, uint64_t *count,
                                   const uint8_t **strtab, uint64_t *strsize)
{
    for (unsigned i = 1; i < f->shnum; i++) {
        const Elf64_Shdr *sh = &f->shdrs[i];
        if (sh->sh_type != type || sh->sh_entsize != sizeof(Elf64_Sym) || sh->sh_link >= f->shnum)
            continue;
        const uint8_t *syms = elf_file_bytes(f, sh->sh_offset, sh->sh_size);
        const Elf64_Shdr *st = &f->shdrs[sh->sh_link];
        const uint8_t *str = st->sh_type == SHT_STRTAB ? elf_file_bytes(f, st->sh_offset, st->sh_size) : NULL;
        if (!syms || !str || sh->sh_offset % 8 != 0)
            continue;
        *count = sh->sh_size / sizeof(Elf64_Sym);
        *strtab = str;
        *strsize = st->sh_size;
        return (const Elf64_Sym *)syms;
    }
    return NULL;
}

int elf_file_symbol_find(const struct elf_file *f, const char *name, Elf64_Sym *out)
{
    static const uint32_t types[] = { SHT_SYMTAB, SHT_DYNSYM };
    for (unsigned t = 0; t < 2; t++) {
        uint64_t count, strsize;
        const uint8_t *str;
        const Elf64_Sym *syms = elf_symtab(f, types[t], &count, &str, &strsize);
        for (uint64_t i = 1; syms && i < count; i++) {
            const char *s = elf_strtab_get(str, strsize, syms[i].st_name);
            if (s && strcmp(s, name) == 0 && syms[i].st_shndx != SHN_UNDEF) {
                *out = syms[i];
                return 0;
            }
        }
    }
    return -ENOENT;
}

int elf_file_symbol_addr(const struct elf_file *f, const char *name, uint64_t *addr)
{
    Elf64_Sym s;
    int r = elf_file_symbol_find(f, name, &s);
    if (r == 0)
        *addr = s.st_value;
    return r;
}

/* Whether sym describes code; on success *limit is the end of its section. */
static int elf_sym_is_code(const struct elf_file *f, const Elf64_Sym *s, uint64_t *limit)
{
    unsigned type = ELF64_ST_TYPE(s->st_info);
    if (s->st_shndx == SHN_UNDEF || s->st_value == 0)
        return 0;
    if (s->st_shndx >= f->shnum) {
        /* SHN_ABS and friends: only trust an explicit size. */
        *limit = s->st_value + s->st_size;
        return (type == STT_FUNC || type == STT_GNU_IFUNC) && s->st_size > 0 && *limit > s->st_value;
    }
    const Elf64_Shdr *sh = &f->shdrs[s->st_shndx];
    *limit = sh->sh_addr + sh->sh_size;
    if (*limit < sh->sh_addr)
        *limit = UINT64_MAX;
    if (type == STT_FUNC || type == STT_GNU_IFUNC)
        return 1;
    return type == STT_NOTYPE && s->st_size > 0 && (sh->sh_flags & SHF_EXECINSTR);
}

static int elf_sym_cmp(const void *a, const void *b)
{
    const struct elf_sym_entry *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    /* Among aliases, sized symbols first so the dedupe below keeps them. */
    if ((x->size != 0) != (y->size != 0))
        return x->size ? -1 : 1;
    return 0;
}

/* PLT stubs have no symbols, yet samples land in them (a call through the PLT is interrupted at
 * its jmp). They are named as binutils names them, "<target>@plt": the i-th .rela.plt
 * relocation is the i-th 16-byte stub of .plt.sec where there is one (IBT), else of .plt after
 * its first entry (the resolver's). What remains of .plt and .plt.got (that entry, stubs of
 * non-lazy bindings) gets the section's name in brackets. Appends to v (room for cap entries)
 * and returns how many were added; the names live in f->plt_names. */
static size_t elf_plt_symbols(struct elf_file *f, struct elf_sym_entry *v, size_t cap)
{
    static const char *const whole[] = { ".plt", ".plt.got" };
    static const char *const bracketed[] = { "[.plt]", "[.plt.got]" };
    size_t n = 0;
    struct elf_section plt, sec, rela;
    int have_plt = elf_file_section(f, ".plt", &plt) == 0;
    int have_sec = elf_file_section(f, ".plt.sec", &sec) == 0;
    for (unsigned i = 0; i < 2 && n < cap; i++) {
        struct elf_section s;
        if (elf_file_section(f, whole[i], &s) == 0 && s.size && (s.flags & SHF_EXECINSTR))
            v[n++] = (struct elf_sym_entry){ s.addr, s.size, s.addr + s.size, bracketed[i] };
    }
    if (elf_file_section(f, ".rela.plt", &rela) != 0 || !rela.data || rela.offset % 8 != 0 ||
        !(have_sec || have_plt))
        return n;
    const struct elf_section *stubs = have_sec ? &sec : &plt;
    uint64_t first = have_sec ? 0 : 16;
    const Elf64_Shdr *rsh = &f->shdrs[rela.index];
    if (rsh->sh_link == 0 || rsh->sh_link >= f->shnum)
        return n;
    const Elf64_Shdr *dsh = &f->shdrs[rsh->sh_link];
    if (dsh->sh_entsize != sizeof(Elf64_Sym) || dsh->sh_link >= f->shnum || dsh->sh_offset % 8)
        return n;
    const Elf64_Sym *dsyms = (const Elf64_Sym *)elf_file_bytes(f, dsh->sh_offset, dsh->sh_size);
    const Elf64_Shdr *ssh = &f->shdrs[dsh->sh_link];
    const uint8_t *str = elf_file_bytes(f, ssh->sh_offset, ssh->sh_size);
    if (!dsyms || !str)
        return n;
    uint64_t ndsyms = dsh->sh_size / sizeof(Elf64_Sym);
    uint64_t nrela = rela.size / sizeof(Elf64_Rela);
    if (stubs->size <= first)
        return n;
    if (nrela > (stubs->size - first) / 16)
        nrela = (stubs->size - first) / 16;
    /* Two passes: the names' total size, then the names. */
    size_t pool = 0;
    const Elf64_Rela *r = (const Elf64_Rela *)rela.data;
    for (uint64_t i = 0; i < nrela; i++) {
        uint64_t sym = ELF64_R_SYM(r[i].r_info);
        const char *name = sym && sym < ndsyms ? elf_strtab_get(str, ssh->sh_size, dsyms[sym].st_name) : NULL;
        if (name && *name)
            pool += strlen(name) + sizeof "@plt";
    }
    free(f->plt_names);
    f->plt_names = pool ? malloc(pool) : NULL;
    if (!f->plt_names)
        return n;
    char *p = f->plt_names;
    for (uint64_t i = 0; i < nrela && n < cap; i++) {
        uint64_t sym = ELF64_R_SYM(r[i].r_info);
        const char *name = sym && sym < ndsyms ? elf_strtab_get(str, ssh->sh_size, dsyms[sym].st_name) : NULL;
        if (!name || !*name)
            continue;
        size_t len = strlen(name);
        memcpy(p, name, len);
        memcpy(p + len, "@plt", sizeof "@plt");
        uint64_t at = stubs->addr + first + 16 * i;
        v[n++] = (struct elf_sym_entry){ at, 16, stubs->addr + stubs->size, p };
        p += len + sizeof "@plt";
    }
    return n;
}

static int elf_build_symbols(struct elf_file *f)
{
    static const uint32_t types[] = { SHT_SYMTAB, SHT_DYNSYM };
    uint64_t total = 0;
    for (unsigned t = 0; t < 2; t++) {
        uint64_t count = 0, strsize;
        const uint8_t *str;
        if (elf_symtab(f, types[t], &count, &str, &strsize))
            total += count;
    }
    struct elf_section rela;
    uint64_t nplt = 2;   /* the bracketed .plt and .plt.got */
    if (elf_file_section(f, ".rela.plt", &rela) == 0)
        nplt += rela.size / sizeof(Elf64_Rela);
    if (total > (64u << 20) || nplt > (64u << 20))
        return -EINVAL;
    total += nplt;
    struct elf_sym_entry *v = malloc((total ? total : 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    size_t n = 0;
    for (unsigned t = 0; t < 2; t++) {
        uint64_t count = 0, strsize;
        const uint8_t *str;
        const Elf64_Sym *syms = elf_symtab(f, types[t], &count, &str, &strsize);
        for (uint64_t i = 1; syms && i < count && n < total; i++) {
            uint64_t limit;
            const char *name = elf_strtab_get(str, strsize, syms[i].st_name);
            if (!name || !*name || !elf_sym_is_code(f, &syms[i], &limit))
                continue;
            v[n++] = (struct elf_sym_entry){ syms[i].st_value, syms[i].st_size, limit, name };
        }
    }
    n += elf_plt_symbols(f, v + n, total - n);
    qsort(v, n, sizeof *v, elf_sym_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && v[m - 1].addr == v[i].addr)
            continue;  /* .dynsym repeats .symtab; aliases share an address */
        v[m++] = v[i];
    }
    f->syms = v;
    f->nsyms = m;
    return 0;
}

long elf_file_symbol_count(struct elf_file *f)
{
    if (f->syms_state == 0) {
        int r = elf_build_symbols(f);
        f->syms_state = r == 0 ? 1 : -1;
        if (r)
            return r;
    }
    return f->syms_state > 0 ? (long)f->nsyms : -ENOMEM;
}

/* Symbols inside a larger one (local labels in assembly) are skipped by looking back this far
 * for a containing sized symbol. */
#define ELF_SYM_LOOKBACK 8

const char *elf_file_symbol_lookup(struct elf_file *f, uint64_t vaddr, uint64_t *offset_out)
{
    if (elf_file_symbol_count(f) <= 0)
        return NULL;
    size_t lo = 0, hi = f->nsyms;  /* first index with addr > vaddr */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->syms[mid].addr <= vaddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = 0; k < ELF_SYM_LOOKBACK && k < lo; k++) {
        const struct elf_sym_entry *s = &f->syms[lo - 1 - k];
        uint64_t end;
        if (s->size)
            end = s->addr + s->size < s->addr ? UINT64_MAX : s->addr + s->size;
        else if (k == 0)
            end = lo < f->nsyms && f->syms[lo].addr < s->limit ? f->syms[lo].addr : s->limit;
        else
            continue;
        if (vaddr < end) {
            if (offset_out)
                *offset_out = vaddr - s->addr;
            return s->name;
        }
    }
    return NULL;
}
