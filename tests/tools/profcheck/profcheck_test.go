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
