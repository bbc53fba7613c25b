// run.go -- running one workload: environment, the profilers asked for, the application's and
// the collector's resource usage, and the profiles they wrote.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// prSetChildSubreaper makes this process the parent of orphaned descendants. libgoprof's
// collector is forked twice and left by its parent, so it is re-parented to us: we can wait for
// it (the profile is complete when it exits) and read its whole-life rusage.
const prSetChildSubreaper = 36

// Spec is one run: a workload command and the profilers on it.
type Spec struct {
	Label   string   // for the run log
	Argv    []string // the workload
	LGPHz   int      // libgoprof at this rate (0: not loaded)
	LGPLib  string   // another libgoprof.so than the Runner's (section 10's baseline build)
	LGPEnv  []string // extra GOPROF_* settings
	Preload []string // other libraries to preload (after libgoprof), e.g. an allocator
	Env     []string // other settings (MALLOC_CONF, HEAPPROFILE, ...)
	GoHz    int      // Go's own CPU profiler at this rate (gowork only; 0: off)
	GperfHz int      // gperftools' libprofiler.so at this rate (0: not loaded)
	Count   bool     // count the application's cycles and instructions (perf stat), if available
}

// Collector is what the driver saw of libgoprof's collector process.
type Collector struct {
	CPUNS    int64 // user+sys over its whole life (wait4), including the final write
	MaxRSSKB int64
	WriteNS  int64 // from the application's exit to the collector's exit
}

// Result is one finished run.
type Result struct {
	Spec     Spec
	WallNS   int64 // fork to exit of the application
	CPUNS    int64 // application user+sys (wait4)
	MaxRSSKB int64 // application peak RSS
	KV       map[string]int64
	Coll     *Collector
	LGP      *Profile // libgoprof's profile
	GoP      *Profile // Go's own profile
	Gperf    *GperfProfile
	// Hardware counters of the application and of libgoprof's collector (all threads, user +
	// kernel), from perf stat; 0 when not counted. Unlike CPU time they do not move with the
	// VM's other tenants: see secOverhead.
	Cycles, Instructions int64
}

// Runner runs Specs one at a time.
type Runner struct {
	Lib         string // libgoprof.so
	LibProfiler string // gperftools' libprofiler.so ("" when missing)
	Profcheck   string
	Perf        string // perf, for Spec.Count ("" when hardware counters are not usable)
	Work        string // scratch directory
	Log         *os.File
	seq         int
}

func (r *Runner) init() error {
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	if errno != 0 {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
	}
	return nil
}

// baseEnv is our environment without anything that would load or configure a profiler.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k := kv[:strings.IndexByte(kv+"=", '=')]
		if k == "LD_PRELOAD" || k == "GOMAXPROCS" || k == "GOGC" || strings.HasPrefix(k, "GOPROF_") ||
			strings.HasPrefix(k, "CPUPROFILE") || strings.HasPrefix(k, "GODEBUG") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (r *Runner) Run(s Spec) (*Result, error) {
	r.seq++
	tag := fmt.Sprintf("%04d", r.seq)
	env := baseEnv()
	argv := append([]string(nil), s.Argv...)
	var preload []string
	var lgpOut, goOut, gpOut string
	if s.LGPHz > 0 {
		lgpOut = filepath.Join(r.Work, tag+".lgp.pb.gz")
		lib := r.Lib
		if s.LGPLib != "" {
			lib = s.LGPLib
		}
		preload = append(preload, lib)
		env = append(env, "GOPROF_OUT="+lgpOut, fmt.Sprintf("GOPROF_HZ=%d", s.LGPHz))
		env = append(env, s.LGPEnv...)
	}
	if s.GperfHz > 0 {
		if r.LibProfiler == "" {
			return nil, fmt.Errorf("gperftools' libprofiler.so is not installed")
		}
		gpOut = filepath.Join(r.Work, tag+".gperf.prof")
		preload = append(preload, r.LibProfiler)
		env = append(env, "CPUPROFILE="+gpOut, fmt.Sprintf("CPUPROFILE_FREQUENCY=%d", s.GperfHz))
	}
	preload = append(preload, s.Preload...)
	env = append(env, s.Env...)
	if len(preload) > 0 {
		env = append(env, "LD_PRELOAD="+strings.Join(preload, " "))
	}
	if s.GoHz > 0 {
		goOut = filepath.Join(r.Work, tag+".go.pb.gz")
		argv = append(argv, "-gopprof", goOut, "-gohz", strconv.Itoa(s.GoHz))
	}
	var counters string
	if s.Count && r.Perf != "" {
		// perf stat runs waitall, which waits for the workload and for libgoprof's collector (an
		// orphan of the workload) so that both are counted completely; env sets the profilers'
		// variables and execs the workload: perf itself is not preloaded, and every
		// configuration pays the same for waitall and env.
		counters = filepath.Join(r.Work, tag+".perf")
		wrap := []string{r.Perf, "stat", "-x,", "-o", counters, "-e", perfEvents, "--",
			filepath.Join(filepath.Dir(r.Profcheck), "waitall"), "env"}
		base := len(baseEnv())
		wrap = append(wrap, env[base:]...)
		argv = append(wrap, argv...)
		env = env[:base]
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = r.Work
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	err := cmd.Run()
	wall := time.Since(t0)
	exited := time.Now()
	if err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, tail(stderr.String(), 10))
	}
	res := &Result{Spec: s, WallNS: wall.Nanoseconds(), KV: parseKV(stdout.String())}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.CPUNS = ru.Utime.Nano() + ru.Stime.Nano()
		res.MaxRSSKB = ru.Maxrss
	}
	if counters != "" {
		if res.Cycles, res.Instructions, err = readCounters(counters); err != nil {
			return nil, fmt.Errorf("%s: perf stat: %v", s.Label, err)
		}
		os.Remove(counters)
		// waitall reaped the workload and the collector: their usage is in its last line
		// (perf's own usage, which wait4 on perf includes, is left out).
		kv := parseKV(strings.ReplaceAll(lastLine(stderr.String()), " ", "\n"))
		app, ok := kv["app_cpu_ns"]
		if !ok {
			return nil, fmt.Errorf("%s: no waitall line in stderr: %s", s.Label, tail(stderr.String(), 3))
		}
		res.CPUNS = app
		if s.LGPHz > 0 {
			res.Coll = &Collector{CPUNS: kv["others_cpu_ns"], MaxRSSKB: kv["others_maxrss_kb"], WriteNS: -1}
		}
	} else {
		res.Coll = r.reap(s.LGPHz > 0, exited)
	}
	if s.LGPHz > 0 {
		if res.LGP, err = r.readProfile(lgpOut); err != nil {
			return nil, fmt.Errorf("%s: libgoprof profile: %v\nstderr: %s", s.Label, err, tail(stderr.String(), 10))
		}
	}
	if s.GoHz > 0 {
		if res.GoP, err = r.readProfile(goOut); err != nil {
			return nil, fmt.Errorf("%s: Go profile: %v", s.Label, err)
		}
	}
	if s.GperfHz > 0 {
		if res.Gperf, err = readGperf(gpOut); err != nil {
			return nil, fmt.Errorf("%s: gperftools profile: %v", s.Label, err)
		}
		res.Gperf.Path = gpOut
	}
	r.logRun(res)
	for _, f := range []string{lgpOut, goOut} {
		if f != "" && !keepFiles {
			os.Remove(f)
		}
	}
	return res, nil
}

var keepFiles bool

// reap waits for orphans re-parented to us (libgoprof's collector) when want is set, else
// collects any that are already gone. Returns the collector's usage, or nil.
func (r *Runner) reap(want bool, exited time.Time) *Collector {
	deadline := time.Now().Add(60 * time.Second)
	var c *Collector
	for {
		var ws syscall.WaitStatus
		var ru syscall.Rusage
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, &ru)
		if pid > 0 {
			c = &Collector{CPUNS: ru.Utime.Nano() + ru.Stime.Nano(), MaxRSSKB: ru.Maxrss,
				WriteNS: time.Since(exited).Nanoseconds()}
			continue
		}
		if err == syscall.ECHILD || (pid == 0 && !want) || (want && c != nil) || time.Now().After(deadline) {
			return c
		}
		time.Sleep(2 * time.Millisecond)
	}
}

const perfEvents = "cycles:u,cycles:k,instructions:u,instructions:k"

// perfUsable says whether perf stat can count cycles here (a VM may have no PMU).
func perfUsable() string {
	path, err := exec.LookPath("perf")
	if err != nil {
		return ""
	}
	out, err := exec.Command(path, "stat", "-x,", "-e", perfEvents, "--", "true").CombinedOutput()
	if err != nil || strings.Contains(string(out), "<not supported>") || strings.Contains(string(out), "<not counted>") {
		return ""
	}
	return path
}

// readCounters sums perf stat's CSV (-x,) lines: value,unit,event,...
func readCounters(path string) (cycles, instr int64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 || strings.HasPrefix(line, "#") {
			continue
		}
		v, perr := strconv.ParseInt(f[0], 10, 64)
		if perr != nil {
			return 0, 0, fmt.Errorf("%q: not counted", line)
		}
		switch {
		case strings.HasPrefix(f[2], "cycles"):
			cycles += v
		case strings.HasPrefix(f[2], "instructions"):
			instr += v
		}
	}
	if cycles == 0 {
		return 0, 0, fmt.Errorf("no cycles in %s", path)
	}
	return cycles, instr, nil
}

func (r *Runner) logRun(res *Result) {
	if r.Log == nil {
		return
	}
	fmt.Fprintf(r.Log, "%s\twall_ns=%d\tcpu_ns=%d\tmaxrss_kb=%d", res.Spec.Label, res.WallNS, res.CPUNS, res.MaxRSSKB)
	if res.Cycles > 0 {
		fmt.Fprintf(r.Log, "\tcycles=%d\tinstructions=%d", res.Cycles, res.Instructions)
	}
	for k, v := range res.KV {
		fmt.Fprintf(r.Log, "\t%s=%d", k, v)
	}
	if c := res.Coll; c != nil {
		fmt.Fprintf(r.Log, "\tcoll_cpu_ns=%d\tcoll_rss_kb=%d\tcoll_write_ns=%d", c.CPUNS, c.MaxRSSKB, c.WriteNS)
	}
	if p := res.LGP; p != nil {
		fmt.Fprintf(r.Log, "\tlgp_cpu_ns=%d\tlgp_samples=%d\tlgp_lost=%d", p.CPUNS, p.Count, p.Lost)
		if p.Handler != nil {
			fmt.Fprintf(r.Log, "\thandler=%v", *p.Handler)
		}
		if p.Forwarded != nil {
			fmt.Fprintf(r.Log, "\tforwarded=%v", *p.Forwarded)
		}
		if p.CollCPUNS >= 0 {
			fmt.Fprintf(r.Log, "\tcomment_coll_cpu_ns=%d\tcomment_coll_rss_kb=%d", p.CollCPUNS, p.CollRSSKB)
		}
	}
	if p := res.GoP; p != nil {
		fmt.Fprintf(r.Log, "\tgo_cpu_ns=%d\tgo_samples=%d", p.CPUNS, p.Count)
	}
	if g := res.Gperf; g != nil {
		fmt.Fprintf(r.Log, "\tgperf_cpu_ns=%d\tgperf_samples=%d", g.CPUNS, g.Samples)
	}
	fmt.Fprintln(r.Log)
}

func parseKV(s string) map[string]int64 {
	kv := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := sc.Text()
		i := strings.IndexByte(line, '=')
		if i <= 0 {
			continue
		}
		if v, err := strconv.ParseInt(line[i+1:], 10, 64); err == nil {
			kv[line[:i]] = v
		}
	}
	return kv
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
