// gowork -- the Go and cgo workloads of the benchmarks (bench/README.md).
//
// Every mode does a fixed amount of work, counted in units of about 1 ms of CPU on the machine
// where `-mode calib` measured the iteration counts (the driver calibrates once per session and
// passes the same counts to every run, so all runs of a session do identical work):
//
//	-mode go        pure Go: worker -> goRec x depth -> goLeaf, one call per unit
//	-mode cgo       mixed: worker -> goRec x depth/2 -> C c_rec x depth/2 -> c_leaf
//	-mode ratio     75/25 Go/C: goSpin (Go) and c_work (C) in chunks of 0.5-1.5 units (random),
//	                always running the half that is behind its share of the thread's CPU time
//	                (CLOCK_THREAD_CPUTIME_ID); prints the true split
//	-mode distinct  a random path through dA/dB, 2^17 distinct stacks, 1/50 unit at each leaf
//	-mode calib     prints giters= and citers= (iterations per ms of goLeaf and c_leaf)
//
// Flags: -threads N goroutines, each locked to its own thread, GOMAXPROCS = max(N, NumCPU);
// -units per thread; -giters/-citers iterations per unit; -depth; -gopprof FILE and -gohz N
// run Go's own CPU profiler for the work window.
//
// stdout (key=value lines): wall_ns and win_cpu_ns (getrusage user+sys) of the work window,
// cpu_ns (the process's getrusage at the end), rss_kb (VmHWM: this image's peak RSS; wait4's
// ru_maxrss would include the parent's from before exec); ratio mode adds go_cpu_ns and c_cpu_ns.
package main

/*
#cgo CFLAGS: -O2 -Wall
#include "work.h"
*/
import "C"

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var sink atomic.Uint64

//go:noinline
func goLeaf(n int64) uint64 {
	x := sink.Load() | 1
	for i := int64(0); i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		x += 1
	}
	return x
}

// goSpin is the Go half of the ratio workload (goLeaf's twin, so calibration is not counted).
//
//go:noinline
func goSpin(n int64) uint64 {
	x := sink.Load() | 1
	for i := int64(0); i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		x += 3
	}
	return x
}

//go:noinline
func goRec(d int, n int64) uint64 {
	if d <= 0 {
		return goLeaf(n)
	}
	return goRec(d-1, n) + 1
}

//go:noinline
func goRecC(d, dc int, n int64) uint64 {
	if d <= 0 {
		return uint64(C.c_rec(C.int(dc), C.long(n)))
	}
	return goRecC(d-1, dc, n) + 1
}

//go:noinline
func dA(d int, path uint64, n int64) uint64 {
	if d <= 0 {
		return goLeaf(n)
	}
	if path&1 != 0 {
		return dA(d-1, path>>1, n) + 1
	}
	return dB(d-1, path>>1, n) + 1
}

//go:noinline
func dB(d int, path uint64, n int64) uint64 {
	if d <= 0 {
		return goLeaf(n)
	}
	if path&1 != 0 {
		return dA(d-1, path>>1, n) + 2
	}
	return dB(d-1, path>>1, n) + 2
}

func rusageCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fmt.Fprintln(os.Stderr, "gowork: getrusage:", err)
		os.Exit(1)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// perMs returns iterations per ms of run: the fastest of a few timed probes.
func perMs(run func(int64) uint64) int64 {
	const probe = 1 << 20
	best := time.Hour
	for i := 0; i < 9; i++ {
		t0 := time.Now()
		run(probe)
		if d := time.Since(t0); d < best {
			best = d
		}
	}
	return int64(float64(probe) * float64(time.Millisecond) / float64(best))
}

type params struct {
	mode           string
	units          int
	giters, citers int64
	depth          int
}

// worker runs one thread's share; returns its Go and C thread CPU (ratio mode only).
func worker(p params, seed uint64) (goNS, cNS int64) {
	runtime.LockOSThread()
	switch p.mode {
	case "go":
		for u := 0; u < p.units; u++ {
			goRec(p.depth, p.giters)
		}
	case "cgo":
		dg := p.depth / 2
		for u := 0; u < p.units; u++ {
			goRecC(dg, p.depth-dg, p.citers)
		}
	case "ratio":
		// Chunks of a random 0.5-1.5 units: fixed-length chunks alias with the 4 ms tick that
		// delivers the timers' signals (a tick would keep landing in the same half).
		x := seed | 1
		for u := 0; u < p.units; u++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			f := 0.5 + float64(x>>11)/float64(1<<53)
			t0 := int64(C.c_thread_cpu_ns())
			if goNS <= 3*cNS {
				goSpin(int64(f * float64(p.giters)))
				goNS += int64(C.c_thread_cpu_ns()) - t0
			} else {
				C.c_work(C.long(f * float64(p.citers)))
				cNS += int64(C.c_thread_cpu_ns()) - t0
			}
		}
	case "distinct":
		x := seed | 1
		n := p.giters / 50
		for u := 0; u < p.units*50; u++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			dA(17, x, n)
		}
	}
	return goNS, cNS
}

func main() {
	var p params
	flag.StringVar(&p.mode, "mode", "go", "go, cgo, ratio, distinct or calib")
	threads := flag.Int("threads", 1, "worker goroutines, each locked to a thread")
	flag.IntVar(&p.units, "units", 1000, "units of work per thread (about 1 ms each)")
	flag.Int64Var(&p.giters, "giters", 0, "Go leaf iterations per unit (0: calibrate now)")
	flag.Int64Var(&p.citers, "citers", 0, "C leaf iterations per unit (0: calibrate now)")
	flag.IntVar(&p.depth, "depth", 30, "recursion depth (go, cgo)")
	gopprof := flag.String("gopprof", "", "run Go's CPU profiler for the work window into FILE")
	gohz := flag.Int("gohz", 100, "Go's profiler rate")
	nlabels := flag.Int("labels", 0, "run the workers under this many pprof labels (pprof.Do)")
	flag.Parse()

	if p.mode == "calib" || p.giters == 0 || p.citers == 0 {
		p.giters = perMs(goLeaf)
		p.citers = perMs(func(n int64) uint64 { return uint64(C.c_probe(C.long(n))) })
		if p.mode == "calib" {
			fmt.Printf("giters=%d\nciters=%d\n", p.giters, p.citers)
			return
		}
	}
	switch p.mode {
	case "go", "cgo", "ratio", "distinct":
	default:
		fmt.Fprintf(os.Stderr, "gowork: unknown mode %q\n", p.mode)
		os.Exit(2)
	}
	if n := *threads; n > runtime.NumCPU() {
		runtime.GOMAXPROCS(n)
	}

	var prof *os.File
	if *gopprof != "" {
		f, err := os.Create(*gopprof)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gowork:", err)
			os.Exit(1)
		}
		if *gohz != 100 {
			runtime.SetCPUProfileRate(*gohz) // StartCPUProfile's own 100 Hz is then refused
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "gowork: StartCPUProfile:", err)
			os.Exit(1)
		}
		prof = f
	}
	c0, t0 := rusageCPU(), time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var goNS, cNS int64
	for i := 0; i < *threads; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var g, c int64
			run := func(context.Context) { g, c = worker(p, 0x9E3779B97F4A7C15*uint64(i+1)) }
			if *nlabels > 0 {
				// Labels as a service sets them: an endpoint, a tenant, a trace id...
				kv := []string{"endpoint", "/api/v1/items", "tenant", "t-000042"}
				for k := 2; k < *nlabels; k++ {
					kv = append(kv, fmt.Sprintf("key%02d", k), fmt.Sprintf("value-%08d", k))
				}
				pprof.Do(context.Background(), pprof.Labels(kv[:2**nlabels]...), run)
			} else {
				run(context.Background())
			}
			mu.Lock()
			goNS += g
			cNS += c
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	wall, win := time.Since(t0), rusageCPU()-c0
	if prof != nil {
		pprof.StopCPUProfile()
		if err := prof.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "gowork:", err)
			os.Exit(1)
		}
	}
	fmt.Printf("wall_ns=%d\nwin_cpu_ns=%d\n", wall.Nanoseconds(), win)
	if p.mode == "ratio" {
		fmt.Printf("go_cpu_ns=%d\nc_cpu_ns=%d\n", goNS, cNS)
	}
	fmt.Printf("cpu_ns=%d\nrss_kb=%d\n", rusageCPU(), peakRSSKB())
}

// peakRSSKB is VmHWM from /proc/self/status, in KiB (-1 if unreadable).
func peakRSSKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					return v
				}
			}
		}
	}
	return -1
}
