// trivial -- the start-up benchmark's cgo program (bench/README.md, section 7): the smallest
// program that links the Go runtime and cgo, starts and exits. Its time with libgoprof minus
// its time without is what a preloaded Go process pays to start.
package main

// int one(void) { return 1; }
import "C"
import "fmt"

func main() { fmt.Println(C.one()) }
