// expect.go -- the stacks corpus' expect files (format: tests/stacks/README).
//
//	# comment (from '#' to the end of the line)
//	variants default pie stripped        build variants, for the harness
//	check-frameless main.leaf            harness: objdump shows no PUSHQ BP in main.leaf
//	check-inlined main.outer main.f ...  harness: main.outer contains no CALL to main.f ...
//	duration-factor N                    harness: run N times LIBGOPROF_STACKS_SECONDS
//	go-tol POINTS                        Go comparison tolerance for this program (default 3)
//	go-exclude FUNC ...                  Go comparison: leave out, on both sides, the samples
//	                                     with any of these functions on their stack
//	[COND,...] leaf GLOB PATTERN [| PATTERN ...]
//	[COND,...] has GLOB PATTERN [| PATTERN ...]
//	[COND,...] never PATTERN [| PATTERN ...]
//
// 'leaf GLOB' selects the samples whose leaf frame matches GLOB, 'has GLOB' those with any
// frame matching GLOB; each selected sample must match one of the patterns (pattern.go).
// 'never' selects every sample, and none may match any of its patterns (no tolerance).
// A line that starts with whitespace continues the previous one (joined with a space, which
// the pattern syntax ignores around ';' and '|'; so break a line there, not inside a name). COND is v=VARIANT, v!=VARIANT,
// go>=1.NN or go<1.NN; all conditions of a line must hold for it to apply.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Expectation is one 'leaf' or 'has' line.
type Expectation struct {
	Line     int
	Conds    []string
	Kind     string // "leaf", "has" or "never"
	Selector string // glob; "" for never
	Patterns []*Pattern
}

func (e *Expectation) Name() string {
	if e.Kind == "never" {
		return "never " + e.Patterns[0].String()
	}
	return e.Kind + " " + e.Selector
}

// Selects reports whether the expectation applies to this sample.
func (e *Expectation) Selects(frames []string) bool {
	if len(frames) == 0 {
		return false
	}
	switch e.Kind {
	case "never":
		return true
	case "leaf":
		return globMatch(e.Selector, frames[len(frames)-1])
	}
	for _, f := range frames {
		if globMatch(e.Selector, f) {
			return true
		}
	}
	return false
}

// Matches reports whether frames match one of the patterns.
func (e *Expectation) Matches(frames []string) bool {
	for _, p := range e.Patterns {
		if p.Match(frames) {
			return true
		}
	}
	return false
}

// Applies evaluates the line's conditions for a variant and a Go minor version (0 when
// unknown: then a go condition is an error).
func (e *Expectation) Applies(variant string, goMinor int) (bool, error) {
	for _, c := range e.Conds {
		ok, err := evalCond(c, variant, goMinor)
		if err != nil {
			return false, fmt.Errorf("line %d: %v", e.Line, err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func evalCond(c, variant string, goMinor int) (bool, error) {
	switch {
	case strings.HasPrefix(c, "v!="):
		return variant != c[3:], nil
	case strings.HasPrefix(c, "v="):
		return variant == c[2:], nil
	case strings.HasPrefix(c, "go>="), strings.HasPrefix(c, "go<"):
		ge := strings.HasPrefix(c, "go>=")
		v := strings.TrimPrefix(strings.TrimPrefix(c, "go>="), "go<")
		minor, err := parseGoMinor(v)
		if err != nil {
			return false, fmt.Errorf("condition %q: %v", c, err)
		}
		if goMinor == 0 {
			return false, fmt.Errorf("condition %q needs the Go version (--go 1.NN)", c)
		}
		if ge {
			return goMinor >= minor, nil
		}
		return goMinor < minor, nil
	}
	return false, fmt.Errorf("unknown condition %q (want v=NAME, v!=NAME, go>=1.NN or go<1.NN)", c)
}

// parseGoMinor turns "1.23", "go1.23" or "go1.23.4" into 23.
func parseGoMinor(s string) (int, error) {
	s = strings.TrimPrefix(s, "go")
	parts := strings.Split(s, ".")
	if len(parts) < 2 || parts[0] != "1" {
		return 0, fmt.Errorf("Go version %q: want 1.NN", s)
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("Go version %q: want 1.NN", s)
	}
	return n, nil
}

// ExpectFile is a parsed expect file.
type ExpectFile struct {
	Variants     []string
	Frameless    []string
	Inlined      [][]string // each: caller, inlined callees...
	DurationX    int        // duration-factor, 0 if absent
	GoTol        float64    // go-tol as a share (0.04 for 4 points), 0 if absent
	GoCompareOff string     // go-compare off REASON: the Go comparison is printed, not judged
	GoExclude    []string   // go-exclude FUNC ...: samples under these are not compared
	Expectations []*Expectation
}

func readExpectFile(name string) (*ExpectFile, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ef, err := parseExpect(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return ef, nil
}

type logicalLine struct {
	n    int
	text string
}

func parseExpect(r io.Reader) (*ExpectFile, error) {
	var lines []logicalLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		raw := sc.Text()
		if i := strings.IndexByte(raw, '#'); i >= 0 {
			raw = raw[:i]
		}
		if strings.TrimSpace(raw) == "" {
			continue
		}
		if raw[0] == ' ' || raw[0] == '\t' {
			if len(lines) == 0 {
				return nil, fmt.Errorf("line %d: continuation line without a line to continue", n)
			}
			lines[len(lines)-1].text += " " + strings.TrimSpace(raw)
			continue
		}
		lines = append(lines, logicalLine{n, strings.TrimSpace(raw)})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	ef := &ExpectFile{}
	for _, l := range lines {
		if err := ef.addLine(l); err != nil {
			return nil, fmt.Errorf("line %d: %v", l.n, err)
		}
	}
	if len(ef.Expectations) == 0 {
		return nil, fmt.Errorf("no 'leaf' or 'has' expectation")
	}
	return ef, nil
}

func (ef *ExpectFile) addLine(l logicalLine) error {
	text := l.text
	var conds []string
	if strings.HasPrefix(text, "[") {
		end := strings.IndexByte(text, ']')
		if end < 0 {
			return fmt.Errorf("unclosed '[' in the conditions")
		}
		for _, c := range strings.Split(text[1:end], ",") {
			c = strings.TrimSpace(c)
			if c == "" {
				return fmt.Errorf("empty condition")
			}
			if _, err := evalCond(c, "", 1); err != nil {
				return err
			}
			conds = append(conds, c)
		}
		text = strings.TrimSpace(text[end+1:])
	}
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return fmt.Errorf("conditions without an expectation")
	}
	kw := fields[0]
	if len(conds) > 0 && kw != "leaf" && kw != "has" && kw != "never" {
		return fmt.Errorf("conditions apply only to 'leaf', 'has' and 'never' lines")
	}
	switch kw {
	case "variants":
		if len(fields) < 2 {
			return fmt.Errorf("variants: need at least one name")
		}
		ef.Variants = append(ef.Variants, fields[1:]...)
	case "check-frameless":
		if len(fields) < 2 {
			return fmt.Errorf("check-frameless: need a function name")
		}
		ef.Frameless = append(ef.Frameless, fields[1:]...)
	case "duration-factor":
		n, err := strconv.Atoi(strings.Join(fields[1:], " "))
		if err != nil || n < 1 || n > 10 {
			return fmt.Errorf("duration-factor: want one integer from 1 to 10")
		}
		ef.DurationX = n
	case "go-tol":
		n, err := strconv.ParseFloat(strings.Join(fields[1:], " "), 64)
		if err != nil || n < 1 || n > 10 {
			return fmt.Errorf("go-tol: want points from 1 to 10")
		}
		ef.GoTol = n / 100
	case "go-exclude":
		if len(fields) < 2 {
			return fmt.Errorf("go-exclude: need at least one function")
		}
		ef.GoExclude = append(ef.GoExclude, fields[1:]...)
	case "go-compare":
		if len(fields) < 3 || fields[1] != "off" {
			return fmt.Errorf("go-compare: want 'go-compare off REASON'")
		}
		ef.GoCompareOff = strings.Join(fields[2:], " ")
	case "check-inlined":
		if len(fields) < 3 {
			return fmt.Errorf("check-inlined: need CALLER and at least one inlined function")
		}
		ef.Inlined = append(ef.Inlined, fields[1:])
	case "leaf", "has", "never":
		e := &Expectation{Line: l.n, Conds: conds, Kind: kw}
		rest := strings.TrimSpace(text[len(kw):])
		if kw == "never" {
			if len(fields) < 2 {
				return fmt.Errorf("never: need a pattern")
			}
		} else {
			if len(fields) < 3 {
				return fmt.Errorf("%s: need a selector and a pattern", kw)
			}
			// The patterns are the rest of the line after the selector.
			e.Selector = fields[1]
			rest = strings.TrimSpace(rest[len(fields[1]):])
		}
		for _, alt := range strings.Split(rest, "|") {
			p, err := compilePattern(alt)
			if err != nil {
				return err
			}
			e.Patterns = append(e.Patterns, p)
		}
		ef.Expectations = append(ef.Expectations, e)
	default:
		return fmt.Errorf("unknown keyword %q (want variants, check-frameless, check-inlined, duration-factor, go-tol, leaf, has or never)", kw)
	}
	return nil
}
