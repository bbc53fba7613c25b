/* go_module.c -- which loaded object holds the Go runtime (see go_module.h).
 * Context: program (the constructor, and a thread calling pthread_create; never the handler)
 *
 * A Go shared library (-buildmode=c-shared) keeps g in its own TLS block, which the dynamic
 * linker places; Go's code reads it through an initial-exec GOT slot, so the block is static
 * TLS, at one offset from every thread's pointer (docs/go-runtime.md, 1.1).
 *
 * Loaded by dlopen (Python's ctypes, Java's System.loadLibrary), such a library is not seen by
 * interposing dlopen: glibc's dlopen searches the caller's RPATH/RUNPATH, found by its return
 * address, and a wrapper would make libgoprof the caller. Its runtime instead starts a thread
 * from the library's constructor (_rt0_amd64_lib: _cgo_sys_thread_create, pthread_create),
 * which libgoprof's wrapper sees, and every Go thread after it: the library is analysed there,
 * before its first Go code runs. Until then its frames were native; a sample taken while the
 * unwinder is being configured sees it as Go or not, never half (unwind_configure_late). One
 * search serves both: the constructor's, over every object loaded at start, and each later
 * one, over what was loaded since (go_module_find_lib).
 */
#include "program/preload/go_module.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "lib/base/log.h"
#include "lib/go/goexe.h"
#include "program/unwind/unwind.h"

static int has_go_note(const unsigned char *p, size_t size)
{
    size_t off = 0;
    while (off + 12 <= size) {
        uint32_t namesz, descsz, type;
        memcpy(&namesz, p + off, 4);
        memcpy(&descsz, p + off + 4, 4);
        memcpy(&type, p + off + 8, 4);
        size_t name = off + 12, desc = name + ((namesz + 3u) & ~3u);
        if (desc < name || desc > size)
            return 0;
        /* cmd/link names it "Go\0\0" (namesz 4), type 4 (NT_GO_BUILDID) */
        if (type == 4 && (namesz == 3 || namesz == 4) && desc <= size &&
            memcmp(p + name, "Go", 3) == 0)
            return 1;
        off = desc + ((descsz + 3u) & ~3u);
    }
    return 0;
}

int go_module_has_note(const struct dl_phdr_info *info)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_NOTE &&
            has_go_note((const unsigned char *)(uintptr_t)(info->dlpi_addr + ph->p_vaddr),
                        ph->p_memsz))
            return 1;
    }
    return 0;
}

/* The dynamic linker's TLS accessor (x86-64 ABI: a module id and an offset). Unlike dlinfo's
 * RTLD_DI_TLS_DATA, which gives NULL inside the dlopen that loads the module (the thread's DTV
 * does not know it yet), it brings the DTV up to date first. Looked up, not linked: the
 * library itself must not use dynamic TLS (scripts/check-exports.sh says so of any reference). */
typedef struct {
    unsigned long ti_module, ti_offset;
} tls_index;

/* g's TLS slot in a Go shared library analysed by goexe_analyze (modid: its TLS module id):
 * sets g->g_tls_offset. 0, or -ENOENT. */
static int go_module_lib_tls(size_t modid, struct goexe *g)
{
    void *(*tls_get_addr)(tls_index *) = NULL;
    *(void **)&tls_get_addr = dlsym(RTLD_DEFAULT, "__tls_get_addr");
    if (g->g_tls_in_block < 0 || modid == 0 || !tls_get_addr)
        return -ENOENT;
    tls_index ti = { modid, 0 };
    void *block = tls_get_addr(&ti);
    if (!block)
        return -ENOENT;
    uint64_t tp = (uint64_t)(uintptr_t)__builtin_thread_pointer();
    g->g_tls_offset = (int64_t)((uint64_t)(uintptr_t)block - tp) + g->g_tls_in_block;
    g->g_tls_exact = 1;
    return 0;
}

/* 0: not looking (a Go program, or one found); 1: looking; 2: a look under way. */
static _Atomic int watching;
static unsigned long long seen_adds;   /* dlpi_adds at the last look (the constructor's, or
                                        * under watching == 2) */

void go_module_watch(void)
{
    atomic_store(&watching, 1);
}

struct look {
    unsigned long long adds;
    int first;              /* the callback's first call: the executable */
    char path[4096];
    uint64_t bias;
    size_t tls_modid;
};

static int look_for_go(struct dl_phdr_info *info, size_t size, void *data)
{
    struct look *l = data;
    if (l->first) {   /* the executable: whether anything was loaded since the last look */
        l->first = 0;
        if (size < offsetof(struct dl_phdr_info, dlpi_tls_modid) + sizeof info->dlpi_tls_modid)
            return 1;   /* a glibc without dlpi_adds and dlpi_tls_modid */
        l->adds = info->dlpi_adds;
        return l->adds == seen_adds;
    }
    if (info->dlpi_name && info->dlpi_name[0] && go_module_has_note(info)) {
        snprintf(l->path, sizeof l->path, "%s", info->dlpi_name);
        l->bias = info->dlpi_addr;
        l->tls_modid = info->dlpi_tls_modid;
        return 1;
    }
    return 0;
}

int go_module_find_lib(struct goexe *go)
{
    struct look l = { .first = 1 };
    dl_iterate_phdr(look_for_go, &l);
    if (l.adds)
        seen_adds = l.adds;
    if (!l.path[0])
        return 0;
    int r = goexe_analyze(l.path, l.bias, go);
    if (r == 0 && go->is_go && go_module_lib_tls(l.tls_modid, go) == 0) {
        gp_debug("go", "%s (%s): its Go frames are walked", l.path, go->version);
        return 1;
    }
    gp_log("go", "%s (%s): %s; its Go code is profiled as native code", l.path,
           go->version[0] ? go->version : "Go",
           r != 0 ? strerror(-r) : "g's TLS slot not found");
    memset(go, 0, sizeof *go);
    return -ENOTSUP;
}

void go_module_look_again(void)
{
    int one = 1;
    if (atomic_load_explicit(&watching, memory_order_relaxed) != 1 ||
        !atomic_compare_exchange_strong(&watching, &one, 2))
        return;   /* not looking, or another thread is */
    static struct goexe go;   /* the unwinder reads its tables in place: they stay */
    int r = go_module_find_lib(&go);
    if (r > 0)
        unwind_configure_late(&go);
    atomic_store(&watching, r == 0);   /* found (usable or not): one Go runtime in a process */
}
