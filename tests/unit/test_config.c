/* test_config.c -- every GOPROF_* variable: defaults, valid and invalid values, messages.
 * Context: tests
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>
#include <unistd.h>

#include "check.h"
#include "lib/config/config.h"
#include "lib/outname/output_claim.h"

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
    CHECK(c.hz == 100 && c.disable == 0 && c.ring_slots == 1024 && c.debug == 0);
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
    /* decimals, as goprof record -d takes them (the same parser) */
    CHECK(parse_with("GOPROF_INTERVAL", "1.5s") == 0 && c.interval_ns == 1500000000ull);
    CHECK(parse_with("GOPROF_INTERVAL", "0.5m") == 0 && c.interval_ns == 30000000000ull);
    CHECK(parse_with("GOPROF_INTERVAL", "100ms") == 0 && c.interval_ns == 100000000ull);
    CHECK(parse_with("GOPROF_INTERVAL", "0.1s") == 0 && c.interval_ns == 100000000ull);
    CHECK(parse_with("GOPROF_INTERVAL", "23.999h") == 0 && c.interval_ns == 86396400000000ull);
    CHECK(parse_with("GOPROF_INTERVAL", "100.0000000001ms") == 0 &&
          c.interval_ns == 100000000ull);
    /* no unit: seconds */
    CHECK(parse_with("GOPROF_INTERVAL", "60") == 0 && c.interval_ns == 60000000000ull);
    CHECK(parse_with("GOPROF_INTERVAL", "1.5") == 0 && c.interval_ns == 1500000000ull);
    const char *bad[] = { "0.05", "86401", "abc", "s", "-1s", "99ms", "0.09s", "25h", "24.001h",
                          "10 s", "5S", "0s", "99999999999999999999s", "1sec", ".5s", "1.s",
                          "1..5s", "1.5.s", "+1s", " 1s", "1s ", "0x10s", "1e3ms", "inf",
                          "18446744073709551617ms", "1,5s" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(parse_with("GOPROF_INTERVAL", bad[i]) != 0);
        CHECK(strstr(err, "GOPROF_INTERVAL") != NULL && strstr(err, "100ms to 24h") != NULL);
        CHECK(strstr(err, GP_DURATION_ACCEPTED) != NULL);   /* goprof record -d says the same */
        CHECK(strchr(err, '\n') == NULL);
    }
}

/* The parser itself, as goprof's options use it: -EINVAL for the syntax, -ERANGE for bounds. */
static void test_duration(void)
{
    int64_t ns = 7;
    CHECK(config_parse_duration("2h", &ns) == 0 && ns == 7200 * 1000000000ll);
    CHECK(config_parse_duration("1.25s", &ns) == 0 && ns == 1250000000ll);
    CHECK(config_parse_duration("250ms", &ns) == 0 && ns == 250000000ll);
    ns = 7;
    CHECK(config_parse_duration("", &ns) == -EINVAL && ns == 7);
    CHECK(config_parse_duration("30", &ns) == 0 && ns == 30 * 1000000000ll);   /* seconds */
    CHECK(config_parse_duration("0.5", &ns) == 0 && ns == 500000000ll);
    ns = 7;
    CHECK(config_parse_duration("0.05", &ns) == -ERANGE && ns == 7);
    CHECK(config_parse_duration("-2s", &ns) == -EINVAL);
    CHECK(config_parse_duration("2x", &ns) == -EINVAL);
    CHECK(config_parse_duration("50ms", &ns) == -ERANGE);
    CHECK(config_parse_duration("1441m", &ns) == -ERANGE);
    CHECK(config_parse_duration("99999999999999999999999999h", &ns) == -ERANGE && ns == 7);
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

/* One writer per name: a claimed name gets .<pid> (without %p), then .2, .3; a claim ends
 * with its descriptor. The names are made unique to this test run by its pid. */
static void test_output_claim(void)
{
    char base[64], t1[256], t2[256], t3[256], t4[256], want[256];
    snprintf(base, sizeof base, "/nonexistent/claim-test-%d.pb.gz", (int)getpid());
    strcpy(t1, base), strcpy(t2, base), strcpy(t3, base), strcpy(t4, base);
    int f1 = output_claim(t1, sizeof t1, 4242, "prog");
    int f2 = output_claim(t2, sizeof t2, 4242, "prog");
    int f3 = output_claim(t3, sizeof t3, 4242, "prog");
    CHECK(f1 >= 0 && f2 >= 0 && f3 >= 0);
    CHECK(strcmp(t1, base) == 0);
    snprintf(want, sizeof want, "%s.4242", base);
    CHECK(strcmp(t2, want) == 0);
    snprintf(want, sizeof want, "%s.4242.2", base);
    CHECK(strcmp(t3, want) == 0);
    /* another pid: its .<pid> name is free */
    int f4 = output_claim(t4, sizeof t4, 4343, "prog");
    snprintf(want, sizeof want, "%s.4343", base);
    CHECK(f4 >= 0 && strcmp(t4, want) == 0);
    /* the first claim released: the plain name is free again */
    close(f1);
    strcpy(t1, base);
    f1 = output_claim(t1, sizeof t1, 4242, "prog");
    CHECK(f1 >= 0 && strcmp(t1, base) == 0);
    /* with %p and %e in the name, only the same pid and program collide */
    char e1[256] = "/nonexistent/claim.%e.%p.pb.gz", e2[256], e3[256];
    strcpy(e2, e1), strcpy(e3, e1);
    int g1 = output_claim(e1, sizeof e1, getpid(), "prog");
    int g2 = output_claim(e2, sizeof e2, getpid(), "other");
    int g3 = output_claim(e3, sizeof e3, getpid(), "prog");
    CHECK(g1 >= 0 && g2 >= 0 && g3 >= 0);
    CHECK(strcmp(e2, "/nonexistent/claim.%e.%p.pb.gz") == 0);
    CHECK(strcmp(e3, "/nonexistent/claim.%e.%p.pb.gz.2") == 0);
    /* no room for the suffix */
    char tight[sizeof "/nonexistent/claim.%e.%p.pb.gz"] = "/nonexistent/claim.%e.%p.pb.gz";
    CHECK(output_claim(tight, sizeof tight, getpid(), "prog") == -ENAMETOOLONG);
    int fds[] = { f1, f2, f3, f4, g1, g2, g3 };
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

int main(void)
{
    test_defaults();
    test_hz();
    test_out();
    test_interval();
    test_duration();
    test_http();
    test_bools_and_ring();
    test_format();
    test_first_error_and_unknown();
    test_output_claim();
    return check_done();
}
