/* httpd_mhd.c -- libmicrohttpd, loaded at run time (see httpd_mhd.h).
 * Context: collector
 */
#include "collector/httpd_mhd.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int httpd_mhd_load(struct httpd_mhd *api, char *err, size_t errsz)
{
    void *lib = dlopen(GP_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(err, errsz, "%s", dlerror());
        return -ENOENT;
    }
    static const struct { const char *name; size_t off; } syms[] = {
#define SYM(f) { "MHD_" #f, offsetof(struct httpd_mhd, f) }
        SYM(start_daemon), SYM(stop_daemon), SYM(quiesce_daemon), SYM(get_daemon_info),
        SYM(get_timeout), SYM(run), SYM(lookup_connection_value_n), SYM(queue_response),
        SYM(suspend_connection), SYM(resume_connection), SYM(create_response_from_buffer),
        SYM(create_response_from_fd), SYM(add_response_header), SYM(destroy_response),
#undef SYM
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        void *f = dlsym(lib, syms[i].name);
        if (!f) {
            snprintf(err, errsz, "%s: no %s", GP_MHD_SONAME, syms[i].name);
            dlclose(lib);
            return -ENOENT;
        }
        /* Each member is a function pointer; POSIX makes dlsym's object pointer convertible. */
        memcpy((char *)api + syms[i].off, &f, sizeof f);
    }
    return 0;   /* the library stays loaded for the collector's life */
}
