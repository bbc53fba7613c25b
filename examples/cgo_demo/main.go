// cgo_demo -- a small Go service loop that spends part of its time in C through cgo.
//
// Go's own profiler shows the C part as one runtime.cgocall box; libgoprof shows the C
// functions (checksum_block -> mix_bytes) under the Go functions that called them.
//
//	go build -o cgo_demo . && LD_PRELOAD=libgoprof.so GOPROF_OUT=demo.pb.gz ./cgo_demo
package main

/*
#cgo CFLAGS: -O2
#include <stddef.h>
#include <stdint.h>

// mix_bytes is the hot C function: a multiply-rotate hash over a buffer.
__attribute__((noinline)) static uint64_t mix_bytes(const unsigned char *p, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
        h = (h << 13) | (h >> 51);
    }
    return h;
}

// checksum_block hashes a block several times, as a codec or a crypto library would.
__attribute__((noinline)) static uint64_t checksum_block(const unsigned char *p, size_t n, int rounds)
{
    uint64_t h = 1469598103934665603ull;
    for (int r = 0; r < rounds; r++)
        h = mix_bytes(p, n, h);
    return h;
}
*/
import "C"

import (
	"flag"
	"fmt"
	"sort"
	"time"
	"unsafe"
)

// checksum hands a block to the C library.
//
//go:noinline
func checksum(block []byte) uint64 {
	return uint64(C.checksum_block((*C.uchar)(unsafe.Pointer(&block[0])), C.size_t(len(block)), 40))
}

// rank is the Go part of the work: sorting records by score.
//
//go:noinline
func rank(scores []uint64) {
	sort.Slice(scores, func(i, j int) bool { return scores[i] < scores[j] })
}

//go:noinline
func handleRequest(block []byte, scores []uint64) uint64 {
	sum := checksum(block)
	for i := range scores {
		scores[i] = (sum + uint64(i)*2654435761) % 1000003
	}
	rank(scores)
	return scores[0]
}

func main() {
	duration := flag.Duration("d", 3*time.Second, "how long to run")
	flag.Parse()
	block := make([]byte, 64<<10)
	for i := range block {
		block[i] = byte(i * 7)
	}
	scores := make([]uint64, 20000)
	var requests, acc uint64
	for start := time.Now(); time.Since(start) < *duration; requests++ {
		acc += handleRequest(block, scores)
	}
	fmt.Printf("cgo_demo: %d requests (checksum %x)\n", requests, acc&0xffff)
}
