// frameless_leaf -- a hot Go leaf function without a frame: main.leaf calls nothing and
// keeps everything in registers, so the compiler gives it no frame (no PUSHQ BP; the
// harness checks this with go tool objdump for every toolchain). While it runs, RBP still
// holds its caller's frame pointer, so a pure frame-pointer walk starts at the caller's
// caller and loses main.caller. Only the pcsp table (the return address at SP+0) gets it.
package main

import "C" // cgo on: a dynamically linked executable, so that LD_PRELOAD reaches it

import (
	"fmt"
	"time"
)

// leaf is the hot frameless function: a loop-carried dependency on x, nothing else.
//
//go:noinline
func leaf(n int, x uint64) uint64 {
	for i := 0; i < n; i++ {
		x += uint64(i) ^ (x >> 3)
	}
	return x
}

// caller calls leaf in chunks of about 1 ms; it must appear between main.main and main.leaf.
//
//go:noinline
func caller(d time.Duration) uint64 {
	const n = 300000
	var x uint64
	for start := time.Now(); time.Since(start) < d; {
		x = leaf(n, x)
	}
	return x
}

func main() {
	d, stop := setup()
	x := caller(d)
	stop()
	fmt.Println("frameless_leaf: done", x != 1)
}
