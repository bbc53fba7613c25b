// gocompare.go -- compare a libgoprof profile with Go's own CPU profile of the same run:
// per Go function, flat and cumulative shares of CPU time.
//
// The two profiles see different things, so both are first mapped to what Go's profiler
// can show (a "Go view" of each sample), and shares are taken over the samples that have a
// Go view, each profile against its own total:
//
//   - C time: Go's profiler starts a C-time stack at curg.syscallpc, inside runtime.cgocall,
//     and shows no C frame. Ours is cut the same way: at the leaf-most runtime.asmcgocall
//     that has no Go frame leafward of it, the stack is truncated (asmcgocall and everything
//     leafward go), so its leaf becomes runtime.cgocall. A sample in Go code called back
//     from C keeps its Go frames on both sides.
//   - vDSO time: Go's sigprof starts a sample with m.vdsoSP set at (vdsoPC, vdsoSP), in the
//     caller of the function that calls the vDSO (time.now, runtime.nanotime1, ...); in
//     their own code before vdsoSP is set its traceback gives up (SPWRITE). Ours is cut at
//     the leaf-most such function when it is the last Go frame: it and everything leafward
//     go; Go's samples rooted at one are excluded as failed tracebacks.
//   - A leaf runtime.asyncPreempt is dropped on both sides (the sample goes to the function
//     it interrupted). asyncPreempt is not called: the SIGURG handler injects a call to it
//     at the interrupted PC, and a SIGPROF that became pending meanwhile is delivered at its
//     first instruction. How often that happens depends on signal timing: 1-25 % of the
//     samples of a hot loop in either profiler, varying from run to run, while perf's
//     hardware sampling sees under 0.5 % there. The stack below it must still be right:
//     the chain checks see those samples unchanged.
//   - Then only Go functions are kept (isGoFunc), minus the frames Go's traceback never
//     shows: runtime.goexit (dropped by runtime/pprof), runtime.morestack (the traceback
//     jumps from newstack's g0 frames straight to the goroutine), runtime.systemstack_switch
//     (a fake return PC at a callback), runtime.asmcgocall, and wrapper functions
//     (*.gowrapN, *.deferwrapN, *-fm), which the traceback elides. Go 1.21 names its
//     go-statement wrappers *.funcN, like any closure: such a frame right above
//     runtime.goexit is dropped too when Go's profile never shows that function but shows
//     goroutines whose root-most frame is the function it calls (runtime.gcenable.func1 →
//     runtime.bgsweep).
//   - Samples excluded from the comparison, and reported with their share:
//     both: samples whose leaf is runtime.systemstack or runtime.morestack, i.e. taken in
//     the middle of a stack switch: Go's unwinder mostly gives up there (see below), so its
//     share of them is unknown;
//     ours: those on a '[libgoprof]' pseudo-frame, those deeper than Go's 64 frames (Go's are
//     cut there and excluded), those with no Go function left (pure C
//     threads, the C part of a C-created thread before it calls Go), and those of sysmon
//     (stacks with runtime.sysmon): Go's profiler never samples sysmon's M, which never runs
//     a goroutine, so mp.profilehz stays 0 and sigprof returns at once;
//     Go's: those on Go's pseudo-frames (runtime._ExternalCode, _System, _GC, _VDSO, the
//     _Lost* ones, runtime/pprof.lostProfileEvent: Go could not unwind or lost them), those
//     whose traceback stopped at a stack switch (root-most frame runtime.systemstack,
//     runtime.morestack or runtime.asmcgocall: Go's unwinder gave up there; ours has the
//     full stack, which is what the 'stacks' root check is about), and those with 64 PCs,
//     Go's depth limit (maxCPUProfStack), whose root part is cut off.
//
// Weights are the cpu/nanoseconds values. For every function whose flat or cumulative share
// exceeds the threshold (5 %) in either profile, both shares must agree within the tolerance
// (3 points).
package main

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// goPseudo are the frames Go's profiler puts on samples it could not unwind or lost.
var goPseudo = map[string]bool{
	"runtime._ExternalCode":              true,
	"runtime._System":                    true,
	"runtime._GC":                        true,
	"runtime._VDSO":                      true,
	"runtime._LostExternalCode":          true,
	"runtime._LostSIGPROFDuringAtomic64": true,
	"runtime._LostContendedRuntimeLock":  true,
	"runtime/pprof.lostProfileEvent":     true,
}

// goGaveUp are root-most frames at which Go's traceback stops short of the stack's base
// (the vDSO callers: a sample in their own code after the switch to g0 but before or after
// m.vdsoSP is set).
var goGaveUp = map[string]bool{
	"runtime.systemstack": true,
	"runtime.morestack":   true,
	"runtime.asmcgocall":  true,
	"time.now":            true,
	"runtime.nanotime1":   true,
	"runtime.walltime":    true,
	"runtime.vgetrandom1": true,
}

// vdsoCallers set m.vdsoPC/vdsoSP and call the vDSO on the g0 stack; Go's sigprof starts a
// sample taken inside them (or the vDSO) at vdsoPC, in their caller.
var vdsoCallers = map[string]bool{
	"time.now":            true,
	"runtime.nanotime1":   true,
	"runtime.walltime":    true,
	"runtime.vgetrandom1": true,
}

// switchLeaves: a sample taken while the PC is in one of these is excluded on both sides.
var switchLeaves = map[string]bool{
	"runtime.systemstack": true,
	"runtime.morestack":   true,
}

// goHidden are Go frames that Go's traceback never shows.
var goHidden = map[string]bool{
	"runtime.goexit":             true,
	"runtime.morestack":          true,
	"runtime.systemstack_switch": true,
	"runtime.asmcgocall":         true,
	// The C-ABI entry of a callback (runtime/cgo's assembly): Go's traceback starts at
	// cgocallback and names crosscall2 only for a sample whose PC is inside it, which makes
	// the function "Go" in the rare run that has one (ours has it under every callback).
	"crosscall2": true,
}

const goMaxStack = 64 // runtime.maxCPUProfStack, 1.21-1.26

var (
	// A Go symbol: an import path (elements may contain '.', the last one not), a '.',
	// then the rest.
	goNameRE = regexp.MustCompile(`^([A-Za-z0-9_\-~%]+(\.[A-Za-z0-9_\-~%]+)*/)*[A-Za-z0-9_\-~%]+\.[^.]`)
	// GCC's clones and split parts of C functions: f.cold, f.part.0, f.constprop.0, ...
	cSuffixRE = regexp.MustCompile(`\.(cold|part|constprop|isra|lto_priv|localalias|llvm)(\.[0-9]+)*$|\.(cold|part|constprop|isra)\.`)
	// Wrappers that Go's traceback elides.
	wrapperRE = regexp.MustCompile(`\.(gowrap|deferwrap)[0-9]+$|-fm$`)
)

// goFuncs classifies frame names as Go functions: by name syntax, plus every function Go's
// own profile names with a .go or .s file (this catches Go assembly without a package
// prefix, such as gcWriteBarrier).
type goFuncs struct {
	known   map[string]bool // named in Go's profile with a .go or .s file
	inGo    map[string]bool // any frame of Go's samples
	goRoots map[string]bool // root-most frames of Go's samples
}

var closureRE = regexp.MustCompile(`\.func[0-9]+$`)

func newGoFuncs(goProf *Profile) *goFuncs {
	g := &goFuncs{known: map[string]bool{}, inGo: map[string]bool{}, goRoots: map[string]bool{}}
	if goProf != nil {
		for _, f := range goProf.Functions {
			if strings.HasSuffix(f.Filename, ".go") || strings.HasSuffix(f.Filename, ".s") {
				g.known[f.Name] = true
			}
		}
	}
	return g
}

func (g *goFuncs) isGo(name string) bool {
	if g.known[name] {
		return true
	}
	if strings.HasPrefix(name, PseudoPrefix) || goPseudo[name] {
		return false
	}
	if strings.HasPrefix(name, "_cgoexp_") || // cgo's Go wrapper of an exported function
		strings.HasPrefix(name, "type:") || strings.HasPrefix(name, "go:") { // type:.eq.T etc.
		return true
	}
	return goNameRE.MatchString(name) && !cSuffixRE.MatchString(name)
}

// keep filters a stack down to the Go frames Go's traceback would show.
func (g *goFuncs) keep(frames []string) []string {
	if n := len(frames); n > 0 && frames[n-1] == "runtime.asyncPreempt" {
		frames = frames[:n-1]
	}
	var out []string
	for _, f := range frames {
		if g.isGo(f) && !goHidden[f] && !wrapperRE.MatchString(f) {
			out = append(out, f)
		}
	}
	return out
}

// noteGoStacks records which functions Go's samples show, and at their roots.
func (g *goFuncs) noteGoStacks(stacks []Stack) {
	for i := range stacks {
		fr := stacks[i].Frames
		if len(fr) > 0 {
			g.goRoots[fr[0]] = true
		}
		for _, f := range fr {
			g.inGo[f] = true
		}
	}
}

// oursView maps one of our stacks to Go's view; reason != "" if it is excluded.
func (g *goFuncs) oursView(frames []string) (view []string, reason string) {
	if len(frames) > 2 && frames[0] == "runtime.goexit" && closureRE.MatchString(frames[1]) &&
		!g.inGo[frames[1]] && g.goRoots[frames[2]] {
		// A Go 1.21 go-statement wrapper (see the top of this file).
		frames = append([]string{frames[0]}, frames[2:]...)
	}
	for _, f := range frames {
		if strings.HasPrefix(f, PseudoPrefix) {
			return nil, "on a [libgoprof] pseudo-frame"
		}
		if f == "runtime.sysmon" {
			return nil, "sysmon (never sampled by Go)"
		}
	}
	if len(frames) > 0 && switchLeaves[frames[len(frames)-1]] {
		return nil, "leaf " + frames[len(frames)-1]
	}
	cut := -1
	for i := len(frames) - 1; i >= 0; i-- {
		if frames[i] == "runtime.asmcgocall" {
			cut = i
			break
		}
		if g.isGo(frames[i]) {
			if vdsoCallers[frames[i]] {
				// In a vDSO caller or the vDSO: Go's sigprof starts at vdsoPC, in the
				// caller (approximately: Go does so only while m.vdsoSP is set).
				cut = i
			}
			break // Go code leafward: not (only) C time
		}
	}
	if cut >= 0 {
		frames = frames[:cut]
	}
	view = g.keep(frames)
	if len(view) == 0 {
		return nil, "no Go function"
	}
	// Go's profiler cuts such a stack at 64 PCs and its sample is excluded on Go's side (with
	// runtime.goexit, which the view leaves out): so is ours, or the shares of the shallow rest
	// would be compared with shares of everything.
	if len(view)+1 >= goMaxStack {
		return nil, fmt.Sprintf("deeper than Go's %d-frame limit", goMaxStack)
	}
	return view, ""
}

// goView maps one of Go's stacks; reason != "" if it is excluded.
func (g *goFuncs) goView(s *Stack) (view []string, reason string) {
	for _, f := range s.Frames {
		if goPseudo[f] {
			return nil, "on " + f
		}
	}
	if len(s.Frames) > 0 && switchLeaves[s.Frames[len(s.Frames)-1]] {
		return nil, "leaf " + s.Frames[len(s.Frames)-1]
	}
	if len(s.Frames) > 0 && goGaveUp[s.Frames[0]] {
		return nil, "traceback stopped at " + s.Frames[0]
	}
	if s.NLocs >= goMaxStack {
		return nil, fmt.Sprintf("at Go's %d-frame limit", goMaxStack)
	}
	view = g.keep(s.Frames)
	if len(view) == 0 {
		return nil, "no Go function"
	}
	return view, ""
}

// shareSet accumulates flat and cumulative weights per function.
type shareSet struct {
	total    int64 // all samples' weight
	compared int64 // weight of samples with a Go view
	count    int64 // samples (count) compared
	flat     map[string]int64
	cum      map[string]int64
	excluded map[string]int64 // reason -> weight
}

func newShareSet() *shareSet {
	return &shareSet{flat: map[string]int64{}, cum: map[string]int64{}, excluded: map[string]int64{}}
}

func (ss *shareSet) add(view []string, reason string, w, count int64) {
	ss.total += w
	if reason != "" {
		ss.excluded[reason] += w
		return
	}
	ss.compared += w
	ss.count += count
	ss.flat[view[len(view)-1]] += w
	seen := map[string]bool{}
	for _, f := range view {
		if !seen[f] {
			seen[f] = true
			ss.cum[f] += w
		}
	}
}

func (ss *shareSet) flatShare(f string) float64 { return pct(ss.flat[f], ss.compared) }
func (ss *shareSet) cumShare(f string) float64  { return pct(ss.cum[f], ss.compared) }

// GoCompare is the outcome of a comparison.
type GoCompare struct {
	Ours, Go  *shareSet
	Rows      []compareRow
	Failures  []string
	Tol, Min  float64
	MinSample int64
}

type compareRow struct {
	fn               string
	oursFlat, goFlat float64
	oursCum, goCum   float64
	flatOK, cumOK    bool
}

// excludedUnder is the reason a stack is left out by go-exclude ("" if it is not).
func excludedUnder(frames, exclude []string) string {
	for _, f := range frames {
		for _, x := range exclude {
			if f == x {
				return "under " + x + " (go-exclude)"
			}
		}
	}
	return ""
}

// compareWithGo compares ours with Go's profile; the samples with a function of exclude on
// their stack are left out on both sides (an expect file's go-exclude).
func compareWithGo(ours []Stack, goProf *Profile, goStacks []Stack, tol, minShare float64, minSamples int64, exclude []string) *GoCompare {
	g := newGoFuncs(goProf)
	g.noteGoStacks(goStacks)
	c := &GoCompare{Ours: newShareSet(), Go: newShareSet(), Tol: tol, Min: minShare, MinSample: minSamples}
	for i := range ours {
		v, why := g.oursView(ours[i].Frames)
		if x := excludedUnder(ours[i].Frames, exclude); x != "" {
			v, why = nil, x
		}
		c.Ours.add(v, why, ours[i].CPU, ours[i].Count)
	}
	for i := range goStacks {
		v, why := g.goView(&goStacks[i])
		if x := excludedUnder(goStacks[i].Frames, exclude); x != "" {
			v, why = nil, x
		}
		c.Go.add(v, why, goStacks[i].CPU, goStacks[i].Count)
	}
	if c.Ours.count < minSamples {
		c.Failures = append(c.Failures, fmt.Sprintf("only %d of our samples have a Go function (need %d)", c.Ours.count, minSamples))
	}
	if c.Go.count < minSamples {
		c.Failures = append(c.Failures, fmt.Sprintf("only %d samples of Go's profile are comparable (need %d)", c.Go.count, minSamples))
	}
	if c.Ours.compared == 0 || c.Go.compared == 0 {
		return c
	}
	fns := map[string]bool{}
	for _, ss := range []*shareSet{c.Ours, c.Go} {
		for f := range ss.cum {
			if ss.flatShare(f) > minShare || ss.cumShare(f) > minShare {
				fns[f] = true
			}
		}
	}
	for f := range fns {
		r := compareRow{fn: f, oursFlat: c.Ours.flatShare(f), goFlat: c.Go.flatShare(f),
			oursCum: c.Ours.cumShare(f), goCum: c.Go.cumShare(f)}
		r.flatOK = abs(r.oursFlat-r.goFlat) <= tol+1e-9
		r.cumOK = abs(r.oursCum-r.goCum) <= tol+1e-9
		c.Rows = append(c.Rows, r)
	}
	sort.Slice(c.Rows, func(i, j int) bool {
		a, b := c.Rows[i], c.Rows[j]
		ma, mb := maxf(a.oursCum, a.goCum), maxf(b.oursCum, b.goCum)
		if ma != mb {
			return ma > mb
		}
		return a.fn < b.fn
	})
	for _, r := range c.Rows {
		if !r.flatOK {
			c.Failures = append(c.Failures, fmt.Sprintf("%s flat %.1f%% vs Go's %.1f%%", r.fn, 100*r.oursFlat, 100*r.goFlat))
		}
		if !r.cumOK {
			c.Failures = append(c.Failures, fmt.Sprintf("%s cum %.1f%% vs Go's %.1f%%", r.fn, 100*r.oursCum, 100*r.goCum))
		}
	}
	return c
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func maxf(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

func (c *GoCompare) OK() bool { return len(c.Failures) == 0 }

func writeExcluded(w io.Writer, who string, ss *shareSet) {
	fmt.Fprintf(w, "  %-5s %6d samples compared, %5.1f%% of cpu", who, ss.count, 100*pct(ss.compared, ss.total))
	if len(ss.excluded) > 0 {
		var parts []string
		for _, t := range topN(ss.excluded, 6) {
			parts = append(parts, fmt.Sprintf("%s %.1f%%", t.key, 100*pct(t.count, ss.total)))
		}
		fmt.Fprintf(w, "; excluded: %s", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
}

func (c *GoCompare) Write(w io.Writer) {
	fmt.Fprintf(w, "Go comparison: shares of cpu over samples with a Go view; functions above %.0f%% flat or cum in either profile must agree within ±%.0f points\n",
		100*c.Min, 100*c.Tol)
	writeExcluded(w, "ours:", c.Ours)
	writeExcluded(w, "go:", c.Go)
	if len(c.Rows) > 0 {
		fmt.Fprintf(w, "  %-52s %8s %8s %8s %8s\n", "function", "flat", "Go flat", "cum", "Go cum")
		for _, r := range c.Rows {
			mark := func(ok bool) string {
				if ok {
					return " "
				}
				return "!"
			}
			fmt.Fprintf(w, "  %-52s %7.1f%%%s%7.1f%% %7.1f%%%s%7.1f%%\n", trunc(r.fn, 52),
				100*r.oursFlat, mark(r.flatOK), 100*r.goFlat, 100*r.oursCum, mark(r.cumOK), 100*r.goCum)
		}
	}
	if c.OK() {
		fmt.Fprintf(w, "  Go comparison: ok\n")
	} else {
		fmt.Fprintf(w, "  Go comparison: FAIL: %s\n", strings.Join(c.Failures, "; "))
	}
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
