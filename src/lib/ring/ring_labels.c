/* ring_labels.c -- reading the goroutine labels of a ring record (see ring_labels.h).
 * Context: library
 */
#include "lib/ring/ring_labels.h"

#include <string.h>

int ring_labels_parse(const uint8_t *buf, size_t len, struct ring_label *out, int max)
{
    size_t off = 0;
    int n = 0;
    while (off < len) {
        if (n == max || len - off < 3)
            return -1;
        struct ring_label l = { .klen = buf[off], .vlen = buf[off + 1], .cut = buf[off + 2] };
        if (l.klen > GP_LABEL_KEY_MAX || l.vlen > GP_LABEL_VALUE_MAX ||
            (l.cut & ~(GP_LABEL_CUT_KEY | GP_LABEL_CUT_VALUE)) ||
            len - off - 3 < (size_t)l.klen + l.vlen)
            return -1;
        l.key = buf + off + 3;
        l.value = l.key + l.klen;
        out[n++] = l;
        off += 3 + (size_t)l.klen + l.vlen;
    }
    return n;
}

static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static int label_cmp(const struct ring_label *a, const struct ring_label *b)
{
    int c = bytes_cmp(a->key, a->klen, b->key, b->klen);
    if (!c)
        c = bytes_cmp(a->value, a->vlen, b->value, b->vlen);
    return c ? c : (int)a->cut - (int)b->cut;
}

int ring_labels_canonical(const uint8_t *buf, size_t len, uint8_t *out)
{
    struct ring_label l[GP_LABEL_MAX];
    int n = ring_labels_parse(buf, len, l, GP_LABEL_MAX);
    if (n < 0)
        return -1;
    for (int i = 1; i < n; i++)   /* insertion sort: at most GP_LABEL_MAX entries */
        for (int j = i; j > 0 && label_cmp(&l[j - 1], &l[j]) > 0; j--) {
            struct ring_label t = l[j];
            l[j] = l[j - 1];
            l[j - 1] = t;
        }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        out[off] = l[i].klen;
        out[off + 1] = l[i].vlen;
        out[off + 2] = l[i].cut;
        memcpy(out + off + 3, l[i].key, l[i].klen);
        memcpy(out + off + 3 + l[i].klen, l[i].value, l[i].vlen);
        off += 3 + (size_t)l[i].klen + l[i].vlen;
    }
    return (int)off;
}
