/* config.h -- the GOPROF_* environment variables: one table, parsed once at start.
 * Context: library (parsed by the program's constructor, listed by mkman)
 */
#ifndef GP_CONFIG_H
#define GP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* A parsed GOPROF_HTTP address: numeric, so nothing is resolved in the constructor. */
struct gp_http_addr {
    int family;               /* 0 (off), AF_INET or AF_INET6 */
    uint8_t addr[16];         /* network byte order; 4 bytes for AF_INET */
    uint16_t port;            /* host byte order, 1-65535 */
    int loopback;
};

struct gp_config {
    int disable;              /* GOPROF_DISABLE */
    char out[4096];           /* GOPROF_OUT: output path template */
    uint32_t hz;              /* GOPROF_HZ */
    uint32_t ring_slots;      /* GOPROF_RING_SLOTS */
    int debug;                /* GOPROF_DEBUG */
    int format;               /* GOPROF_FORMAT: GP_FORMAT_* */
    uint64_t interval_ns;     /* GOPROF_INTERVAL: one file per interval; 0 = one file at the end */
    char http[80];            /* GOPROF_HTTP as given; "" = no endpoint */
    struct gp_http_addr http_addr;
    int http_allow_remote;    /* GOPROF_HTTP_ALLOW_REMOTE */
    int follow;               /* GOPROF_FOLLOW: descendants join the session */
    uint64_t exit_wait_ns;    /* GOPROF_EXIT_WAIT: 0 = the exit does not wait */
    uint64_t heap_rate;       /* GOPROF_HEAP_RATE: mean bytes between sampled allocations; 0 off */
    char heap_out[4096];      /* GOPROF_HEAP_OUT: heap profile path template */
};

/* GOPROF_FORMAT values, in the order of the table's choices. */
enum { GP_FORMAT_PPROF, GP_FORMAT_FOLDED };

/* Parses every GOPROF_* variable from the environment. On the first bad value, writes into
 * `err` one line naming the variable and what it accepts, and returns -EINVAL (the caller
 * prints it and leaves the program unprofiled). Unknown GOPROF_* names produce a warning line
 * in `warn` but are not an error. */
int config_parse(struct gp_config *c, char *err, size_t errsz, char *warn, size_t warnsz);

/* The one duration syntax, of GOPROF_INTERVAL and of goprof's options: a decimal number
 * (digits, optionally '.' and digits) and a unit ms, s, m or h ("250ms", "1.5s", "0.5m",
 * "2h"; no unit: seconds, "30"), from 100ms to 24h. Returns 0 with *ns set, -EINVAL (not
 * that syntax) or -ERANGE. */
#define GP_DURATION_MIN_NS (100 * 1000000ll)
#define GP_DURATION_MAX_NS (24 * 3600 * 1000000000ll)
#define GP_DURATION_ACCEPTED \
    "a duration from 100ms to 24h: a number (decimals allowed) and ms, s, m or h; no unit: s"
int config_parse_duration(const char *s, int64_t *ns);

/* The one size syntax, of GOPROF_HEAP_RATE: digits and an optional k, m or g (powers of 1024),
 * optionally followed by b ("512k", "1m", "4096"), up to 1g. Returns 0 with *bytes set,
 * -EINVAL or -ERANGE. */
#define GP_SIZE_MAX_BYTES (1ull << 30)
#define GP_SIZE_ACCEPTED "a size up to 1g: a number of bytes, with k, m or g (e.g. 512k, 1m); 0: off"
int config_parse_size(const char *s, uint64_t *bytes);

/* What the processes of one session must agree on: a hash of every GOPROF_* variable of the
 * table as set in the environment (unset and set-to-the-default differ; GOPROF_DEBUG does not
 * count). A process whose settings differ from its ancestor's session starts its own. */
uint64_t config_session_hash(void);

/* For documentation and tests: the table, one line per variable. */
void config_describe(void (*line)(const char *name, const char *def, const char *help));

#endif
