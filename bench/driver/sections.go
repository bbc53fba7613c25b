// sections.go -- sections 1-6 of the benchmark (bench/README.md explains each; 7 and 8 are in
// startup.go).
package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
)

// Params is the budget of one session (full or quick).
type Params struct {
	RepsCost, RepsOverhead, RepsSmall, RepsAttr          int
	RepsWriteout, RepsE2E                                int
	UnitsCost, Units1, Units2, UnitsMag, UnitsMagMany    int
	UnitsAttr, UnitsDepth, UnitsThreads, UnitsThreadsMin int
	UnitsDistinct                                        int
	StartPairs, SpawnReps                                int
	HeapPairs, RepsHeap, RepsHeapWhole                   int
	HeapABRounds, RepsHeapAB                             int
	FloorArgs                                            []string
}

var fullParams = Params{
	RepsCost: 5, RepsOverhead: 5, RepsSmall: 3, RepsAttr: 5, RepsWriteout: 3, RepsE2E: 2,
	UnitsCost: 2000, Units1: 2000, Units2: 1200, UnitsMag: 1500, UnitsMagMany: 150,
	UnitsAttr: 4000, UnitsDepth: 1000, UnitsThreads: 1500, UnitsThreadsMin: 40,
	UnitsDistinct: 4000, StartPairs: 40, SpawnReps: 5,
	HeapPairs: 20000000, RepsHeap: 7, RepsHeapWhole: 40, HeapABRounds: 2000, RepsHeapAB: 15,
	FloorArgs: []string{"5", "100000", "1000"},
}

var quickParams = Params{
	RepsCost: 3, RepsOverhead: 3, RepsSmall: 2, RepsAttr: 2, RepsWriteout: 1, RepsE2E: 1,
	UnitsCost: 600, Units1: 400, Units2: 300, UnitsMag: 400, UnitsMagMany: 20,
	UnitsAttr: 1500, UnitsDepth: 300, UnitsThreads: 400, UnitsThreadsMin: 10,
	UnitsDistinct: 1000, StartPairs: 15, SpawnReps: 3,
	HeapPairs: 5000000, RepsHeap: 3, RepsHeapWhole: 60, HeapABRounds: 600, RepsHeapAB: 9,
	FloorArgs: []string{"3", "30000", "300"},
}

// Bench holds a session's state.
type Bench struct {
	R              *Runner
	Bin            string // directory of the built workloads
	Go             string // go binary (for `go tool pprof -proto` on gperftools profiles)
	P              Params
	GIters, CIters int64
	TickSignals    float64 // signals per CPU-second of a per-thread timer asked for 1000 Hz
	FloorNS        float64 // median delivery cost of one signal (section 1)
	Rows           []Row
	s2             map[string]map[string][]*Result
	Baseline       string // another build's libgoprof.so (section 10), or ""
}

// baselineLib: the -baseline flag.
var baselineLib string

func (b *Bench) add(sec, what, value, target, v string) {
	b.Rows = append(b.Rows, Row{sec, what, value, target, v})
}

func (b *Bench) gowork(mode string, threads, units, depth int) []string {
	return []string{filepath.Join(b.Bin, "gowork"), "-mode", mode, "-threads", strconv.Itoa(threads),
		"-units", strconv.Itoa(units), "-depth", strconv.Itoa(depth),
		"-giters", strconv.FormatInt(b.GIters, 10), "-citers", strconv.FormatInt(b.CIters, 10)}
}

func (b *Bench) cwork(mode string, threads, units, depth, life int) []string {
	return []string{filepath.Join(b.Bin, "cwork"), mode, "-t", strconv.Itoa(threads),
		"-u", strconv.Itoa(units), "-d", strconv.Itoa(depth), "-l", strconv.Itoa(life),
		"-i", strconv.FormatInt(b.CIters, 10)}
}

func progress(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
}

// interleave runs every spec once per repetition, rotating the order each time (A B C, B C A,
// C A B, ...), so that each spec sees the same drift of a noisy machine; res[rep][i].
func (b *Bench) interleave(name string, reps int, specs []Spec) ([][]*Result, error) {
	return b.interleaveGroups(name, reps, specs, len(specs))
}

// interleaveGroups is interleave with the rotation inside consecutive groups of `group` specs
// (a baseline and what is compared with it), so that compared runs are made close together.
func (b *Bench) interleaveGroups(name string, reps int, specs []Spec, group int) ([][]*Result, error) {
	res := make([][]*Result, reps)
	for k := 0; k < reps; k++ {
		progress("%s: repetition %d of %d (%d runs)", name, k+1, reps, len(specs))
		res[k] = make([]*Result, len(specs))
		for g0 := 0; g0 < len(specs); g0 += group {
			n := min(group, len(specs)-g0)
			for j := 0; j < n; j++ {
				i := g0 + (j+k)%n
				r, err := b.R.Run(specs[i])
				if err != nil {
					return nil, err
				}
				res[k][i] = r
			}
		}
	}
	return res, nil
}

// column returns f applied to res[k][i] for every repetition k, skipping NaN results.
func column(res [][]*Result, i int, f func(r *Result) (float64, bool)) []float64 {
	var xs []float64
	for k := range res {
		if v, ok := f(res[k][i]); ok {
			xs = append(xs, v)
		}
	}
	return xs
}

// paired returns f(res[k][i], res[k][base]) for every repetition.
func paired(res [][]*Result, i, base int, f func(r, b *Result) float64) []float64 {
	var xs []float64
	for k := range res {
		xs = append(xs, f(res[k][i], res[k][base]))
	}
	return xs
}

func collCPU(r *Result) float64 {
	if r.Coll != nil {
		return float64(r.Coll.CPUNS)
	}
	if r.LGP != nil && r.LGP.CollCPUNS >= 0 {
		return float64(r.LGP.CollCPUNS)
	}
	return 0
}

// cpuOver is the CPU overhead of r over base: (app + collector) / base app - 1.
func cpuOver(r, base *Result) float64 {
	return (float64(r.CPUNS)+collCPU(r))/float64(base.CPUNS) - 1
}

func wallOver(r, base *Result) float64 { return float64(r.WallNS)/float64(base.WallNS) - 1 }

func handlerOf(which string, pick func(h *Hist) int64) func(r *Result) (float64, bool) {
	return func(r *Result) (float64, bool) {
		if r.LGP == nil {
			return 0, false
		}
		h := r.LGP.Handler
		if which == "forwarded" {
			h = r.LGP.Forwarded
		}
		if h == nil || h.N == 0 {
			return 0, false
		}
		return float64(pick(h)), true
	}
}

func hMed(h *Hist) int64 { return h.Median }
func hP99(h *Hist) int64 { return h.P99 }
func hMax(h *Hist) int64 { return h.Max }

// costSummary: "median X [..] · p99 Y [..] · max Z" of libgoprof's handler or the forwarded one.
func costSummary(res [][]*Result, i int, which string) (string, Stat, Stat) {
	med := stat(column(res, i, handlerOf(which, hMed)))
	p99 := stat(column(res, i, handlerOf(which, hP99)))
	mx := stat(column(res, i, handlerOf(which, hMax)))
	if !med.ok() {
		if which == "handler" {
			return "n/a (this build does not report handler_ns)", med, p99
		}
		return "n/a (no forwarded_ns comment)", med, p99
	}
	return fmt.Sprintf("median %s · p99 %s · max %s", med.us(), p99.us(), durExact(mx.Max)), med, p99
}

func ratioCol(res [][]*Result, i int, pick func(h *Hist) int64) Stat {
	var xs []float64
	for k := range res {
		r := res[k][i]
		if r.LGP == nil || r.LGP.Handler == nil || r.LGP.Forwarded == nil || pick(r.LGP.Forwarded) == 0 {
			continue
		}
		xs = append(xs, float64(pick(r.LGP.Handler))/float64(pick(r.LGP.Forwarded)))
	}
	return stat(xs)
}

func depthCol(res [][]*Result, i int, leaf ...string) int {
	var ds []float64
	for k := range res {
		if p := res[k][i].LGP; p != nil {
			if d := p.MedianDepth(func(f string) bool {
				for _, l := range leaf {
					if f == l {
						return true
					}
				}
				return false
			}); d > 0 {
				ds = append(ds, float64(d))
			}
		}
	}
	if len(ds) == 0 {
		return 0
	}
	return int(median(ds))
}

func maxLost(res [][]*Result, i int) int64 {
	var m int64
	for k := range res {
		if p := res[k][i].LGP; p != nil && p.Lost > m {
			m = p.Lost
		}
	}
	return m
}

// goSignalsNote says how many timer signals Go's handler got per sample in Go's profile (about
// 1: forwarded_ns is Go's cost per sample), and what the other forwarded signals cost: Go arms a
// per-thread timer and the process-wide setitimer, and drops the setitimer's signals on threads
// that have a timer (validSIGPROF); libgoprof times those apart (forwarded_other_ns).
func goSignalsNote(res [][]*Result, i int) string {
	var xs []float64
	var other []*Hist
	for k := range res {
		r := res[k][i]
		if r.LGP != nil && r.LGP.Forwarded != nil && r.GoP != nil && r.GoP.Count > 0 {
			xs = append(xs, float64(r.LGP.Forwarded.N)/float64(r.GoP.Count))
		}
		if r.LGP != nil && r.LGP.ForwardedOther != nil {
			other = append(other, r.LGP.ForwardedOther)
		}
	}
	if len(xs) == 0 {
		return ""
	}
	note := fmt.Sprintf(" · %.2f timer signals per Go sample", median(xs))
	if len(other) > 0 {
		var n, med []float64
		for _, h := range other {
			n = append(n, float64(h.N))
			med = append(med, float64(h.Median))
		}
		note += fmt.Sprintf(" · other SIGPROFs (setitimer's, dropped by Go): %.0f per run, median %s",
			median(n), durExact(median(med)))
	}
	return note
}

// ---- 1. per-sample cost ----

func parseList(s string) []float64 {
	var xs []float64
	for _, f := range strings.Split(s, ",") {
		if v, err := strconv.ParseFloat(strings.TrimSpace(f), 64); err == nil {
			xs = append(xs, v)
		}
	}
	return xs
}

func (b *Bench) secCost() error {
	progress("1. per-sample cost: the floor (bench/floor)")
	out, err := exec.Command(filepath.Join(b.Bin, "floor"), b.P.FloorArgs...).Output()
	if err != nil {
		return fmt.Errorf("floor: %v", err)
	}
	kv := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if i := strings.IndexByte(line, '='); i > 0 {
			kv[line[:i]] = line[i+1:]
		}
	}
	ign, emp := parseList(kv["delivery_ign_ns"]), parseList(kv["delivery_empty_ns"])
	var delta []float64
	for k := range ign {
		if k < len(emp) {
			delta = append(delta, emp[k]-ign[k])
		}
	}
	b.TickSignals, _ = strconv.ParseFloat(kv["signals_per_cpu_s_1000hz"], 64)
	if st := stat(delta); st.ok() {
		b.FloorNS = st.Med
	}
	b.add("1", "floor: delivering one signal to an empty SA_SIGINFO handler (tgkill at depth ~32, minus SIG_IGN)",
		stat(delta).us(), "", "")
	b.add("1", "floor: time inside an empty handler (two clock reads), real 250 Hz CPU timer",
		fmt.Sprintf("median %s · p99 %s", stat(parseList(kv["inhandler_median_ns"])).us(),
			stat(parseList(kv["inhandler_p99_ns"])).us()), "", "")

	specs := []Spec{
		{Label: "S1 pure-go d28 lgp250+go250", Argv: b.gowork("go", 1, b.P.UnitsCost, 28), LGPHz: 250, GoHz: 250},
		{Label: "S1 cgo d24 lgp250+go250", Argv: b.gowork("cgo", 1, b.P.UnitsCost, 24), LGPHz: 250, GoHz: 250},
		{Label: "S1 cgo d24 labels2 lgp250+go250", Argv: append(b.gowork("cgo", 1, b.P.UnitsCost, 24), "-labels", "2"), LGPHz: 250, GoHz: 250},
		{Label: "S1 pure-go d508 lgp250+go250", Argv: b.gowork("go", 1, b.P.UnitsCost, 508), LGPHz: 250, GoHz: 250},
	}
	res, err := b.interleave("1. per-sample cost", b.P.RepsCost, specs)
	if err != nil {
		return err
	}
	dGo, dCgo := depthCol(res, 0, "main.goLeaf"), depthCol(res, 1, "c_leaf")
	v, _, _ := costSummary(res, 0, "handler")
	b.add("1", fmt.Sprintf("pure Go, %d frames, 250 Hz: libgoprof in-handler (handler_ns)", dGo), v, "", "")
	v, _, _ = costSummary(res, 0, "forwarded")
	b.add("1", "pure Go, same runs: Go's own sighandler+sigprof (forwarded_ns)", v+goSignalsNote(res, 0), "", "")
	rm, rp := ratioCol(res, 0, hMed), ratioCol(res, 0, hP99)
	b.add("1", "pure Go: libgoprof ÷ Go, median (paired per run)", rm.times(), "≤ 1×", judge(rm, func(x float64) bool { return x <= 1 }))
	b.add("1", "pure Go: libgoprof ÷ Go, p99 (paired per run)", rp.times(), "≤ 1×", judge(rp, func(x float64) bool { return x <= 1 }))
	v, med, p99 := costSummary(res, 1, "handler")
	b.add("1", fmt.Sprintf("mixed cgo, %d frames, 250 Hz: libgoprof in-handler", dCgo), v, "", "")
	b.add("1", "mixed cgo: in-handler median", med.us(), "≤ 5 µs", judge(med, func(x float64) bool { return x <= 5000 }))
	b.add("1", "mixed cgo: in-handler p99", p99.us(), "≤ 25 µs", judge(p99, func(x float64) bool { return x <= 25000 }))
	v, _, _ = costSummary(res, 1, "forwarded")
	b.add("1", "mixed cgo, same runs: Go's own sighandler+sigprof (forwarded_ns)", v+goSignalsNote(res, 1), "", "")

	// The goroutine's pprof labels: the same workload under pprof.Do with two labels.
	v, lmed, lp99 := costSummary(res, 2, "handler")
	b.add("1", "mixed cgo under 2 pprof labels: libgoprof in-handler (labels copied)", v, "", "")
	if lmed.ok() && med.ok() {
		b.add("1", "labels' cost per sample: median, p99 (labelled − unlabelled runs)",
			fmt.Sprintf("%+.2f µs · %+.2f µs", (lmed.Med-med.Med)/1000, (lp99.Med-p99.Med)/1000), "", "")
	}
	v, _, _ = costSummary(res, 2, "forwarded")
	b.add("1", "mixed cgo under labels, same runs: Go's own handler (it tags a pointer)", v, "", "")

	// A deep stack: libgoprof walks all of it, Go's profiler its first 64 frames.
	dDeep := depthCol(res, 3, "main.goLeaf")
	v, _, _ = costSummary(res, 3, "handler")
	b.add("1", fmt.Sprintf("pure Go, %d frames: libgoprof in-handler (the whole stack)", dDeep), v, "", "")
	v, _, _ = costSummary(res, 3, "forwarded")
	b.add("1", "pure Go deep, same runs: Go's own handler (its 64 frames)", v+goSignalsNote(res, 3), "", "")
	rm = ratioCol(res, 3, hMed)
	b.add("1", "pure Go deep: libgoprof ÷ Go, median (paired per run)", rm.times(), "", "")
	return nil
}

// ---- 2. overhead ----

type workload struct {
	name, kind string // kind: go, cgo, c
	argv       []string
}

func (b *Bench) overheadWorkloads() []workload {
	return []workload{
		{"Go, 1 thread", "go", b.gowork("go", 1, b.P.Units1, 28)},
		{"Go, 2 threads", "go", b.gowork("go", 2, b.P.Units2, 28)},
		{"cgo, 1 thread", "cgo", b.gowork("cgo", 1, b.P.Units1, 24)},
		{"cgo, 2 threads", "cgo", b.gowork("cgo", 2, b.P.Units2, 24)},
		{"C, 1 thread", "c", b.cwork("spin", 1, b.P.Units1, 28, 1)},
		{"C, 2 threads", "c", b.cwork("spin", 2, b.P.Units2, 28, 1)},
	}
}

// "none again" is a second run without profiler: the A/A comparison shows what the machine's
// noise lets these comparisons resolve.
var overheadConfigs = []string{"none", "libgoprof 100 Hz", "libgoprof 250 Hz", "libgoprof 1000 Hz", "ref", "none again"}

func (b *Bench) secOverhead() error {
	ws := b.overheadWorkloads()
	var specs []Spec
	for _, w := range ws {
		for _, c := range overheadConfigs {
			s := Spec{Label: "S2 " + w.name + " " + c, Argv: w.argv, Count: true}
			switch c {
			case "libgoprof 100 Hz":
				s.LGPHz = 100
			case "libgoprof 250 Hz":
				s.LGPHz = 250
			case "libgoprof 1000 Hz":
				s.LGPHz = 1000
			case "ref":
				if w.kind == "c" {
					if b.R.LibProfiler == "" {
						s.Label += " (gperftools missing: none)"
					} else {
						s.GperfHz = 100
					}
				} else {
					s.GoHz = 100
				}
			}
			specs = append(specs, s)
		}
	}
	res, err := b.interleaveGroups("2. overhead", b.P.RepsOverhead, specs, len(overheadConfigs))
	if err != nil {
		return err
	}
	// The fixed part: start-up (constructor, collector fork) and exit (final drain and write) of
	// a process that does 1 unit of work, for libgoprof and for the reference profiler.
	gperf := 0
	if b.R.LibProfiler != "" {
		gperf = 100
	}
	fixedSpecs := []Spec{
		{Label: "S2 fixed go none", Argv: b.gowork("go", 1, 1, 28), Count: true},
		{Label: "S2 fixed go lgp100", Argv: b.gowork("go", 1, 1, 28), LGPHz: 100, Count: true},
		{Label: "S2 fixed go gopprof100", Argv: b.gowork("go", 1, 1, 28), GoHz: 100, Count: true},
		{Label: "S2 fixed c none", Argv: b.cwork("spin", 1, 1, 28, 1), Count: true},
		{Label: "S2 fixed c lgp100", Argv: b.cwork("spin", 1, 1, 28, 1), LGPHz: 100, Count: true},
		{Label: "S2 fixed c gperf100", Argv: b.cwork("spin", 1, 1, 28, 1), GperfHz: gperf, Count: true},
	}
	fres, err := b.interleaveGroups("2. overhead: fixed start/exit cost", b.P.RepsOverhead, fixedSpecs, 3)
	if err != nil {
		return err
	}
	counted := b.R.Perf != "" && res[0][0].Cycles > 0
	fixed, fixedCyc, fixedRefCyc := map[string]Stat{}, map[string]Stat{}, map[string]Stat{}
	for i, kind := range []string{"go", "c"} {
		fixed[kind] = stat(paired(fres, 3*i+1, 3*i, func(r, bs *Result) float64 {
			return float64(r.CPUNS) + collCPU(r) - float64(bs.CPUNS)
		}))
		if counted {
			extra := func(r, bs *Result) float64 { return totalCycles(r) - float64(bs.Cycles) }
			fixedCyc[kind] = stat(paired(fres, 3*i+1, 3*i, extra))
			fixedRefCyc[kind] = stat(paired(fres, 3*i+2, 3*i, extra))
		}
	}
	fixedNote := fmt.Sprintf("Go or cgo %s · C %s", fixed["go"].ms(), fixed["c"].ms())
	if counted {
		fixedNote += fmt.Sprintf(" · in cycles (app + collector): Go or cgo %s · C %s (Go's pprof %s",
			fixedCyc["go"].mcyc(), fixedCyc["c"].mcyc(), fixedRefCyc["go"].mcyc())
		if gperf > 0 {
			fixedNote += fmt.Sprintf(", gperftools %s", fixedRefCyc["c"].mcyc())
		}
		fixedNote += ")"
	}
	b.add("2", "fixed cost per process, libgoprof 100 Hz: start-up + exit CPU (app + collector) of a 1-unit run",
		fixedNote, "", "")
	b.s2 = map[string]map[string][]*Result{}
	nc := len(overheadConfigs)
	for wi, w := range ws {
		b.s2[w.name] = map[string][]*Result{}
		for ci, c := range overheadConfigs {
			for k := range res {
				b.s2[w.name][c] = append(b.s2[w.name][c], res[k][wi*nc+ci])
			}
		}
		base := wi * nc
		fk := "go"
		if w.kind == "c" {
			fk = "c"
		}
		// steady is the overhead in cycles of a long-running process: app + collector cycles over
		// the run without profiler, minus the fixed start/exit cost measured above.
		steady := func(r, bs *Result) float64 {
			return (totalCycles(r) - float64(bs.Cycles) - fixedCyc[fk].Med) / float64(bs.Cycles)
		}
		for ci, hz := range []int{100, 250, 1000} {
			i := base + ci + 1
			cpu, wall := stat(paired(res, i, base, cpuOver)), stat(paired(res, i, base, wallOver))
			coll := stat(column(res, i, func(r *Result) (float64, bool) { return collCPU(r), r.LGP != nil }))
			limit := map[int]float64{100: 0.01, 250: math.NaN(), 1000: 0.03}[hz]
			target := ""
			if !math.IsNaN(limit) {
				target = fmt.Sprintf("≤ %.0f %%", 100*limit)
			}
			baseCPU := median(column(res, base, func(r *Result) (float64, bool) { return float64(r.CPUNS), true }))
			// What the per-sample costs account for: signals x (delivery floor + median time in
			// the handler) + the collector, over the run without profiler (a lower bound: the
			// median is below the mean, and cache effects are not counted).
			acc := stat(paired(res, i, base, func(r, bs *Result) float64 {
				if r.LGP == nil || r.LGP.Handler == nil {
					return math.NaN()
				}
				h := r.LGP.Handler
				return (float64(h.N)*(b.FloorNS+float64(h.Median)) + collCPU(r)) / float64(bs.CPUNS)
			}))
			accounted := ""
			if acc.ok() {
				accounted = fmt.Sprintf(" · accounted ≥ %+.2f %%", 100*acc.Med)
			}
			cpuTarget, cpuV := "", ""
			if !counted && target != "" {
				cpuTarget, cpuV = "CPU "+target, judge(cpu, func(x float64) bool { return x <= limit })
			}
			b.add("2", fmt.Sprintf("%s, libgoprof %d Hz: CPU time (app + collector) · wall", w.name, hz),
				fmt.Sprintf("CPU %s · wall %s · collector %s · fixed start/exit ≈ %+.1f %%%s",
					cpu.pct(), wall.pct(), coll.ms(), 100*fixed[fk].Med/baseCPU, accounted), cpuTarget, cpuV)
			if counted {
				total := stat(paired(res, i, base, cycOver))
				st := stat(paired(res, i, base, steady))
				instr := stat(paired(res, i, base, func(r, bs *Result) float64 {
					return float64(r.Instructions)/float64(bs.Instructions) - 1
				}))
				vv := ""
				if target != "" {
					vv = judge(st, func(x float64) bool { return x <= limit })
				}
				b.add("2", fmt.Sprintf("%s, libgoprof %d Hz: cycles (app + collector), steady state", w.name, hz),
					fmt.Sprintf("steady %s · whole run %s · app instructions %s", st.pct2(), total.pct2(), instr.pct2()),
					"cycles "+target, vv)
			}
		}
		aaCPU, aaWall := stat(paired(res, base+5, base, cpuOver)), stat(paired(res, base+5, base, wallOver))
		aa := fmt.Sprintf("CPU %s · wall %s", aaCPU.pct(), aaWall.pct())
		if counted {
			aa += fmt.Sprintf(" · cycles %s", stat(paired(res, base+5, base, cycOver)).pct2())
		}
		b.add("2", fmt.Sprintf("%s: no profiler vs no profiler (A/A: the noise of these comparisons)", w.name), aa, "", "")
		ref := base + 4
		refCPU, refWall := stat(paired(res, ref, base, cpuOver)), stat(paired(res, ref, base, wallOver))
		var d, ds []float64
		for k := range res {
			if counted {
				d = append(d, cycOver(res[k][base+1], res[k][base])-cycOver(res[k][ref], res[k][base]))
				ds = append(ds, steady(res[k][base+1], res[k][base])-
					(totalCycles(res[k][ref])-float64(res[k][base].Cycles)-fixedRefCyc[fk].Med)/float64(res[k][base].Cycles))
			} else {
				d = append(d, cpuOver(res[k][base+1], res[k][base])-cpuOver(res[k][ref], res[k][base]))
			}
		}
		diff, diffSteady := stat(d), stat(ds)
		refNote := fmt.Sprintf("CPU %s · wall %s", refCPU.pct(), refWall.pct())
		what, judged := "CPU", diff
		if counted {
			refNote += fmt.Sprintf(" · cycles %s", stat(paired(res, ref, base, cycOver)).pct2())
			what, judged = "cycles, steady state; whole runs", diffSteady
		}
		value := diff.pts()
		if counted {
			value = fmt.Sprintf("%s; whole runs %s", diffSteady.pts2(), diff.pts2())
		}
		if w.kind != "c" {
			// paired per repetition: libgoprof 100 Hz minus Go's pprof 100 Hz of the same repetition
			b.add("2", fmt.Sprintf("%s: libgoprof 100 Hz minus Go's pprof 100 Hz (%s)", w.name, what),
				fmt.Sprintf("%s (Go's pprof: %s)", value, refNote),
				"< 0 (lower than Go)", judge(judged, func(x float64) bool { return x < 0 }))
		} else if b.R.LibProfiler != "" {
			b.add("2", fmt.Sprintf("%s: gperftools 100 Hz (reference); libgoprof 100 Hz minus it (%s)", w.name, what),
				fmt.Sprintf("%s; difference %s", refNote, value), "", "")
		}
	}
	return nil
}

// totalCycles is the cycles of the application and the collector (bench/waitall makes perf
// stat count the collector to its end).
func totalCycles(r *Result) float64 { return float64(r.Cycles) }

// cycOver is the overhead of r over base in cycles: (app + collector) / base app - 1.
func cycOver(r, base *Result) float64 { return totalCycles(r)/float64(base.Cycles) - 1 }

// ---- 3. magnitude ----

func magLGP(r *Result) (float64, bool) {
	if r.LGP == nil || r.CPUNS == 0 {
		return 0, false
	}
	return float64(r.LGP.CPUNS)/float64(r.CPUNS) - 1, true
}

func magGo(r *Result) (float64, bool) {
	if r.GoP == nil || r.KV["win_cpu_ns"] == 0 {
		return 0, false
	}
	return float64(r.GoP.CPUNS)/float64(r.KV["win_cpu_ns"]) - 1, true
}

func magGperf(r *Result) (float64, bool) {
	if r.Gperf == nil || r.CPUNS == 0 {
		return 0, false
	}
	return float64(r.Gperf.CPUNS)/float64(r.CPUNS) - 1, true
}

func within5(x float64) bool { return x >= -0.05 && x <= 0.05 }

func (b *Bench) secMagnitude() error {
	threads := []int{1, 64}
	rates := []int{100, 250, 1000}
	var specs []Spec
	for _, t := range threads {
		for _, hz := range rates {
			u := b.P.UnitsMag
			if t > 1 {
				u = b.P.UnitsMagMany
			}
			specs = append(specs, Spec{Label: fmt.Sprintf("S3 go %dT lgp%d+go%d", t, hz, hz),
				Argv: b.gowork("go", t, u, 28), LGPHz: hz, GoHz: hz})
		}
	}
	res, err := b.interleave("3. magnitude", b.P.RepsSmall, specs)
	if err != nil {
		return err
	}
	i := 0
	for _, t := range threads {
		for _, hz := range rates {
			lg, gp := stat(column(res, i, magLGP)), stat(column(res, i, magGo))
			u := b.P.UnitsMag
			if t > 1 {
				u = b.P.UnitsMagMany
			}
			b.add("3", fmt.Sprintf("Go, %d thread(s) of ~%d ms CPU each, %d Hz: sampled CPU ÷ getrusage − 1", t, u, hz),
				fmt.Sprintf("libgoprof %s · Go's pprof, same runs: %s", lg.pct(), gp.pct()), "±5 %", judge(lg, within5))
			i++
		}
	}
	for _, w := range []string{"C, 1 thread", "C, 2 threads"} {
		for _, hz := range []int{100, 250, 1000} {
			rs := b.s2[w][fmt.Sprintf("libgoprof %d Hz", hz)]
			var xs []float64
			for _, r := range rs {
				if v, ok := magLGP(r); ok {
					xs = append(xs, v)
				}
			}
			lg := stat(xs)
			val := "libgoprof " + lg.pct()
			if hz == 100 && b.R.LibProfiler != "" {
				var gs []float64
				for _, r := range b.s2[w]["ref"] {
					if v, ok := magGperf(r); ok {
						gs = append(gs, v)
					}
				}
				val += " · gperftools 100 Hz (own runs): " + stat(gs).pct()
			}
			b.add("3", fmt.Sprintf("%s, %d Hz (section 2 runs): sampled CPU ÷ getrusage − 1", w, hz), val, "±5 %", judge(lg, within5))
		}
	}
	return nil
}

// ---- 4. attribution ----

func share(p *Profile, a, bb func([]string) bool) (float64, bool) {
	if p == nil {
		return 0, false
	}
	x, y := p.CPUWhere(a), p.CPUWhere(bb)
	if x+y == 0 {
		return 0, false
	}
	return float64(x) / float64(x+y), true
}

func (b *Bench) gperfProfile(r *Result, bin string) *Profile {
	if r.Gperf == nil || b.Go == "" {
		return nil
	}
	out := r.Gperf.Path + ".pb.gz"
	cmd := exec.Command(b.Go, "tool", "pprof", "-proto", "-output", out, bin, r.Gperf.Path)
	cmd.Env = baseEnv()
	if err := cmd.Run(); err != nil {
		return nil
	}
	p, err := b.R.readProfile(out)
	if err != nil {
		return nil
	}
	return p
}

func (b *Bench) secAttribution() error {
	cspec := Spec{Label: "S4 c 50/50 lgp250", Argv: b.cwork("ratio", 1, b.P.UnitsAttr, 0, 1), LGPHz: 250}
	if b.R.LibProfiler != "" {
		cspec.GperfHz, cspec.Label = 250, cspec.Label+"+gperf250"
	}
	specs := []Spec{
		{Label: "S4 go/c 75/25 lgp250+go250", Argv: b.gowork("ratio", 1, b.P.UnitsAttr, 0), LGPHz: 250, GoHz: 250},
		cspec,
	}
	res, err := b.interleave("4. attribution", b.P.RepsAttr, specs)
	if err != nil {
		return err
	}
	var lg, gp, truth []float64
	for k := range res {
		r := res[k][0]
		t := float64(r.KV["go_cpu_ns"]) / float64(r.KV["go_cpu_ns"]+r.KV["c_cpu_ns"])
		truth = append(truth, t)
		if s, ok := share(r.LGP, hasFrame("main.goSpin"), hasFrame("c_work")); ok {
			lg = append(lg, s-t)
		}
		if s, ok := share(r.GoP, hasFrame("main.goSpin"), hasFrame("main._Cfunc_c_work")); ok {
			gp = append(gp, s-t)
		}
	}
	ls := stat(lg)
	b.add("4", fmt.Sprintf("75/25 Go/C (goSpin vs c_work), 250 Hz: Go share minus the true %.1f %%", 100*median(truth)),
		fmt.Sprintf("libgoprof %s · Go's pprof, same runs: %s", ls.pts(), stat(gp).pts()), "±4 pts",
		judge(ls, func(x float64) bool { return x >= -0.04 && x <= 0.04 }))
	lg, gp, truth = nil, nil, nil
	bin := filepath.Join(b.Bin, "cwork")
	for k := range res {
		r := res[k][1]
		t := float64(r.KV["a_cpu_ns"]) / float64(r.KV["a_cpu_ns"]+r.KV["b_cpu_ns"])
		truth = append(truth, t)
		if s, ok := share(r.LGP, leafIs("c_a"), leafIs("c_b")); ok {
			lg = append(lg, s-t)
		}
		if s, ok := share(b.gperfProfile(r, bin), leafIs("c_a"), leafIs("c_b")); ok {
			gp = append(gp, s-t)
		}
	}
	ls = stat(lg)
	ref := ""
	if b.R.LibProfiler != "" {
		ref = " · gperftools 250 Hz, same runs: " + stat(gp).pts()
	}
	b.add("4", fmt.Sprintf("50/50 C/C (c_a vs c_b), 250 Hz: c_a share minus the true %.1f %%", 100*median(truth)),
		"libgoprof "+ls.pts()+ref, "±4 pts", judge(ls, func(x float64) bool { return x >= -0.04 && x <= 0.04 }))
	return nil
}

// ---- 5. scale ----

func (b *Bench) secScale() error {
	depths := []int{8, 32, 128, 512}
	kinds := []string{"pure Go", "mixed cgo", "C"}
	var specs []Spec
	for _, kd := range kinds {
		for _, d := range depths {
			s := Spec{Label: fmt.Sprintf("S5 depth %s %d", kd, d), LGPHz: 250}
			switch kd {
			case "pure Go":
				s.Argv, s.GoHz = b.gowork("go", 1, b.P.UnitsDepth, d), 250
			case "mixed cgo":
				s.Argv, s.GoHz = b.gowork("cgo", 1, b.P.UnitsDepth, d), 250
			case "C":
				s.Argv = b.cwork("spin", 1, b.P.UnitsDepth, d, 1)
			}
			specs = append(specs, s)
		}
	}
	res, err := b.interleave("5. scale: stack depth", b.P.RepsSmall, specs)
	if err != nil {
		return err
	}
	i := 0
	for _, kd := range kinds {
		for _, d := range depths {
			leaf := []string{"c_leaf"}
			if kd == "pure Go" {
				leaf = []string{"main.goLeaf"}
			}
			hv, _, _ := costSummary(res, i, "handler")
			val := fmt.Sprintf("libgoprof %s", hv)
			if kd != "C" {
				fv, _, _ := costSummary(res, i, "forwarded")
				val += " · Go's: " + fv
			}
			val += fmt.Sprintf(" · lost %d", maxLost(res, i))
			b.add("5", fmt.Sprintf("%s, depth %d (%d frames recorded), 250 Hz: in-handler", kd, d, depthCol(res, i, leaf...)), val, "", "")
			i++
		}
	}

	// threads: long-lived (spin) and short-lived (churn, 2-unit lives), default settings
	ns := []int{1, 8, 64, 512}
	specs = nil
	for _, mode := range []string{"spin", "churn"} {
		for _, n := range ns {
			u := b.P.UnitsThreads / n
			if mode == "spin" && u < b.P.UnitsThreadsMin {
				u = b.P.UnitsThreadsMin // long-lived: each thread lives many ticks
			}
			if mode == "churn" && u < 2 {
				u = 2
			}
			argv := b.cwork(mode, n, u, 16, 2)
			specs = append(specs,
				Spec{Label: fmt.Sprintf("S5 threads %s %d none", mode, n), Argv: argv},
				Spec{Label: fmt.Sprintf("S5 threads %s %d lgp default", mode, n), Argv: argv, LGPHz: 100})
		}
	}
	goArgv := b.gowork("go", 64, max(b.P.UnitsThreadsMin, b.P.UnitsThreads/64), 28)
	specs = append(specs, Spec{Label: "S5 threads go 64 none", Argv: goArgv},
		Spec{Label: "S5 threads go 64 lgp default", Argv: goArgv, LGPHz: 100})
	res, err = b.interleaveGroups("5. scale: threads", b.P.RepsSmall, specs, 2)
	if err != nil {
		return err
	}
	b.s2["threads"] = map[string][]*Result{}
	row := func(i int, what string, lostTarget bool) {
		cpu, wall := stat(paired(res, i+1, i, cpuOver)), stat(paired(res, i+1, i, wallOver))
		hv, _, _ := costSummary(res, i+1, "handler")
		mag := stat(column(res, i+1, magLGP))
		lost := maxLost(res, i+1)
		created := stat(column(res, i+1, func(r *Result) (float64, bool) { v, ok := r.KV["threads"]; return float64(v), ok }))
		val := fmt.Sprintf("CPU %s · wall %s · in-handler %s · sampled ÷ getrusage − 1: %s · lost %d",
			cpu.pct(), wall.pct(), hv, mag.pct(), lost)
		if created.ok() && strings.Contains(what, "short") {
			val += fmt.Sprintf(" · %.0f threads created", created.Med)
		}
		target, v := "", ""
		if lostTarget {
			target, v = "lost = 0", verdict(lost == 0)
		}
		b.add("5", what, val, target, v)
	}
	i = 0
	for _, mode := range []string{"spin", "churn"} {
		for _, n := range ns {
			u := b.P.UnitsThreads / n
			if u < b.P.UnitsThreadsMin {
				u = b.P.UnitsThreadsMin
			}
			life := fmt.Sprintf("long-lived (~%d ms CPU each)", u)
			if mode == "churn" {
				life = "short-lived (~2 ms CPU each)"
			}
			row(i, fmt.Sprintf("C, %d %s busy threads, default settings (100 Hz)", n, life), mode == "spin" && n == 64)
			if mode == "spin" && n == 512 {
				b.s2["threads"]["512 none"] = column2(res, i)
				b.s2["threads"]["512 lgp"] = column2(res, i+1)
			}
			i += 2
		}
	}
	row(i, fmt.Sprintf("Go, 64 busy threads (GOMAXPROCS=64, ~%d ms CPU each), default settings (100 Hz)",
		max(b.P.UnitsThreadsMin, b.P.UnitsThreads/64)), true)
	return b.secDistinct()
}

func column2(res [][]*Result, i int) []*Result {
	var rs []*Result
	for k := range res {
		rs = append(rs, res[k][i])
	}
	return rs
}

var reUnitBench = regexp.MustCompile(`^bench (random|shared): .* build (\d+) ms;.* write_file (\d+) ms \((\d+) bytes gzip\)`)

func (b *Bench) secDistinct() error {
	// The unit benchmark of the pprof writer (tests/unit/test_pprof.c), when built.
	if tp := filepath.Join(b.Bin, "test_pprof"); fileExists(tp) {
		progress("5. scale: 10^5 distinct stacks, tests/unit/test_pprof bench")
		dir, err := os.MkdirTemp(b.R.Work, "test_pprof")
		if err != nil {
			return err
		}
		out, err := exec.Command(tp, dir).CombinedOutput()
		if err != nil {
			return fmt.Errorf("test_pprof: %v\n%s", err, tail(string(out), 10))
		}
		for _, line := range strings.Split(string(out), "\n") {
			if m := reUnitBench.FindStringSubmatch(line); m != nil {
				ms := atoi(m[3])
				b.add("5", fmt.Sprintf("10^5 distinct 30-frame stacks (%s): pprof encode + gzip + write only (tests/unit/test_pprof.c)", m[1]),
					fmt.Sprintf("%d ms (%.1f MB file; building the pprof in memory: %s ms)", ms, float64(atoi(m[4]))/1e6, m[2]),
					"< 1 s", verdict(ms < 1000))
			}
		}
		os.RemoveAll(dir)
	}
	for _, mode := range []string{"random", "shared"} {
		var wall, cpu, mem, add, size []float64
		for k := 0; k < b.P.RepsWriteout; k++ {
			progress("5. scale: 10^5 distinct stacks, bench/writeout %s, repetition %d of %d", mode, k+1, b.P.RepsWriteout)
			path := filepath.Join(b.R.Work, "writeout.pb.gz")
			out, err := exec.Command(filepath.Join(b.Bin, "writeout"), mode, path).Output()
			if err != nil {
				return fmt.Errorf("writeout: %v", err)
			}
			kv := parseKVFloat(string(out))
			wall = append(wall, kv["write_ms"]*1e6)
			cpu = append(cpu, kv["write_cpu_ms"]*1e6)
			mem = append(mem, kv["profmap_bytes"]/1024)
			add = append(add, kv["add_ms"]*1e6)
			size = append(size, kv["file_bytes"])
			os.Remove(path)
		}
		ws := stat(wall)
		b.add("5", fmt.Sprintf("10^5 distinct 30-frame stacks (%s): collector write-out, symbolize + pprof + gzip (bench/writeout)", mode),
			fmt.Sprintf("wall %s · CPU %s · %.1f MB file", ws.ms(), stat(cpu).ms(), median(size)/1e6), "< 1 s",
			judge(ws, func(x float64) bool { return x < 1e9 }))
		b.add("5", fmt.Sprintf("10^5 distinct 30-frame stacks (%s): profMap memory · time to aggregate", mode),
			fmt.Sprintf("%s · %s", stat(mem).mb(), stat(add).ms()), "", "")
	}
	// End to end: a Go program whose samples are nearly all distinct stacks.
	var specs []Spec
	specs = append(specs, Spec{Label: "S5 distinct go 2T lgp1000", Argv: b.gowork("distinct", 2, b.P.UnitsDistinct, 0), LGPHz: 1000})
	res, err := b.interleave("5. scale: distinct stacks end to end", b.P.RepsE2E, specs)
	if err != nil {
		return err
	}
	var nstacks, write, ccpu, crss []float64
	var lost int64
	for k := range res {
		r := res[k][0]
		if r.LGP != nil {
			nstacks = append(nstacks, float64(len(r.LGP.Samples)))
			if r.LGP.Lost > lost {
				lost = r.LGP.Lost
			}
		}
		if r.Coll != nil {
			write = append(write, float64(r.Coll.WriteNS))
			ccpu = append(ccpu, float64(r.Coll.CPUNS))
			crss = append(crss, float64(r.Coll.MaxRSSKB))
		}
	}
	b.add("5", fmt.Sprintf("end to end: Go program, 2 threads, 1000 Hz, %.0f distinct stacks (samples are ≤ CONFIG_HZ × cores per s)", median(nstacks)),
		fmt.Sprintf("profile ready %s after exit · collector CPU %s · collector RSS %s · lost %d",
			stat(write).ms(), stat(ccpu).ms(), stat(crss).mb(), lost), "", "")
	b.s2["distinct"] = map[string][]*Result{"e2e": column2(res, 0)}
	return nil
}

func parseKVFloat(s string) map[string]float64 {
	kv := map[string]float64{}
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '='); i > 0 {
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				kv[line[:i]] = v
			}
		}
	}
	return kv
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ---- 6. memory ----

func (b *Bench) secMemory() {
	// The workloads' own VmHWM (wait4's ru_maxrss would include the driver's RSS, inherited by
	// the vfork'ed child before exec).
	rssAdded := func(lgp, none []*Result) Stat {
		var xs []float64
		for k := range lgp {
			if k < len(none) && lgp[k].KV["rss_kb"] > 0 && none[k].KV["rss_kb"] > 0 {
				xs = append(xs, float64(lgp[k].KV["rss_kb"]-none[k].KV["rss_kb"]))
			}
		}
		return stat(xs)
	}
	for _, kind := range []string{"Go", "cgo", "C"} {
		one, two := b.s2[kind+", 1 thread"], b.s2[kind+", 2 threads"]
		if one == nil {
			continue
		}
		b.add("6", fmt.Sprintf("%s: peak RSS added to the application, libgoprof 100 Hz (section 2 runs)", kind),
			fmt.Sprintf("1 thread %s · 2 threads %s (base: %.1f MB)", rssAdded(one["libgoprof 100 Hz"], one["none"]).mb(),
				rssAdded(two["libgoprof 100 Hz"], two["none"]).mb(), float64(one["none"][0].KV["rss_kb"])/1024), "", "")
	}
	if t := b.s2["threads"]; t != nil && t["512 lgp"] != nil {
		b.add("6", "C, 512 long-lived threads: peak RSS added to the application (section 5 runs)",
			rssAdded(t["512 lgp"], t["512 none"]).mb(), "", "")
	}
	var crss, comment []float64
	for w, m := range b.s2 {
		if w == "threads" || w == "distinct" {
			continue
		}
		for _, r := range m["libgoprof 100 Hz"] {
			if r.Coll != nil {
				crss = append(crss, float64(r.Coll.MaxRSSKB))
			}
			if r.LGP != nil && r.LGP.CollRSSKB >= 0 {
				comment = append(comment, float64(r.LGP.CollRSSKB))
			}
		}
	}
	val := "whole life (wait4) " + stat(crss).mb()
	if len(comment) > 0 {
		val += " · at write time (collector: comment) " + stat(comment).mb()
	}
	b.add("6", "collector peak RSS, every section 2 run at 100 Hz", val, "", "")
}

// ---- 9. C memory profiling ----

// pairPS: a heapbench run's CPU picoseconds per malloc/free pair.
func pairPS(r *Result) (float64, bool) {
	v, ok := r.KV["pair_cpu_ps"]
	return float64(v), ok && v > 0
}

func (b *Bench) secHeap() error {
	hb := filepath.Join(b.Bin, "heapbench")
	argv := func(threads int) []string {
		return []string{hb, strconv.Itoa(threads), strconv.Itoa(b.P.HeapPairs)}
	}
	const jemalloc = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
	const tcmalloc = "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"
	// 0: one thread, the initial one (a C program's main), whose stack the sampled path
	// extends as it goes deeper; 1, 2: threads of their own.
	for _, threads := range []int{0, 1, 2} {
		name := fmt.Sprintf("%d thread", threads)
		if threads == 0 {
			name = "initial thread"
		} else if threads > 1 {
			name += "s"
		}
		// libgoprof against no profiler, whole runs: more repetitions than the other
		// allocators' rows, in an interleave of their own (whole runs move by ±10 % against
		// each other here; the median's interval says what the repetitions resolve).
		specs := []Spec{
			{Label: "S9 none", Argv: argv(threads)},
			{Label: "S9 lgp disabled (interposers only)", Argv: argv(threads), Preload: []string{b.R.Lib}, Env: []string{"GOPROF_DISABLE=1"}},
			{Label: "S9 lgp cpu 100 Hz, heap off", Argv: argv(threads), LGPHz: 100},
			{Label: "S9 lgp cpu 100 Hz, heap 512k", Argv: argv(threads), LGPHz: 100, LGPEnv: []string{"GOPROF_HEAP_RATE=512k"}},
		}
		res, err := b.interleave("9. C memory profiling, whole runs, "+name, b.P.RepsHeapWhole, specs)
		if err != nil {
			return err
		}
		base := stat(column(res, 0, pairPS))
		b.add("9", fmt.Sprintf("heapbench, %s × %d malloc/free pairs of 16-4096 bytes, 1024 live: without a profiler", name, b.P.HeapPairs),
			fmt.Sprintf("%.1f ns per pair (CPU)", base.Med/1000), "", "")
		over := func(res [][]*Result, i, against int) []float64 {
			return paired(res, i, against, func(r, bs *Result) float64 {
				a, ok1 := pairPS(r)
				c, ok2 := pairPS(bs)
				if !ok1 || !ok2 {
					return math.NaN()
				}
				return a/c - 1
			})
		}
		xs := over(res, 1, 0)
		st := stat(xs)
		b.add("9", name+": libgoprof loaded, profiling off (the interposers alone), whole runs", st.pctInterval(xs), "≤ 0.5 %",
			judgeInterval(xs, 0.005))
		xs = over(res, 2, 0)
		b.add("9", name+": CPU profiling at 100 Hz, heap off, whole runs", stat(xs).pctInterval(xs), "", "")
		xs = over(res, 3, 0)
		st = stat(xs)
		b.add("9", name+": CPU 100 Hz + C memory at 512k, against no profiler, whole runs", st.pctInterval(xs), "≤ 3 %",
			judgeInterval(xs, 0.03))
		xs = over(res, 3, 2)
		b.add("9", name+": C memory at 512k, against CPU profiling alone, whole runs", stat(xs).pctInterval(xs), "", "")
		// The other allocators' profilers, each against its allocator alone.
		var others []Spec
		haveJe, haveTc := fileExists(jemalloc), fileExists(tcmalloc)
		if haveJe {
			others = append(others,
				Spec{Label: "S9 jemalloc", Argv: argv(threads), Preload: []string{jemalloc}},
				Spec{Label: "S9 jemalloc prof 512k", Argv: argv(threads), Preload: []string{jemalloc},
					Env: []string{"MALLOC_CONF=prof:true,lg_prof_sample:19,prof_prefix:" + filepath.Join(b.R.Work, "jeprof")}})
		}
		if haveTc {
			others = append(others,
				Spec{Label: "S9 tcmalloc", Argv: argv(threads), Preload: []string{tcmalloc}},
				Spec{Label: "S9 tcmalloc HEAPPROFILE", Argv: argv(threads), Preload: []string{tcmalloc},
					Env: []string{"HEAPPROFILE=" + filepath.Join(b.R.Work, "gperf.heap")}})
		}
		if len(others) > 0 {
			res, err := b.interleave("9. C memory profiling, other allocators, "+name, b.P.RepsHeap, others)
			if err != nil {
				return err
			}
			k := 0
			if haveJe {
				b.add("9", name+": jemalloc's profiler (prof:true, lg_prof_sample:19), against jemalloc alone", stat(over(res, k+1, k)).pct(), "", "")
				k += 2
			}
			if haveTc {
				b.add("9", name+": gperftools HEAPPROFILE (tcmalloc, every allocation), against tcmalloc alone", stat(over(res, k+1, k)).pct(), "", "")
			}
		}
		if threads > 0 {
			if err := b.heapABs(name, threads); err != nil {
				return err
			}
		}
		for _, rate := range []string{"512k", "0"} {
			what := "at " + rate
			if rate == "0" {
				what = "with heap profiling off"
			}
			if share, err := b.heapShare(threads, rate); err != nil {
				b.add("9", name+": libgoprof.so's share of the CPU samples "+what+" (perf record)", "not measured: "+err.Error(), "", "")
			} else {
				b.add("9", name+": libgoprof.so's share of the CPU samples "+what+" (perf record, one run)", fmt.Sprintf("%.2f %%", share), "", "")
			}
		}
	}
	// Several threads, more than the cores: the A/B alone (heapbench's rows would be noise).
	return b.heapABs("4 threads", 4)
}

// heapABHz: the CPU profiling rate of the A/B's profiled runs.
const heapABHz = 100

// heapABs: the in-process A/B from the process's start, then in its steady state: after a
// warm-up in which the CPU samples have gone once round the ring (bench/heap/heapab.c: until
// then every sample's slot is a page new to both processes, which this VM makes costly).
func (b *Bench) heapABs(name string, threads int) error {
	if err := b.heapAB(name, threads, 0); err != nil {
		return err
	}
	busy := threads
	if n := runtime.NumCPU(); busy > n {
		busy = n
	}
	const slots = 1024 // GOPROF_RING_SLOTS's default
	return b.heapAB(name+", after the ring's first lap", threads, 1.3*slots/float64(heapABHz*busy))
}

// heapAB: C memory profiling's cost at 512k measured inside one process (bench/heap/heapab.c):
// heapbench's loop through the interposed malloc/free and through libc's, alternating every
// ~1 ms, the median of the rounds' ratios; divided by the same ratio without libgoprof (the
// method's own bias), and with the collector's CPU over the rounds added as a share of the
// profiled half's CPU (it takes a core from the program when all are busy). Whole runs move
// by 10-25 % on this VM, rounds 1 ms apart by far less: this resolves what heapbench's
// run-against-run rows above cannot. CPU profiling at 100 Hz runs in both halves and cancels.
func (b *Bench) heapAB(name string, threads int, warmS float64) error {
	argv := []string{filepath.Join(b.Bin, "heapab"), strconv.Itoa(threads), strconv.Itoa(b.P.HeapABRounds),
		"10000", strconv.FormatFloat(warmS, 'f', 1, 64)}
	specs := []Spec{
		{Label: "S9 A/B none", Argv: argv},
		{Label: "S9 A/B lgp cpu 100 Hz, heap 512k", Argv: argv, LGPHz: heapABHz, LGPEnv: []string{"GOPROF_HEAP_RATE=512k"}},
	}
	// More repetitions than the whole-program rows: a run's A/B is seconds long, and the target
	// (3 %) is within a point of what it measures, where 3 runs moved a row by ±0.5 points.
	res, err := b.interleave("9. C memory profiling, in-process A/B, "+name, b.P.RepsHeapAB, specs)
	if err != nil {
		return err
	}
	ratio := func(r *Result) (float64, bool) {
		v, ok := r.KV["ab_ratio_ppm"]
		return float64(v) / 1e6, ok && v > 0
	}
	coll := func(r *Result) (float64, bool) {
		c, ok1 := r.KV["collector_cpu_ns"]
		in, ok2 := r.KV["interposed_cpu_ns"]
		return float64(c) / float64(in), ok1 && ok2 && c >= 0 && in > 0
	}
	bias := stat(column(res, 0, ratio))
	b.add("9", name+": in-process A/B without libgoprof (both halves call libc: the method's bias)", Stat{bias.Med - 1, bias.Min - 1, bias.Max - 1, bias.N}.pct2(), "", "")
	prog := stat(paired(res, 1, 0, func(r, bs *Result) float64 {
		a, ok1 := ratio(r)
		c, ok2 := ratio(bs)
		if !ok1 || !ok2 {
			return math.NaN()
		}
		return a/c - 1
	}))
	b.add("9", name+": C memory at 512k, the program's side (in-process A/B, over the bias)", prog.pct2(), "", "")
	cs := stat(column(res, 1, coll))
	b.add("9", name+": C memory at 512k, the collector's CPU during the A/B, per CPU of the profiled half", cs.pct2(), "", "")
	total := stat(paired(res, 1, 0, func(r, bs *Result) float64 {
		a, ok1 := ratio(r)
		c, ok2 := ratio(bs)
		k, ok3 := coll(r)
		if !ok1 || !ok2 || !ok3 {
			return math.NaN()
		}
		return a/c - 1 + k
	}))
	b.add("9", name+": C memory at 512k, program's side + collector (in-process A/B)", total.pct2(), "≤ 3 %",
		judge(total, func(x float64) bool { return x <= 0.03 }))
	return nil
}

// heapShare: the share of heapbench's CPU samples (perf record, cpu-clock, a software event, so
// it works without a PMU) that fall in libgoprof.so, with heap profiling at rate (0: off) and
// CPU profiling at 100 Hz. Both sides of the ratio come from one run, so the machine's noise,
// which moves whole runs by ±15 % here, cancels; it counts libgoprof's own instructions and
// the misses they take, not what its cache footprint costs the program around them.
func (b *Bench) heapShare(threads int, rate string) (float64, error) {
	perf, err := exec.LookPath("perf")
	if err != nil {
		return 0, fmt.Errorf("perf is not installed")
	}
	data := filepath.Join(b.R.Work, "heapshare.perf")
	defer os.Remove(data)
	out := filepath.Join(b.R.Work, "heapshare.pb.gz")
	defer os.Remove(out)
	cmd := exec.Command(perf, "record", "-q", "-e", "cpu-clock", "-F", "10000", "-o", data, "--",
		"env", "LD_PRELOAD="+b.R.Lib, "GOPROF_OUT="+out, "GOPROF_HZ=100", "GOPROF_HEAP_RATE="+rate,
		filepath.Join(b.Bin, "heapbench"), strconv.Itoa(threads), strconv.Itoa(b.P.HeapPairs))
	cmd.Env = baseEnv()
	cmd.Dir = b.R.Work
	if msg, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("perf record: %v: %s", err, tail(string(msg), 5))
	}
	rep, err := exec.Command(perf, "report", "-i", data, "--stdio", "--no-children", "--sort", "dso").Output()
	if err != nil {
		return 0, fmt.Errorf("perf report: %v", err)
	}
	for _, line := range strings.Split(string(rep), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[1] == filepath.Base(b.R.Lib) {
			return strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		}
	}
	return 0, nil
}

// ---- 10. this build against another, side by side ----

// secBaseline runs the same workloads with this build's libgoprof.so and with another build's
// (-baseline, BENCH_BASELINE), interleaved in one run, so that a change's cost is read against
// the machine's noise of that run: the in-handler time per sample, and the CPU (program +
// collector) over the run without profiler.
func (b *Bench) secBaseline() error {
	if b.Baseline == "" {
		progress("10. skipped: no baseline build (BENCH_BASELINE=path/to/other/libgoprof.so)")
		return nil
	}
	ws := []workload{
		{"pure Go, 28 frames", "go", b.gowork("go", 1, b.P.Units1, 28)},
		{"mixed cgo, 24 frames", "cgo", b.gowork("cgo", 1, b.P.Units1, 24)},
		{"C, 28 frames", "c", b.cwork("spin", 1, b.P.Units1, 28, 1)},
	}
	var specs []Spec
	for _, w := range ws {
		specs = append(specs,
			Spec{Label: "S10 " + w.name + " none", Argv: w.argv},
			Spec{Label: "S10 " + w.name + " baseline 250 Hz", Argv: w.argv, LGPHz: 250, LGPLib: b.Baseline},
			Spec{Label: "S10 " + w.name + " this build 250 Hz", Argv: w.argv, LGPHz: 250})
	}
	res, err := b.interleaveGroups("10. this build against "+b.Baseline, b.P.RepsOverhead, specs, 3)
	if err != nil {
		return err
	}
	for wi, w := range ws {
		base := 3 * wi
		for i, who := range []string{"baseline", "this build"} {
			v, _, _ := costSummary(res, base+1+i, "handler")
			cpu := stat(paired(res, base+1+i, base, cpuOver))
			b.add("10", fmt.Sprintf("%s, 250 Hz, %s: in-handler · CPU (program + collector) over none",
				w.name, who), v+" · "+cpu.pct(), "", "")
		}
		rm := ratioBetween(res, base+2, base+1)
		b.add("10", w.name+": this build ÷ baseline, in-handler median (paired per run)", rm.times(), "", "")
	}
	return nil
}

// ratioBetween: per run, the median in-handler time of column i over that of column j.
func ratioBetween(res [][]*Result, i, j int) Stat {
	return stat(paired(res, i, j, func(r, bs *Result) float64 {
		if r.LGP == nil || bs.LGP == nil || r.LGP.Handler == nil || bs.LGP.Handler == nil {
			return math.NaN()
		}
		return float64(hMed(r.LGP.Handler)) / float64(hMed(bs.LGP.Handler))
	}))
}
