// morestack -- goroutine stacks that grow again and again. main.main starts fresh
// goroutines (main.worker) one after another; each recurses main.recurse to a fixed depth
// with a 1 KiB frame, so its stack grows from the initial few KiB to about 1 MiB, doubling
// each time: the prologue of main.recurse calls runtime.morestack, which switches to g0 and
// calls runtime.newstack → runtime.copystack (memmove of the old stack, then adjusting every
// frame's pointers). Most CPU time is spent there, on the g0 stack; the profile must chain
// those samples back through morestack to the main.recurse frames and runtime.goexit.
//
// The depth is kept small (about 50 frames in all) so that every stack fits in Go's own
// profiler (64 frames in Go 1.21) and in a libgoprof record: a truncated stack cannot be
// compared with anything.
package main

import "C" // cgo on: a dynamically linked executable, so that LD_PRELOAD reaches it

import (
	"fmt"
	"time"
)

const depth = 40

var (
	sink int
	// A global, so that 'go worker()' needs no compiler-generated wrapper
	// (main.main.gowrap1 from Go 1.23 on, main.main.func1 before).
	done = make(chan int)
)

// recurse has a 16 KiB frame (buf) that it really uses, so that the frame stays that big.
//
//go:noinline
func recurse(n int) int {
	var buf [16 << 10]byte
	buf[n%len(buf)] = byte(n)
	if n == 0 {
		return int(buf[0])
	}
	return recurse(n-1) + int(buf[(n*7)%len(buf)])
}

//go:noinline
func worker() {
	done <- recurse(depth)
}

func main() {
	d, stop := setup()
	n := 0
	for start := time.Now(); time.Since(start) < d; n++ {
		go worker()
		sink += <-done
	}
	stop()
	fmt.Println("morestack: done", n > 0)
}
