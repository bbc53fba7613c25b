/* go_module.h -- which loaded object holds the Go runtime: the executable, a Go shared library
 * it was linked with, or one loaded later by dlopen.
 * Context: program (the constructor; go_module_look_again on a thread calling pthread_create)
 */
#ifndef GP_GO_MODULE_H
#define GP_GO_MODULE_H

#include <link.h>
#include <stddef.h>
#include <stdint.h>

struct goexe;

/* Whether a loaded object's notes include Go's build ID (cmd/link writes it into every Go
 * executable and shared library): read from memory, no file opened. */
int go_module_has_note(const struct dl_phdr_info *info);

/* The first loaded shared object with Go's note (-buildmode=c-shared), among those loaded
 * since the last look (all of them at the first), analysed into *go, g's TLS slot included.
 * 1: found, *go usable; 0: none; -ENOTSUP: one that cannot be used (said in one line, *go
 * zeroed). */
int go_module_find_lib(struct goexe *go);

/* A Go shared library loaded after start is looked for from here on (the constructor calls it
 * for a program with no Go found at start). */
void go_module_watch(void);

/* On pthread_create: a Go shared library's runtime starts its first thread from the library's
 * constructor, inside the dlopen that loads it, before any Go code runs. If objects were
 * loaded since the last look and one is Go, the unwinder is configured for it (once). */
void go_module_look_again(void);

#endif
