/* trivial.c -- the start-up benchmark's C program (bench/README.md, section 7): starts, prints
 * one line, exits. Its time with libgoprof minus its time without is what a preloaded C
 * process pays to start.
 */
#include <stdio.h>

int main(void)
{
    puts("1");
    return 0;
}
