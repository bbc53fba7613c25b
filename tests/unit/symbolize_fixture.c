/* symbolize_fixture.c -- C program with a known function for test_symbolize.
 * Context: any
 */
#include <stdio.h>

__attribute__((noinline)) unsigned long fixture_c_function(unsigned long n);

__attribute__((noinline)) unsigned long fixture_c_function(unsigned long n)
{
    unsigned long s = 0;
    for (unsigned long i = 0; i < n; i++)
        s += i * i;
    return s;
}

int main(void)
{
    printf("%lu\n", fixture_c_function(10));
    return 0;
}
