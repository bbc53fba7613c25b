/* outpath.h -- expands the output-path template (GOPROF_OUT).
 * Context: library
 *
 * Conversions: %p pid, %t start time in UTC as YYYYmmddTHHMMSS (of the run, or of the interval in
 * interval mode), %e program name (as in the kernel's core_pattern), %n the file's sequence number
 * (1-based; always 1 in one-file mode), %% a literal %.
 * Any other %x, and a trailing lone %, make the template invalid; this is checked at startup so
 * that a typo in GOPROF_OUT is reported before the program runs, not when the profile is lost.
 */
#ifndef GP_OUTPATH_H
#define GP_OUTPATH_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* Relative paths are relative to the working directory at write time. */
#define GP_OUTPATH_DEFAULT "goprof.%e.%p.pb.gz"
#define GP_OUTPATH_HEAP_DEFAULT "goprof.%e.%p.heap.pb.gz"

/* Checks the template's syntax only. Returns 0, or -EINVAL for NULL, "", an unknown conversion
 * or a trailing %. Allocates nothing and touches no global state, so it is safe in a
 * constructor before libc is fully set up. */
int outpath_validate(const char *tmpl);

/* Whether a valid template uses conversion c (e.g. 'n', 'p'); "%%n" is not a use of 'n'. */
int outpath_uses(const char *tmpl, char c);

/* Appends s to the template tmpl (tmplsz bytes, NUL included) with every '%' doubled, so that
 * it expands to itself. Returns 0, or -ENAMETOOLONG (tmpl then holds what fitted). */
int outpath_append_literal(char *tmpl, size_t tmplsz, const char *s);

/* Writes the expansion of tmpl into out (outsz bytes, NUL included). prog: the program name, of
 * which only the part after the last '/' is used (pass argv[0]); NULL means the basename of
 * /proc/self/exe; "unknown" if neither gives a name. seq: the value of %n.
 * Returns 0, -EINVAL (see outpath_validate, or t not representable), or -ENAMETOOLONG if the
 * result does not fit (out then holds a truncated, NUL-terminated string if outsz > 0). */
int outpath_expand(const char *tmpl, pid_t pid, time_t t, const char *prog, unsigned seq,
                   char *out, size_t outsz);

#endif
