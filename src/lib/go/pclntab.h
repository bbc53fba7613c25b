/* pclntab.h -- allocation-free lookups in a Go 1.20+ pclntab (magic 0xfffffff1).
 * Context: library, signal-safe
 *
 * Every lookup function below is async-signal-safe: no allocation, locks, stdio or libc
 * calls, loops bounded by the table sizes, and every read checked against the region it
 * belongs to. The tables are normally the running program's own memory (pointers are
 * runtime addresses); they can also be a file image.
 *
 * PCs: for the interrupted (innermost) frame pass the pc as-is; for return addresses pass
 * ret-1 so that a call at the end of a function or inline range resolves to the call site.
 */
#ifndef GP_GO_PCLNTAB_H
#define GP_GO_PCLNTAB_H

#include <stddef.h>
#include <stdint.h>

struct gopcln {
    const uint8_t *base;        /* pcHeader */
    size_t size;                /* whole pclntab */
    uint64_t text_start;        /* moduledata.text: ftab entries are relative to it */
    uint32_t nfunc;
    uint32_t quantum;           /* pcHeader.minLC: 1 on amd64, 4 on arm64 */
    /* Regions derived from the header offsets; each size bounds reads into it. */
    const uint8_t *funcnametab; size_t funcnametab_size;
    const uint8_t *cutab;       size_t cutab_size;      /* bytes; u32 entries */
    const uint8_t *filetab;     size_t filetab_size;
    const uint8_t *pctab;       size_t pctab_size;
    const uint8_t *pclntable;   size_t pclntable_size;  /* ftab[nfunc+1] then _func records */
    /* go:func.* data (moduledata.gofunc): funcdata offsets are relative to it. NULL = none. */
    const uint8_t *gofunc;      size_t gofunc_size;
};

struct gofunc {
    const uint8_t *f;           /* the _func record */
    uint64_t entry;             /* runtime address of the first instruction */
    uint64_t end;               /* entry of the next function (exclusive) */
};

struct gopcln_frame {
    const char *name;           /* never NULL ("?" when unreadable) */
    const char *file;           /* NULL when unknown */
    int32_t line;               /* 0 when unknown */
    int32_t start_line;         /* line of the func keyword, 0 when unknown */
    uint8_t funcid;
};

/* _func fields (internal/abi FuncFlag, PCDATA and FUNCDATA numbers, stable 1.20-1.26). */
#define GOPCLN_FLAG_TOPFRAME 0x1
#define GOPCLN_FLAG_SPWRITE 0x2
#define GOPCLN_FLAG_ASM 0x4
#define GOPCLN_PCDATA_INLTREEINDEX 2
#define GOPCLN_FUNCDATA_INLTREE 3

/* Validates the header and derives the regions. text_start 0 means "use pcHeader.textStart"
 * (filled in by Go <= 1.25 only). gofunc may be NULL (no inline expansion); gofunc_size 0
 * with a non-NULL gofunc means "unbounded" (trusted in-process memory).
 * 0, -ENOTSUP (other magic/pointer size), -EINVAL (inconsistent). Not signal-safe-critical,
 * but it calls nothing either. */
int gopcln_init(struct gopcln *t, const void *pclntab, size_t size, uint64_t text_start,
                const void *gofunc, size_t gofunc_size);

/* End of the text covered by the table (ftab end sentinel). */
uint64_t gopcln_text_end(const struct gopcln *t);

/* Function containing pc (binary search over ftab): 0 or -ENOENT. */
int gopcln_find(const struct gopcln *t, uint64_t pc, struct gofunc *out);
/* i-th function in address order, i < nfunc: 0 or -ENOENT. */
int gopcln_func_at(const struct gopcln *t, uint32_t i, struct gofunc *out);

/* NUL-terminated name inside the table, or NULL when the offset is bad. */
const char *gopcln_funcname(const struct gopcln *t, const struct gofunc *f);
uint8_t gopcln_funcid(const struct gofunc *f);
uint8_t gopcln_flag(const struct gofunc *f);
int32_t gopcln_start_line(const struct gofunc *f);

/* SP delta (bytes below the frame's entry SP) at pc: 0 or -ENOENT/-EINVAL. */
int gopcln_pcsp(const struct gopcln *t, const struct gofunc *f, uint64_t pc, int32_t *delta);
/* Value of pcdata table `table` at pc: 0 or -ENOENT/-EINVAL. */
int gopcln_pcdata(const struct gopcln *t, const struct gofunc *f, uint32_t table, uint64_t pc,
                  int32_t *val);
/* Pointer to funcdata `idx` (inside gofunc), or NULL. */
const uint8_t *gopcln_funcdata(const struct gopcln *t, const struct gofunc *f, uint32_t idx);
/* Source position of the physical function at pc: 0 or -ENOENT/-EINVAL. */
int gopcln_fileline(const struct gopcln *t, const struct gofunc *f, uint64_t pc,
                    const char **file, int32_t *line);

/* Logical frames at pc: inlined callees innermost first, the physical function last.
 * When max is too small the outermost inlined frames are dropped, the physical function
 * is always kept. Returns the count (>= 1), or -ENOENT / -EINVAL. */
int gopcln_expand(const struct gopcln *t, uint64_t pc, struct gopcln_frame *out, int max);

/* First function with exactly this name (linear scan; for init time): 0 or -ENOENT. */
int gopcln_find_by_name(const struct gopcln *t, const char *name, struct gofunc *out);

#endif
