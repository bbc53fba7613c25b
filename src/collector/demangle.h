/* demangle.h -- C++ names as people read them, by the C++ runtime's own demangler.
 * Context: collector
 *
 * The demangler is __cxa_demangle from the C++ runtime (libstdc++, soname GP_CXXABI_SONAME
 * from configure), the one the compiler's ABI (the Itanium C++ ABI, as GCC and Clang use it on
 * Linux) defines, rather than one written here: mangling grows with the language (lambdas,
 * concepts, ABI tags). It is dlopen()ed in the collector only, on first use, so profiled
 * programs never load it; when it cannot be loaded, names stay as they are.
 */
#ifndef GP_DEMANGLE_H
#define GP_DEMANGLE_H

/* The demangled form of an Itanium-ABI name ("_Z..."), malloc'd (free() it), or NULL: not a
 * mangled name, not one the demangler accepts, or no demangler. */
char *gp_demangle(const char *mangled);

#endif
