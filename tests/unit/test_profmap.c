/* test_profmap.c -- aggregation of identical samples, insertion order, skipped frames.
 * Context: tests
 */
#include <string.h>

#include "check.h"
#include "collector/profmap.h"
#include "lib/ring/ring.h"

static struct ring_record rec(uint32_t tid, uint32_t weight, int n, uint64_t base)
{
    struct ring_record r;
    memset(&r, 0, sizeof r);
    r.h.tid = tid;
    r.h.weight = weight;
    r.h.nframes = (uint16_t)n;
    memcpy(r.h.thread_name, "worker", 6);
    for (int i = 0; i < n; i++)
        r.pc[i] = base + (uint64_t)i;
    return r;
}

int main(void)
{
    struct profmap *pm = profmap_new();
    CHECK(pm != NULL);
    struct ring_record a = rec(1, 1, 3, 0x1000), b = rec(2, 1, 3, 0x1000), c = rec(1, 4, 2, 0x2000);
    CHECK(profmap_add(pm, 0, &a, 0, 0) == 0);
    CHECK(profmap_add(pm, 0, &b, 0, 0) == 0);       /* same stack, other thread: own entry */
    CHECK(profmap_add(pm, 0, &a, 0, 0) == 0);
    CHECK(profmap_add(pm, 0, &c, 0, 0) == 0);
    CHECK(profmap_len(pm) == 3);
    CHECK(profmap_get(pm, 0)->count == 2 && profmap_get(pm, 0)->tid == 1);
    CHECK(profmap_get(pm, 1)->tid == 2);
    CHECK(profmap_get(pm, 2)->count == 4);
    CHECK(profmap_total(pm) == 7);
    /* the same stack and thread of another process of the session: its own entry */
    CHECK(profmap_add(pm, 1, &a, 0, 0) == 0);
    CHECK(profmap_len(pm) == 4 && profmap_get(pm, 3)->proc == 1 && profmap_get(pm, 0)->proc == 0);
    CHECK(profmap_add(pm, 1, &a, 0, 0) == 0 && profmap_len(pm) == 4);
    /* frames inside the skip range (libgoprof's own trampoline) are dropped */
    struct ring_record d = rec(3, 1, 4, 0x3000);
    CHECK(profmap_add(pm, 0, &d, 0x3001, 0x3003) == 0);
    const struct profmap_entry *e = profmap_get(pm, 4);
    CHECK(e->nframes == 2);
    CHECK(profmap_frames(pm, e)[0] == 0x3000 && profmap_frames(pm, e)[1] == 0x3003);
    /* many distinct stacks: the index grows, counts stay right */
    int failures = 0;
    for (uint64_t i = 0; i < 20000; i++) {
        struct ring_record r = rec(9, 1, 5, 0x100000 + i * 16);
        if (profmap_add(pm, 0, &r, 0, 0) != 0)
            failures++;
    }
    CHECK(failures == 0);
    CHECK(profmap_len(pm) == 5 + 20000);
    CHECK(profmap_total(pm) == 10 + 20000);
    profmap_free(pm);
    return check_done();
}
