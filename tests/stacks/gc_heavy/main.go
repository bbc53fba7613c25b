// gc_heavy -- allocation-heavy: main.churn allocates small pointerful objects as fast as it
// can and keeps the last 200000 of them live in a ring (about 10 MB), so the GC runs
// continually and has a heap to mark. CPU goes to mallocgc (and its systemstack paths:
// span refills, assists, GC start), to the background mark workers (runtime.gcBgMarkWorker
// → runtime.systemstack → gcDrain on g0, on a goroutine of its own) and to sweeping.
package main

import "C" // cgo on: a dynamically linked executable, so that LD_PRELOAD reaches it

import (
	"fmt"
	"time"
)

type node struct {
	next *node
	val  [4]uint64
}

const live = 200000

//go:noinline
func churn(d time.Duration) int {
	ring := make([]*node, live)
	var prev *node
	n := 0
	for start := time.Now(); time.Since(start) < d; {
		for i := 0; i < 1000; i++ {
			nd := &node{next: prev}
			nd.val[0] = uint64(n)
			ring[n%live] = nd
			prev = nd
			if n%64 == 0 {
				prev = nil // short chains: the marker walks the ring, not one list
			}
			n++
		}
	}
	return n
}

func main() {
	d, stop := setup()
	n := churn(d)
	stop()
	fmt.Println("gc_heavy: done", n > 0)
}
