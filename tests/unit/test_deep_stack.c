/* test_deep_stack.c -- the frames of a stack deeper than a record (program/unwind/unwind.c):
 * every depth from 1 to a few records deep, in one array or split in two as in a ring slot and
 * its spill, and the walk limit.
 * Context: tests
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "lib/base/record_flags.h"
#include "lib/ring/ring.h"
#include "program/unwind/unwind.h"

/* Pushes frames 1..depth (leaf first) into a record of max frames keeping leaf at the leaf end,
 * the first split of them in one array and the rest in another (split 0: one array), and checks
 * what unwind_finish leaves: the whole stack when it fits, else frames 1..leaf, one
 * GP_PC_ELIDED word with the count, and the last max - leaf - 1 frames in order. Each array is
 * allocated to its size: a write past one is ASan's to see. */
static void check_depth(int max, int leaf, int split, uint32_t depth)
{
    uint64_t *pc = calloc((size_t)(split ? split : max), sizeof *pc);
    uint64_t *more = split ? calloc((size_t)(max - split), sizeof *more) : NULL;
    struct unwind_out out = { .pc = pc, .more = more, .split = split, .max = max, .leaf = leaf };
    int pushed_ok = 1;
    for (uint32_t i = 1; i <= depth; i++)
        pushed_ok &= unwind_push(&out, i) == 0;
    if (depth)
        unwind_mark_last_exact(&out);
    unwind_finish(&out);
#define AT(i) (*unwind_out_frame(&out, (int)(i)))
    int ok = pushed_ok && out.walked == depth && !(out.flags & GP_REC_TRUNCATED);
    if (depth <= (uint32_t)max) {
        ok &= out.n == (int)depth;
        for (uint32_t i = 0; i < depth && ok; i++)
            ok &= (AT(i) & ~GP_PC_EXACT) == i + 1;
    } else {
        uint32_t root = (uint32_t)(max - leaf - 1);
        ok &= out.n == max;
        for (int i = 0; i < leaf && ok; i++)
            ok &= AT(i) == (uint64_t)i + 1;
        ok &= AT(leaf) == (GP_PC_ELIDED | (depth - (uint32_t)leaf - root));
        for (uint32_t k = 0; k < root && ok; k++)
            ok &= (AT((uint32_t)leaf + 1 + k) & ~GP_PC_EXACT) == depth - root + 1 + k;
    }
    /* the root frame is the one marked exact last */
    if (depth)
        ok &= (AT(out.n - 1) & GP_PC_EXACT) != 0;
#undef AT
    if (!CHECK(ok))
        printf("  max %d leaf %d split %d depth %u: n %d walked %u\n", max, leaf, split, depth,
               out.n, out.walked);
    free(pc);
    free(more);
}

int main(void)
{
    /* small records: every wrap position of the root window */
    for (int max = 3; max <= 9; max++)
        for (int leaf = 0; leaf < max - 1; leaf++)
            for (int split = 0; split <= leaf + 1; split++)
                for (uint32_t depth = 0; depth <= 40; depth++)
                    check_depth(max, leaf, split, depth);
    /* the record's own geometry, at the depths the integration tests use: in one array (the
     * heap path's scratch record), in a ring slot and its spill (the handler's), and from a
     * slot's second frame (a thread's unsampled end, program/sample/timer.c) */
    static const uint32_t depths[] = { 1, 119, 120, 121, 383, 384, 895, 896, 897, 1000, 1311,
                                       5000, 20011 };
    for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
        check_depth(GP_RING_MAX_FRAMES, GP_RING_LEAF_FRAMES, 0, depths[i]);
        check_depth(GP_RING_MAX_FRAMES, GP_RING_LEAF_FRAMES, GP_RING_SLOT_FRAMES, depths[i]);
        check_depth(GP_RING_MAX_FRAMES - 1, GP_RING_LEAF_FRAMES, GP_RING_SLOT_FRAMES - 1,
                    depths[i]);
    }
    /* beyond UNWIND_MAX_WALK: the walk stops and says so */
    uint64_t pc[16];
    struct unwind_out out = { .pc = pc, .max = 16, .leaf = 8 };
    int stopped = 0;
    for (uint32_t i = 1; i <= UNWIND_MAX_WALK + 5; i++)
        stopped += unwind_push(&out, i) != 0;
    unwind_finish(&out);
    CHECK(stopped == 5 && (out.flags & GP_REC_TRUNCATED) && out.n == 16);
    CHECK(pc[8] == (GP_PC_ELIDED | (UNWIND_MAX_WALK - 15)) && pc[15] == UNWIND_MAX_WALK);
    return check_done();
}
