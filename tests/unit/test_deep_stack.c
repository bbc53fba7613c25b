/* test_deep_stack.c -- the frames of a stack deeper than a record (program/unwind/unwind.c):
 * every depth from 1 to a few records deep, and the walk limit.
 * Context: tests
 */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "lib/base/record_flags.h"
#include "program/unwind/unwind.h"

/* Pushes frames 1..depth (leaf first) into a record of max frames keeping leaf at the leaf end,
 * and checks what unwind_finish leaves: the whole stack when it fits, else frames 1..leaf, one
 * GP_PC_ELIDED word with the count, and the last max - leaf - 1 frames in order. */
static void check_depth(int max, int leaf, uint32_t depth)
{
    uint64_t *pc = calloc((size_t)max, sizeof *pc);
    struct unwind_out out = { .pc = pc, .max = max, .leaf = leaf };
    int pushed_ok = 1;
    for (uint32_t i = 1; i <= depth; i++)
        pushed_ok &= unwind_push(&out, i) == 0;
    if (depth)
        unwind_mark_last_exact(&out);
    unwind_finish(&out);
    int ok = pushed_ok && out.walked == depth && !(out.flags & GP_REC_TRUNCATED);
    if (depth <= (uint32_t)max) {
        ok &= out.n == (int)depth;
        for (uint32_t i = 0; i < depth && ok; i++)
            ok &= (pc[i] & ~GP_PC_EXACT) == i + 1;
    } else {
        uint32_t root = (uint32_t)(max - leaf - 1);
        ok &= out.n == max;
        for (int i = 0; i < leaf && ok; i++)
            ok &= pc[i] == (uint64_t)i + 1;
        ok &= pc[leaf] == (GP_PC_ELIDED | (depth - (uint32_t)leaf - root));
        for (uint32_t k = 0; k < root && ok; k++)
            ok &= (pc[(uint32_t)leaf + 1 + k] & ~GP_PC_EXACT) == depth - root + 1 + k;
    }
    /* the root frame is the one marked exact last */
    if (depth)
        ok &= (pc[out.n - 1] & GP_PC_EXACT) != 0;
    if (!CHECK(ok))
        printf("  max %d leaf %d depth %u: n %d walked %u\n", max, leaf, depth, out.n, out.walked);
    free(pc);
}

int main(void)
{
    /* small records: every wrap position of the root window */
    for (int max = 3; max <= 9; max++)
        for (int leaf = 0; leaf < max - 1; leaf++)
            for (uint32_t depth = 0; depth <= 40; depth++)
                check_depth(max, leaf, depth);
    /* the record's own geometry, at the depths the integration tests use */
    static const uint32_t depths[] = { 1, 383, 384, 895, 896, 897, 1000, 1311, 5000, 20011 };
    for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++)
        check_depth(896, 384, depths[i]);
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
