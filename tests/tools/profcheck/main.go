// profcheck -- inspect and assert on pprof CPU profiles written by libgoprof (or anyone).
//
// Standard library only; the protobuf wire format is decoded by hand (proto.go) and
// validated with the rules `go tool pprof` applies. See usage() for the subcommands.
//
// Exit status: 0 = ok, 1 = a check failed (reason printed), 2 = usage error or the file
// could not be read / is not a valid profile.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// PseudoPrefix marks libgoprof's pseudo-frames (lost / dropped / truncated samples),
// e.g. "[libgoprof] lost: ring full".
const PseudoPrefix = "[libgoprof]"

const usageText = `usage: profcheck <command> FILE [flags]

FILE is a pprof profile, gzip-compressed or raw protobuf. Flags may come before or
after FILE. Every command validates the profile like 'go tool pprof' first.

commands:
  check  FILE                      validate only; print a one-line summary
  dump   FILE [--merge]            '#' header lines, then one line per sample:
                                     <count> <cpu_ns> [label=value ...] | root;...;leaf
                                   (--merge: aggregate identical stack+labels, sort by count)
  chain  FILE --leaf NAME --expect 'f1;f2;...;fn' [--contains] [--min 0.99] [--min-samples 20]
                                   samples whose leaf is NAME (or that contain NAME with
                                   --contains) must match the root-to-leaf pattern; in the
                                   pattern '...' matches zero or more frames, '*' exactly one,
                                   NAME+ one or more, NAME? zero or one; '*' inside a name is
                                   a glob (e.g. _cgo_*_Cfunc_f)
  stacks FILE --expect EXPECTFILE [--gopprof GOPROFILE] [--label L] [--variant V] [--go 1.NN]
              [--min-match 0.99] [--min-root 0.995] [--min-samples 20]
              [--go-tol 0.03] [--go-min-share 0.05] [--go-min-samples 100]
                                   the stacks corpus check (tests/stacks/README): one row per
                                   expectation (selected samples, % matching), % of samples
                                   ending at a legal root and how broken stacks end, and with
                                   --gopprof the flat/cum shares of Go functions compared with
                                   Go's own CPU profile of the same run
  share  FILE --group name=regex [--group ...] [--by leaf|contains] [--denom total|groups]
              [--expect name=0.75 ...] [--tol 0.04]
                                   fraction of cpu_ns per group; prints 'name share'
  total  FILE [--expect-cpu-ns N --tol 0.10] [--min-count N] [--where K=V|K!=V ...]
              [--contains FUNC ...]
                                   total count and cpu_ns, and samples on '[libgoprof]'
                                   pseudo-frames (lost/dropped); --where/--contains: of the
                                   samples whose label K is (is not) V / whose stack has FUNC
  bylabel FILE --key K [--where K=V|K!=V ...] [--contains FUNC ...] [--leaf FUNC ...]
                                   count and cpu_ns per value of label K ('VALUE count cpu_ns')
  tree   FILE [--leader PID] [--min-followers N] [--max-followers N]
                                   a process tree's profile: every sample (but pseudo-samples
                                   of no process) has one numeric 'pid' and one string
                                   'process' label; samples of every pid but the leader's
                                   start with the root frame '[process: <process>]', the
                                   leader's have none (default leader: the one pid without);
                                   prints 'pid process count cpu_ns root' per process
  labels FILE [--require key[:num|:str] ...] [--require-value key=value ...]
                                   label keys, numeric or not, distinct values
  lines  FILE --mapping PATHSUFFIX [--system] [--file REGEXP]
                                   the locations of the mapping whose file ends with
                                   PATHSUFFIX as 'addr2line -i -f -a' prints them: per
                                   location its link-time address (0x%016x), then per line,
                                   innermost first, the function name (--system: name, TAB,
                                   system name) and FILE:LINE; sorted by address; --file:
                                   only locations with a line in a file matching REGEXP
  series FILE... [--min-files N] [--max-gap NS] [--expect-run]
                                   files that tile a run (GOPROF_INTERVAL): ordered, non-
                                   overlapping time ranges (gaps up to --max-gap ns); per-file
                                   and summed samples; --expect-run: the sums equal the last
                                   file's "run so far: samples N, lost M, unsampled U" comment exactly
`

func usage(w io.Writer) { fmt.Fprint(w, usageText) }

type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErr(format string, a ...interface{}) error {
	return &exitError{2, fmt.Sprintf(format, a...)}
}

func checkFail(format string, a ...interface{}) error {
	return &exitError{1, fmt.Sprintf(format, a...)}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmds := map[string]func([]string, io.Writer) error{
		"check":   cmdCheck,
		"dump":    cmdDump,
		"chain":   cmdChain,
		"share":   cmdShare,
		"total":   cmdTotal,
		"labels":  cmdLabels,
		"stacks":  cmdStacks,
		"series":  cmdSeries,
		"bylabel": cmdByLabel,
		"tree":    cmdTree,
		"lines":   cmdLines,
	}
	fn, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "profcheck: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	if err := fn(args[1:], stdout); err != nil {
		code := 2
		if ee, ok := err.(*exitError); ok {
			code = ee.code
		}
		if code == 1 {
			fmt.Fprintf(stderr, "profcheck %s: FAIL: %v\n", args[0], err)
		} else {
			fmt.Fprintf(stderr, "profcheck %s: error: %v\n", args[0], err)
		}
		return code
	}
	return 0
}

// ---- argument helpers ----

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// parseInterleaved lets flags and positional arguments mix: "FILE --leaf x" and
// "--leaf x FILE" both work. A literal "--" ends flag parsing.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageErr("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at the first non-flag or after "--"; detect the latter.
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func loadOne(fs *flag.FlagSet, args []string) (*Profile, string, error) {
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, "", err
	}
	if len(pos) != 1 {
		return nil, "", usageErr("want exactly one profile FILE, got %d arguments %q (see 'profcheck help')", len(pos), pos)
	}
	p, err := ParseFile(pos[0])
	if err != nil {
		return nil, "", &exitError{2, err.Error()}
	}
	return p, pos[0], nil
}

// ---- stacks ----

// Stack is one sample resolved to function names, root first.
type Stack struct {
	Frames []string
	Count  int64
	CPU    int64
	Labels []Label
	NLocs  int // locations (PCs) in the sample, before inline expansion
}

func (s *Stack) Leaf() string {
	if len(s.Frames) == 0 {
		return ""
	}
	return s.Frames[len(s.Frames)-1]
}

func (s *Stack) Contains(name string) bool {
	for _, f := range s.Frames {
		if f == name {
			return true
		}
	}
	return false
}

func (s *Stack) String() string { return strings.Join(s.Frames, ";") }

// valueIndexes finds which sample values hold the sample count and the CPU nanoseconds.
// cpuIdx == -1 with cpuPeriod > 0 means cpu = count * period.
func (p *Profile) valueIndexes() (countIdx, cpuIdx int, cpuPeriod int64, err error) {
	countIdx, cpuIdx = -1, -1
	for i, st := range p.SampleTypes {
		if countIdx < 0 && st.Type == "samples" {
			countIdx = i
		}
		if cpuIdx < 0 && st.Type == "cpu" && st.Unit == "nanoseconds" {
			cpuIdx = i
		}
	}
	if cpuIdx < 0 {
		for i, st := range p.SampleTypes {
			if st.Unit == "nanoseconds" {
				cpuIdx = i
				break
			}
		}
	}
	if countIdx < 0 && len(p.SampleTypes) > 0 && p.SampleTypes[0].Unit == "count" {
		countIdx = 0
	}
	if countIdx < 0 {
		return 0, 0, 0, fmt.Errorf("no 'samples' sample type (sample types: %s)", p.sampleTypesString())
	}
	if cpuIdx < 0 {
		if p.PeriodType != nil && p.PeriodType.Unit == "nanoseconds" && p.Period > 0 {
			return countIdx, -1, p.Period, nil
		}
		return 0, 0, 0, fmt.Errorf("no nanoseconds sample type and no nanoseconds period (sample types: %s)", p.sampleTypesString())
	}
	return countIdx, cpuIdx, 0, nil
}

func (p *Profile) sampleTypesString() string {
	var parts []string
	for _, st := range p.SampleTypes {
		parts = append(parts, st.Type+"/"+st.Unit)
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, " ")
}

func (p *Profile) frameName(l *Location, ln Line) string {
	f := p.funcByID[ln.FunctionID]
	if f.Name != "" {
		return f.Name
	}
	if f.SystemName != "" {
		return f.SystemName
	}
	return fmt.Sprintf("0x%x", l.Address)
}

// Stacks resolves every sample. Inline lines of one location are innermost first in the
// profile; the sample is leaf first; so walking both forwards gives a leaf-first list,
// which is then reversed (root first, the physical caller before its inlined callees).
func (p *Profile) Stacks() ([]Stack, error) {
	ci, pi, period, err := p.valueIndexes()
	if err != nil {
		return nil, err
	}
	out := make([]Stack, 0, len(p.Samples))
	for _, s := range p.Samples {
		var leafFirst []string
		for _, id := range s.LocationIDs {
			l := p.locByID[id]
			if len(l.Lines) == 0 {
				leafFirst = append(leafFirst, fmt.Sprintf("0x%x", l.Address))
				continue
			}
			for _, ln := range l.Lines {
				leafFirst = append(leafFirst, p.frameName(l, ln))
			}
		}
		st := Stack{Frames: make([]string, len(leafFirst)), Count: s.Values[ci], Labels: s.Labels, NLocs: len(s.LocationIDs)}
		for i, f := range leafFirst {
			st.Frames[len(leafFirst)-1-i] = f
		}
		if pi >= 0 {
			st.CPU = s.Values[pi]
		} else {
			st.CPU = st.Count * period
		}
		out = append(out, st)
	}
	return out, nil
}

func loadStacks(fs *flag.FlagSet, args []string) (*Profile, []Stack, error) {
	p, _, err := loadOne(fs, args)
	if err != nil {
		return nil, nil, err
	}
	st, err := p.Stacks()
	if err != nil {
		return nil, nil, &exitError{2, err.Error()}
	}
	return p, st, nil
}

func labelString(l Label) string {
	if l.IsNum {
		return l.Key + "=" + strconv.FormatInt(l.Num, 10)
	}
	return l.Key + "=" + l.Str
}

func labelsString(ls []Label) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = labelString(l)
	}
	return strings.Join(parts, " ")
}

// ---- check ----

func cmdCheck(args []string, w io.Writer) error {
	p, name, err := loadOne(newFlagSet("check"), args)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: ok: %d samples, %d locations, %d functions, %d mappings, sample types %s\n",
		name, len(p.Samples), len(p.Locations), len(p.Functions), len(p.Mappings), p.sampleTypesString())
	return nil
}

// ---- dump ----

func writeHeader(w io.Writer, name string, p *Profile) {
	fmt.Fprintf(w, "# file: %s\n", name)
	fmt.Fprintf(w, "# sample_types: %s\n", p.sampleTypesString())
	if p.DefaultSampleType != "" {
		fmt.Fprintf(w, "# default_sample_type: %s\n", p.DefaultSampleType)
	}
	pt := "(none)"
	if p.PeriodType != nil {
		pt = p.PeriodType.Type + "/" + p.PeriodType.Unit
	}
	fmt.Fprintf(w, "# period: %d %s\n", p.Period, pt)
	fmt.Fprintf(w, "# time_nanos: %d\n", p.TimeNanos)
	fmt.Fprintf(w, "# duration_nanos: %d\n", p.DurationNanos)
	for _, c := range p.Comments {
		fmt.Fprintf(w, "# comment: %s\n", c)
	}
	if p.DropFrames != "" {
		fmt.Fprintf(w, "# drop_frames: %s\n", p.DropFrames)
	}
	if p.KeepFrames != "" {
		fmt.Fprintf(w, "# keep_frames: %s\n", p.KeepFrames)
	}
	for _, m := range p.Mappings {
		bid := m.BuildID
		if bid == "" {
			bid = "-"
		}
		file := m.File
		if file == "" {
			file = "-"
		}
		fmt.Fprintf(w, "# mapping %d: 0x%x-0x%x offset=0x%x file=%s build_id=%s has_functions=%t has_filenames=%t has_line_numbers=%t has_inline_frames=%t\n",
			m.ID, m.Start, m.Limit, m.Offset, file, bid, m.HasFunctions, m.HasFilenames, m.HasLineNumbers, m.HasInlineFrames)
	}
	fmt.Fprintf(w, "# samples=%d locations=%d functions=%d mappings=%d strings=%d\n",
		len(p.Samples), len(p.Locations), len(p.Functions), len(p.Mappings), len(p.Strings))
}

func cmdDump(args []string, w io.Writer) error {
	fs := newFlagSet("dump")
	merge := fs.Bool("merge", false, "aggregate identical stack+labels")
	p, name, err := loadOne(fs, args)
	if err != nil {
		return err
	}
	stacks, err := p.Stacks()
	if err != nil {
		return &exitError{2, err.Error()}
	}
	writeHeader(w, name, p)
	if *merge {
		stacks = mergeStacks(stacks)
	}
	for i := range stacks {
		s := &stacks[i]
		ls := labelsString(s.Labels)
		if ls != "" {
			ls += " "
		}
		fmt.Fprintf(w, "%d %d %s| %s\n", s.Count, s.CPU, ls, s.String())
	}
	return nil
}

func mergeStacks(in []Stack) []Stack {
	idx := map[string]int{}
	var out []Stack
	for _, s := range in {
		key := labelsString(s.Labels) + "|" + s.String()
		if i, ok := idx[key]; ok {
			out[i].Count += s.Count
			out[i].CPU += s.CPU
			continue
		}
		idx[key] = len(out)
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out
}

// ---- chain ----

func splitPattern(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ";")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

type weighted struct {
	key   string
	count int64
}

func topN(m map[string]int64, n int) []weighted {
	var ws []weighted
	for k, v := range m {
		ws = append(ws, weighted{k, v})
	}
	sort.Slice(ws, func(i, j int) bool {
		if ws[i].count != ws[j].count {
			return ws[i].count > ws[j].count
		}
		return ws[i].key < ws[j].key
	})
	if len(ws) > n {
		ws = ws[:n]
	}
	return ws
}

func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func cmdChain(args []string, w io.Writer) error {
	fs := newFlagSet("chain")
	leaf := fs.String("leaf", "", "function name selecting samples (the leaf, or any frame with --contains)")
	expect := fs.String("expect", "", "expected chain root->leaf, ';'-separated; '...' = zero or more frames, '*' = one")
	contains := fs.Bool("contains", false, "select samples whose stack contains --leaf anywhere")
	min := fs.Float64("min", 0.99, "minimum matching fraction")
	minSamples := fs.Int64("min-samples", 20, "minimum selected sample count")
	_, stacks, err := loadStacks(fs, args)
	if err != nil {
		return err
	}
	if *leaf == "" || *expect == "" {
		return usageErr("chain needs --leaf NAME and --expect 'f1;...;fn'")
	}
	pat, perr := compilePattern(*expect)
	if perr != nil {
		return usageErr("--expect: %v", perr)
	}
	var total, matched, all int64
	bad := map[string]int64{}
	leaves := map[string]int64{}
	for i := range stacks {
		s := &stacks[i]
		all += s.Count
		leaves[s.Leaf()] += s.Count
		sel := s.Leaf() == *leaf
		if *contains {
			sel = s.Contains(*leaf)
		}
		if !sel {
			continue
		}
		total += s.Count
		if pat.Match(s.Frames) {
			matched += s.Count
		} else {
			bad[s.String()] += s.Count
		}
	}
	how := "leaf =="
	if *contains {
		how = "stack contains"
	}
	frac := pct(matched, total)
	fmt.Fprintf(w, "chain: %s %s: %d of %d samples (count) selected; %d match %q: %.4f (min %.4f, min-samples %d)\n",
		how, *leaf, total, all, matched, *expect, frac, *min, *minSamples)
	var reasons []string
	if total == 0 {
		fmt.Fprintf(w, "top leaf functions in the profile:\n")
		for _, t := range topN(leaves, 10) {
			fmt.Fprintf(w, "  %8d  %s\n", t.count, t.key)
		}
		return checkFail("no samples with %s %q (of %d samples in the profile)", how, *leaf, all)
	}
	if total < *minSamples {
		reasons = append(reasons, fmt.Sprintf("only %d samples with %s %q, need >= %d", total, how, *leaf, *minSamples))
	}
	if frac < *min {
		reasons = append(reasons, fmt.Sprintf("%.2f%% of samples with %s %q match the expected chain, need >= %.2f%%", 100*frac, how, *leaf, 100**min))
	}
	if len(bad) > 0 {
		fmt.Fprintf(w, "most common non-matching stacks (count, share of selected, root;...;leaf):\n")
		for _, t := range topN(bad, 5) {
			fmt.Fprintf(w, "  %8d %6.2f%%  %s\n", t.count, 100*pct(t.count, total), t.key)
		}
	}
	if len(reasons) > 0 {
		return checkFail("%s", strings.Join(reasons, "; "))
	}
	fmt.Fprintf(w, "PASS\n")
	return nil
}

// ---- share ----

type group struct {
	name string
	re   *regexp.Regexp
	cpu  int64
}

func cmdShare(args []string, w io.Writer) error {
	fs := newFlagSet("share")
	var groups, expects multiFlag
	fs.Var(&groups, "group", "name=regex (repeatable)")
	fs.Var(&expects, "expect", "name=fraction (repeatable)")
	by := fs.String("by", "leaf", "leaf: match the leaf function; contains: match any frame")
	denom := fs.String("denom", "total", "total: share of all cpu_ns; groups: share of cpu_ns in samples matching any group")
	tol := fs.Float64("tol", 0.04, "absolute tolerance for --expect")
	_, stacks, err := loadStacks(fs, args)
	if err != nil {
		return err
	}
	if len(groups) == 0 {
		return usageErr("share needs at least one --group name=regex")
	}
	if *by != "leaf" && *by != "contains" {
		return usageErr("--by must be leaf or contains, not %q", *by)
	}
	if *denom != "total" && *denom != "groups" {
		return usageErr("--denom must be total or groups, not %q", *denom)
	}
	var gs []*group
	byName := map[string]*group{}
	for _, g := range groups {
		i := strings.Index(g, "=")
		if i <= 0 {
			return usageErr("--group %q: want name=regex", g)
		}
		re, err := regexp.Compile(g[i+1:])
		if err != nil {
			return usageErr("--group %q: bad regex: %v", g, err)
		}
		if byName[g[:i]] != nil {
			return usageErr("--group %q: duplicate group name", g)
		}
		gg := &group{name: g[:i], re: re}
		gs = append(gs, gg)
		byName[gg.name] = gg
	}
	want := map[string]float64{}
	var wantOrder []string
	for _, e := range expects {
		i := strings.Index(e, "=")
		if i <= 0 {
			return usageErr("--expect %q: want name=fraction", e)
		}
		if byName[e[:i]] == nil {
			return usageErr("--expect %q: no --group named %q", e, e[:i])
		}
		v, err := strconv.ParseFloat(e[i+1:], 64)
		if err != nil {
			return usageErr("--expect %q: %v", e, err)
		}
		want[e[:i]] = v
		wantOrder = append(wantOrder, e[:i])
	}
	var total, anyGroup int64
	for i := range stacks {
		s := &stacks[i]
		total += s.CPU
		hit := false
		for _, g := range gs {
			m := false
			if *by == "leaf" {
				m = g.re.MatchString(s.Leaf())
			} else {
				for _, f := range s.Frames {
					if g.re.MatchString(f) {
						m = true
						break
					}
				}
			}
			if m {
				g.cpu += s.CPU
				hit = true
			}
		}
		if hit {
			anyGroup += s.CPU
		}
	}
	d := total
	if *denom == "groups" {
		d = anyGroup
	}
	fmt.Fprintf(w, "# by=%s denom=%s total_cpu_ns=%d groups_cpu_ns=%d denominator_cpu_ns=%d\n", *by, *denom, total, anyGroup, d)
	for _, g := range gs {
		fmt.Fprintf(w, "%s %.4f\n", g.name, pct(g.cpu, d))
	}
	if d == 0 {
		return checkFail("denominator is 0 cpu_ns (no samples%s)", map[bool]string{true: " matching any group", false: ""}[*denom == "groups"])
	}
	var reasons []string
	for _, name := range wantOrder {
		got := pct(byName[name].cpu, d)
		diff := got - want[name]
		if diff < 0 {
			diff = -diff
		}
		if diff > *tol {
			reasons = append(reasons, fmt.Sprintf("group %s has share %.4f, expected %.4f +- %.4f (off by %.4f)", name, got, want[name], *tol, diff))
		}
	}
	if len(reasons) > 0 {
		return checkFail("%s", strings.Join(reasons, "; "))
	}
	return nil
}

// ---- total ----

func cmdTotal(args []string, w io.Writer) error {
	fs := newFlagSet("total")
	expectCPU := fs.Int64("expect-cpu-ns", -1, "measured CPU ns to compare the total cpu_ns against")
	tol := fs.Float64("tol", 0.10, "relative tolerance for --expect-cpu-ns")
	tolLow := fs.Float64("tol-low", -1, "relative tolerance below --expect-cpu-ns (default: --tol)")
	minCount := fs.Int64("min-count", 0, "fail if the total sample count is below this")
	var filt sampleFilter
	filt.register(fs)
	_, stacks, err := loadStacks(fs, args)
	if err != nil {
		return err
	}
	if err := filt.compile(); err != nil {
		return err
	}
	stacks = filt.apply(stacks)
	if filt.active() {
		fmt.Fprintf(w, "# samples %s\n", filt.String())
	}
	var count, cpu, lostCount, lostCPU int64
	type acc struct{ count, cpu int64 }
	pseudo := map[string]*acc{}
	var pseudoOrder []string
	for i := range stacks {
		s := &stacks[i]
		count += s.Count
		cpu += s.CPU
		var hit []string
		for _, f := range s.Frames {
			if strings.HasPrefix(f, PseudoPrefix) {
				hit = append(hit, f)
			}
		}
		if len(hit) == 0 {
			continue
		}
		lostCount += s.Count
		lostCPU += s.CPU
		for _, f := range hit {
			a := pseudo[f]
			if a == nil {
				a = &acc{}
				pseudo[f] = a
				pseudoOrder = append(pseudoOrder, f)
			}
			a.count += s.Count
			a.cpu += s.CPU
		}
	}
	fmt.Fprintf(w, "records %d\n", len(stacks))
	fmt.Fprintf(w, "count %d\n", count)
	fmt.Fprintf(w, "cpu_ns %d\n", cpu)
	fmt.Fprintf(w, "lost_count %d\n", lostCount)
	fmt.Fprintf(w, "lost_cpu_ns %d\n", lostCPU)
	sort.Strings(pseudoOrder)
	for _, f := range pseudoOrder {
		fmt.Fprintf(w, "# pseudo-frame %q count=%d cpu_ns=%d\n", f, pseudo[f].count, pseudo[f].cpu)
	}
	var reasons []string
	if *expectCPU >= 0 {
		ratio := pct(cpu, *expectCPU)
		low := *tol
		if *tolLow >= 0 {
			low = *tolLow
		}
		fmt.Fprintf(w, "# sampled/measured cpu = %d/%d = %.4f (tolerance -%.2f +%.2f)\n", cpu, *expectCPU, ratio, low, *tol)
		if *expectCPU == 0 || ratio < 1-low || ratio > 1+*tol {
			reasons = append(reasons, fmt.Sprintf("sampled cpu_ns %d is %.1f%% of measured %d, want within -%.0f%% +%.0f%%", cpu, 100*ratio, *expectCPU, 100*low, 100**tol))
		}
	}
	if count < *minCount {
		reasons = append(reasons, fmt.Sprintf("total sample count %d < required %d", count, *minCount))
	}
	if len(reasons) > 0 {
		return checkFail("%s", strings.Join(reasons, "; "))
	}
	return nil
}

// ---- labels ----

func cmdLabels(args []string, w io.Writer) error {
	fs := newFlagSet("labels")
	var reqKeys, reqVals multiFlag
	fs.Var(&reqKeys, "require", "key, key:num or key:str that must be present (repeatable)")
	fs.Var(&reqVals, "require-value", "key=value that must occur (repeatable)")
	_, stacks, err := loadStacks(fs, args)
	if err != nil {
		return err
	}
	type keyInfo struct {
		num, str bool
		units    map[string]bool
		values   map[string]int64 // value -> sample count
	}
	keys := map[string]*keyInfo{}
	var order []string
	for i := range stacks {
		for _, l := range stacks[i].Labels {
			k := keys[l.Key]
			if k == nil {
				k = &keyInfo{units: map[string]bool{}, values: map[string]int64{}}
				keys[l.Key] = k
				order = append(order, l.Key)
			}
			if l.IsNum {
				k.num = true
				k.units[l.Unit] = true
				k.values[strconv.FormatInt(l.Num, 10)] += stacks[i].Count
			} else {
				k.str = true
				k.values[l.Str] += stacks[i].Count
			}
		}
	}
	sort.Strings(order)
	for _, name := range order {
		k := keys[name]
		kind := "str"
		switch {
		case k.num && k.str:
			kind = "mixed"
		case k.num:
			var us []string
			for u := range k.units {
				us = append(us, u)
			}
			sort.Strings(us)
			kind = "num(unit=" + strings.Join(us, ",") + ")"
		}
		fmt.Fprintf(w, "%s %s %d distinct:", name, kind, len(k.values))
		vals := topN(k.values, 20)
		for _, v := range vals {
			fmt.Fprintf(w, " %s(%d)", v.key, v.count)
		}
		if len(k.values) > len(vals) {
			fmt.Fprintf(w, " ...")
		}
		fmt.Fprintln(w)
	}
	if len(order) == 0 {
		fmt.Fprintln(w, "# no labels")
	}
	var reasons []string
	for _, r := range reqKeys {
		name, kind := r, ""
		if i := strings.LastIndex(r, ":"); i > 0 {
			name, kind = r[:i], r[i+1:]
		}
		if kind != "" && kind != "num" && kind != "str" {
			return usageErr("--require %q: kind must be num or str", r)
		}
		k := keys[name]
		switch {
		case k == nil:
			reasons = append(reasons, fmt.Sprintf("label key %q missing (keys present: %s)", name, strings.Join(order, ", ")))
		case kind == "num" && (!k.num || k.str):
			reasons = append(reasons, fmt.Sprintf("label key %q is not (only) numeric", name))
		case kind == "str" && (!k.str || k.num):
			reasons = append(reasons, fmt.Sprintf("label key %q is not (only) a string label", name))
		}
	}
	for _, r := range reqVals {
		i := strings.Index(r, "=")
		if i <= 0 {
			return usageErr("--require-value %q: want key=value", r)
		}
		k := keys[r[:i]]
		if k == nil {
			reasons = append(reasons, fmt.Sprintf("label key %q missing, so value %q absent", r[:i], r[i+1:]))
		} else if _, ok := k.values[r[i+1:]]; !ok {
			var vs []string
			for _, v := range topN(k.values, 10) {
				vs = append(vs, v.key)
			}
			reasons = append(reasons, fmt.Sprintf("label %q has no value %q (values: %s)", r[:i], r[i+1:], strings.Join(vs, ", ")))
		}
	}
	if len(reasons) > 0 {
		return checkFail("%s", strings.Join(reasons, "; "))
	}
	return nil
}
