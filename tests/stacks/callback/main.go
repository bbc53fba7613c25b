// callback -- Go → C → Go → C, on a goroutine and on a thread created by C.
//
// Goroutine path: main.goroutinePath calls C.c_call_go, which calls the exported Go function
// goCb (through the C stub goCb in _cgo_export.c and crosscall2), which calls the hot C leaf
// c_leaf_goroutine, then one level deeper C.c_call_go_nested -> goNested -> c_leaf_nested
// (Go -> C -> Go -> C -> Go -> C), and then spins in Go (main.spinGoroutine).
//
// Thread path: C.c_thread_start creates a pthread whose c_thread_main loops calling the
// exported goFromThread (the runtime lends that thread an extra M), which calls the hot C
// leaf c_leaf_thread and then spins in Go (main.spinThread).
//
// goCb does about 2 ms in C (half of it nested) and 1 ms in Go, goFromThread 1 ms in each.
// The C code has frame pointers (-fno-omit-frame-pointer); see callback.c. -Wextra is not in
// the cgo flags: the wrappers cgo 1.21-1.24 generates for //export have unused parameters.
// The harness compiles callback.c alone with -std=c11 -Wall -Wextra -Werror instead.
package main

/*
#cgo CFLAGS: -O2 -fno-omit-frame-pointer -Wall
#cgo LDFLAGS: -pthread
#include "callback.h"
*/
import "C"

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

var (
	cN    int64 // iterations of the C leaves for about 1 ms
	goN   int64 // iterations of the Go spins for about 1 ms
	sink  atomic.Uint64
	calls atomic.Int64

	// goroutinePath's parameters are globals so that 'go goroutinePath()' needs no
	// compiler-generated wrapper (main.main.gowrap1 from Go 1.23 on, main.main.func1 before).
	pathDuration time.Duration
	pathDone     = make(chan struct{})
)

// spin is the Go work of a callback; the two wrappers give each path its own leaf.
func spin(n int64) uint64 {
	x := sink.Load()
	for i := int64(0); i < n; i++ {
		x += uint64(i) ^ (x >> 3)
	}
	return x
}

//go:noinline
func spinGoroutine(n int64) uint64 { return spin(n) }

//go:noinline
func spinThread(n int64) uint64 { return spin(n) }

//export goCb
func goCb(n C.long) {
	C.c_leaf_goroutine(n)
	C.c_call_go_nested(n)
	sink.Add(spinGoroutine(goN))
	calls.Add(1)
}

//export goNested
func goNested(n C.long) {
	C.c_leaf_nested(n)
}

//export goFromThread
func goFromThread(n C.long) {
	C.c_leaf_thread(n)
	sink.Add(spinThread(goN))
	calls.Add(1)
}

//go:noinline
func goroutinePath() {
	for start := time.Now(); time.Since(start) < pathDuration; {
		C.c_call_go(C.long(cN))
	}
	close(pathDone)
}

// calibrate returns the iteration count for about 1 ms of run (fastest of a few runs).
func calibrate(run func(int64)) int64 {
	const probe = 100000
	best := time.Hour
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		run(probe)
		if took := time.Since(t0); took < best {
			best = took
		}
	}
	if best <= 0 {
		best = time.Microsecond
	}
	return int64(float64(probe) * float64(time.Millisecond) / float64(best))
}

func main() {
	d, stop := setup()
	cN = calibrate(func(n int64) { C.c_probe(C.long(n)) })
	goN = calibrate(func(n int64) { sink.Add(spin(n)) })
	pathDuration = d
	go goroutinePath()
	if rc := C.c_thread_start(C.long(cN)); rc != 0 {
		fmt.Fprintln(os.Stderr, "callback: pthread_create failed:", rc)
		os.Exit(1)
	}
	time.Sleep(d)
	if rc := C.c_thread_stop(); rc != 0 {
		fmt.Fprintln(os.Stderr, "callback: pthread_join failed:", rc)
		os.Exit(1)
	}
	<-pathDone
	stop()
	fmt.Println("callback: done", calls.Load() > 0)
}
