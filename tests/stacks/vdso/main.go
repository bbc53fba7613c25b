// vdso -- a hot loop reading the clock: most samples fall in the vDSO's clock_gettime.
//
// time.Now reads both clocks. On amd64 Go switches to the g0 stack before calling into the
// vDSO (runtime.nanotime1, and time.now or runtime.walltime, depending on the version) and
// records m.vdsoPC/vdsoSP; the vDSO code has CFI (.eh_frame) but no frame pointers. A
// sample there must come back through the vDSO frame into the Go function that called it
// and on to the goroutine: main.main → main.clockLoop → time.Now → … → clock_gettime.
package main

import "C" // cgo on: a dynamically linked executable, so that LD_PRELOAD reaches it

import (
	"fmt"
	"time"
)

// clockLoop reads the clock in a loop for d.
//
//go:noinline
func clockLoop(d time.Duration) int64 {
	var sum int64
	end := time.Now().Add(d)
	for {
		now := time.Now()
		if now.After(end) {
			return sum
		}
		sum += int64(now.Nanosecond() & 1)
	}
}

func main() {
	d, stop := setup()
	n := clockLoop(d)
	stop()
	fmt.Println("vdso: done", n >= 0)
}
