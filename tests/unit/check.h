/* check.h -- the tiny assertion helper of the C unit tests.
 * Context: tests
 *
 * CHECK counts; check_done() prints "N passed, N failed" and returns the exit status.
 */
#ifndef GP_TEST_CHECK_H
#define GP_TEST_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond) check_at(!!(cond), #cond, __FILE__, __LINE__)

static inline int check_at(int ok, const char *what, const char *file, int line)
{
    if (ok) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what);
    }
    return ok;
}

static inline int check_done(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
