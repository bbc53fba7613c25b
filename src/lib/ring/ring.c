/* ring.c -- creation of the shared ring (see ring.h for the protocol).
 * Context: library
 */
#include "lib/ring/ring.h"

#include <errno.h>
#include <sys/mman.h>

int ring_create(struct ring *r, uint32_t nslots)
{
    uint32_t n = 1;
    while (n < nslots && n < (1u << 20))
        n <<= 1;
    size_t hdr_size = 8192;   /* counters and three cost histograms */
    _Static_assert(sizeof(struct ring_header) <= 8192, "ring header fits two pages");
    size_t size = hdr_size + (size_t)n * sizeof(struct ring_slot);
    /* Populated now: the head only moves forward, so every page is touched once the ring has
     * wrapped anyway, and a first touch inside the handler costs a page fault per 2 slots. */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE,
                   -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    r->hdr = p;
    r->slots = (struct ring_slot *)((char *)p + hdr_size);
    r->map_size = size;
    r->hdr->magic = GP_RING_MAGIC;
    r->hdr->version = GP_RING_VERSION;
    r->hdr->slot_size = sizeof(struct ring_slot);
    r->hdr->nslots = n;
    r->hdr->mask = n - 1;
    /* Slots need no initialisation: a zero stored seq is slot i's initial seq = i (ring.h). */
    atomic_init(&r->hdr->head, 0);
    atomic_init(&r->hdr->tail, 0);
    for (int i = 0; i < GP_DROP_MAX; i++)
        atomic_init(&r->hdr->drops[i], 0);
    return 0;
}

void ring_destroy(struct ring *r)
{
    if (r->hdr)
        munmap(r->hdr, r->map_size);
    r->hdr = NULL;
    r->slots = NULL;
}

const char *ring_drop_label(enum gp_drop_reason why)
{
    switch (why) {
    case GP_DROP_RING_FULL: return "lost: ring full";
    case GP_DROP_TORN: return "lost: writer interrupted";
    case GP_DROP_BAD_RECORD: return "lost: bad record";
    case GP_DROP_THREAD_EXIT: return "unsampled: thread ended between ticks";
    default: return "lost: unknown";
    }
}

int ring_drop_is_loss(enum gp_drop_reason why)
{
    return why != GP_DROP_THREAD_EXIT;
}
