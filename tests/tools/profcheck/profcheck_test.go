package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ---- a tiny protobuf encoder, independent of the decoder under test ----

type enc struct{ b []byte }

func (e *enc) varint(x uint64) {
	for x >= 0x80 {
		e.b = append(e.b, byte(x)|0x80)
		x >>= 7
	}
	e.b = append(e.b, byte(x))
}

func (e *enc) key(num, wt int) { e.varint(uint64(num)<<3 | uint64(wt)) }

func (e *enc) u(num int, x uint64) { e.key(num, 0); e.varint(x) }

func (e *enc) i(num int, x int64) { e.u(num, uint64(x)) }

func (e *enc) bytes(num int, b []byte) {
	e.key(num, 2)
	e.varint(uint64(len(b)))
	e.b = append(e.b, b...)
}

func (e *enc) msg(num int, f func(*enc)) {
	var sub enc
	f(&sub)
	e.bytes(num, sub.b)
}

func (e *enc) packed(num int, xs []uint64) {
	var sub enc
	for _, x := range xs {
		sub.varint(x)
	}
	e.bytes(num, sub.b)
}

// builder keeps a string table and emits Profile fields.
type builder struct {
	e       enc
	strs    []string
	strIdx  map[string]int
	noTable bool
}

func newBuilder() *builder {
	return &builder{strs: []string{""}, strIdx: map[string]int{"": 0}}
}

func (b *builder) s(x string) uint64 {
	if i, ok := b.strIdx[x]; ok {
		return uint64(i)
	}
	b.strIdx[x] = len(b.strs)
	b.strs = append(b.strs, x)
	return uint64(len(b.strs) - 1)
}

func (b *builder) valueType(num int, typ, unit string) {
	b.e.msg(num, func(e *enc) { e.u(1, b.s(typ)); e.u(2, b.s(unit)) })
}

func (b *builder) function(id uint64, name string) {
	b.e.msg(5, func(e *enc) {
		e.u(1, id)
		e.u(2, b.s(name))
		e.u(3, b.s(name))
		e.u(4, b.s("/src/x.c"))
		e.i(5, 10)
	})
}

// location with lines given innermost first as function ids.
func (b *builder) location(id, mapping, addr uint64, funcs ...uint64) {
	b.e.msg(4, func(e *enc) {
		e.u(1, id)
		e.u(2, mapping)
		e.u(3, addr)
		for i, f := range funcs {
			e.msg(4, func(l *enc) { l.u(1, f); l.i(2, int64(20+i)) })
		}
	})
}

type lab struct {
	key, str string
	num      int64
	unit     string
}

func (b *builder) sample(packed bool, locs []uint64, vals []int64, labels ...lab) {
	b.e.msg(2, func(e *enc) {
		if packed {
			e.packed(1, locs)
			vs := make([]uint64, len(vals))
			for i, v := range vals {
				vs[i] = uint64(v)
			}
			e.packed(2, vs)
		} else {
			for _, l := range locs {
				e.u(1, l)
			}
			for _, v := range vals {
				e.i(2, v)
			}
		}
		for _, l := range labels {
			e.msg(3, func(le *enc) {
				le.u(1, b.s(l.key))
				if l.str != "" {
					le.u(2, b.s(l.str))
				} else {
					if l.num != 0 {
						le.i(3, l.num)
					}
					if l.unit != "" {
						le.u(4, b.s(l.unit))
					}
				}
			})
		}
	})
}

func (b *builder) bytes() []byte {
	out := enc{b: append([]byte(nil), b.e.b...)}
	if !b.noTable {
		for _, s := range b.strs {
			out.bytes(6, []byte(s))
		}
	}
	return out.b
}

const period = 10000000

// Function ids.
const (
	fStart = iota + 1
	fMain
	fWorkA
	fLeafA
	fInl
	fWorker
	fLeafB
	fLost
)

// baseProfile: the C-threads shape plus an inlined frame and a lost pseudo-frame.
//
//	loc 1: leaf_a            loc 2: work_a   loc 3: main   loc 4: _start
//	loc 5: inl_callee (inlined into) work_a, i.e. lines [inl_callee, work_a]
//	loc 6: leaf_b            loc 7: worker
//	loc 8: [libgoprof] lost: ring full
func baseProfile() *builder {
	b := newBuilder()
	b.e.i(9, 1700000000000000000) // time_nanos first, like Go
	b.valueType(1, "samples", "count")
	b.valueType(1, "cpu", "nanoseconds")
	b.e.msg(3, func(e *enc) {
		e.u(1, 1)
		e.u(2, 0x400000)
		e.u(3, 0x500000)
		e.u(4, 0)
		e.u(5, b.s("/bin/app"))
		e.u(6, b.s("abcdef"))
		e.u(7, 1)
	})
	for id, name := range map[uint64]string{fStart: "_start", fMain: "main", fWorkA: "work_a", fLeafA: "leaf_a",
		fInl: "inl_callee", fWorker: "worker", fLeafB: "leaf_b", fLost: "[libgoprof] lost: ring full"} {
		b.function(id, name)
	}
	b.location(1, 1, 0x401000, fLeafA)
	b.location(2, 1, 0x402000, fWorkA)
	b.location(3, 1, 0x403000, fMain)
	b.location(4, 1, 0x404000, fStart)
	b.location(5, 1, 0x405000, fInl, fWorkA)
	b.location(6, 1, 0x406000, fLeafB)
	b.location(7, 1, 0x407000, fWorker)
	b.location(8, 0, 0, fLost)
	tidMain := lab{key: "thread_id", num: 100, unit: "tid"}
	tidWorker := lab{key: "thread_id", num: 101, unit: "tid"}
	// 70 samples main;work_a;leaf_a (packed), 2 records.
	b.sample(true, []uint64{1, 2, 3, 4}, []int64{40, 40 * period}, tidMain, lab{key: "thread_name", str: "app"})
	b.sample(false, []uint64{1, 2, 3, 4}, []int64{30, 30 * period}, tidMain, lab{key: "thread_name", str: "app"})
	// 5 samples of leaf_a with a broken stack (no main).
	b.sample(true, []uint64{1, 4}, []int64{5, 5 * period}, tidMain, lab{key: "thread_name", str: "app"})
	// 20 samples in the inlined callee: inl_callee's location says [inl_callee, work_a].
	b.sample(true, []uint64{5, 3, 4}, []int64{20, 20 * period}, tidMain, lab{key: "thread_name", str: "app"})
	// 25 samples on the worker thread.
	b.sample(false, []uint64{6, 7}, []int64{25, 25 * period}, tidWorker, lab{key: "thread_name", str: "worker"},
		lab{key: "zero", num: 0}) // dropped, like pprof does
	// 3 lost samples.
	b.sample(true, []uint64{8}, []int64{3, 3 * period})
	b.e.i(10, 2000000000)
	b.valueType(11, "cpu", "nanoseconds")
	b.e.i(12, period)
	b.e.packed(13, []uint64{b.s("libgoprof 0.1.0 hz=100")})
	return b
}

func writeTemp(t *testing.T, data []byte, gz bool) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "p.pb")
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(data)
		zw.Close()
		data = buf.Bytes()
		name += ".gz"
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestDump(t *testing.T) {
	for _, gz := range []bool{false, true} {
		f := writeTemp(t, baseProfile().bytes(), gz)
		code, out, errs := runCmd(t, "dump", f)
		if code != 0 {
			t.Fatalf("gz=%v: dump exit %d: %s", gz, code, errs)
		}
		var body []string
		header := map[string]bool{}
		for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
			if strings.HasPrefix(l, "#") {
				header[l] = true
				continue
			}
			body = append(body, l)
		}
		want := []string{
			"40 400000000 thread_id=100 thread_name=app | _start;main;work_a;leaf_a",
			"30 300000000 thread_id=100 thread_name=app | _start;main;work_a;leaf_a",
			"5 50000000 thread_id=100 thread_name=app | _start;leaf_a",
			"20 200000000 thread_id=100 thread_name=app | _start;main;work_a;inl_callee",
			"25 250000000 thread_id=101 thread_name=worker | worker;leaf_b",
			"3 30000000 | [libgoprof] lost: ring full",
		}
		if strings.Join(body, "\n") != strings.Join(want, "\n") {
			t.Errorf("gz=%v: dump body:\n%s\nwant:\n%s", gz, strings.Join(body, "\n"), strings.Join(want, "\n"))
		}
		for _, h := range []string{
			"# sample_types: samples/count cpu/nanoseconds",
			"# period: 10000000 cpu/nanoseconds",
			"# duration_nanos: 2000000000",
			"# comment: libgoprof 0.1.0 hz=100",
			"# mapping 1: 0x400000-0x500000 offset=0x0 file=/bin/app build_id=abcdef has_functions=true has_filenames=false has_line_numbers=false has_inline_frames=false",
		} {
			if !header[h] {
				t.Errorf("gz=%v: header line missing: %q\nheader: %v", gz, h, header)
			}
		}
	}
}

func TestDumpMerge(t *testing.T) {
	f := writeTemp(t, baseProfile().bytes(), true)
	_, out, _ := runCmd(t, "dump", "--merge", f)
	if !strings.Contains(out, "\n70 700000000 thread_id=100 thread_name=app | _start;main;work_a;leaf_a\n") {
		t.Errorf("merge did not aggregate:\n%s", out)
	}
}

func TestMatchPattern(t *testing.T) {
	fr := strings.Split("a;b;c;d", ";")
	for _, tc := range []struct {
		pat  string
		want bool
	}{
		{"a;b;c;d", true},
		{"...;c;d", true},
		{"...;a;b;c;d", true},
		{"a;...;d", true},
		{"a;b;c;d;...", true},
		{"...", true},
		{"...;b;...;d", true},
		{"*;b;*;d", true},
		{"b;c;d", false},
		{"a;b;c", false},
		{"...;b;d", false},
		{"a;...;c", false},
		{"...;x;...", false},
	} {
		if got := matchPattern(splitPattern(tc.pat), fr); got != tc.want {
			t.Errorf("matchPattern(%q, a;b;c;d) = %v, want %v", tc.pat, got, tc.want)
		}
	}
	if !matchPattern(splitPattern("..."), nil) || matchPattern(splitPattern("a"), nil) {
		t.Errorf("empty stack handling wrong")
	}
}

func TestChain(t *testing.T) {
	f := writeTemp(t, baseProfile().bytes(), true)
	// leaf_a: 75 samples, 70 match -> 93.3 %.
	code, out, errs := runCmd(t, "chain", f, "--leaf", "leaf_a", "--expect", "...;main;work_a;leaf_a")
	if code != 1 {
		t.Fatalf("chain at min 0.99 should fail, exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "75 of 123 samples (count) selected; 70 match") {
		t.Errorf("chain summary wrong:\n%s", out)
	}
	if !strings.Contains(out, "5   6.67%  _start;leaf_a") {
		t.Errorf("non-matching stack not listed:\n%s", out)
	}
	if !strings.Contains(errs, "93.33% of samples with leaf == \"leaf_a\" match the expected chain, need >= 99.00%") {
		t.Errorf("failure reason unclear: %q", errs)
	}
	code, _, errs = runCmd(t, "chain", f, "--leaf", "leaf_a", "--expect", "...;main;work_a;leaf_a", "--min", "0.9")
	if code != 0 {
		t.Errorf("chain at min 0.9 should pass, exit %d: %s", code, errs)
	}
	// Inline order: physical work_a before inlined inl_callee.
	code, _, errs = runCmd(t, "chain", f, "--leaf", "inl_callee", "--expect", "_start;main;work_a;inl_callee", "--min-samples", "20")
	if code != 0 {
		t.Errorf("inline chain should pass, exit %d: %s", code, errs)
	}
	// min-samples.
	code, _, errs = runCmd(t, "chain", f, "--leaf", "leaf_b", "--expect", "...;worker;leaf_b", "--min-samples", "30")
	if code != 1 || !strings.Contains(errs, "only 25 samples") {
		t.Errorf("min-samples not enforced: exit %d: %s", code, errs)
	}
	// --contains: all samples with work_a anywhere (70 + 20), pattern allowing any leaf.
	code, out, errs = runCmd(t, "chain", f, "--contains", "--leaf", "work_a", "--expect", "_start;main;work_a;*")
	if code != 0 || !strings.Contains(out, "90 of 123") {
		t.Errorf("--contains: exit %d\n%s%s", code, out, errs)
	}
	// Unknown leaf: fails and lists leaves.
	code, out, errs = runCmd(t, "chain", f, "--leaf", "nope", "--expect", "...;nope")
	if code != 1 || !strings.Contains(errs, "no samples with leaf == \"nope\"") || !strings.Contains(out, "leaf_a") {
		t.Errorf("unknown leaf: exit %d\n%s%s", code, out, errs)
	}
	// Missing flags is a usage error.
	if code, _, _ = runCmd(t, "chain", f, "--leaf", "x"); code != 2 {
		t.Errorf("missing --expect: exit %d, want 2", code)
	}
}

func TestShare(t *testing.T) {
	f := writeTemp(t, baseProfile().bytes(), false)
	code, out, errs := runCmd(t, "share", f, "--group", "a=^leaf_a$", "--group", "b=^leaf_b$")
	if code != 0 {
		t.Fatalf("share exit %d: %s", code, errs)
	}
	// total cpu = 123 samples; a = 75, b = 25.
	if !strings.Contains(out, "\na 0.6098\nb 0.2033\n") {
		t.Errorf("share by total:\n%s", out)
	}
	code, out, _ = runCmd(t, "share", f, "--group", "a=^leaf_a$", "--group", "b=^leaf_b$", "--denom", "groups",
		"--expect", "a=0.75", "--expect", "b=0.25", "--tol", "0.001")
	if code != 0 || !strings.Contains(out, "\na 0.7500\nb 0.2500\n") {
		t.Errorf("share by groups: exit %d\n%s", code, out)
	}
	code, out, _ = runCmd(t, "share", f, "--by", "contains", "--group", "main=^main$")
	if code != 0 || !strings.Contains(out, "\nmain 0.7317\n") { // 90/123
		t.Errorf("share by contains: exit %d\n%s", code, out)
	}
	code, _, errs = runCmd(t, "share", f, "--group", "a=^leaf_a$", "--expect", "a=0.75", "--tol", "0.04")
	if code != 1 || !strings.Contains(errs, "group a has share 0.6098, expected 0.7500") {
		t.Errorf("share expect failure: exit %d: %s", code, errs)
	}
	if code, _, _ = runCmd(t, "share", f, "--group", "a=("); code != 2 {
		t.Errorf("bad regex: exit %d, want 2", code)
	}
}

func TestTotalAndLabels(t *testing.T) {
	f := writeTemp(t, baseProfile().bytes(), true)
	code, out, errs := runCmd(t, "total", f)
	if code != 0 {
		t.Fatalf("total exit %d: %s", code, errs)
	}
	for _, w := range []string{"count 123\n", "cpu_ns 1230000000\n", "lost_count 3\n", "lost_cpu_ns 30000000\n",
		"# pseudo-frame \"[libgoprof] lost: ring full\" count=3 cpu_ns=30000000\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("total output lacks %q:\n%s", w, out)
		}
	}
	if code, _, errs = runCmd(t, "total", f, "--expect-cpu-ns", "1200000000", "--tol", "0.10"); code != 0 {
		t.Errorf("total within tolerance failed: %s", errs)
	}
	if code, _, errs = runCmd(t, "total", f, "--expect-cpu-ns", "2000000000"); code != 1 || !strings.Contains(errs, "61.5% of measured") {
		t.Errorf("total out of tolerance: exit %d: %s", code, errs)
	}
	if code, _, errs = runCmd(t, "total", f, "--min-count", "200"); code != 1 {
		t.Errorf("min-count: exit %d: %s", code, errs)
	}

	code, out, errs = runCmd(t, "labels", f, "--require", "thread_id:num", "--require", "thread_name:str", "--require-value", "thread_name=worker")
	if code != 0 {
		t.Fatalf("labels exit %d: %s\n%s", code, errs, out)
	}
	if !strings.Contains(out, "thread_id num(unit=tid) 2 distinct: 100(95) 101(25)\n") ||
		!strings.Contains(out, "thread_name str 2 distinct: app(95) worker(25)\n") || strings.Contains(out, "zero") {
		t.Errorf("labels output:\n%s", out)
	}
	code, _, errs = runCmd(t, "labels", f, "--require", "thread_name:num", "--require-value", "thread_name=io", "--require", "goroutine")
	if code != 1 || !strings.Contains(errs, `label "thread_name" has no value "io"`) ||
		!strings.Contains(errs, `label key "goroutine" missing`) || !strings.Contains(errs, "not (only) numeric") {
		t.Errorf("labels failures: exit %d: %s", code, errs)
	}
}

func TestValidation(t *testing.T) {
	cases := []struct {
		name string
		mk   func() []byte
		want string
	}{
		{"empty string table", func() []byte { b := baseProfile(); b.noTable = true; return b.bytes() }, "string table missing"},
		{"string0 not empty", func() []byte {
			b := baseProfile()
			b.strs[0] = "x"
			return b.bytes()
		}, "string_table[0]"},
		{"dangling location", func() []byte {
			b := baseProfile()
			b.sample(true, []uint64{99}, []int64{1, period})
			return b.bytes()
		}, "location_id 99 does not resolve"},
		{"line without function", func() []byte {
			b := baseProfile()
			b.location(9, 1, 0x1, 77)
			return b.bytes()
		}, "location id: 9 line[0] has nil function"},
		{"duplicate location", func() []byte {
			b := baseProfile()
			b.location(1, 1, 0x1, fMain)
			return b.bytes()
		}, "multiple locations with same id: 1"},
		{"duplicate function", func() []byte {
			b := baseProfile()
			b.function(fMain, "again")
			return b.bytes()
		}, "multiple functions with same id"},
		{"mapping id 0", func() []byte {
			b := baseProfile()
			b.e.msg(3, func(e *enc) { e.u(2, 1) })
			return b.bytes()
		}, "mapping[1] has reserved ID=0"},
		{"value count", func() []byte {
			b := baseProfile()
			b.sample(true, []uint64{1}, []int64{1})
			return b.bytes()
		}, "has 1 values vs. 2 types"},
		{"time twice", func() []byte {
			b := baseProfile()
			b.e.i(9, 5)
			return b.bytes()
		}, "concatenated profiles"},
		{"bad string index", func() []byte {
			b := baseProfile()
			b.e.msg(5, func(e *enc) { e.u(1, 50); e.u(2, 9999) })
			return b.bytes()
		}, "string index 9999 out of range"},
		{"truncated", func() []byte { d := baseProfile().bytes(); return d[:len(d)-3] }, "decoding protobuf"},
	}
	for _, tc := range cases {
		f := writeTemp(t, tc.mk(), true)
		code, _, errs := runCmd(t, "dump", f)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want code 2 containing %q", tc.name, code, errs, tc.want)
		}
	}
	// A dangling mapping_id is accepted, as by pprof.
	b := baseProfile()
	b.location(9, 42, 0x1, fMain)
	if code, _, errs := runCmd(t, "check", writeTemp(t, b.bytes(), false)); code != 0 {
		t.Errorf("dangling mapping_id rejected: %s", errs)
	}
}

func TestUsage(t *testing.T) {
	if code, _, _ := runCmd(t); code != 2 {
		t.Errorf("no args: exit %d", code)
	}
	if code, _, errs := runCmd(t, "bogus"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("bogus command: %d %s", code, errs)
	}
	if code, _, errs := runCmd(t, "dump", "/nonexistent/x"); code != 2 || !strings.Contains(errs, "no such file") {
		t.Errorf("missing file: %d %s", code, errs)
	}
}

// ---- stacks corpus: patterns, expect files, roots, Go comparison ----

// stackProfile builds a profile from root-first ';'-separated stacks with counts, one
// location per distinct frame name; file gives every function's file name (Go's profile
// has .go files). Period 2 ms.
func stackProfile(file string, stacks map[string]int64) []byte {
	b := newBuilder()
	b.valueType(1, "samples", "count")
	b.valueType(1, "cpu", "nanoseconds")
	ids := map[string]uint64{}
	var order []string
	for s := range stacks {
		order = append(order, s)
	}
	sortStrings(order)
	for _, s := range order {
		for _, f := range strings.Split(s, ";") {
			if _, ok := ids[f]; !ok {
				id := uint64(len(ids) + 1)
				ids[f] = id
				b.e.msg(5, func(e *enc) {
					e.u(1, id)
					e.u(2, b.s(f))
					e.u(4, b.s(file))
				})
				b.location(id, 0, 0x1000*id, id)
			}
		}
	}
	for _, s := range order {
		fr := strings.Split(s, ";")
		locs := make([]uint64, len(fr))
		for i, f := range fr {
			locs[len(fr)-1-i] = ids[f]
		}
		b.sample(true, locs, []int64{stacks[s], stacks[s] * 2000000})
	}
	b.valueType(11, "cpu", "nanoseconds")
	b.e.i(12, 2000000)
	b.e.packed(13, []uint64{b.s("libgoprof test, go1.26.1")})
	return b.bytes()
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		glob, name string
		want       bool
	}{
		{"main.f", "main.f", true},
		{"main.f", "main.fg", false},
		{"*", "", true},
		{"*", "anything", true},
		{"_cgo_*_Cfunc_c_outer", "_cgo_af2778569c98_Cfunc_c_outer", true},
		{"_cgo_*_Cfunc_c_outer", "_cgo_af2778569c98_Cfunc_c_outer2", false},
		{"_cgo_*_Cfunc_c_outer", "x_cgo_a_Cfunc_c_outer", false},
		{"runtime.gcBgMarkWorker.func*", "runtime.gcBgMarkWorker.func2", true},
		{"runtime.gcBgMarkWorker.func*", "runtime.gcBgMarkWorker", false},
		{"*clone*", "__clone3", true},
		{"*clone*", "start_thread", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"0x*", "0x4cf076", true},
		{"main.f[...]", "main.f[...]", true}, // '[' is literal
	} {
		if got := globMatch(tc.glob, tc.name); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.glob, tc.name, got, tc.want)
		}
	}
}

func TestPatternTokens(t *testing.T) {
	fr := strings.Split("runtime.goexit;main.worker;main.recurse;main.recurse;main.recurse;runtime.morestack;runtime.newstack;runtime.memmove", ";")
	for _, tc := range []struct {
		pat  string
		want bool
	}{
		{"runtime.goexit;main.worker;main.recurse+;runtime.morestack;runtime.newstack;...", true},
		{"runtime.goexit;main.worker;main.recurse;runtime.morestack;...", false}, // three recurse frames
		{"runtime.goexit;main.worker;main.recurse+;runtime.newstack;...", false}, // morestack missing
		{"runtime.goexit;main.worker;main.recurse+;main.recurse;main.recurse;runtime.morestack;...", true},
		{"runtime.goexit;main.worker;main.*+;runtime.*+", true},
		{"runtime.goexit;main.wrapper?;main.worker;...", true},
		{"runtime.goexit;main.worker?;main.worker;...", true},
		{"runtime.goexit;main.worker?;main.recurse+;...", true},
		{"runtime.goexit; main.worker ;...; runtime.memmove", true}, // spaces around tokens
		{"...;runtime.memmove", true},
		{"...;runtime.memmove;...", true},
		{"runtime.goexit;*;*;*;*;*;*;*", true},
		{"runtime.goexit;*;*;*;*;*;*", false},
	} {
		p, err := compilePattern(tc.pat)
		if err != nil {
			t.Fatalf("compilePattern(%q): %v", tc.pat, err)
		}
		if got := p.Match(fr); got != tc.want {
			t.Errorf("%q: match = %v, want %v", tc.pat, got, tc.want)
		}
	}
	for _, bad := range []string{"", "a;;b", "a;b;", " ; "} {
		if _, err := compilePattern(bad); err == nil {
			t.Errorf("compilePattern(%q) accepted", bad)
		}
	}
	// '+' needs at least one frame, '?' none.
	if mustPattern("x+").Match(nil) || !mustPattern("x?").Match(nil) || !mustPattern("x+").Match([]string{"x", "x"}) {
		t.Errorf("empty-stack handling of x+ / x? wrong")
	}
}

const testExpect = `# comment
variants default pie  stripped   # trailing comment
check-frameless main.leaf
check-inlined main.outer main.middle main.inner
duration-factor 2
go-tol 4
go-exclude runtime.mcall runtime.park_m

leaf c_inner
    runtime.goexit;runtime.main;main.main;
    main.caller;_cgo_*_Cfunc_c;c_inner
[v=stripped] has runtime.asmcgocall ...;runtime.asmcgocall;0x*
[v!=stripped,go>=1.23] has main.x
    main.y;... | main.z;...
        | main.w
[go<1.23] leaf main.x main.x
[go<1.26] never ...;main.f;...;main.f;...
    | ...;main.g;main.h;...
`

func TestParseExpect(t *testing.T) {
	ef, err := parseExpect(strings.NewReader(testExpect))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ef.Variants, ",") != "default,pie,stripped" || strings.Join(ef.Frameless, ",") != "main.leaf" ||
		len(ef.Inlined) != 1 || strings.Join(ef.Inlined[0], ",") != "main.outer,main.middle,main.inner" ||
		ef.DurationX != 2 || ef.GoTol != 0.04 || strings.Join(ef.GoExclude, ",") != "runtime.mcall,runtime.park_m" {
		t.Errorf("directives: %+v", ef)
	}
	if len(ef.Expectations) != 5 {
		t.Fatalf("%d expectations, want 5", len(ef.Expectations))
	}
	if n := ef.Expectations[4]; n.Kind != "never" || n.Selector != "" || len(n.Patterns) != 2 ||
		!n.Selects([]string{"x"}) || !n.Matches(strings.Split("a;main.f;b;main.f", ";")) ||
		n.Matches(strings.Split("a;main.f;b", ";")) || !n.Matches(strings.Split("main.g;main.h", ";")) {
		t.Errorf("never line: %+v", n)
	}
	e := ef.Expectations[0]
	if e.Line != 9 || e.Kind != "leaf" || e.Selector != "c_inner" || len(e.Patterns) != 1 ||
		e.Patterns[0].String() != "runtime.goexit;runtime.main;main.main; main.caller;_cgo_*_Cfunc_c;c_inner" {
		t.Errorf("expectation 0: %+v %q", e, e.Patterns[0].String())
	}
	if !e.Matches(strings.Split("runtime.goexit;runtime.main;main.main;main.caller;_cgo_12ab_Cfunc_c;c_inner", ";")) {
		t.Errorf("continued pattern does not match")
	}
	if alts := ef.Expectations[2].Patterns; len(alts) != 3 || alts[2].String() != "main.w" {
		t.Errorf("alternatives: %v", alts)
	}
	for _, tc := range []struct {
		i       int
		variant string
		minor   int
		want    bool
	}{
		{1, "stripped", 21, true}, {1, "pie", 21, false},
		{2, "default", 23, true}, {2, "default", 22, false}, {2, "stripped", 26, false},
		{3, "pie", 21, true}, {3, "pie", 23, false},
	} {
		got, err := ef.Expectations[tc.i].Applies(tc.variant, tc.minor)
		if err != nil || got != tc.want {
			t.Errorf("expectation %d applies(%s, 1.%d) = %v, %v; want %v", tc.i, tc.variant, tc.minor, got, err, tc.want)
		}
	}
	if _, err := ef.Expectations[2].Applies("default", 0); err == nil {
		t.Errorf("a go condition without a Go version must be an error")
	}
	for _, bad := range []string{
		"bogus x y",
		"leaf c_inner",
		"    continuation first",
		"[v=pie leaf a b",
		"[x=1] leaf a b",
		"[v=pie] variants a",
		"leaf a b;;c",
		"check-inlined main.outer",
		"duration-factor 0\nleaf a b",
		"duration-factor x\nleaf a b",
		"go-tol 0\nleaf a b",
		"go-tol x\nleaf a b",
		"go-exclude\nleaf a b",
		"never",
		"never a;;b",
		"variants default", // no expectation at all
	} {
		if _, err := parseExpect(strings.NewReader(bad)); err == nil {
			t.Errorf("parseExpect(%q) accepted", bad)
		}
	}
}

func TestRootEnd(t *testing.T) {
	for _, tc := range []struct {
		stack string
		legal bool
		end   string
	}{
		{"runtime.goexit;runtime.main;main.main", true, "runtime.goexit"},
		{"runtime.mstart;runtime.mstart0;runtime.sysmon", true, "runtime.mstart"},
		{"runtime.mcall;runtime.park_m;runtime.schedule", true, "runtime.mcall"},
		{"runtime.rt0_go;runtime.schedinit", true, "runtime.rt0_go"},
		{"_start;__libc_start_main;main;work", true, "_start"},
		{"__clone3;start_thread;worker;leaf", true, "__clone3"},
		{"start_thread;worker", true, "start_thread"},
		{"x;y;start_thread;worker", false, "x"},
		{"runtime.morestack;runtime.newstack", false, "runtime.morestack"},
		{"runtime.morestack;runtime.newstack;runtime.gopreempt_m;runtime.goschedImpl", true, "runtime.morestack"},
		{"0x7ffc1f9f83af;crosscall2;runtime.cgocallback", false, "0x7ffc1f9f83af"},
		{"[libgoprof] truncated: deeper than 65536 frames;main.f", false, "[libgoprof] truncated: deeper than 65536 frames after main.f"},
		{"[libgoprof] incomplete: the unwinder stopped here;main.f;main.g", false, "[libgoprof] incomplete: the unwinder stopped here after main.f"},
		{"[libgoprof] incomplete: the unwinder stopped here", false, "[libgoprof] incomplete: the unwinder stopped here"},
	} {
		legal, end := rootEnd(strings.Split(tc.stack, ";"))
		if legal != tc.legal || end != tc.end {
			t.Errorf("rootEnd(%s) = %v %q, want %v %q", tc.stack, legal, end, tc.legal, tc.end)
		}
	}
	if legal, _ := rootEnd(nil); legal {
		t.Errorf("empty stack is legal")
	}
}

func TestGoViews(t *testing.T) {
	g := newGoFuncs(nil)
	g.known["gcWriteBarrier"] = true
	g.noteGoStacks([]Stack{{Frames: []string{"runtime.bgsweep", "runtime.sweepone"}},
		{Frames: []string{"main.main.func1", "main.work"}}})
	for _, tc := range []struct {
		name string
		isGo bool
	}{
		{"main.main", true}, {"runtime.(*unwinder).next", true}, {"runtime/pprof.profileWriter", true},
		{"github.com/a/b.(*T).M", true}, {"gopkg.in/yaml.v3.Unmarshal", true}, {"type:.eq.main.T", true},
		{"_cgoexp_04859f59fa7a_goCb", true}, {"gcWriteBarrier", true},
		{"c_inner", false}, {"crosscall2", false}, {"_cgo_af27_Cfunc_c_outer", false}, {"0x4cf076", false},
		{"c_inner.cold", false}, {"foo.part.0", false}, {"bar.constprop.2", false}, {"memcpy@@GLIBC_2.14", false},
		{"__clone3", false}, {"runtime._ExternalCode", false}, {"[libgoprof] lost: ring full", false},
	} {
		if got := g.isGo(tc.name); got != tc.isGo {
			t.Errorf("isGo(%q) = %v, want %v", tc.name, got, tc.isGo)
		}
	}
	ours := []struct{ stack, view, why string }{
		// C time: cut at the leaf-most asmcgocall, so the leaf is runtime.cgocall.
		{"runtime.goexit;runtime.main;main.main;main._Cfunc_c;runtime.cgocall;runtime.asmcgocall;_cgo_x_Cfunc_c;c_outer;c_inner",
			"runtime.main;main.main;main._Cfunc_c;runtime.cgocall", ""},
		// Go code in a callback keeps its frames; the outer asmcgocall and C frames go.
		{"runtime.goexit;main.path;main._Cfunc_c;runtime.cgocall;runtime.asmcgocall;c_call_go;goCb;crosscall2;runtime.cgocallback;runtime.cgocallbackg;runtime.cgocallbackg;runtime.cgocallbackg1;_cgoexp_1_goCb;main.goCb;main.spin",
			"main.path;main._Cfunc_c;runtime.cgocall;runtime.cgocallback;runtime.cgocallbackg;runtime.cgocallbackg;runtime.cgocallbackg1;_cgoexp_1_goCb;main.goCb;main.spin", ""},
		// ... and C called from that callback is cut at the inner asmcgocall.
		{"__clone3;start_thread;c_thread;goCb;crosscall2;runtime.cgocallback;runtime.cgocallbackg1;main.goCb;main._Cfunc_leaf;runtime.cgocall;runtime.asmcgocall;_cgo_1_Cfunc_leaf;leaf",
			"runtime.cgocallback;runtime.cgocallbackg1;main.goCb;main._Cfunc_leaf;runtime.cgocall", ""},
		// Hidden frames and wrappers.
		{"runtime.goexit;main.main.gowrap1;main.worker;main.recurse;runtime.morestack;runtime.newstack;runtime.memmove",
			"main.worker;main.recurse;runtime.newstack;runtime.memmove", ""},
		{"runtime.goexit;runtime.main;main.main;main.leaf;runtime.asyncPreempt", "runtime.main;main.main;main.leaf", ""},
		// A Go 1.21 go-statement wrapper (Go's profile shows bgsweep as a root, never the
		// wrapper), and an ordinary goroutine closure (Go's profile shows it).
		{"runtime.goexit;runtime.gcenable.func1;runtime.bgsweep;runtime.sweepone", "runtime.bgsweep;runtime.sweepone", ""},
		{"runtime.goexit;main.main.func1;main.work", "main.main.func1;main.work", ""},
		{"runtime.goexit;runtime.main;main.main;main.churn;gcWriteBarrier;runtime.wbBufFlush", "runtime.main;main.main;main.churn;gcWriteBarrier;runtime.wbBufFlush", ""},
		// Exclusions.
		{"__clone3;start_thread;c_thread;c_spin", "", "no Go function"},
		{"runtime.mstart;runtime.mstart0;runtime.mstart1;runtime.sysmon;runtime.usleep", "", "sysmon (never sampled by Go)"},
		{"runtime.goexit;runtime.main;main.main;runtime.Callers;runtime.callers;runtime.systemstack", "", "leaf runtime.systemstack"},
		{"[libgoprof] lost: ring full", "", "on a [libgoprof] pseudo-frame"},
	}
	for _, tc := range ours {
		v, why := g.oursView(strings.Split(tc.stack, ";"))
		if strings.Join(v, ";") != tc.view || why != tc.why {
			t.Errorf("oursView(%s) = %q %q, want %q %q", tc.stack, strings.Join(v, ";"), why, tc.view, tc.why)
		}
	}
	goStacks := []struct {
		stack string
		nlocs int
		view  string
		why   string
	}{
		{"main.path;main._Cfunc_c;runtime.cgocall;runtime.systemstack_switch;runtime.cgocallback;main.goCb", 6,
			"main.path;main._Cfunc_c;runtime.cgocall;runtime.cgocallback;main.goCb", ""},
		{"main.main.func1;runtime._ExternalCode", 2, "", "on runtime._ExternalCode"},
		{"runtime.futex;runtime._System", 2, "", "on runtime._System"},
		{"runtime.systemstack;runtime.callers.func1;runtime.tracebackPCs", 3, "", "traceback stopped at runtime.systemstack"},
		{"runtime.systemstack", 1, "", "leaf runtime.systemstack"},
		{"main.recurse;main.recurse", 64, "", "at Go's 64-frame limit"},
	}
	for _, tc := range goStacks {
		s := Stack{Frames: strings.Split(tc.stack, ";"), NLocs: tc.nlocs}
		v, why := g.goView(&s)
		if strings.Join(v, ";") != tc.view || why != tc.why {
			t.Errorf("goView(%s) = %q %q, want %q %q", tc.stack, strings.Join(v, ";"), why, tc.view, tc.why)
		}
	}
}

func stacksOf(m map[string]int64) []Stack {
	var out []Stack
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	for _, k := range keys {
		fr := strings.Split(k, ";")
		out = append(out, Stack{Frames: fr, Count: m[k], CPU: m[k] * 2000000, NLocs: len(fr)})
	}
	return out
}

func TestCompareWithGo(t *testing.T) {
	cCall := "runtime.goexit;runtime.main;main.main;main.caller;main._Cfunc_c;runtime.cgocall;runtime.asmcgocall;_cgo_1_Cfunc_c;c_inner"
	goSpin := "runtime.goexit;runtime.main;main.main;main.spin"
	ours := stacksOf(map[string]int64{cCall: 600, goSpin: 380, "runtime.mstart;runtime.sysmon;runtime.usleep": 50})
	goC := "runtime.main;main.main;main.caller;main._Cfunc_c;runtime.cgocall"
	goS := "runtime.main;main.main;main.spin"
	theirs := stacksOf(map[string]int64{goC: 290, goS: 200, "runtime.futex;runtime._System": 5})
	c := compareWithGo(ours, nil, theirs, 0.03, 0.05, 100, nil)
	// ours: 980 compared (sysmon excluded): cgocall 61.2 %, spin 38.8 %; Go: 490: 59.2 % / 40.8 %.
	if !c.OK() {
		var b bytes.Buffer
		c.Write(&b)
		t.Fatalf("comparison failed:\n%s", b.String())
	}
	if c.Ours.compared != 980*2000000 || c.Go.compared != 490*2000000 || c.Ours.excluded["sysmon (never sampled by Go)"] != 50*2000000 {
		t.Errorf("compared/excluded: ours %d %v, go %d", c.Ours.compared, c.Ours.excluded, c.Go.compared)
	}
	want := map[string]bool{"runtime.main": true, "main.main": true, "main.caller": true, "main._Cfunc_c": true,
		"runtime.cgocall": true, "main.spin": true}
	if len(c.Rows) != len(want) {
		t.Errorf("rows: %+v", c.Rows)
	}
	for _, r := range c.Rows {
		if !want[r.fn] {
			t.Errorf("unexpected row %s", r.fn)
		}
	}
	// Our broken C stacks (stopping at asmcgocall) have no Go function left, so they are not
	// compared: the C share drops from 61 % to 44 % and main.caller's with it.
	broken := stacksOf(map[string]int64{cCall: 300, "runtime.asmcgocall;_cgo_1_Cfunc_c;c_inner": 300, goSpin: 380})
	c = compareWithGo(broken, nil, theirs, 0.03, 0.05, 100, nil)
	if c.OK() {
		t.Fatalf("broken stacks passed the comparison")
	}
	var b bytes.Buffer
	c.Write(&b)
	for _, w := range []string{"main.caller cum 44.1% vs Go's 59.2%", "excluded: no Go function 30.6%", "Go comparison: FAIL"} {
		if !strings.Contains(b.String(), w) && !strings.Contains(strings.Join(c.Failures, "; "), w) {
			t.Errorf("comparison output lacks %q:\n%s", w, b.String())
		}
	}
	// Too few comparable samples.
	c = compareWithGo(ours, nil, stacksOf(map[string]int64{goS: 10}), 0.03, 0.05, 100, nil)
	if c.OK() || !strings.Contains(strings.Join(c.Failures, ";"), "only 10 samples of Go's profile") {
		t.Errorf("min samples not enforced: %v", c.Failures)
	}
	// go-exclude: a scheduler path with 20 points more in ours than in Go's fails the
	// comparison, and passes once its samples are left out on both sides.
	sched := "runtime.mstart;runtime.mcall;runtime.goexit0;runtime.schedule"
	goSched := "runtime.mcall;runtime.goexit0;runtime.schedule"
	oursS := stacksOf(map[string]int64{goSpin: 600, sched: 400})
	theirsS := stacksOf(map[string]int64{goS: 400, goSched: 100})
	if c = compareWithGo(oursS, nil, theirsS, 0.03, 0.05, 100, nil); c.OK() {
		t.Errorf("a 20-point scheduler gap passed")
	}
	c = compareWithGo(oursS, nil, theirsS, 0.03, 0.05, 100, []string{"runtime.mcall"})
	if !c.OK() || c.Ours.excluded["under runtime.mcall (go-exclude)"] != 400*2000000 ||
		c.Go.excluded["under runtime.mcall (go-exclude)"] != 100*2000000 {
		t.Errorf("go-exclude: ok %v, ours %v, go %v, %v", c.OK(), c.Ours.excluded, c.Go.excluded, c.Failures)
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStacksCommand(t *testing.T) {
	full := "runtime.goexit;runtime.main;main.main;main.caller;main._Cfunc_c;runtime.cgocall;runtime.asmcgocall;_cgo_ab12_Cfunc_c;c_outer;c_inner"
	prof := writeTemp(t, stackProfile("", map[string]int64{
		full: 1000,
		"runtime.asmcgocall;_cgo_ab12_Cfunc_c;c_outer;c_inner": 4, // broken: ends at asmcgocall
		"runtime.goexit;runtime.main;main.main;main.caller":    30,
		"__clone3;start_thread;c_thread;c_spin":                20,
		"[libgoprof] lost: ring full":                          7,
	}), true)
	goProf := writeTemp(t, stackProfile("/go/src/x.go", map[string]int64{
		"runtime.main;main.main;main.caller;main._Cfunc_c;runtime.cgocall": 480,
		"runtime.main;main.main;main.caller":                               14,
	}), true)
	expect := writeFile(t, "expect", `
leaf c_inner
    runtime.goexit;runtime.main;main.main;main.caller;main._Cfunc_c;runtime.cgocall;
    runtime.asmcgocall;_cgo_*_Cfunc_c;c_outer;c_inner
has main.caller runtime.goexit;runtime.main;main.main;main.caller;...
[v=pie] leaf c_spin __clone3;start_thread;c_thread;c_spin
[go>=1.27] leaf nothing x
`)
	code, out, errs := runCmd(t, "stacks", prof, "--expect", expect, "--gopprof", goProf, "--label", "t/default")
	// 1000 of 1004 c_inner samples match (99.60 %); 1050 of 1054 non-lost samples end at a
	// legal root (99.62 %); the Go shares agree.
	if code != 0 {
		t.Fatalf("stacks: exit %d\n%s%s", code, out, errs)
	}
	for _, w := range []string{
		"== t/default: 1061 samples (7 lost), 99.62% of the others end at a legal root (min 99.50%)",
		"line 2   leaf c_inner                         selected   1004  match   99.60%  PASS",
		"line 5   has main.caller                      selected   1030  match  100.00%  PASS",
		"4× ended at runtime.asmcgocall   e.g. runtime.asmcgocall;_cgo_ab12_Cfunc_c;c_outer;c_inner",
		"ours:   1030 samples compared",
		"Go comparison: ok",
		"RESULT label=t/default samples=1061 match=99.60 worst=line2 root=99.62 go=ok verdict=PASS",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "c_spin") && strings.Contains(out, "leaf c_spin") {
		t.Errorf("[v=pie] line applied to the default variant:\n%s", out)
	}
	// Stricter targets fail, and say why.
	code, out, errs = runCmd(t, "stacks", prof, "--expect", expect, "--min-root", "0.999", "--min-match", "0.999")
	if code != 1 || !strings.Contains(errs, "99.62% of samples end at a legal root, need 99.90%") ||
		!strings.Contains(errs, "line 2 (leaf c_inner): 99.60% match, need 99.90%") ||
		!strings.Contains(out, "expected: runtime.goexit;") || !strings.Contains(out, "verdict=FAIL") {
		t.Errorf("stricter targets: exit %d\n%s%s", code, out, errs)
	}
	// The pie variant: c_spin is selected (20 samples, all match).
	code, out, _ = runCmd(t, "stacks", prof, "--expect", expect, "--variant", "pie")
	if code != 0 || !strings.Contains(out, "leaf c_spin                          selected     20  match  100.00%  PASS") {
		t.Errorf("variant pie: exit %d\n%s", code, out)
	}
	// A wrong expectation fails: c_middle is not in the stacks.
	wrong := writeFile(t, "wrong", "leaf c_inner ...;c_outer;c_middle;c_inner\n")
	code, out, errs = runCmd(t, "stacks", prof, "--expect", wrong)
	if code != 1 || !strings.Contains(errs, "0.00% match") || !strings.Contains(out, "1000  runtime.goexit;runtime.main") {
		t.Errorf("wrong expectation: exit %d\n%s%s", code, out, errs)
	}
	// A 'never' line fails on a single sample; min-samples does not apply to it.
	never := writeFile(t, "never", "has main.caller runtime.goexit;...\nnever ...;c_outer;c_inner\n")
	code, out, errs = runCmd(t, "stacks", prof, "--expect", never)
	if code != 1 || !strings.Contains(errs, "line 2 (never): 1004 samples match") ||
		!strings.Contains(out, "1000  runtime.goexit;runtime.main") {
		t.Errorf("never line: exit %d\n%s%s", code, out, errs)
	}
	never = writeFile(t, "never2", "has main.caller runtime.goexit;...\nnever ...;c_outer;c_outer;...\n")
	if code, out, errs = runCmd(t, "stacks", prof, "--expect", never); code != 0 ||
		!strings.Contains(out, "match  100.00%  PASS") {
		t.Errorf("never line, nothing matching: exit %d\n%s%s", code, out, errs)
	}
	// Too few selected samples.
	few := writeFile(t, "few", "leaf c_spin ...;c_spin\n")
	if code, _, errs = runCmd(t, "stacks", prof, "--expect", few, "--min-samples", "21"); code != 1 || !strings.Contains(errs, "only 20 samples selected, need 21") {
		t.Errorf("min-samples: exit %d: %s", code, errs)
	}
	// The Go comparison can fail on its own.
	goSkewed := writeTemp(t, stackProfile("/go/src/x.go", map[string]int64{
		"runtime.main;main.main;main.caller;main._Cfunc_c;runtime.cgocall": 400,
		"runtime.main;main.main;main.caller":                               100,
	}), true)
	code, out, errs = runCmd(t, "stacks", prof, "--expect", expect, "--gopprof", goSkewed)
	if code != 1 || !strings.Contains(errs, "runtime.cgocall flat 97.1% vs Go's 80.0%") || !strings.Contains(out, "go=FAIL") {
		t.Errorf("skewed Go profile: exit %d\n%s%s", code, out, errs)
	}
	// Usage errors.
	if code, _, _ = runCmd(t, "stacks", prof); code != 2 {
		t.Errorf("no --expect: exit %d", code)
	}
	if code, _, _ = runCmd(t, "stacks", prof, "--expect", writeFile(t, "bad", "leaf x\n")); code != 2 {
		t.Errorf("bad expect file: exit %d", code)
	}
	if code, _, _ = runCmd(t, "stacks", prof, "--expect", writeFile(t, "none", "[v=pie] leaf x y\n")); code != 2 {
		t.Errorf("no applicable expectation: exit %d", code)
	}
}

func TestBrokenSummary(t *testing.T) {
	rs := rootStats([]Stack{
		{Frames: []string{"runtime.goexit", "main.main"}, Count: 10},
		{Frames: []string{"runtime.morestack", "runtime.newstack", "runtime.copystack"}, Count: 3},
		{Frames: []string{PseudoPrefix + " incomplete: the unwinder stopped here", "main.f", "main.g"}, Count: 2},
	})
	if got, want := brokenSummary(rs), "runtime.morestack×3,incomplete@main.f×2"; got != want {
		t.Errorf("brokenSummary = %q, want %q", got, want)
	}
	if got := brokenSummary(rootStats([]Stack{{Frames: []string{"runtime.goexit"}, Count: 1}})); got != "-" {
		t.Errorf("brokenSummary of a clean profile = %q, want -", got)
	}
}
