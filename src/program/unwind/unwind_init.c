/* unwind_init.c -- configuration of the unwinder from the analysed executable.
 * Context: program (constructor)
 */
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "lib/go/goexe.h"
#include "program/unwind/cfi.h"
#include "program/unwind/unwind.h"

/* Functions the Go walker treats specially, by name (names are in pclntab even in stripped
 * binaries; funcIDs are renumbered between versions). Some names occur twice (an ABI0 body and
 * its ABIInternal wrapper): every match is recorded. */
static const struct {
    const char *name;
    uint8_t kind;
} special_names[] = {
    /* Bottoms of goroutine stacks, of every M's g0, of m0's g0; signal trampolines; and
     * mcall, whose callers belong to a goroutine no longer running on this M
     * (docs/go-runtime.md §3.4, §3.7). */
    { "runtime.goexit", GO_ROOT },
    { "runtime.mstart", GO_ROOT },
    { "runtime.rt0_go", GO_ROOT },
    { "runtime.mcall", GO_ROOT },
    { "runtime.sigtramp", GO_ROOT },
    { "runtime.cgoSigtramp", GO_ROOT },
    { "runtime.morestack", GO_MORESTACK },
    { "runtime.asyncPreempt", GO_TRAP },
    { "runtime.sigpanic", GO_TRAP },
    { "crosscall2", GO_CROSSCALL2 },
};

/* gp_cfi_main: the executable's program headers, as the kernel gave them. */
static void main_program_headers(void)
{
    const void *ph = (const void *)getauxval(AT_PHDR);
    unsigned long n = getauxval(AT_PHNUM);
    struct dl_find_object o;
    if (!ph || n == 0 || n > 0xffff || _dl_find_object((void *)(uintptr_t)ph, &o) != 0)
        return;
    gp_cfi_main.phdr = ph;
    gp_cfi_main.phnum = (int)n;
    gp_cfi_main.lm = o.dlfo_link_map;
}

/* Everything of the Go side but is_go (and pid, which is not Go's). */
static void configure_go(struct unwind_go *u, const struct goexe *go)
{
    u->pcln = go->pcln;
    u->text.lo = go->text_start;
    u->text.hi = go->text_end;
    u->g_tls_offset = go->g_tls_offset;
    u->layout = go->layout;   /* DWARF, else the version table (goexe) */
    const size_t nnames = sizeof special_names / sizeof special_names[0];
    uint64_t lengths = 0;     /* bit n: some special name has n characters */
    int long_names = 0;       /* some have 64 or more */
    for (size_t k = 0; k < nnames; k++) {
        size_t n = strlen(special_names[k].name);
        if (n < 64)
            lengths |= 1ull << n;
        else
            long_names = 1;
    }
    for (uint32_t i = 0; i < u->pcln.nfunc && u->nspecial < GP_UNWIND_MAX_SPECIAL; i++) {
        struct gofunc f;
        if (gopcln_func_at(&u->pcln, i, &f) != 0)
            continue;
        const char *name = gopcln_funcname(&u->pcln, &f);
        if (!name)
            continue;
        /* Most names end here, by their length: a strcmp with each special name took 75 % of
         * this loop (2 000 functions, 10 names: 80 us in the constructor). */
        size_t len = strlen(name);
        if (len >= 64 ? !long_names : !(lengths >> len & 1))
            continue;
        for (size_t k = 0; k < nnames; k++) {
            if (strlen(special_names[k].name) != len || memcmp(name, special_names[k].name, len))
                continue;
            u->special[u->nspecial].lo = f.entry;
            u->special[u->nspecial].hi = f.end;
            u->special[u->nspecial].kind = special_names[k].kind;
            u->nspecial++;
            break;
        }
    }
}

void unwind_configure(const struct goexe *go)
{
    main_program_headers();
    struct unwind_go *u = &gp_unwind_go;
    memset(u, 0, sizeof *u);
    u->pid = getpid();
    if (!go || !go->is_go)
        return;
    configure_go(u, go);
    u->is_go = 1;
}

void unwind_configure_late(const struct goexe *go)
{
    struct unwind_go *u = &gp_unwind_go;
    if (unwind_go_on() || !go || !go->is_go)
        return;
    u->nspecial = 0;
    configure_go(u, go);
    __atomic_store_n(&u->is_go, 1, __ATOMIC_RELEASE);   /* last: see unwind_go_on */
}

void unwind_warm(void)
{
    cfi_cache_warm();
    if (unwind_go_on())   /* the Go frame cache is only used on Go text */
        unwind_go_warm();
}
