// pattern.go -- stack patterns: root-first frame patterns with globs, used by 'chain' and
// 'stacks'.
//
// A pattern is a ';'-separated list of tokens, root first:
//
//	...        zero or more frames (any names)
//	GLOB       exactly one frame whose name matches GLOB
//	GLOB+      one or more consecutive frames, each matching GLOB
//	GLOB?      zero or one frame matching GLOB
//
// GLOB is a function name in which '*' matches any run of characters (also none); there
// is no other metacharacter, so '[', '(' and '.' in Go names are literal. A bare '*' is
// thus "exactly one frame, any name". Whitespace around tokens is ignored.
package main

import (
	"fmt"
	"strings"
)

type tokKind int

const (
	tokOne  tokKind = iota // one frame
	tokAny                 // "...": zero or more frames
	tokPlus                // GLOB+: one or more frames
	tokOpt                 // GLOB?: zero or one frame
)

type patTok struct {
	kind tokKind
	glob string
}

// Pattern is a compiled stack pattern.
type Pattern struct {
	text string
	toks []patTok
}

func (p *Pattern) String() string { return p.text }

// compilePattern parses a ';'-separated pattern. Empty tokens are an error (they are
// almost always a doubled or trailing ';').
func compilePattern(s string) (*Pattern, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("empty pattern")
	}
	p := &Pattern{text: s}
	for i, t := range strings.Split(s, ";") {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
			return nil, fmt.Errorf("pattern %q: token %d is empty (doubled or trailing ';'?)", s, i+1)
		case t == "...":
			p.toks = append(p.toks, patTok{kind: tokAny})
		case len(t) > 1 && strings.HasSuffix(t, "+"):
			p.toks = append(p.toks, patTok{kind: tokPlus, glob: t[:len(t)-1]})
		case len(t) > 1 && strings.HasSuffix(t, "?"):
			p.toks = append(p.toks, patTok{kind: tokOpt, glob: t[:len(t)-1]})
		default:
			p.toks = append(p.toks, patTok{kind: tokOne, glob: t})
		}
	}
	return p, nil
}

// mustPattern compiles a pattern known to be valid (or an empty one matching only an
// empty stack, for the 'chain' command's historical behaviour).
func mustPattern(s string) *Pattern {
	if strings.TrimSpace(s) == "" {
		return &Pattern{}
	}
	p, err := compilePattern(s)
	if err != nil {
		panic(err)
	}
	return p
}

// Match reports whether frames (root first) match the whole pattern.
func (p *Pattern) Match(frames []string) bool {
	// ok[j]: the tokens so far match frames[:j].
	ok := make([]bool, len(frames)+1)
	next := make([]bool, len(frames)+1)
	ok[0] = true
	for _, t := range p.toks {
		for j := range next {
			next[j] = false
		}
		switch t.kind {
		case tokAny:
			seen := false
			for j := 0; j <= len(frames); j++ {
				seen = seen || ok[j]
				next[j] = seen
			}
		case tokOne:
			for j := 1; j <= len(frames); j++ {
				next[j] = ok[j-1] && globMatch(t.glob, frames[j-1])
			}
		case tokPlus:
			for j := 1; j <= len(frames); j++ {
				next[j] = (ok[j-1] || next[j-1]) && globMatch(t.glob, frames[j-1])
			}
		case tokOpt:
			for j := 0; j <= len(frames); j++ {
				next[j] = ok[j] || (j > 0 && ok[j-1] && globMatch(t.glob, frames[j-1]))
			}
		}
		ok, next = next, ok
	}
	return ok[len(frames)]
}

// globMatch matches name against a glob where '*' is any run of characters.
func globMatch(glob, name string) bool {
	if !strings.Contains(glob, "*") {
		return glob == name
	}
	// Classic greedy match with backtracking to the last '*'.
	gi, ni := 0, 0
	star, mark := -1, 0
	for ni < len(name) {
		switch {
		case gi < len(glob) && glob[gi] == '*':
			star, mark = gi, ni
			gi++
		case gi < len(glob) && glob[gi] == name[ni]:
			gi++
			ni++
		case star >= 0:
			gi = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	for gi < len(glob) && glob[gi] == '*' {
		gi++
	}
	return gi == len(glob)
}

// matchPattern reports whether frames (root first) match the ';'-split pattern pat; kept
// for the 'chain' command and its tests.
func matchPattern(pat, frames []string) bool {
	return mustPattern(strings.Join(pat, ";")).Match(frames)
}
