/* httpd_mhd.h -- libmicrohttpd, loaded at run time in the collector process only.
 * Context: collector
 *
 * Why dlopen rather than linking libgoprof.so against it: a linked libmicrohttpd (and GnuTLS,
 * nettle, gmp, p11-kit ... behind it) would be loaded, constructors and all, into every
 * profiled program, which must stay as it is without libgoprof. Loaded in the collector, it
 * touches nothing of the application's, costs nothing unless GOPROF_HTTP is set, and its
 * absence costs only the endpoint (one line on stderr). The header (and so the ABI) comes from
 * pkg-config at build time; the soname, GP_MHD_SONAME, from configure.
 */
#ifndef GP_HTTPD_MHD_H
#define GP_HTTPD_MHD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

/* The functions libgoprof calls, by their own prototypes. */
struct httpd_mhd {
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_quiesce_daemon) *quiesce_daemon;
    __typeof__(MHD_get_daemon_info) *get_daemon_info;
    __typeof__(MHD_get_timeout) *get_timeout;
    __typeof__(MHD_run) *run;
    __typeof__(MHD_lookup_connection_value_n) *lookup_connection_value_n;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_suspend_connection) *suspend_connection;
    __typeof__(MHD_resume_connection) *resume_connection;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_create_response_from_fd) *create_response_from_fd;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_destroy_response) *destroy_response;
};

/* Loads the library and every function: 0, or -ENOENT with why (dlerror's text) in err. */
int httpd_mhd_load(struct httpd_mhd *api, char *err, size_t errsz);

#endif
