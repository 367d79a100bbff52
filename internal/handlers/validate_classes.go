package handlers

import (
	"regexp/syntax"
)

// The spec's path patterns are runs of character classes, such as
// ^[a-z0-9][a-z0-9_.-]{0,62}$. Go's regexp matched them in about a third
// of a microsecond per value, more than the rest of a parameter's quick
// test; a table of the classes' bytes matches them in a loop. Only ASCII
// values are matched this way (quickParam.valid sends the others to
// kin-openapi), and only patterns of that shape: others keep regexp.

// classRun is a character class repeated min to max times (max < 0: no
// bound), over ASCII.
type classRun struct {
	set      [2]uint64 // bit c is set for each ASCII byte c of the class
	min, max int
}

func (r *classRun) has(c byte) bool { return c < 128 && r.set[c>>6]&(1<<(c&63)) != 0 }

// classPattern is ^run run ... run$ where every run but the last repeats a
// fixed number of times, so that a value matches without backtracking.
type classPattern []classRun

// compileClasses returns pattern as a classPattern, if it has that shape
// when parsed as regexp.Compile parses it.
func compileClasses(pattern string) (classPattern, bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil || re.Op != syntax.OpConcat || len(re.Sub) < 3 {
		return nil, false
	}
	subs := re.Sub
	if subs[0].Op != syntax.OpBeginText || subs[len(subs)-1].Op != syntax.OpEndText {
		return nil, false
	}
	var out classPattern
	for i, sub := range subs[1 : len(subs)-1] {
		run := classRun{min: 1, max: 1}
		switch sub.Op {
		case syntax.OpRepeat:
			run.min, run.max, sub = sub.Min, sub.Max, sub.Sub[0]
		case syntax.OpStar:
			run.min, run.max, sub = 0, -1, sub.Sub[0]
		case syntax.OpPlus:
			run.min, run.max, sub = 1, -1, sub.Sub[0]
		case syntax.OpQuest:
			run.min, run.max, sub = 0, 1, sub.Sub[0]
		}
		var ranges []rune
		switch {
		case sub.Op == syntax.OpCharClass:
			ranges = sub.Rune // lo, hi pairs; case folding already expanded
		case sub.Op == syntax.OpLiteral && len(sub.Rune) == 1 && sub.Flags&syntax.FoldCase == 0:
			ranges = []rune{sub.Rune[0], sub.Rune[0]}
		default:
			return nil, false
		}
		for j := 0; j+1 < len(ranges); j += 2 {
			for c := ranges[j]; c <= ranges[j+1] && c < 128; c++ {
				run.set[c>>6] |= 1 << (c & 63)
			}
		}
		if i < len(subs)-3 && run.min != run.max {
			return nil, false // a variable run before the last: may need backtracking
		}
		out = append(out, run)
	}
	return out, true
}

// match reports whether the ASCII value v matches the pattern.
func (p classPattern) match(v string) bool {
	i := 0
	for k := range p {
		run := &p[k]
		if k < len(p)-1 {
			if len(v)-i < run.min {
				return false
			}
			for end := i + run.min; i < end; i++ {
				if !run.has(v[i]) {
					return false
				}
			}
			continue
		}
		if n := len(v) - i; n < run.min || (run.max >= 0 && n > run.max) {
			return false
		}
		for ; i < len(v); i++ {
			if !run.has(v[i]) {
				return false
			}
		}
	}
	return i == len(v)
}
