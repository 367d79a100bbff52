package handlers

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// A classPattern matches an ASCII value exactly when regexp does.
func TestClassPatternMatchesAsRegexp(t *testing.T) {
	patterns := []string{
		`^[a-z0-9][a-z0-9_.-]{0,62}$`, `^[A-Za-z0-9._~-]{1,256}$`, // the spec's
		`^[0-9]{1,19}$`, `^a[b-d]{2}x*$`, `^(?i)[a-c]{3}$`, `^[^a-z]+$`, `^x?$`, `^[a-]\.[ab]{2,}$`,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := "aAbBcdxyzZ09_.-~/ %\x00\x7f\n"
	var values []string
	for n := 0; n <= 3; n++ {
		values = append(values, words(alphabet, n)...)
	}
	for range 3000 {
		b := make([]byte, rng.IntN(300))
		for i := range b {
			if rng.IntN(4) == 0 {
				b[i] = byte(rng.IntN(128))
			} else {
				b[i] = "abcz09_.-~"[rng.IntN(10)]
			}
		}
		values = append(values, string(b))
	}
	values = append(values, strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 256), strings.Repeat("a", 257))
	for _, p := range patterns {
		cp, ok := compileClasses(p)
		if !ok {
			t.Errorf("%s: not compiled to classes", p)
			continue
		}
		re := regexp.MustCompile(p)
		for _, v := range values {
			if got, want := cp.match(v), re.MatchString(v); got != want {
				t.Errorf("%s on %q: %v, regexp says %v", p, v, got, want)
			}
		}
	}
	// Shapes that would need backtracking or other ops keep regexp.
	for _, p := range []string{`^[a-z]*[a-z0-9]$`, `[a-z]+`, `^a|b$`, `^(ab)+$`, `^.{1,3}$`, `^(?i)ab$`, `^([0-9]+(\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))+$`} {
		if _, ok := compileClasses(p); ok {
			t.Errorf("%s: compiled to classes", p)
		}
	}
}

// words lists every string of length n over alphabet.
func words(alphabet string, n int) []string {
	if n == 0 {
		return []string{""}
	}
	var out []string
	for _, w := range words(alphabet, n-1) {
		for i := 0; i < len(alphabet); i++ {
			out = append(out, w+alphabet[i:i+1])
		}
	}
	return out
}
