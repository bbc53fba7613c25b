// callers -- the program from the user's report: main.main calls runtime.Callers in a loop
// for the whole run. Nearly every sample is inside runtime.callers' systemstack call, i.e.
// on the g0 stack: main.main → runtime.Callers → runtime.callers → runtime.systemstack →
// runtime.callers.func1 → runtime.tracebackPCs → …, which is what Go's own profiler shows.
// A profiler that stops at systemstack (the g0 stack's bottom) loses main.main.
package main

import "C" // cgo on: a dynamically linked executable, so that LD_PRELOAD reaches it

import (
	"fmt"
	"runtime"
	"time"
)

func main() {
	d, stop := setup()
	var pcs [64]uintptr
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		for i := 0; i < 1000; i++ {
			n += runtime.Callers(1, pcs[:])
		}
	}
	stop()
	fmt.Println("callers: done", n > 0)
}
