/* frame_kind.c -- which kind of code a profile's frame is (see frame_kind.h for the rules).
 * Context: goprof
 */
#include "goprof/frame_kind.h"

#include <stddef.h>
#include <string.h>

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int has_suffix(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* A byte of a Go symbol's package path: an import path's ("-._~+" and '/'), '%' of the
 * linker's escapes ("yaml%2ev3"), and any byte of a UTF-8 sequence. */
static int path_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.' || c == '~' || c == '+' || c == '/' || c == '%' ||
           c >= 0x80;
}

/* gcc's and clang's names for a function's clones and split parts, after the first '.'. */
static int clone_suffix(const char *s)
{
    static const char *const words[] = { "cold", "part", "constprop", "isra", "lto_priv",
                                         "localalias", "llvm", "clone" };
    size_t n = strcspn(s, ".");
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i]) == n && !memcmp(s, words[i], n))
            return 1;
    return 0;
}

/* 1 if name has the form of a Go function's name, with *pkglen the length of its package path
 * (0 for "type:..." and "go:..." names, which have none). */
static int go_name(const char *name, size_t *pkglen)
{
    *pkglen = 0;
    if (has_prefix(name, "type:") || has_prefix(name, "go:"))
        return 1;
    if (strstr(name, "::") || strchr(name, '@'))
        return 0;
    /* The package path ends at the first '.' after the last '/' before any generic arguments
     * ("[...]") or receiver ("(*T)"). */
    size_t end = strcspn(name, "[(");
    if (name[end] == '(' && (end == 0 || name[end - 1] != '.'))
        return 0;                               /* f(int): a C++ signature */
    size_t last = 0;                            /* just after the last '/' */
    for (size_t i = 0; i < end; i++) {
        if (!path_byte((unsigned char)name[i]))
            return 0;
        if (name[i] == '/')
            last = i + 1;
    }
    const char *dot = memchr(name + last, '.', end - last);
    if (!dot || dot == name + last || !dot[1])
        return 0;
    /* A name without '/' may be C's: "f.cold", "f.part.0", "f.constprop.0.isra.0", "f.0". */
    if (last == 0 && ((dot[1] >= '0' && dot[1] <= '9') || clone_suffix(dot + 1)))
        return 0;
    *pkglen = (size_t)(dot - name);
    return 1;
}

static int runtime_package(const char *name, size_t pkglen)
{
    return (pkglen == 7 && !memcmp(name, "runtime", 7)) ||
           (pkglen > 8 && has_prefix(name, "runtime/")) ||
           (pkglen > 17 && has_prefix(name, "internal/runtime/"));
}

enum frame_kind frame_kind(const char *name, const char *file)
{
    if (!name || !name[0])
        return FRAME_NATIVE;
    if (has_prefix(name, "[libgoprof] ") || has_prefix(name, "[process: "))
        return FRAME_LIBGOPROF;
    size_t flen = file ? strlen(file) : 0, pkglen;
    int is_go_name = go_name(name, &pkglen);
    if (has_suffix(file ? file : "", flen, ".go") && is_go_name)
        return runtime_package(name, pkglen) ? FRAME_GO_RUNTIME : FRAME_GO;
    if (has_suffix(file ? file : "", flen, ".go"))
        return FRAME_NATIVE;   /* C in a cgo preamble: its line directives name the .go file */
    int go_asm = has_suffix(file ? file : "", flen, ".s");
    if (flen && !go_asm && file[0] != '<')
        return FRAME_NATIVE;
    if (is_go_name)
        return runtime_package(name, pkglen) ? FRAME_GO_RUNTIME : FRAME_GO;
    if (go_asm && (has_prefix(file, "runtime/") || strstr(file, "/runtime/")))
        return FRAME_GO_RUNTIME;
    return FRAME_NATIVE;
}

const char *frame_kind_key(enum frame_kind k)
{
    static const char *const keys[FRAME_KINDS] = {
        [FRAME_GO] = "go", [FRAME_GO_RUNTIME] = "runtime", [FRAME_NATIVE] = "native",
        [FRAME_LIBGOPROF] = "libgoprof",
    };
    return (unsigned)k < FRAME_KINDS ? keys[k] : "native";
}
