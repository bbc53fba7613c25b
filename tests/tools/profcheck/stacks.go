// stacks.go -- 'profcheck stacks': the stacks corpus check (tests/stacks/README).
//
// For one profile and one expect file it prints a row per applicable expectation (selected
// samples and the share matching the expected chain), the share of all samples that end at
// a legal root and how the others end, and, with --gopprof, the comparison with Go's own
// profile (gocompare.go). The last line is a machine-readable summary for the harness:
//
//	RESULT label=L samples=N match=P worst=W root=P go=ok|FAIL|- verdict=PASS|FAIL broken=B
//
// B says how the samples not ending at a legal root ended: "END×N,..." (the three most
// frequent), "-" when there are none.
//
// Exit status 1 if an expectation matches less than --min-match of its samples or selects
// fewer than --min-samples, if any sample matches a 'never' line, if fewer than --min-root of the samples end at a legal root, or
// if the Go comparison fails.
package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"
)

// legalRootFrames end a complete stack when they are its root-most frame.
var legalRootFrames = map[string]bool{
	"runtime.goexit": true, // every goroutine
	"runtime.mstart": true, // every M's g0
	"runtime.mcall":  true, // scheduler code on g0 after mcall (Go's unwinder stops there too)
	"runtime.rt0_go": true, // m0's g0 before mstart
	"_start":         true, // the main thread of a C program
}

const lostPrefix = PseudoPrefix + " lost"

// A process's CPU time that no sample saw (its start and its last ticks): a count without a
// stack, like a lost sample.
const residualFrame = PseudoPrefix + " unsampled: CPU time no tick saw"

// rootEnd classifies a stack (root first): legal, or the frame it ends at.
func rootEnd(frames []string) (legal bool, end string) {
	if len(frames) == 0 {
		return false, "(empty stack)"
	}
	if legalRootFrames[frames[0]] {
		return true, frames[0]
	}
	// newstack deciding to preempt (gopreempt_m → schedule) drops the goroutine from the M
	// (m.curg = nil): like mcall, the scheduler code that runs next on g0 has no goroutine
	// below it, and the walk ends at morestack (Go's unwinder stops there as well).
	if frames[0] == "runtime.morestack" && len(frames) > 2 && frames[1] == "runtime.newstack" &&
		frames[2] == "runtime.gopreempt_m" {
		return true, frames[0]
	}
	// The unwinder marks where it gave up ("[libgoprof] incomplete: ...") or where the record
	// was full ("[libgoprof] truncated: ..."): name the frame it got to.
	if strings.HasPrefix(frames[0], PseudoPrefix) && len(frames) > 1 {
		return false, frames[0] + " after " + frames[1]
	}
	// A thread created by pthread_create: start_thread, below it clone3/__clone3/clone.
	for i := 0; i < 2 && i < len(frames); i++ {
		if frames[i] == "start_thread" {
			return true, frames[0]
		}
	}
	return false, frames[0]
}

// isLost: a count without a stack, lost or never sampled (residualFrame).
func isLost(frames []string) bool {
	for _, f := range frames {
		if strings.HasPrefix(f, lostPrefix) || f == residualFrame {
			return true
		}
	}
	return false
}

// RootStats: legal-root share over all samples except lost ones.
type RootStats struct {
	Total, Lost, Considered, Legal int64
	Broken                         map[string]int64  // root-most frame -> count
	Example                        map[string]string // root-most frame -> heaviest stack
	exampleN                       map[string]int64
}

func rootStats(stacks []Stack) *RootStats {
	rs := &RootStats{Broken: map[string]int64{}, Example: map[string]string{}, exampleN: map[string]int64{}}
	merged := map[string]int64{}
	for i := range stacks {
		s := &stacks[i]
		rs.Total += s.Count
		if isLost(s.Frames) {
			rs.Lost += s.Count
			continue
		}
		rs.Considered += s.Count
		legal, end := rootEnd(s.Frames)
		if legal {
			rs.Legal += s.Count
			continue
		}
		rs.Broken[end] += s.Count
		key := s.String()
		merged[key] += s.Count
		if merged[key] > rs.exampleN[end] {
			rs.exampleN[end] = merged[key]
			rs.Example[end] = key
		}
	}
	return rs
}

func (rs *RootStats) Share() float64 { return pct(rs.Legal, rs.Considered) }

// ExpStats is one expectation's outcome. For a 'never' line every sample is selected and
// "matched" means matching none of its patterns; Bad holds the ones that do.
type ExpStats struct {
	Exp      *Expectation
	Selected int64
	Matched  int64
	Bad      map[string]int64 // non-matching stack -> count
}

func (es *ExpStats) Share() float64 { return pct(es.Matched, es.Selected) }

func evalExpectation(e *Expectation, stacks []Stack) *ExpStats {
	es := &ExpStats{Exp: e, Bad: map[string]int64{}}
	for i := range stacks {
		s := &stacks[i]
		if !e.Selects(s.Frames) {
			continue
		}
		es.Selected += s.Count
		if e.Matches(s.Frames) == (e.Kind != "never") {
			es.Matched += s.Count
		} else {
			es.Bad[s.String()] += s.Count
		}
	}
	return es
}

// shorten elides the middle of a long stack for display (runs of one frame collapse).
func shorten(stack string, max int) string {
	fr := strings.Split(stack, ";")
	var out []string
	for i := 0; i < len(fr); {
		j := i
		for j+1 < len(fr) && fr[j+1] == fr[i] {
			j++
		}
		if j-i >= 2 {
			out = append(out, fmt.Sprintf("%s ×%d", fr[i], j-i+1))
		} else {
			out = append(out, fr[i:j+1]...)
		}
		i = j + 1
	}
	s := strings.Join(out, ";")
	if len(s) > max {
		s = s[:max/3] + " ... " + s[len(s)-(2*max/3-5):]
	}
	return s
}

var goVersionRE = regexp.MustCompile(`\bgo1\.([0-9]+)`)

func cmdStacks(args []string, w io.Writer) error {
	fs := newFlagSet("stacks")
	expectPath := fs.String("expect", "", "expect file (tests/stacks/<program>/expect)")
	goPath := fs.String("gopprof", "", "Go's own CPU profile of the same run")
	label := fs.String("label", "", "name for the RESULT line")
	variant := fs.String("variant", "default", "build variant, for [v=...] conditions")
	goVer := fs.String("go", "", "Go version 1.NN, for [go>=...] conditions (default: from the profile's comments)")
	minMatch := fs.Float64("min-match", 0.99, "minimum share of selected samples matching, per expectation")
	minRoot := fs.Float64("min-root", 0.995, "minimum share of samples ending at a legal root")
	minSamples := fs.Int64("min-samples", 20, "minimum selected samples per expectation")
	goTol := fs.Float64("go-tol", 0.03, "Go comparison: tolerance (share, absolute)")
	goMin := fs.Float64("go-min-share", 0.05, "Go comparison: functions above this flat or cum share are compared")
	goMinSamples := fs.Int64("go-min-samples", 100, "Go comparison: minimum comparable samples in each profile")
	p, stacks, err := loadStacks(fs, args)
	if err != nil {
		return err
	}
	if *expectPath == "" {
		return usageErr("stacks needs --expect FILE")
	}
	ef, err := readExpectFile(*expectPath)
	if err != nil {
		return usageErr("%v", err)
	}
	goMinor := 0
	if *goVer != "" {
		if goMinor, err = parseGoMinor(*goVer); err != nil {
			return usageErr("--go: %v", err)
		}
	} else {
		for _, c := range p.Comments {
			if m := goVersionRE.FindStringSubmatch(c); m != nil {
				goMinor, _ = parseGoMinor("1." + m[1])
				break
			}
		}
	}
	if *label == "" {
		*label = *variant
	}

	var reasons []string
	rs := rootStats(stacks)
	fmt.Fprintf(w, "== %s: %d samples (%d lost), %.2f%% of the others end at a legal root (min %.2f%%)\n",
		*label, rs.Total, rs.Lost, 100*rs.Share(), 100**minRoot)
	if rs.Considered == 0 {
		reasons = append(reasons, "no samples")
	} else if rs.Share() < *minRoot {
		reasons = append(reasons, fmt.Sprintf("%.2f%% of samples end at a legal root, need %.2f%%", 100*rs.Share(), 100**minRoot))
	}

	worst, worstName := 2.0, "-"
	var all []*ExpStats
	for _, e := range ef.Expectations {
		ok, err := e.Applies(*variant, goMinor)
		if err != nil {
			return usageErr("%s: %v", *expectPath, err)
		}
		if !ok {
			continue
		}
		es := evalExpectation(e, stacks)
		all = append(all, es)
		verdict := "PASS"
		switch {
		case e.Kind == "never":
			if es.Matched < es.Selected {
				verdict = "FAIL"
				reasons = append(reasons, fmt.Sprintf("line %d (never): %d samples match", e.Line, es.Selected-es.Matched))
			}
		case es.Selected < *minSamples:
			verdict = "FAIL"
			reasons = append(reasons, fmt.Sprintf("line %d (%s): only %d samples selected, need %d", e.Line, e.Name(), es.Selected, *minSamples))
		case es.Share() < *minMatch:
			verdict = "FAIL"
			reasons = append(reasons, fmt.Sprintf("line %d (%s): %.2f%% match, need %.2f%%", e.Line, e.Name(), 100*es.Share(), 100**minMatch))
		}
		share := es.Share()
		if es.Selected < *minSamples && e.Kind != "never" {
			share = 0
		}
		if share < worst {
			worst, worstName = share, fmt.Sprintf("line%d", e.Line)
		}
		fmt.Fprintf(w, "  line %-3d %-36s selected %6d  match %7.2f%%  %s\n", e.Line, trunc(e.Name(), 36), es.Selected, 100*es.Share(), verdict)
	}
	if len(all) == 0 {
		return usageErr("%s: no expectation applies to variant %q, go1.%d", *expectPath, *variant, goMinor)
	}
	if len(rs.Broken) > 0 {
		fmt.Fprintf(w, "  broken stacks (%d samples, %.2f%%), by the frame they end at (root-most):\n",
			rs.Considered-rs.Legal, 100*pct(rs.Considered-rs.Legal, rs.Considered))
		for _, t := range topN(rs.Broken, 6) {
			fmt.Fprintf(w, "    %6d× ended at %s   e.g. %s\n", t.count, t.key, shorten(rs.Example[t.key], 240))
		}
	}
	for _, es := range all {
		if len(es.Bad) == 0 || (es.Share() >= *minMatch && es.Exp.Kind != "never") {
			continue
		}
		if es.Exp.Kind == "never" {
			fmt.Fprintf(w, "  line %d (never): %d samples match; top stacks:\n", es.Exp.Line, es.Selected-es.Matched)
			for _, t := range topN(es.Bad, 3) {
				fmt.Fprintf(w, "    %6d  %s\n", t.count, shorten(t.key, 400))
			}
			continue
		}
		fmt.Fprintf(w, "  line %d (%s): %d non-matching samples; top stacks:\n", es.Exp.Line, es.Exp.Name(), es.Selected-es.Matched)
		for _, t := range topN(es.Bad, 3) {
			fmt.Fprintf(w, "    %6d  %s\n", t.count, shorten(t.key, 400))
		}
		var pats []string
		for _, p := range es.Exp.Patterns {
			pats = append(pats, shorten(p.String(), 400))
		}
		fmt.Fprintf(w, "    expected: %s\n", strings.Join(pats, " | "))
	}

	goVerdict := "-"
	if *goPath != "" {
		gp, err := ParseFile(*goPath)
		if err != nil {
			return &exitError{2, fmt.Sprintf("--gopprof: %v", err)}
		}
		gs, err := gp.Stacks()
		if err != nil {
			return &exitError{2, fmt.Sprintf("--gopprof: %v", err)}
		}
		tol := *goTol
		if ef.GoTol > tol {
			tol = ef.GoTol
		}
		c := compareWithGo(stacks, gp, gs, tol, *goMin, *goMinSamples, ef.GoExclude)
		c.Write(w)
		goVerdict = "ok"
		if ef.GoCompareOff != "" {
			fmt.Fprintf(w, "  Go comparison not judged: %s\n", ef.GoCompareOff)
			goVerdict = "off"
		} else if !c.OK() {
			goVerdict = "FAIL"
			reasons = append(reasons, "Go comparison: "+strings.Join(c.Failures, "; "))
		}
	}
	verdict := "PASS"
	if len(reasons) > 0 {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "RESULT label=%s samples=%d match=%.2f worst=%s root=%.2f go=%s verdict=%s broken=%s\n",
		*label, rs.Total, 100*worst, worstName, 100*rs.Share(), goVerdict, verdict, brokenSummary(rs))
	if len(reasons) > 0 {
		return checkFail("%s: %s", *label, strings.Join(reasons, "; "))
	}
	return nil
}

// brokenSummary is the RESULT line's one-word account of the broken stacks.
func brokenSummary(rs *RootStats) string {
	if len(rs.Broken) == 0 {
		return "-"
	}
	var parts []string
	for _, t := range topN(rs.Broken, 3) {
		end := strings.TrimPrefix(t.key, PseudoPrefix+" ")
		if i := strings.Index(end, ":"); i > 0 && strings.HasPrefix(t.key, PseudoPrefix) {
			// "[libgoprof] incomplete: ... after F" -> "incomplete@F"
			after := ""
			if j := strings.LastIndex(end, " after "); j >= 0 {
				after = "@" + end[j+len(" after "):]
			}
			end = end[:i] + after
		}
		parts = append(parts, fmt.Sprintf("%s×%d", strings.ReplaceAll(end, " ", "_"), t.count))
	}
	return strings.Join(parts, ",")
}
