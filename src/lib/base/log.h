/* log.h -- one-line diagnostics on stderr, never from signal context.
 * Context: library
 *
 * Every line has the form "libgoprof: <subsystem>: <message>" (see gp_log_prefix). The line
 * is assembled in a stack buffer and written with a single write(2) so that it never
 * interleaves with the application's own output mid-line. Control characters in the message
 * (a newline or an escape inside a quoted value) are written as '?': one call, one line.
 */
#ifndef GP_LOG_H
#define GP_LOG_H

/* "libgoprof" unless a program that links this code (the goprof command) names itself. */
extern const char *gp_log_prefix;

void gp_log(const char *subsystem, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Debug lines appear only when GOPROF_DEBUG=1. */
extern int gp_log_debug_enabled;
#define gp_debug(...) do { if (gp_log_debug_enabled) gp_log(__VA_ARGS__); } while (0)

#endif
