// cgo_nested -- Go calls C, and the C code nests three calls deep. The C code is compiled
// -O2 -fomit-frame-pointer, so RBP is a general register in c_outer/c_middle/c_inner and
// only the .eh_frame CFI can unwind them. Each C function is noinline (and noclone), and
// the empty asm after each call keeps GCC from turning the call into a tail jump (which
// would remove the caller's frame). c_inner is the hot leaf: a busy loop on a volatile,
// called in calibrated chunks of about 1 ms.
//
// Built by the harness as a default executable, as -buildmode=pie, and stripped
// (-ldflags='-s -w'), where the C functions lose their names (see the expect file).
package main

/*
#cgo CFLAGS: -O2 -fomit-frame-pointer -Wall
#include "nested.h"
*/
import "C"

import (
	"fmt"
	"time"
)

// caller is the Go function that calls C: the expected chain has it between main.main and
// the cgo wrapper main._Cfunc_c_outer.
//
//go:noinline
func caller(d time.Duration, n int64) uint64 {
	var r uint64
	for start := time.Now(); time.Since(start) < d; {
		r += uint64(C.c_outer(C.long(n)))
	}
	return r
}

// chunk returns the iteration count for about 1 ms of c_inner: the fastest of a few timed
// runs of c_probe, c_inner's twin, so that calibration samples never have c_inner as leaf.
func chunk() int64 {
	const probe = 100000
	best := time.Hour
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		C.c_probe(probe)
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
	r := caller(d, chunk())
	stop()
	fmt.Println("cgo_nested: done", r != 0)
}
