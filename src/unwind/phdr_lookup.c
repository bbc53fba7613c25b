/* phdr_lookup.c -- dl_iterate_phdr for libunwind in signal context (see phdr_lookup.h).
 * Context: signal
 * Must not: allocate, lock, call anything but _dl_find_object (AS-Safe).
 */
#include "unwind/phdr_lookup.h"

#include <dlfcn.h>
#include <elf.h>

static __thread int active __attribute__((tls_model("initial-exec")));
static __thread uint64_t lookup_ip __attribute__((tls_model("initial-exec")));

GP_SIGSAFE void phdr_lookup_begin(uint64_t ip)
{
    lookup_ip = ip;
    active = 1;
}

GP_SIGSAFE void phdr_lookup_end(void)
{
    active = 0;
}

GP_SIGSAFE int phdr_lookup_active(void)
{
    return active;
}

GP_SIGSAFE int phdr_lookup_iterate(phdr_callback cb, void *data)
{
    struct dl_find_object obj;
    if (_dl_find_object((void *)(uintptr_t)lookup_ip, &obj) != 0 || !obj.dlfo_link_map)
        return 0;
    /* The first segment of a loaded object begins with its ELF header (the loader maps the
     * file from offset 0); its program headers are where e_phoff says. */
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)obj.dlfo_map_start;
    if (eh->e_ident[EI_MAG0] != ELFMAG0 || eh->e_ident[EI_MAG1] != ELFMAG1 ||
        eh->e_phentsize != sizeof(ElfW(Phdr)) ||
        (uintptr_t)obj.dlfo_map_start + eh->e_phoff + eh->e_phnum * sizeof(ElfW(Phdr)) >
            (uintptr_t)obj.dlfo_map_end)
        return 0;
    struct dl_phdr_info info;
    info.dlpi_addr = obj.dlfo_link_map->l_addr;
    info.dlpi_name = obj.dlfo_link_map->l_name;
    info.dlpi_phdr = (const ElfW(Phdr) *)((const char *)obj.dlfo_map_start + eh->e_phoff);
    info.dlpi_phnum = eh->e_phnum;
    info.dlpi_adds = 0;
    info.dlpi_subs = 0;
    info.dlpi_tls_modid = 0;
    info.dlpi_tls_data = 0;
    return cb(&info, sizeof info, data);
}

GP_SIGSAFE int phdr_lookup_in_module(uint64_t pc)
{
    struct dl_find_object obj;
    return _dl_find_object((void *)(uintptr_t)pc, &obj) == 0;
}
