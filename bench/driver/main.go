// benchdriver -- runs libgoprof's benchmarks and prints one table (bench/README.md).
//
//	benchdriver -bin DIR -lib libgoprof.so -profcheck PATH [-go PATH] [-libprofiler PATH]
//	            [-quick] [-only 1,2,...] [-work DIR] [-table FILE] [-command STRING]
//
// DIR holds the workloads built by bench/run.sh: gowork, cwork, floor, writeout, cgotrivial,
// ctrivial and (optionally) test_pprof. Progress goes to stderr; the table (Markdown) to stdout
// and -table. Every run is logged, one line each, to WORK/runs.log.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	bin := flag.String("bin", "", "directory of the built workloads")
	lib := flag.String("lib", "", "libgoprof.so")
	profcheck := flag.String("profcheck", "", "tests/tools/profcheck binary")
	goBin := flag.String("go", "", "go binary (go tool pprof for gperftools profiles; version line)")
	libprofiler := flag.String("libprofiler", "", "gperftools' libprofiler.so ('' to skip gperftools)")
	quick := flag.Bool("quick", false, "the quick budget (about 3-4 minutes)")
	only := flag.String("only", "", "comma-separated sections to run (default: all)")
	work := flag.String("work", "", "scratch directory (default: a new one under $TMPDIR)")
	tableOut := flag.String("table", "", "also write the header and the table to this file")
	flag.StringVar(&baselineLib, "baseline", "", "another build's libgoprof.so, for section 10 (this build against it, side by side)")
	command := flag.String("command", "", "the command line to print in the header")
	flag.BoolVar(&keepFiles, "keep", false, "keep every profile in the work directory")
	flag.Parse()
	if *bin == "" || *lib == "" || *profcheck == "" {
		fmt.Fprintln(os.Stderr, "usage: benchdriver -bin DIR -lib libgoprof.so -profcheck PATH [flags]")
		os.Exit(2)
	}
	if err := run(*bin, *lib, *profcheck, *goBin, *libprofiler, *quick, *only, *work, *tableOut, *command); err != nil {
		fmt.Fprintln(os.Stderr, "benchdriver:", err)
		os.Exit(1)
	}
}

func run(bin, lib, profcheck, goBin, libprofiler string, quick bool, only, work, tableOut, command string) error {
	var err error
	if work == "" {
		if work, err = os.MkdirTemp("", "libgoprof-bench."); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(work, "runs.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	if libprofiler != "" && !fileExists(libprofiler) {
		progress("gperftools' %s is missing: its rows are skipped", libprofiler)
		libprofiler = ""
	}
	r := &Runner{Lib: lib, LibProfiler: libprofiler, Profcheck: profcheck, Work: work, Log: logf,
		Perf: perfUsable()}
	if err := r.init(); err != nil {
		return err
	}
	b := &Bench{R: r, Bin: bin, Go: goBin, P: fullParams, s2: map[string]map[string][]*Result{},
		Baseline: baselineLib}
	mode := "full"
	if quick {
		b.P, mode = quickParams, "quick"
	}
	if err := b.calibrate(); err != nil {
		return err
	}
	want := func(s string) bool {
		return only == "" || strings.Contains(","+only+",", ","+s+",")
	}
	start := time.Now()
	steps := []struct {
		sec string
		fn  func() error
	}{
		{"1", b.secCost},
		{"2", b.secOverhead},
		{"3", b.secMagnitude},
		{"4", b.secAttribution},
		{"5", b.secScale},
		{"6", func() error { b.secMemory(); return nil }},
		{"7", b.secStartup},
		{"8", b.secSpawn},
		{"9", b.secHeap},
		{"10", b.secBaseline},
	}
	for _, s := range steps {
		if !want(s.sec) {
			continue
		}
		if (s.sec == "3" || s.sec == "6") && !want("2") {
			progress("section %s reuses section 2's runs: run it with 2", s.sec)
		}
		if err := s.fn(); err != nil {
			return fmt.Errorf("section %s: %v", s.sec, err)
		}
	}
	elapsed := time.Since(start).Round(time.Second)

	var w io.Writer = os.Stdout
	if tableOut != "" {
		f, err := os.Create(tableOut)
		if err != nil {
			return err
		}
		defer f.Close()
		w = io.MultiWriter(os.Stdout, f)
	}
	fmt.Fprintf(w, "libgoprof benchmarks, %s mode (%s, %s)\n", mode, time.Now().UTC().Format("2006-01-02 15:04 UTC"), elapsed)
	if command != "" {
		fmt.Fprintf(w, "command: %s\n", command)
	}
	fmt.Fprintf(w, "machine: %s\n", b.machine(goBin))
	fmt.Fprintf(w, "calibration: 1 unit = %d Go / %d C leaf iterations (about 1 ms); runs log: %s\n",
		b.GIters, b.CIters, filepath.Join(work, "runs.log"))
	fmt.Fprintf(w, "repetitions: per-sample %d, overhead %d, others %d, start-up %d paired starts, spawn %d; each figure is the median over repetitions [min, max]; PASS/MISS judge the median\n\n",
		b.P.RepsCost, b.P.RepsOverhead, b.P.RepsSmall, b.P.StartPairs, b.P.SpawnReps)
	printTable(w, b.Rows)
	return nil
}

// calibrate measures the leaf iterations per ms once (the fastest of three), so that every run
// of the session does the same work.
func (b *Bench) calibrate() error {
	progress("calibrating the work unit")
	for i := 0; i < 3; i++ {
		out, err := exec.Command(filepath.Join(b.Bin, "gowork"), "-mode", "calib").Output()
		if err != nil {
			return fmt.Errorf("gowork -mode calib: %v", err)
		}
		kv := parseKV(string(out))
		b.GIters = max(b.GIters, kv["giters"])
		out, err = exec.Command(filepath.Join(b.Bin, "cwork"), "calib").Output()
		if err != nil {
			return fmt.Errorf("cwork calib: %v", err)
		}
		b.CIters = max(b.CIters, parseKV(string(out))["citers"])
	}
	if b.GIters <= 0 || b.CIters <= 0 {
		return fmt.Errorf("calibration failed")
	}
	return nil
}

func firstLine(path, prefix string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			if i := strings.IndexByte(sc.Text(), ':'); i >= 0 {
				return strings.TrimSpace(sc.Text()[i+1:])
			}
		}
	}
	return ""
}

func output(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

func (b *Bench) machine(goBin string) string {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	s := fmt.Sprintf("nproc %d · %s · Linux %s · glibc %s", runtime.NumCPU(), firstLine("/proc/cpuinfo", "model name"),
		strings.TrimSpace(string(kernel)), strings.TrimPrefix(output("getconf", "GNU_LIBC_VERSION"), "glibc "))
	if goBin != "" {
		s += " · " + strings.TrimPrefix(output(goBin, "version"), "go version ")
	}
	if b.TickSignals > 0 {
		s += fmt.Sprintf(" · a per-thread CPU timer asked for 1000 Hz delivers %.0f signals per CPU-second (CONFIG_HZ)", b.TickSignals)
	}
	return s
}
