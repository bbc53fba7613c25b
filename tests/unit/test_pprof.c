/* test_pprof.c -- unit tests for the pprof builder, gzip writer and output-path templates.
 * Context: collector
 *
 * Also reads profiles back (pprof_read) and writes folded stacks (folded).
 * Usage: test_pprof DIR. Writes DIR/small.pb.gz (checked further by run_pprof.sh with
 * `go tool pprof`) and DIR/bench.pb.gz, checks what it can in-process by decoding the files
 * with zlib + protobuf-c, and prints "N passed, N failed"; exits 1 on any failure.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/pprof/folded.h"
#include "lib/outname/outpath.h"
#include "lib/pprof/pprof.h"
#include "lib/pprof/pprof_emit.h"
#include "lib/pprof/pprof_read.h"
#include "lib/pprof/pprof_view.h"
#include "lib/pprof/profile.pb-c.h"

static int passed, failed;

#define CHECK(cond) check_at((cond), #cond, __LINE__)
static void check_at(int ok, const char *what, int line)
{
    if (ok) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "FAIL line %d: %s\n", line, what);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads a whole file; *len gets its size. NULL on error. */
static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) {
            unsigned char *g = realloc(buf, cap *= 2);
            if (!g)
                free(buf);
            buf = g;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Gunzips a file and unpacks it as one Profile (chunks merge on decode). */
static Perftools__Profiles__Profile *load_profile(const char *path, size_t *gz_len, size_t *raw_len)
{
    size_t n;
    unsigned char *gz = read_file(path, &n);
    if (!gz || n < 2 || gz[0] != 0x1f || gz[1] != 0x8b) {
        free(gz);
        return NULL;
    }
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    inflateInit2(&zs, 15 + 16);
    size_t cap = 1 << 20, out = 0;
    unsigned char *raw = malloc(cap);
    zs.next_in = gz;
    zs.avail_in = (uInt)n;
    int rc = Z_OK;
    while (raw && rc == Z_OK) {
        if (out == cap) {
            unsigned char *g = realloc(raw, cap *= 2);
            if (!g)
                free(raw);
            raw = g;
            if (!raw)
                break;
        }
        zs.next_out = raw + out;
        zs.avail_out = (uInt)(cap - out);
        rc = inflate(&zs, Z_NO_FLUSH);
        out = cap - zs.avail_out;
    }
    inflateEnd(&zs);
    free(gz);
    Perftools__Profiles__Profile *pb = NULL;
    if (raw && rc == Z_STREAM_END)
        pb = perftools__profiles__profile__unpack(NULL, out, raw);
    free(raw);
    if (gz_len)
        *gz_len = n;
    if (raw_len)
        *raw_len = out;
    return pb;
}

static int files_equal(const char *a, const char *b)
{
    size_t na, nb;
    unsigned char *da = read_file(a, &na), *db = read_file(b, &nb);
    int eq = da && db && na == nb && memcmp(da, db, na) == 0;
    free(da);
    free(db);
    return eq;
}

/* Counts directory entries containing ".tmp." (leftover temporary files). */
static int count_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strstr(e->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    return n;
}

static const char *str_at(const Perftools__Profiles__Profile *pb, int64_t i)
{
    return i >= 0 && (size_t)i < pb->n_string_table ? pb->string_table[i] : "<bad index>";
}

/* The profile run_pprof.sh inspects: two mappings, an inlined location, labels, a comment. */
static struct pprof *build_small(void)
{
    struct pprof *p = pprof_new(&pprof_kind_cpu, 1700000000123456789LL, 10000000);
    CHECK(p != NULL);
    if (!p)
        return NULL;
    pprof_set_duration(p, 1500000000);
    uint64_t m1 = pprof_mapping(p, 0x400000, 0x500000, 0, "/usr/local/bin/gpdemo",
                                "4fe1c0ffee0123456789abcdef0123456789abcd", 0xf);
    uint64_t m2 = pprof_mapping(p, 0x7f0000000000, 0x7f0000100000, 0x28000,
                                "/lib/x86_64-linux-gnu/libc.so.6", NULL, PPROF_HAS_FUNCTIONS);
    CHECK(m1 == 1 && m2 == 2);

    uint64_t f_main = pprof_function(p, "main.main", "main.main", "/src/gpdemo/main.go", 10);
    uint64_t f_spin = pprof_function(p, "main.spin", "main.spin", "/src/gpdemo/main.go", 28);
    uint64_t f_mix = pprof_function(p, "main.mix", "main.mix", "/src/gpdemo/main.go", 35);
    uint64_t f_burn = pprof_function(p, "c_burn", "c_burn", "/src/gpdemo/burn.c", 5);
    uint64_t f_memcpy = pprof_function(p, "__memcpy_avx_unaligned", NULL, NULL, 0);
    CHECK(f_main == 1 && f_spin == 2 && f_mix == 3 && f_burn == 4 && f_memcpy == 5);
    /* Dedup on all four fields; NULL and "" are the same string. */
    CHECK(pprof_function(p, "main.spin", "main.spin", "/src/gpdemo/main.go", 28) == f_spin);
    CHECK(pprof_function(p, "__memcpy_avx_unaligned", "", "", 0) == f_memcpy);
    CHECK(pprof_function(p, "main.spin", "main.spin", "/src/gpdemo/main.go", 29) == 6);

    struct pprof_line inl[2] = { { f_mix, 37 }, { f_spin, 30 } };  /* mix inlined into spin */
    struct pprof_line l_main = { f_main, 12 }, l_burn = { f_burn, 20 }, l_cpy = { f_memcpy, 0 };
    uint64_t loc_inl = pprof_location(p, m1, 0x401234, inl, 2);
    uint64_t loc_main = pprof_location(p, m1, 0x402010 - 1, &l_main, 1);
    uint64_t loc_cpy = pprof_location(p, m2, 0x7f0000001000, &l_cpy, 1);
    uint64_t loc_burn = pprof_location(p, m1, 0x403000 - 1, &l_burn, 1);
    CHECK(loc_inl == 1 && loc_main == 2 && loc_cpy == 3 && loc_burn == 4);

    /* Invalid references are refused without side effects. */
    struct pprof_line bad = { 99, 1 };
    errno = 0;
    CHECK(pprof_location(p, m1, 0x1, &bad, 1) == 0 && errno == EINVAL);
    CHECK(pprof_location(p, 7, 0x1, &l_main, 1) == 0 && errno == EINVAL);
    uint64_t bad_stack[2] = { loc_main, 42 };
    CHECK(pprof_add_sample(p, bad_stack, 2, (const int64_t[]){ 1, 1 }, NULL, 0) == -EINVAL);
    CHECK(pprof_add_sample(p, bad_stack, 0, (const int64_t[]){ 1, 1 }, NULL, 0) == -EINVAL);
    struct pprof_label nokey = { NULL, "x", 0, NULL };
    CHECK(pprof_add_sample(p, bad_stack, 1, (const int64_t[]){ 1, 1 }, &nokey, 1) == -EINVAL);

    uint64_t s1[2] = { loc_inl, loc_main };             /* leaf first */
    uint64_t s2[3] = { loc_cpy, loc_burn, loc_main };
    struct pprof_label lw[2] = { { "thread_id", NULL, 1001, NULL }, { "thread_name", "worker", 0, NULL } };
    struct pprof_label li[2] = { { "thread_id", NULL, 1002, NULL }, { "thread_name", "io", 0, NULL } };
    CHECK(pprof_add_sample(p, s1, 2, (const int64_t[]){ 3, 30000000 }, lw, 2) == 0);
    CHECK(pprof_add_sample(p, s2, 3, (const int64_t[]){ 2, 20000000 }, li, 2) == 0);
    CHECK(pprof_add_sample(p, s1, 1, (const int64_t[]){ 1, 10000000 }, NULL, 0) == 0);    /* main.mix alone */
    pprof_add_comment(p, "libgoprof unit test comment");
    return p;
}

static void test_small(const char *dir)
{
    char path[4096], path2[4096], path3[4096];
    snprintf(path, sizeof path, "%s/small.pb.gz", dir);
    snprintf(path2, sizeof path2, "%s/small2.pb.gz", dir);
    snprintf(path3, sizeof path3, "%s/small-fd.pb.gz", dir);
    struct pprof *p = build_small();
    if (!p)
        return;
    CHECK(pprof_write_file(p, path) == 0);
    CHECK(pprof_write_file(p, path2) == 0);     /* writing does not consume the builder */
    CHECK(files_equal(path, path2));            /* deterministic bytes */
    int fd = open(path3, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && pprof_write_fd(p, fd) == 0);
    if (fd >= 0)
        close(fd);
    CHECK(files_equal(path, path3));
    CHECK(count_tmp(dir) == 0);

    /* Atomic write failures: missing directory; a directory in the way of rename. */
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.pb.gz", dir);
    CHECK(pprof_write_file(p, bad) == -ENOENT);
    snprintf(bad, sizeof bad, "%s/adir", dir);
    CHECK(mkdir(bad, 0755) == 0);
    int err = pprof_write_file(p, bad);
    CHECK(err == -EISDIR);
    CHECK(count_tmp(dir) == 0);
    rmdir(bad);
    pprof_free(p);

    Perftools__Profiles__Profile *pb = load_profile(path, NULL, NULL);
    CHECK(pb != NULL);
    if (!pb)
        return;
    CHECK(pb->n_string_table > 0 && strcmp(pb->string_table[0], "") == 0);
    CHECK(pb->time_nanos == 1700000000123456789LL && pb->duration_nanos == 1500000000);
    CHECK(pb->period == 10000000 && pb->period_type &&
          strcmp(str_at(pb, pb->period_type->type), "cpu") == 0 &&
          strcmp(str_at(pb, pb->period_type->unit), "nanoseconds") == 0);
    CHECK(pb->n_sample_type == 2 && strcmp(str_at(pb, pb->sample_type[0]->type), "samples") == 0 &&
          strcmp(str_at(pb, pb->sample_type[1]->unit), "nanoseconds") == 0);
    CHECK(pb->n_sample == 3 && pb->n_mapping == 2 && pb->n_location == 4 && pb->n_function == 6);
    CHECK(pb->n_comment == 1 && strcmp(str_at(pb, pb->comment[0]), "libgoprof unit test comment") == 0);
    if (pb->n_sample == 3) {
        Perftools__Profiles__Sample *s = pb->sample[1];
        CHECK(s->n_location_id == 3 && s->location_id[0] == 3 && s->location_id[2] == 2);
        CHECK(s->n_value == 2 && s->value[0] == 2 && s->value[1] == 20000000);
        CHECK(s->n_label == 2 && s->label[0]->num == 1002 &&
              strcmp(str_at(pb, s->label[1]->str), "io") == 0);
        CHECK(pb->sample[2]->n_label == 0);
    }
    if (pb->n_location == 4) {
        Perftools__Profiles__Location *l = pb->location[0];
        CHECK(l->id == 1 && l->mapping_id == 1 && l->address == 0x401234 && l->n_line == 2 &&
              l->line[0]->function_id == 3 && l->line[0]->line == 37 && l->line[1]->function_id == 2);
    }
    if (pb->n_mapping == 2) {
        Perftools__Profiles__Mapping *m = pb->mapping[1];
        CHECK(m->id == 2 && m->file_offset == 0x28000 && m->has_functions && !m->has_filenames &&
              m->build_id == 0);
        CHECK(pb->mapping[0]->has_inline_frames && pb->mapping[0]->has_line_numbers);
    }
    perftools__profiles__profile__free_unpacked(pb, NULL);
}

/* pprof_read gives back the builder that wrote the file (same bytes when written again), and
 * folded stacks come out root first, inline frames expanded, equal stacks merged. */
static void test_read_and_folded(const char *dir)
{
    char path[4096], again[4096], fpath[4096], bad[4096];
    snprintf(path, sizeof path, "%s/rt.pb.gz", dir);
    snprintf(again, sizeof again, "%s/rt-again.pb.gz", dir);
    snprintf(fpath, sizeof fpath, "%s/rt.folded", dir);
    snprintf(bad, sizeof bad, "%s/rt-truncated.pb.gz", dir);
    struct pprof *p = build_small();
    if (!p)
        return;
    CHECK(pprof_write_file(p, path) == 0);
    pprof_free(p);
    struct pprof *r = pprof_read_file(path);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK(pprof_write_file(r, again) == 0 && files_equal(path, again));
    CHECK(pprof_sample_count(r) == 3 && pprof_total_count(r) == 6);
    CHECK(pprof_duration_ns(r) == 1500000000 && pprof_period_ns(r) == 10000000);
    CHECK(strcmp(pprof_main_file(r), "/usr/local/bin/gpdemo") == 0);
    struct pprof_frame fr[4];
    int64_t count = 0;
    CHECK(pprof_sample_frames(r, 0, fr, 4, &count) == 3 && count == 3);
    CHECK(strcmp(fr[0].name, "main.mix") == 0 && strcmp(fr[1].name, "main.spin") == 0 &&
          strcmp(fr[2].name, "main.main") == 0);
    CHECK(pprof_sample_frames(r, 1, fr, 1, &count) == 3 && count == 2);   /* max < frames */

    /* the same stack on another thread: merged into one folded line */
    uint64_t s1[2] = { 1, 2 };
    CHECK(pprof_add_sample(r, s1, 2, (const int64_t[]){ 4, 40000000 }, NULL, 0) == 0);
    CHECK(folded_write_file(r, fpath) == 0);
    size_t len = 0;
    unsigned char *text = read_file(fpath, &len);
    const char *want = "main.main;main.spin;main.mix 7\n"
                       "main.main;c_burn;__memcpy_avx_unaligned 2\n"
                       "main.spin;main.mix 1\n";
    CHECK(text && len == strlen(want) && memcmp(text, want, len) == 0);
    if (text && (len != strlen(want) || memcmp(text, want, len)))
        fprintf(stderr, "folded output:\n%.*s", (int)len, (const char *)text);
    free(text);
    pprof_free(r);

    /* damaged input is refused, never half-read */
    unsigned char *gz = read_file(path, &len);
    CHECK(gz != NULL);
    if (gz) {
        errno = 0;
        CHECK(pprof_read_mem(gz, len / 2) == NULL && errno == EINVAL);
        gz[len / 2] ^= 0xff;
        errno = 0;
        CHECK(pprof_read_mem(gz, len) == NULL && errno == EINVAL);
        free(gz);
    }
    errno = 0;
    CHECK(pprof_read_file(bad) == NULL && errno == ENOENT);
}

/* Counts bytes without compressing, to separate packing cost from deflate cost. */
struct count_buf {
    ProtobufCBuffer base;
    size_t bytes, appends;
};

static void count_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    struct count_buf *c = (struct count_buf *)b;
    (void)data;
    c->bytes += len;
    c->appends++;
}

/* 10^5 distinct stacks of 30 frames over 50000 locations / 20000 functions. Mode "random":
 * every frame random, an incompressible worst case. Mode "shared": the 24 root-side frames are
 * shared by runs of 100 samples and only the 6 leaf frames are random, closer to real profiles
 * (which compress 5-10x). */
#define BENCH_SAMPLES 100000
#define BENCH_DEPTH 30
#define BENCH_FUNCS 20000
#define BENCH_LOCS 50000
#define BENCH_LEAVES 6
#define BENCH_RUN 100

static uint64_t xorshift64(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_bench(const char *dir, int shared)
{
    char path[4096], name[64];
    snprintf(path, sizeof path, "%s/bench%s.pb.gz", dir, shared ? "-shared" : "");
    double t0 = now_s();
    struct pprof *p = pprof_new(&pprof_kind_cpu, 1700000000000000000LL, 10000000);
    CHECK(p != NULL);
    if (!p)
        return;
    uint64_t m = pprof_mapping(p, 0x400000, 0x4000000, 0, "/usr/local/bin/bench", NULL,
                               PPROF_HAS_FUNCTIONS | PPROF_HAS_FILENAMES | PPROF_HAS_LINE_NUMBERS);
    for (int i = 0; i < BENCH_FUNCS; i++) {
        snprintf(name, sizeof name, "github.com/x/pkg%d.Func%05d", i % 50, i);
        CHECK(pprof_function(p, name, name, "/src/x/file.go", i) == (uint64_t)i + 1);
    }
    for (int i = 0; i < BENCH_LOCS; i++) {
        struct pprof_line l = { (uint64_t)(1 + i % BENCH_FUNCS), i % 1000 };
        if (pprof_location(p, m, 0x400000 + (uint64_t)i * 16, &l, 1) != (uint64_t)i + 1)
            CHECK(0);
    }
    uint64_t rng = 88172645463325252ULL, stack[BENCH_DEPTH];
    for (int i = 0; i < BENCH_SAMPLES; i++) {
        for (int d = 0; d < BENCH_DEPTH; d++)     /* shared: root frames kept within a run */
            if (!shared || d < BENCH_LEAVES || i % BENCH_RUN == 0)
                stack[d] = 1 + xorshift64(&rng) % BENCH_LOCS;
        snprintf(name, sizeof name, "worker-%d", i % 16);
        struct pprof_label lab[2] = { { "thread_id", NULL, 1000 + i % 16, NULL },
                                      { "thread_name", name, 0, NULL } };
        if (pprof_add_sample(p, stack, BENCH_DEPTH, (const int64_t[]){ 1 + i % 5, (1 + i % 5) * 10000000LL }, lab, 2))
            CHECK(0);
    }
    double t1 = now_s();
    struct count_buf cb = { .base = { .append = count_append } };
    CHECK(pprof_emit(p, &cb.base) == 0);
    double t2 = now_s();
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK(devnull >= 0 && pprof_write_fd(p, devnull) == 0);
    close(devnull);
    double t3 = now_s();
    CHECK(pprof_write_file(p, path) == 0);
    double t4 = now_s();
    pprof_free(p);

    size_t gz_len = 0, raw_len = 0;
    Perftools__Profiles__Profile *pb = load_profile(path, &gz_len, &raw_len);
    CHECK(pb && pb->n_sample == BENCH_SAMPLES && pb->n_location == BENCH_LOCS &&
          pb->n_function == BENCH_FUNCS && strcmp(pb->string_table[0], "") == 0);
    CHECK(pb && pb->sample[BENCH_SAMPLES - 1]->n_location_id == BENCH_DEPTH);
    CHECK(raw_len == cb.bytes);
    if (pb)
        perftools__profiles__profile__free_unpacked(pb, NULL);
    printf("bench %s: %d stacks x %d frames: build %.0f ms; pack only %.0f ms (%zu bytes, %zu appends);"
           " write_fd(/dev/null) %.0f ms; write_file %.0f ms (%zu bytes gzip)\n",
           shared ? "shared" : "random", BENCH_SAMPLES, BENCH_DEPTH, (t1 - t0) * 1e3,
           (t2 - t1) * 1e3, cb.bytes, cb.appends, (t3 - t2) * 1e3, (t4 - t3) * 1e3, gz_len);
}

static int expand_is(const char *tmpl, pid_t pid, time_t t, const char *prog, const char *want)
{
    char out[256];
    int err = outpath_expand(tmpl, pid, t, prog, 3, out, sizeof out);
    if (err || strcmp(out, want) != 0) {
        fprintf(stderr, "expand(%s) = %d \"%s\", want \"%s\"\n", tmpl, err, out, want);
        return 0;
    }
    return 1;
}

static void test_outpath(void)
{
    time_t t = 1700000000;      /* 2023-11-14 22:13:20 UTC */
    CHECK(outpath_validate(GP_OUTPATH_DEFAULT) == 0);
    CHECK(outpath_validate("/tmp/x.pb.gz") == 0);
    CHECK(outpath_validate("a%%b%p%t%n%e") == 0);
    CHECK(outpath_uses("a.%n", 'n') && !outpath_uses("a.%%n", 'n') && outpath_uses("%%%n", 'n'));
    CHECK(!outpath_uses("a.%e.%p", 'n') && outpath_uses("a.%e.%p", 'p') && !outpath_uses("a%", 'n'));
    CHECK(outpath_validate(NULL) == -EINVAL);
    CHECK(outpath_validate("") == -EINVAL);
    CHECK(outpath_validate("prof.%x") == -EINVAL);
    CHECK(outpath_validate("prof.%") == -EINVAL);
    CHECK(outpath_validate("%P") == -EINVAL);
    CHECK(expand_is(GP_OUTPATH_DEFAULT, 4242, t, "/usr/bin/myprog", "goprof.myprog.4242.pb.gz"));
    CHECK(expand_is("/tmp/%e-%t-%p.pb.gz", 7, t, "myprog", "/tmp/myprog-20231114T221320-7.pb.gz"));
    CHECK(expand_is("/tmp/%e.%n.pb.gz", 7, t, "myprog", "/tmp/myprog.3.pb.gz"));
    CHECK(expand_is("100%%.%p%%", 1, t, "x", "100%.1%"));
    CHECK(expand_is("plain", 1, t, "x", "plain"));
    CHECK(expand_is("%e", 1, t, "dir/", "unknown"));
    CHECK(expand_is("%t", 1, 0, "x", "19700101T000000"));

    char out[16], exe[4096];
    CHECK(outpath_expand("%x", 1, t, "x", 1, out, sizeof out) == -EINVAL);
    CHECK(outpath_expand("toolongname.%p.pb.gz", 12345, t, "x", 1, out, sizeof out) == -ENAMETOOLONG);
    CHECK(strlen(out) == sizeof out - 1);
    CHECK(outpath_expand("%p", 1, t, "x", 1, out, 2) == 0 && strcmp(out, "1") == 0);
    CHECK(outpath_expand("%p", 12, t, "x", 1, out, 2) == -ENAMETOOLONG);
    /* prog == NULL: basename of /proc/self/exe. */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char want[4200];
        snprintf(want, sizeof want, "p.%s", strrchr(exe, '/') + 1);
        CHECK(expand_is("p.%e", 1, t, NULL, want));
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    test_small(argv[1]);
    test_read_and_folded(argv[1]);
    test_outpath();
    test_bench(argv[1], 0);
    test_bench(argv[1], 1);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
