/* ring.c -- creation of the shared ring (see ring.h for the protocol).
 * Context: library
 */
#include "lib/ring/ring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define RING_HDR_SIZE 8192   /* counters and three cost histograms */
_Static_assert(sizeof(struct ring_header) <= RING_HDR_SIZE, "ring header fits two pages");

/* The file of a ring of n slots: header, slots, spills, and the heap table if heap. */
static size_t ring_bytes(uint32_t n, int heap)
{
    return RING_HDR_SIZE + (size_t)n * (sizeof(struct ring_slot) + sizeof(struct ring_spill)) +
           (heap ? (size_t)heap_buckets_region_bytes() : 0);
}

/* n: the slot count; heap: with the heap table (n 0 and no table for a reader, until
 * ring_check has read them). */
static void set_geometry(struct ring *r, void *p, size_t size, uint32_t n, int heap)
{
    *r = (struct ring){ 0 };
    r->hdr = p;
    r->map_size = size;
    r->nslots = n;
    r->mask = n - 1;
    ring_set_slot_geometry(r);
    ring_set_heap_geometry(r, heap ? GP_HEAP_BUCKETS : 0, heap ? GP_HEAP_FRAME_WORDS : 0,
                           heap ? GP_HEAP_LABEL_BYTES : 0);
}

void ring_set_slot_geometry(struct ring *r)
{
    r->slots = (struct ring_slot *)((char *)r->hdr + RING_HDR_SIZE);
    r->spills = (struct ring_spill *)(r->slots + r->nslots);
}

void ring_set_heap_geometry(struct ring *r, uint32_t buckets, uint32_t frame_words,
                            uint32_t label_bytes)
{
    char *at = (char *)(r->spills + r->nslots);
    r->nbuckets = buckets;
    r->frame_words = frame_words;
    r->label_bytes = label_bytes;
    r->buckets = buckets ? (struct heap_bucket *)at : NULL;
    at += (size_t)buckets * sizeof(struct heap_bucket);
    r->bucket_order = buckets ? (_Atomic uint32_t *)at : NULL;
    at += (size_t)buckets * sizeof(uint32_t);
    r->heap_frames = buckets ? (uint64_t *)at : NULL;
    at += (size_t)frame_words * sizeof(uint64_t);
    r->heap_labels = buckets ? (uint8_t *)at : NULL;
    at += label_bytes;
    r->heap_counts = buckets ? (struct heap_counts *)at : NULL;
}

int ring_create(struct ring *r, uint32_t nslots, int heap, int *fd_out)
{
    uint32_t n = 1;
    while (n < nslots && n < (1u << 20))
        n <<= 1;
    size_t size = ring_bytes(n, heap);
    /* Sealed so that the reader can trust the size it mapped (a shrunk file would fault it).
     * Not populated: the relative seqs make zero pages a fresh ring, and a process that never
     * samples (a short child) then costs no page at all; the handler's first touch of a page
     * costs one fault. */
    int fd = memfd_create("goprof-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    /* A file size limit (ulimit -f) applies to a memfd: sizing it past the soft limit would
     * send the program SIGXFSZ. Up to the hard limit, the soft one is raised for the
     * ftruncate (single-threaded here: the constructor or a fork child) and put back. */
    struct rlimit fsz, raised;
    int limited = getrlimit(RLIMIT_FSIZE, &fsz) == 0 && fsz.rlim_cur != RLIM_INFINITY &&
                  fsz.rlim_cur < (rlim_t)size;
    /* Beyond the hard limit too: a smaller ring, as long as it holds 16 samples (the drops it
     * causes are counted like any). */
    while (limited && fsz.rlim_max != RLIM_INFINITY && fsz.rlim_max < (rlim_t)size && n > 16) {
        n >>= 1;
        size = ring_bytes(n, heap);
    }
    if (limited && fsz.rlim_max != RLIM_INFINITY && fsz.rlim_max < (rlim_t)size) {
        close(fd);
        return -EFBIG;
    }
    raised = fsz;
    raised.rlim_cur = fsz.rlim_max;
    if (limited && setrlimit(RLIMIT_FSIZE, &raised) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    int sized = ftruncate(fd, (off_t)size) == 0 ? 0 : -errno;
    if (limited)
        setrlimit(RLIMIT_FSIZE, &fsz);
    void *p = MAP_FAILED;
    if (sized != 0) {
        close(fd);
        return sized;
    }
    if (
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0 ||
        (p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
        int err = -errno;
        close(fd);
        return err;
    }
    set_geometry(r, p, size, n, heap);
    r->hdr->magic = GP_RING_MAGIC;
    r->hdr->version = GP_RING_VERSION;
    r->hdr->slot_size = sizeof(struct ring_slot);
    r->hdr->nslots = n;
    r->hdr->mask = n - 1;
    r->hdr->heap_buckets = r->nbuckets;
    r->hdr->heap_frame_words = r->frame_words;
    r->hdr->heap_label_bytes = r->label_bytes;
    *fd_out = fd;
    return 0;
}

int ring_attach(struct ring *r, int fd, char *why, size_t whysz)
{
    struct stat st;
    int seals = fcntl(fd, F_GET_SEALS);
    if (fstat(fd, &st) != 0 || seals < 0 || !(seals & F_SEAL_SHRINK) ||
        st.st_size < (off_t)ring_bytes(1, 0) || st.st_size > (off_t)ring_bytes(1u << 20, 1)) {
        snprintf(why, whysz, "is not a sealed ring of a usable size");
        return -EPROTO;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int err = -errno;
        snprintf(why, whysz, "cannot be mapped");
        return err;
    }
    set_geometry(r, p, (size_t)st.st_size, 0, 0);
    int err = ring_check(r, why, whysz);
    if (err)
        ring_destroy(r);
    return err;
}

void ring_destroy(struct ring *r)
{
    if (r->hdr)
        munmap(r->hdr, r->map_size);
    r->hdr = NULL;
    r->slots = NULL;
    r->spills = NULL;
}

const char *ring_drop_label(enum gp_drop_reason why)
{
    switch (why) {
    case GP_DROP_RING_FULL: return "lost: ring full";
    case GP_DROP_TORN: return "lost: writer interrupted";
    case GP_DROP_BAD_RECORD: return "lost: bad record";
    case GP_DROP_THREAD_EXIT: return "unsampled: thread ended between ticks";
    case GP_DROP_SIGPROF_BLOCKED: return "unsampled: SIGPROF blocked by the program";
    default: return "lost: unknown";
    }
}

int ring_drop_is_loss(enum gp_drop_reason why)
{
    return why != GP_DROP_THREAD_EXIT && why != GP_DROP_SIGPROF_BLOCKED;
}
