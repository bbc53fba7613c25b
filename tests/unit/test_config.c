/* test_config.c -- every GOPROF_* variable: defaults, valid and invalid values, messages.
 * Context: tests
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "preload/config.h"

static struct gp_config c;
static char err[512], warn[256];

static int parse_with(const char *name, const char *value)
{
    if (value)
        setenv(name, value, 1);
    int r = config_parse(&c, err, sizeof err, warn, sizeof warn);
    unsetenv(name);
    return r;
}

static void test_defaults(void)
{
    CHECK(parse_with("GOPROF_NONE_SET", NULL) == 0);
    CHECK(c.hz == 100 && c.disable == 0 && c.ring_slots == 2048 && c.debug == 0);
    CHECK(strcmp(c.out, "goprof.%e.%p.pb.gz") == 0);
    CHECK(c.interval_ns == 0 && c.http[0] == 0 && c.http_addr.family == 0);
    CHECK(c.http_allow_remote == 0);
    CHECK(err[0] == 0 && warn[0] == 0);
}

static void test_hz(void)
{
    CHECK(parse_with("GOPROF_HZ", "250") == 0 && c.hz == 250);
    CHECK(parse_with("GOPROF_HZ", "10000") == 0 && c.hz == 10000);
    const char *bad[] = { "abc", "0", "10001", "", "-5", "1e3", "99999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(parse_with("GOPROF_HZ", bad[i]) != 0);
        CHECK(strstr(err, "GOPROF_HZ") != NULL);
        CHECK(strstr(err, "1 to 10000") != NULL);
        CHECK(strchr(err, '\n') == NULL);        /* one line */
    }
}

static void test_out(void)
{
    CHECK(parse_with("GOPROF_OUT", "/tmp/x.%p.%t.%e.%n.pb.gz") == 0);
    CHECK(strcmp(c.out, "/tmp/x.%p.%t.%e.%n.pb.gz") == 0);
    CHECK(parse_with("GOPROF_OUT", "a%%b") == 0);
    CHECK(parse_with("GOPROF_OUT", "%q") != 0 && strstr(err, "GOPROF_OUT") != NULL);
    CHECK(parse_with("GOPROF_OUT", "x%") != 0 && strstr(err, "GOPROF_OUT") != NULL);
    CHECK(parse_with("GOPROF_OUT", "") != 0);
}

static void test_interval(void)
{
    CHECK(parse_with("GOPROF_INTERVAL", "60s") == 0 && c.interval_ns == 60000000000ull);
    CHECK(parse_with("GOPROF_INTERVAL", "250ms") == 0 && c.interval_ns == 250000000ull);
    CHECK(parse_with("GOPROF_INTERVAL", "2m") == 0 && c.interval_ns == 120000000000ull);
    CHECK(parse_with("GOPROF_INTERVAL", "24h") == 0 && c.interval_ns == 86400000000000ull);
    CHECK(parse_with("GOPROF_INTERVAL", "") == 0 && c.interval_ns == 0);
    const char *bad[] = { "60", "abc", "s", "1.5s", "-1s", "99ms", "25h", "10 s", "5S", "0s",
                          "99999999999999999999s", "1sec" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(parse_with("GOPROF_INTERVAL", bad[i]) != 0);
        CHECK(strstr(err, "GOPROF_INTERVAL") != NULL && strstr(err, "100ms to 24h") != NULL);
        CHECK(strchr(err, '\n') == NULL);
    }
}

static void test_http(void)
{
    CHECK(parse_with("GOPROF_HTTP", "127.0.0.1:6060") == 0);
    CHECK(c.http_addr.family == AF_INET && c.http_addr.port == 6060 && c.http_addr.loopback);
    CHECK(strcmp(c.http, "127.0.0.1:6060") == 0);
    CHECK(parse_with("GOPROF_HTTP", "localhost:1") == 0 && c.http_addr.addr[0] == 127);
    CHECK(parse_with("GOPROF_HTTP", "[::1]:65535") == 0);
    CHECK(c.http_addr.family == AF_INET6 && c.http_addr.port == 65535 && c.http_addr.loopback);
    CHECK(parse_with("GOPROF_HTTP", "127.1.2.3:80") == 0 && c.http_addr.loopback);
    const char *bad[] = { "6060", ":6060", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                          "127.0.0.1:x", "example.com:80", "[::1:80", "::1:80", "[::1]80" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(parse_with("GOPROF_HTTP", bad[i]) != 0);
        CHECK(strstr(err, "GOPROF_HTTP=") != NULL && strchr(err, '\n') == NULL);
    }
    /* Non-loopback: only with the explicit setting. */
    const char *remote[] = { "0.0.0.0:6060", "10.1.2.3:6060", "[::]:6060", "[2001:db8::1]:80" };
    for (size_t i = 0; i < sizeof remote / sizeof remote[0]; i++) {
        CHECK(parse_with("GOPROF_HTTP", remote[i]) != 0);
        CHECK(strstr(err, "GOPROF_HTTP=") != NULL && strstr(err, "GOPROF_HTTP_ALLOW_REMOTE=1"));
        CHECK(strchr(err, '\n') == NULL);
        setenv("GOPROF_HTTP_ALLOW_REMOTE", "1", 1);
        CHECK(parse_with("GOPROF_HTTP", remote[i]) == 0 && !c.http_addr.loopback);
        unsetenv("GOPROF_HTTP_ALLOW_REMOTE");
    }
    CHECK(parse_with("GOPROF_HTTP_ALLOW_REMOTE", "perhaps") != 0);
}

static void test_bools_and_ring(void)
{
    CHECK(parse_with("GOPROF_DISABLE", "1") == 0 && c.disable == 1);
    CHECK(parse_with("GOPROF_DISABLE", "0") == 0 && c.disable == 0);
    CHECK(parse_with("GOPROF_DISABLE", "maybe") != 0 && strstr(err, "GOPROF_DISABLE"));
    CHECK(parse_with("GOPROF_RING_SLOTS", "64") == 0 && c.ring_slots == 64);
    CHECK(parse_with("GOPROF_RING_SLOTS", "3") != 0 && strstr(err, "GOPROF_RING_SLOTS"));
    CHECK(parse_with("GOPROF_DEBUG", "yes") == 0 && c.debug == 1);
}

static void test_format(void)
{
    CHECK(parse_with("GOPROF_FORMAT", NULL) == 0 && c.format == GP_FORMAT_PPROF);
    CHECK(parse_with("GOPROF_FORMAT", "pprof") == 0 && c.format == GP_FORMAT_PPROF);
    CHECK(strcmp(c.out, "goprof.%e.%p.pb.gz") == 0);
    CHECK(parse_with("GOPROF_FORMAT", "folded") == 0 && c.format == GP_FORMAT_FOLDED);
    CHECK(strcmp(c.out, "goprof.%e.%p.folded") == 0);     /* default name follows the format */
    setenv("GOPROF_OUT", "x.pb.gz", 1);
    CHECK(parse_with("GOPROF_FORMAT", "folded") == 0 && strcmp(c.out, "x.pb.gz") == 0);
    unsetenv("GOPROF_OUT");
    const char *bad[] = { "svg", "", "Folded", "pprof|folded", "fold" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(parse_with("GOPROF_FORMAT", bad[i]) != 0);
        CHECK(strstr(err, "GOPROF_FORMAT") != NULL);
        CHECK(strstr(err, "one of pprof, folded") != NULL);
        CHECK(strchr(err, '\n') == NULL);
    }
}

static void test_first_error_and_unknown(void)
{
    setenv("GOPROF_HZ", "x", 1);
    CHECK(parse_with("GOPROF_OUT", "%q") != 0);
    CHECK(strstr(err, "GOPROF_OUT") != NULL);    /* table order: GOPROF_OUT comes first */
    unsetenv("GOPROF_HZ");
    CHECK(parse_with("GOPROF_HZZ", "5") == 0);   /* unknown names warn, never fail */
    CHECK(strstr(warn, "GOPROF_HZZ") != NULL);
}

int main(void)
{
    test_defaults();
    test_hz();
    test_out();
    test_interval();
    test_http();
    test_bools_and_ring();
    test_format();
    test_first_error_and_unknown();
    return check_done();
}
