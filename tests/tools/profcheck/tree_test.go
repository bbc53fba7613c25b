package main

import (
	"strings"
	"testing"
)

// treeProfile: a leader (pid 10, "app") and two followers (pid 11 and 12, "worker"), plus a
// session-wide lost pseudo-sample without labels. bad adds inconsistent samples.
//
//	loc 1: main   loc 2: work   loc 3: [process: worker]   loc 4: [libgoprof] lost: ring full
//	loc 5: [process: other]
func treeProfile(bad bool) []byte {
	b := newBuilder()
	b.valueType(1, "samples", "count")
	b.valueType(1, "cpu", "nanoseconds")
	for id, name := range map[uint64]string{1: "main", 2: "work", 3: "[process: worker]",
		4: "[libgoprof] lost: ring full", 5: "[process: other]"} {
		b.function(id, name)
	}
	for id := uint64(1); id <= 5; id++ {
		b.location(id, 0, 0x1000*id, id)
	}
	pid := func(n int64) lab { return lab{key: "pid", num: n} }
	proc := func(s string) lab { return lab{key: "process", str: s} }
	b.sample(true, []uint64{2, 1}, []int64{40, 40 * period}, pid(10), proc("app"))
	b.sample(true, []uint64{2, 1, 3}, []int64{30, 30 * period}, pid(11), proc("worker"))
	b.sample(true, []uint64{2, 1, 3}, []int64{20, 20 * period}, pid(12), proc("worker"))
	b.sample(true, []uint64{4}, []int64{2, 2 * period})
	if bad {
		// a follower's root names another process; a leader-less second pid; no labels.
		b.sample(true, []uint64{2, 1, 5}, []int64{5, 5 * period}, pid(13), proc("worker"))
		b.sample(true, []uint64{2, 1}, []int64{6, 6 * period}, pid(14), proc("app"))
		b.sample(true, []uint64{2, 1}, []int64{7, 7 * period})
	}
	b.valueType(11, "cpu", "nanoseconds")
	b.e.i(12, period)
	return b.bytes()
}

func TestTree(t *testing.T) {
	f := writeTemp(t, treeProfile(false), true)
	code, out, errs := runCmd(t, "tree", f, "--min-followers", "2")
	if code != 0 {
		t.Fatalf("tree exit %d: %s\n%s", code, errs, out)
	}
	for _, w := range []string{"10 app 40 400000000 -\n", "11 worker 30 300000000 [process: worker]\n",
		"12 worker 20 200000000 [process: worker]\n", "# leader pids 1, follower pids 2, pseudo-samples of no process: count 2 cpu_ns 20000000\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("tree output lacks %q:\n%s", w, out)
		}
	}
	if code, _, errs = runCmd(t, "tree", f, "--leader", "10", "--max-followers", "2"); code != 0 {
		t.Errorf("tree --leader 10: exit %d: %s", code, errs)
	}
	if code, _, errs = runCmd(t, "tree", f, "--leader", "11"); code != 1 ||
		!strings.Contains(errs, "pid 10 (not the leader 11) has 40 samples") ||
		!strings.Contains(errs, "the leader 11 has 30 samples under a [process: ] root") {
		t.Errorf("tree --leader 11: exit %d: %s", code, errs)
	}
	if code, _, errs = runCmd(t, "tree", f, "--max-followers", "1", "--min-followers", "3"); code != 1 ||
		!strings.Contains(errs, "2 follower pids with samples, want <= 1") || !strings.Contains(errs, "want >= 3") {
		t.Errorf("tree follower bounds: exit %d: %s", code, errs)
	}

	f = writeTemp(t, treeProfile(true), false)
	code, out, errs = runCmd(t, "tree", f)
	if code != 1 || !strings.Contains(errs, "2 pids have samples without a [process: ] root (10 14)") ||
		!strings.Contains(errs, "12 samples with inconsistent process labels or root frames") ||
		!strings.Contains(out, `root frame "[process: other]", want "[process: worker]"`) ||
		!strings.Contains(out, "not exactly one numeric pid label") {
		t.Errorf("tree on a bad profile: exit %d: %s\n%s", code, errs, out)
	}
}

func TestWhereAndByLabel(t *testing.T) {
	f := writeTemp(t, treeProfile(false), true)
	code, out, errs := runCmd(t, "total", f, "--where", "pid!=10", "--expect-cpu-ns", "520000000", "--tol", "0.01")
	if code != 0 || !strings.Contains(out, "count 52\n") || !strings.Contains(out, "# samples where pid!=10\n") {
		t.Errorf("total --where pid!=10 (unlabelled samples count): exit %d: %s\n%s", code, errs, out)
	}
	code, out, errs = runCmd(t, "total", f, "--where", "process=worker", "--where", "pid=12")
	if code != 0 || !strings.Contains(out, "count 20\n") {
		t.Errorf("total --where process=worker --where pid=12: exit %d: %s\n%s", code, errs, out)
	}
	code, out, _ = runCmd(t, "total", f, "--contains", "[process: worker]")
	if code != 0 || !strings.Contains(out, "count 50\n") {
		t.Errorf("total --contains: exit %d:\n%s", code, out)
	}
	if code, _, _ = runCmd(t, "total", f, "--where", "pid"); code != 2 {
		t.Errorf("total --where pid: exit %d, want 2", code)
	}
	code, out, errs = runCmd(t, "bylabel", f, "--key", "pid")
	if code != 0 || !strings.Contains(out, "10 40 400000000\n11 30 300000000\n12 20 200000000\n# without pid: count 2 cpu_ns 20000000\n") {
		t.Errorf("bylabel --key pid: exit %d: %s\n%s", code, errs, out)
	}
	code, out, _ = runCmd(t, "bylabel", f, "--key", "process", "--where", "pid!=10")
	if code != 0 || !strings.Contains(out, "# samples where pid!=10\n# process count cpu_ns\nworker 50 500000000\n# without process: count 2") {
		t.Errorf("bylabel --key process --where: exit %d:\n%s", code, out)
	}
	if code, _, _ = runCmd(t, "bylabel", f); code != 2 {
		t.Errorf("bylabel without --key: exit %d, want 2", code)
	}
}
