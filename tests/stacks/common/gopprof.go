// gopprof.go -- shared by every program of the stacks corpus (tests/stacks/*/main.go); the
// harness (tests/integration/test_stacks.sh) copies it into each program's build directory.
//
//	-d DURATION                 how long the workload runs (default 2s)
//	GOPROF_TEST_GOPPROF=FILE    also run Go's own CPU profiler for the same run, into FILE
//	GOPROF_TEST_GOPPROF_HZ=N    at N samples per second (default 100)
//
// Go's profile is the reference for profcheck's Go comparison (profcheck stacks --gopprof).
// runtime.SetCPUProfileRate(N) must come before pprof.StartCPUProfile, whose own call with
// 100 Hz is then refused ("cannot set cpu profile rate until previous profile has finished",
// printed once on stderr); the profile's period comes from the rate really in effect.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"
)

// setup parses the flags, starts Go's profiler if asked, and returns the work duration and
// the function that stops the profiler (call it when the workload is done).
func setup() (time.Duration, func()) {
	d := flag.Duration("d", 2*time.Second, "how long the workload runs")
	flag.Parse()
	return *d, startGoProfile()
}

func startGoProfile() func() {
	path := os.Getenv("GOPROF_TEST_GOPPROF")
	if path == "" {
		return func() {}
	}
	hz := 100
	if s := os.Getenv("GOPROF_TEST_GOPPROF_HZ"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "gopprof: bad GOPROF_TEST_GOPPROF_HZ=%q\n", s)
			os.Exit(2)
		}
		hz = n
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopprof:", err)
		os.Exit(2)
	}
	if hz != 100 {
		runtime.SetCPUProfileRate(hz)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "gopprof: StartCPUProfile:", err)
		os.Exit(2)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "gopprof:", err)
			os.Exit(2)
		}
	}
}
