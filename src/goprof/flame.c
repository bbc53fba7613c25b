/* flame.c -- a profile as a self-contained HTML flame graph (see flame.h).
 * Context: goprof
 *
 * The samples are merged into a call tree (root first) whose children are found through one
 * open-addressing table keyed by (parent, frame); the tree is then written depth first as the
 * nested object d3-flame-graph takes, each node with its kind (frame_kind.h), decided when the
 * node is made from the first frame that makes it: frames merge by name, and a name is one
 * function. Names are escaped for a JavaScript string inside an HTML
 * <script> element: '<', '>' and '&' as \u escapes, so no name can end the element.
 */
#include "goprof/flame.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/base/dup_stream.h"
#include "lib/base/hash.h"
#include "lib/base/log.h"
#include "goprof/frame_kind.h"
#include "lib/pprof/pprof_view.h"

/* Template markers; a file name in @FILE:...@ is at most this long. */
#define MARK_MAX 64
/* Assets are the npm packages' dist files, about 350 KiB together. */
#define ASSET_MAX (16u << 20)

struct node {
    const char *name;       /* NULL: unsymbolized, see address */
    uint64_t address;
    int64_t value;
    enum frame_kind kind;
    size_t parent, first_child, next_sibling, last_child;  /* indices; 0 = none (0 is root) */
};

struct tree {
    struct node *nodes;
    size_t n, cap;
    size_t *slots;          /* 0 = empty, else node index */
    size_t nslots;
};

static uint64_t node_hash(size_t parent, const char *name, uint64_t address)
{
    const uint64_t key[2] = { parent, name ? (uint64_t)(uintptr_t)name : address };
    return gp_hash_bytes(key, sizeof key);
}

static int tree_rehash(struct tree *t, size_t nslots)
{
    size_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (size_t i = 1; i < t->n; i++) {
        const struct node *nd = &t->nodes[i];
        size_t j = (size_t)node_hash(nd->parent, nd->name, nd->address) & (nslots - 1);
        while (slots[j])
            j = (j + 1) & (nslots - 1);
        slots[j] = i;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    return 0;
}

/* The child of parent for frame f, created if new; 0 on allocation failure. Names are interned
 * in the profile, so equal names are equal pointers. */
static size_t tree_child(struct tree *t, size_t parent, const struct pprof_frame *f)
{
    if (2 * (t->n + 1) > t->nslots && tree_rehash(t, t->nslots ? 2 * t->nslots : 1024) != 0)
        return 0;
    const char *name = f->name && f->name[0] ? f->name : NULL;
    uint64_t address = name ? 0 : f->address;
    size_t j = (size_t)node_hash(parent, name, address) & (t->nslots - 1);
    for (; t->slots[j]; j = (j + 1) & (t->nslots - 1)) {
        const struct node *nd = &t->nodes[t->slots[j]];
        if (nd->parent == parent && nd->name == name && nd->address == address)
            return t->slots[j];
    }
    if (t->n == t->cap) {
        size_t cap = 2 * t->cap;
        struct node *grown = realloc(t->nodes, cap * sizeof *grown);
        if (!grown)
            return 0;
        t->nodes = grown;
        t->cap = cap;
    }
    size_t id = t->n++;
    t->nodes[id] = (struct node){ .name = name, .address = address, .parent = parent,
                                  .kind = frame_kind(name, f->file) };
    struct node *pa = &t->nodes[parent];
    if (pa->last_child)
        t->nodes[pa->last_child].next_sibling = id;
    else
        pa->first_child = id;
    pa->last_child = id;
    t->slots[j] = id;
    return id;
}

static int tree_add_stack(void *ctx, size_t i, const struct pprof_frame *frames, size_t n,
                          int64_t count)
{
    struct tree *t = ctx;
    (void)i;
    size_t at = 0;
    t->nodes[0].value += count;
    for (size_t k = n; k-- > 0;) {
        if (!(at = tree_child(t, at, &frames[k])))
            return -ENOMEM;
        t->nodes[at].value += count;
    }
    return 0;
}

static int tree_build(struct tree *t, const struct pprof *p)
{
    t->cap = 1024;
    if (!(t->nodes = calloc(t->cap, sizeof *t->nodes)))
        return -ENOMEM;
    t->n = 1;
    t->nodes[0].name = "all";
    t->nodes[0].kind = FRAME_LIBGOPROF;
    return pprof_each_stack(p, tree_add_stack, t);
}

static void put_js_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* Depth first, without recursion: a stack can be thousands of frames deep. */
static void tree_write(const struct tree *t, FILE *out)
{
    size_t at = 0;
    for (;;) {
        const struct node *nd = &t->nodes[at];
        char addr[32];
        if (!nd->name)
            snprintf(addr, sizeof addr, "0x%" PRIx64, nd->address);
        fputs("{\"name\":", out);
        put_js_string(out, nd->name ? nd->name : addr);
        fprintf(out, ",\"kind\":\"%s\",\"value\":%" PRId64 ",\"children\":[",
                frame_kind_key(nd->kind), nd->value);
        if (nd->first_child) {
            at = nd->first_child;
            continue;
        }
        /* close this node and every ancestor whose last child it was */
        for (;;) {
            fputs("]}", out);
            if (at == 0)
                return;
            if (t->nodes[at].next_sibling) {
                fputc(',', out);
                at = t->nodes[at].next_sibling;
                break;
            }
            at = t->nodes[at].parent;
        }
    }
}

static void put_html(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        default: fputc(*s, out);
        }
    }
}

/* Reads dir/name whole into a NUL-terminated buffer. */
static char *read_asset(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (!f) {
        gp_log("flame", "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? 2 * cap : 262144;
            char *grown = cap <= ASSET_MAX ? realloc(buf, cap) : NULL;
            if (!grown) {
                free(buf);
                fclose(f);
                gp_log("flame", "cannot read %s: too large or out of memory", path);
                return errno = ENOMEM, NULL;
            }
            buf = grown;
        }
        size_t r = fread(buf + n, 1, 65536, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        gp_log("flame", "cannot read %s: read error", path);
        return errno = EIO, NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* An inlined script or style must not contain its own end tag. */
static int asset_safe(const char *buf, const char *name)
{
    for (const char *s = strstr(buf, "</"); s; s = strstr(s + 2, "</")) {
        if (!strncasecmp(s + 2, "script", 6) || !strncasecmp(s + 2, "style", 5)) {
            gp_log("flame", "%s contains \"%.8s\": it cannot be inlined", name, s);
            return 0;
        }
    }
    return 1;
}

static int put_file(FILE *out, const char *dir, const char *name)
{
    size_t len;
    char *buf = read_asset(dir, name, &len);
    if (!buf)
        return -errno;
    int ok = asset_safe(buf, name);
    if (ok)
        fwrite(buf, 1, len, out);
    free(buf);
    return ok ? 0 : -EINVAL;
}

/* Copies the template to out, replacing its markers. */
static int expand(FILE *out, const char *tmpl, const char *dir, const char *title,
                  const struct tree *t)
{
    const char *s = tmpl;
    int err = 0;
    while (!err && *s) {
        const char *at = strchr(s, '@');
        if (!at) {
            fputs(s, out);
            break;
        }
        fwrite(s, 1, (size_t)(at - s), out);
        if (!strncmp(at, "@TITLE@", 7)) {
            put_html(out, title);
            s = at + 7;
        } else if (!strncmp(at, "@DATA@", 6)) {
            tree_write(t, out);
            s = at + 6;
        } else if (!strncmp(at, "@FILE:", 6) && strchr(at + 6, '@') &&
                   strchr(at + 6, '@') - (at + 6) < MARK_MAX) {
            char name[MARK_MAX];
            size_t n = (size_t)(strchr(at + 6, '@') - (at + 6));
            memcpy(name, at + 6, n);
            name[n] = 0;
            if (strchr(name, '/'))
                return -EINVAL;
            err = put_file(out, dir, name);
            s = at + 6 + n + 1;
        } else {
            fputc('@', out);
            s = at + 1;
        }
    }
    return err;
}

int flame_write_fd(const struct pprof *p, const char *assets_dir, const char *title, int fd)
{
    struct tree t = { 0 };
    size_t len;
    FILE *out = NULL;
    char *tmpl = read_asset(assets_dir, "flame.html", &len);
    int err = tmpl ? tree_build(&t, p) : -errno;
    if (!err) {
        if (!(out = gp_dup_stream(fd, "w")))
            err = -errno;
    }
    if (!err)
        err = expand(out, tmpl, assets_dir, title, &t);
    if (out) {
        int bad = ferror(out);
        if (fclose(out) != 0)
            bad = 1;
        if (bad && !err)
            err = -EIO;
    }
    free(tmpl);
    free(t.nodes);
    free(t.slots);
    return err;
}

void flame_default_title(const struct pprof *p, char *buf, size_t n)
{
    const char *prog = pprof_main_file(p), *slash = strrchr(prog, '/');
    int64_t total = pprof_total_count(p);
    snprintf(buf, n, "%s (%" PRId64 " sample%s)", slash ? slash + 1 : prog[0] ? prog : "profile",
             total, total == 1 ? "" : "s");
}
