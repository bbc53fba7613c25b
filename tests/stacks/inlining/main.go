// inlining -- the hot loop is in main.inner, which the compiler inlines into main.middle,
// which it inlines into main.outer (the harness checks with go tool objdump that main.outer
// calls neither). The samples' PCs all lie in main.outer's code; only the inline tree in
// pclntab (FUNCDATA_InlTree, PCDATA_InlTreeIndex) tells that they are in main.inner called
// from main.middle. The profile must show both as inline frames of main.outer.
package main

import "C" // cgo on: a dynamically linked executable, so that LD_PRELOAD reaches it

import (
	"fmt"
	"time"
)

// inner: small enough to be inlined (loops are inlinable since Go 1.16).
func inner(n int, x uint64) uint64 {
	for i := 0; i < n; i++ {
		x += uint64(i) ^ (x >> 3)
	}
	return x
}

// middle: inlined too (mid-stack inlining), with inner inlined into it.
func middle(n int, x uint64) uint64 {
	return inner(n, x+1) * 3
}

//go:noinline
func outer(d time.Duration) uint64 {
	const n = 300000
	var x uint64
	for start := time.Now(); time.Since(start) < d; {
		x = middle(n, x)
	}
	return x
}

func main() {
	d, stop := setup()
	x := outer(d)
	stop()
	fmt.Println("inlining: done", x != 1)
}
