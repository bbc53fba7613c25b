/* demangle.c -- the C++ runtime's demangler, loaded at run time (see demangle.h).
 * Context: collector
 */
#include "collector/demangle.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/log.h"

/* <cxxabi.h>: char *abi::__cxa_demangle(const char *, char *, size_t *, int *), extern "C". */
typedef char *cxa_demangle_fn(const char *mangled, char *buf, size_t *len, int *status);

static cxa_demangle_fn *load(void)
{
    static int tried;
    static cxa_demangle_fn *fn;
    if (tried)
        return fn;
    tried = 1;
    void *lib = dlopen(GP_CXXABI_SONAME, RTLD_NOW | RTLD_LOCAL);
    void *f = lib ? dlsym(lib, "__cxa_demangle") : NULL;
    if (!f) {
        gp_debug("symbolize", "no C++ demangler (%s): names stay mangled", dlerror());
        return NULL;
    }
    memcpy(&fn, &f, sizeof f);  /* POSIX: dlsym's object pointer converts to a function's */
    return fn;                  /* the library stays loaded for the collector's life */
}

char *gp_demangle(const char *mangled)
{
    if (!mangled || strncmp(mangled, "_Z", 2) != 0)
        return NULL;
    cxa_demangle_fn *fn = load();
    if (!fn)
        return NULL;
    int status = -1;
    char *out = fn(mangled, NULL, NULL, &status);
    if (status != 0) {
        free(out);
        return NULL;
    }
    /* malloc'd by the runtime (the process's one malloc); cppcheck takes a function pointer's
     * result for something made of its arguments. */
    // cppcheck-suppress returnDanglingLifetime
    return out;
}
