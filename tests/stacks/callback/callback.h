/* callback.h -- the C side of the callback program (definitions in callback.c). */
#ifndef CALLBACK_H
#define CALLBACK_H
#include <stdint.h>
/* Goroutine path: Go calls c_call_go, which calls the exported Go function goCb. */
void c_call_go(long n);
/* Nested, inside goCb: c_call_go_nested calls the exported goNested, which calls
 * c_leaf_nested (Go -> C -> Go -> C -> Go -> C). */
void c_call_go_nested(long n);
/* The hot C leaves, one per path. */
uint64_t c_leaf_goroutine(long n);
uint64_t c_leaf_thread(long n);
uint64_t c_leaf_nested(long n);
/* Calibration twin of the leaves. */
uint64_t c_probe(long n);
/* Thread path: a pthread created here loops calling the exported goFromThread(n) until
 * c_thread_stop. Both return 0 or an errno value. */
int c_thread_start(long n);
int c_thread_stop(void);
/* The Go functions exported by main.go (//export); cgo's _cgo_export.h declares them the
 * same way. Declared here so that callback.c compiles on its own (the harness checks it
 * with gcc -std=c11 -Wall -Wextra -Werror). */
void goCb(long n);
void goNested(long n);
void goFromThread(long n);
#endif
