// deep -- stacks deeper than a record, reached while the goroutines' stacks grow. main.main
// starts fresh goroutines one after another (main.worker300, main.worker1000, main.worker5000);
// each recurses to its depth (main.recurseN, a small frame: the stack grows from its first
// few KiB through morestack → newstack → copystack on the way down) and spins at the bottom
// (main.spinN). Then main.main calls C through cgo, and the C function recurses 700 deep
// (c_deep) before spinning (c_spin). A record holds 896 frames: stacks of 300 and 700 frames
// must come whole; stacks of 1000 and 5000 keep their leaf end and their root end with one
// '[libgoprof] N frames left out' frame between (tests/stacks/deep/expect).
package main

/*
// Recursion the compiler cannot turn into a loop: each level uses its own frame after the
// call returns.
__attribute__((noinline)) static void c_spin(void)
{
    volatile unsigned long x = 0;
    for (long i = 0; i < 300000; i++)
        x += (unsigned long)i;
}

__attribute__((noinline)) static int c_deep(int n)
{
    volatile int here[4] = { n, n, n, n };
    if (n == 0)
        c_spin();
    else
        here[1] += c_deep(n - 1);
    return here[1] & 1;
}
*/
import "C"

import (
	"fmt"
	"time"
)

var (
	sink int
	done = make(chan int)
)

//go:noinline
func spin300() int {
	s := 0
	for i := 0; i < 400000; i++ {
		s += i * i
	}
	return s
}

//go:noinline
func spin1000() int {
	s := 0
	for i := 0; i < 400000; i++ {
		s += i * i
	}
	return s
}

//go:noinline
func spin5000() int {
	s := 0
	for i := 0; i < 400000; i++ {
		s += i * i
	}
	return s
}

//go:noinline
func recurse300(n int) int {
	if n == 0 {
		return spin300()
	}
	return recurse300(n-1) + 1
}

//go:noinline
func recurse1000(n int) int {
	if n == 0 {
		return spin1000()
	}
	return recurse1000(n-1) + 1
}

//go:noinline
func recurse5000(n int) int {
	if n == 0 {
		return spin5000()
	}
	return recurse5000(n-1) + 1
}

//go:noinline
func worker300() { done <- recurse300(300) }

//go:noinline
func worker1000() { done <- recurse1000(1000) }

//go:noinline
func worker5000() { done <- recurse5000(5000) }

//go:noinline
func cDeep() { sink += int(C.c_deep(700)) }

func main() {
	d, stop := setup()
	n := 0
	for start := time.Now(); time.Since(start) < d; n++ {
		go worker300()
		sink += <-done
		go worker1000()
		sink += <-done
		go worker5000()
		sink += <-done
		cDeep()
	}
	stop()
	fmt.Println("deep: done", n > 0)
}
