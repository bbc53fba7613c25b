// symbolize_fixture.go -- Go+cgo program with known functions for test_symbolize.
// The "LINE:" markers are located by run_symbolize.sh with grep -n.
package main

/*
#include <stdint.h>
static uint64_t fixture_c_spin(uint64_t n)
{
	uint64_t s = 0;
	for (uint64_t i = 0; i < n; i++)
		s += i * i;
	return s;
}
*/
import "C"

import (
	"fmt"
	"os"
)

//go:noinline
func fixtureNoInline(n int) int { // LINE:noinline
	s := 0
	for i := 0; i < n; i++ {
		s += i ^ (s >> 3)
	}
	return s
}

// Small and leaf: always inlined by gc into fixtureCaller.
func fixtureInlined(x int) int { // LINE:inlined
	return x*3 + 1 // LINE:inlined_body
}

//go:noinline
func fixtureCaller(n int) int { // LINE:caller
	t := 0
	for i := 0; i < n; i++ {
		t += fixtureInlined(i)
	}
	return t
}

func main() {
	fmt.Println(fixtureNoInline(10), fixtureCaller(10), uint64(C.fixture_c_spin(10)))
	os.Exit(0)
}
