/* nested.h -- the C side of cgo_nested: c_outer -> c_middle -> c_inner. */
#ifndef CGO_NESTED_H
#define CGO_NESTED_H
#include <stdint.h>
uint64_t c_outer(long n);
uint64_t c_middle(long n);
uint64_t c_inner(long n);
uint64_t c_probe(long n);
#endif
