/* test_ring_labels.c -- the goroutine labels of a ring record (lib/ring/ring_labels.h): parsing
 * refuses every malformed list, and the canonical form sorts whatever the order.
 * Context: tests
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lib/ring/ring_labels.h"

static size_t put(uint8_t *b, size_t off, const char *k, const char *v, uint8_t cut)
{
    size_t kl = strlen(k), vl = strlen(v);
    b[off] = (uint8_t)kl;
    b[off + 1] = (uint8_t)vl;
    b[off + 2] = cut;
    memcpy(b + off + 3, k, kl);
    memcpy(b + off + 3 + kl, v, vl);
    return off + 3 + kl + vl;
}

int main(void)
{
    uint8_t b[GP_RING_LABEL_BYTES], c[GP_RING_LABEL_BYTES];
    struct ring_label l[GP_LABEL_MAX];
    size_t n = put(b, 0, "work", "go", 0);
    n = put(b, n, "tenant", "a", GP_LABEL_CUT_VALUE);
    n = put(b, n, "k", "", 0);
    n = put(b, n, "", "", 0);
    CHECK(ring_labels_parse(b, n, l, GP_LABEL_MAX) == 4);
    CHECK(l[0].klen == 4 && !memcmp(l[0].key, "work", 4) && l[0].vlen == 2 &&
          !memcmp(l[0].value, "go", 2) && l[1].cut == GP_LABEL_CUT_VALUE);
    CHECK(ring_labels_parse(b, 0, l, GP_LABEL_MAX) == 0);
    CHECK(ring_labels_parse(b, n, l, 3) == -1);          /* more entries than room */
    for (size_t cut = 1; cut < n; cut++)                   /* every truncation but at an entry's end */
        if (cut != 9 && cut != 19 && cut != 23)
            CHECK(ring_labels_parse(b, cut, l, GP_LABEL_MAX) == -1);
    uint8_t bad[8] = { GP_LABEL_KEY_MAX + 1, 0, 0 };
    CHECK(ring_labels_parse(bad, 3 + GP_LABEL_KEY_MAX + 1 > 8 ? 3 : 3, l, GP_LABEL_MAX) == -1);
    uint8_t badcut[3] = { 0, 0, 4 };
    CHECK(ring_labels_parse(badcut, 3, l, GP_LABEL_MAX) == -1);
    /* canonical: sorted by key then value, same bytes whatever the order */
    int cn = ring_labels_canonical(b, n, c);
    CHECK(cn == (int)n && ring_labels_parse(c, (size_t)cn, l, GP_LABEL_MAX) == 4);
    CHECK(l[0].klen == 0 && l[1].klen == 1 && !memcmp(l[2].key, "tenant", 6) &&
          !memcmp(l[3].key, "work", 4));
    uint8_t r[GP_RING_LABEL_BYTES], rc[GP_RING_LABEL_BYTES];
    size_t rn = put(r, 0, "", "", 0);
    rn = put(r, rn, "k", "", 0);
    rn = put(r, rn, "tenant", "a", GP_LABEL_CUT_VALUE);
    rn = put(r, rn, "work", "go", 0);
    CHECK(ring_labels_canonical(r, rn, rc) == cn && !memcmp(rc, c, (size_t)cn));
    /* random bytes: parse never reads past the end (ASan build) and canonical agrees */
    srand(7);
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)rand() % 64;
        uint8_t *x = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++)
            x[i] = (uint8_t)(rand() % 4 == 0 ? rand() % 6 : rand());
        int pn = ring_labels_parse(x, len, l, GP_LABEL_MAX);
        int cl = ring_labels_canonical(x, len, c);
        CHECK((pn < 0) == (cl < 0) && (cl < 0 || cl == (int)len));
        free(x);
    }
    return check_done();
}
