// tree.go -- profiles of a process tree (one session for a program and its descendants):
// sample filters by label (--where), 'profcheck bylabel' (CPU per label value) and
// 'profcheck tree' (the per-process labels and root frames are consistent).
//
// A tree profile labels every sample with its process: numeric "pid" and string "process"
// (the program's short name). The samples of every process but the session's leader start
// with one extra root frame "[process: NAME]", NAME being the process label; the leader's
// stacks are the process's own.
package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// ProcessFramePrefix starts the root frame that names a follower process.
const ProcessFramePrefix = "[process: "

// ---- sample filters: --where KEY=VALUE, --where KEY!=VALUE, --contains FUNC ----

type whereCond struct {
	key, value string
	neg        bool
}

func (c whereCond) String() string {
	if c.neg {
		return c.key + "!=" + c.value
	}
	return c.key + "=" + c.value
}

// sampleFilter selects samples: all conditions must hold. A "!=" condition holds for a
// sample without the key; a "=" condition does not.
type sampleFilter struct {
	where    multiFlag
	contains multiFlag
	leaf     multiFlag
	conds    []whereCond
}

func (f *sampleFilter) register(fs *flag.FlagSet) {
	fs.Var(&f.where, "where", "KEY=VALUE or KEY!=VALUE: only samples whose label matches (repeatable, all must hold)")
	fs.Var(&f.contains, "contains", "FUNC: only samples whose stack contains FUNC (repeatable, all must hold)")
	fs.Var(&f.leaf, "leaf", "FUNC: only samples whose leaf frame is FUNC (repeatable, any may hold)")
}

func (f *sampleFilter) compile() error {
	f.conds = nil
	for _, w := range f.where {
		var c whereCond
		if i := strings.Index(w, "!="); i > 0 {
			c = whereCond{key: w[:i], value: w[i+2:], neg: true}
		} else if i := strings.Index(w, "="); i > 0 {
			c = whereCond{key: w[:i], value: w[i+1:]}
		} else {
			return usageErr("--where %q: want KEY=VALUE or KEY!=VALUE", w)
		}
		f.conds = append(f.conds, c)
	}
	return nil
}

func (f *sampleFilter) active() bool {
	return len(f.conds) > 0 || len(f.contains) > 0 || len(f.leaf) > 0
}

func (f *sampleFilter) String() string {
	var parts []string
	for _, c := range f.conds {
		parts = append(parts, "where "+c.String())
	}
	for _, c := range f.contains {
		parts = append(parts, "contains "+c)
	}
	if len(f.leaf) > 0 {
		parts = append(parts, "leaf "+strings.Join(f.leaf, " or "))
	}
	return strings.Join(parts, ", ")
}

// labelValue: the sample's value for key as text, and whether it has the key.
func labelValue(s *Stack, key string) (string, bool) {
	for _, l := range s.Labels {
		if l.Key != key {
			continue
		}
		if l.IsNum {
			return strconv.FormatInt(l.Num, 10), true
		}
		return l.Str, true
	}
	return "", false
}

func (f *sampleFilter) match(s *Stack) bool {
	for _, c := range f.conds {
		v, ok := labelValue(s, c.key)
		if c.neg {
			if ok && v == c.value {
				return false
			}
		} else if !ok || v != c.value {
			return false
		}
	}
	for _, fn := range f.contains {
		if !s.Contains(fn) {
			return false
		}
	}
	if len(f.leaf) == 0 {
		return true
	}
	for _, fn := range f.leaf {
		if s.Leaf() == fn {
			return true
		}
	}
	return false
}

func (f *sampleFilter) apply(in []Stack) []Stack {
	if !f.active() {
		return in
	}
	var out []Stack
	for i := range in {
		if f.match(&in[i]) {
			out = append(out, in[i])
		}
	}
	return out
}

// ---- bylabel ----

func cmdByLabel(args []string, w io.Writer) error {
	fs := newFlagSet("bylabel")
	key := fs.String("key", "", "label key to group by")
	var filt sampleFilter
	filt.register(fs)
	_, stacks, err := loadStacks(fs, args)
	if err != nil {
		return err
	}
	if *key == "" {
		return usageErr("bylabel needs --key KEY")
	}
	if err := filt.compile(); err != nil {
		return err
	}
	stacks = filt.apply(stacks)
	type acc struct {
		value      string
		count, cpu int64
	}
	byVal := map[string]*acc{}
	var without acc
	for i := range stacks {
		s := &stacks[i]
		v, ok := labelValue(s, *key)
		if !ok {
			without.count += s.Count
			without.cpu += s.CPU
			continue
		}
		a := byVal[v]
		if a == nil {
			a = &acc{value: v}
			byVal[v] = a
		}
		a.count += s.Count
		a.cpu += s.CPU
	}
	var list []*acc
	for _, a := range byVal {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].cpu != list[j].cpu {
			return list[i].cpu > list[j].cpu
		}
		return list[i].value < list[j].value
	})
	if filt.active() {
		fmt.Fprintf(w, "# samples %s\n", filt.String())
	}
	fmt.Fprintf(w, "# %s count cpu_ns\n", *key)
	for _, a := range list {
		fmt.Fprintf(w, "%s %d %d\n", a.value, a.count, a.cpu)
	}
	fmt.Fprintf(w, "# without %s: count %d cpu_ns %d\n", *key, without.count, without.cpu)
	return nil
}

// ---- tree ----

// pseudoOnly: every frame is one of libgoprof's pseudo-frames (a lost or dropped count of the
// whole session, which belongs to no process).
func pseudoOnly(frames []string) bool {
	if len(frames) == 0 {
		return false
	}
	for _, f := range frames {
		if !strings.HasPrefix(f, PseudoPrefix) {
			return false
		}
	}
	return true
}

func cmdTree(args []string, w io.Writer) error {
	fs := newFlagSet("tree")
	leader := fs.Int64("leader", -1, "the leader's pid (default: the one pid whose samples have no [process: ] root)")
	minFollowers := fs.Int("min-followers", 0, "fail unless at least this many follower pids have samples")
	maxFollowers := fs.Int("max-followers", -1, "fail if more than this many follower pids have samples")
	_, stacks, err := loadStacks(fs, args)
	if err != nil {
		return err
	}
	type acc struct {
		pid           int64
		process, root string
		count, cpu    int64
	}
	rows := map[string]*acc{}
	var order []string
	var reasons []string
	bad := map[string]int64{}
	addBad := func(why string, s *Stack) {
		k := why + ": " + labelsString(s.Labels) + " | " + shorten(s.String(), 160)
		bad[k] += s.Count
	}
	var unattributed, unattributedCPU int64
	leaderPids := map[int64]int64{}
	followerPids := map[int64]int64{}
	for i := range stacks {
		s := &stacks[i]
		if pseudoOnly(s.Frames) {
			unattributed += s.Count
			unattributedCPU += s.CPU
			continue
		}
		var pid int64
		var proc string
		npid, nproc := 0, 0
		pidOK, procOK := true, true
		for _, l := range s.Labels {
			switch l.Key {
			case "pid":
				npid++
				pid = l.Num
				pidOK = pidOK && l.IsNum
			case "process":
				nproc++
				proc = l.Str
				procOK = procOK && !l.IsNum
			}
		}
		if npid != 1 || !pidOK {
			addBad("not exactly one numeric pid label", s)
			continue
		}
		if nproc != 1 || !procOK || proc == "" {
			addBad("not exactly one non-empty string process label", s)
			continue
		}
		nRoot := 0
		for j, f := range s.Frames {
			if strings.HasPrefix(f, ProcessFramePrefix) {
				nRoot++
				if j != 0 {
					addBad(fmt.Sprintf("%q not the root frame", f), s)
				}
			}
		}
		if nRoot > 1 {
			addBad(fmt.Sprintf("%d [process: ] frames", nRoot), s)
		}
		root := ""
		if nRoot > 0 && strings.HasPrefix(s.Frames[0], ProcessFramePrefix) {
			root = s.Frames[0]
			if want := ProcessFramePrefix + proc + "]"; root != want {
				addBad(fmt.Sprintf("root frame %q, want %q (the process label)", root, want), s)
			}
			followerPids[pid] += s.Count
		} else {
			leaderPids[pid] += s.Count
		}
		key := fmt.Sprintf("%d\x00%s\x00%s", pid, proc, root)
		a := rows[key]
		if a == nil {
			a = &acc{pid: pid, process: proc, root: root}
			rows[key] = a
			order = append(order, key)
		}
		a.count += s.Count
		a.cpu += s.CPU
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := rows[order[i]], rows[order[j]]
		if a.pid != b.pid {
			return a.pid < b.pid
		}
		return order[i] < order[j]
	})
	fmt.Fprintf(w, "# pid process count cpu_ns root\n")
	for _, k := range order {
		a := rows[k]
		root := a.root
		if root == "" {
			root = "-"
		}
		fmt.Fprintf(w, "%d %s %d %d %s\n", a.pid, a.process, a.count, a.cpu, root)
	}
	fmt.Fprintf(w, "# leader pids %d, follower pids %d, pseudo-samples of no process: count %d cpu_ns %d\n",
		len(leaderPids), len(followerPids), unattributed, unattributedCPU)
	if *leader >= 0 {
		for pid := range leaderPids {
			if pid != *leader {
				reasons = append(reasons, fmt.Sprintf("pid %d (not the leader %d) has %d samples without a [process: ] root", pid, *leader, leaderPids[pid]))
			}
		}
		if n := followerPids[*leader]; n > 0 {
			reasons = append(reasons, fmt.Sprintf("the leader %d has %d samples under a [process: ] root", *leader, n))
		}
	} else if len(leaderPids) > 1 {
		var ps []string
		for pid := range leaderPids {
			ps = append(ps, strconv.FormatInt(pid, 10))
		}
		sort.Strings(ps)
		reasons = append(reasons, fmt.Sprintf("%d pids have samples without a [process: ] root (%s): one leader expected", len(ps), strings.Join(ps, " ")))
	}
	for pid := range followerPids {
		if leaderPids[pid] > 0 && *leader < 0 {
			reasons = append(reasons, fmt.Sprintf("pid %d has samples with and without a [process: ] root", pid))
		}
	}
	if len(followerPids) < *minFollowers {
		reasons = append(reasons, fmt.Sprintf("%d follower pids with samples, want >= %d", len(followerPids), *minFollowers))
	}
	if *maxFollowers >= 0 && len(followerPids) > *maxFollowers {
		reasons = append(reasons, fmt.Sprintf("%d follower pids with samples, want <= %d", len(followerPids), *maxFollowers))
	}
	if len(bad) > 0 {
		var n int64
		for _, c := range bad {
			n += c
		}
		reasons = append(reasons, fmt.Sprintf("%d samples with inconsistent process labels or root frames", n))
		fmt.Fprintf(w, "inconsistent samples (count, why: labels | stack):\n")
		for _, t := range topN(bad, 8) {
			fmt.Fprintf(w, "  %8d  %s\n", t.count, t.key)
		}
	}
	if len(stacks) == 0 {
		reasons = append(reasons, "no samples")
	}
	if len(reasons) > 0 {
		sort.Strings(reasons)
		return checkFail("%s", strings.Join(reasons, "; "))
	}
	return nil
}
