package robustness

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Result is the outcome of checking one history.
type Result struct {
	Verdict    porcupine.CheckResult
	Operations int
	Partitions int
	Took       time.Duration
	// Illegal is, for up to three items whose own history has no
	// linearization, that history shrunk and as text (one line per
	// operation, in call order), shortest first.
	Illegal []string
	// Visualization is the HTML file porcupine drew the shortest of them
	// in, written only when the verdict is Illegal.
	Visualization string
}

// Check decides whether ops is linearizable under Model, giving up after
// timeout (Unknown). When it is Illegal, it finds the items whose histories
// fail, shrinks them, and draws the shortest with porcupine's visualization
// into a new file in dir, named after name.
//
// Proving a history illegal is the checker's slowest case, so the first
// pass stops at the first failing item (porcupine checks the partitions in
// parallel and gives up on the rest), and the report is made on the failing
// items alone, each within a budget.
func Check(ops []porcupine.Operation, timeout time.Duration, dir, name string) (Result, error) {
	m := Model()
	start := time.Now()
	parts := partition(ops)
	res := Result{Verdict: porcupine.CheckOperationsTimeout(m, ops, timeout), Operations: len(ops), Partitions: len(parts)}
	res.Took = time.Since(start)
	if res.Verdict != porcupine.Illegal {
		return res, nil
	}
	deadline := time.Now().Add(timeout)
	var shrunk [][]porcupine.Operation
	for _, p := range parts {
		if len(shrunk) == 3 || time.Now().After(deadline) {
			break
		}
		if porcupine.CheckOperationsTimeout(m, p, min(time.Until(deadline), 5*time.Second)) == porcupine.Illegal {
			shrunk = append(shrunk, shrink(m, p, time.Now().Add(time.Until(deadline)/2)))
		}
	}
	sort.SliceStable(shrunk, func(i, j int) bool { return len(shrunk[i]) < len(shrunk[j]) })
	for _, p := range shrunk {
		res.Illegal = append(res.Illegal, render(p, failsAt(m, p, deadline)))
	}
	if len(shrunk) == 0 {
		return res, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	f, err := os.CreateTemp(dir, name+"-*.html")
	if err != nil {
		return res, err
	}
	res.Visualization, _ = filepath.Abs(f.Name())
	_, info := porcupine.CheckOperationsVerbose(m, shrunk[0], timeout)
	if err := porcupine.Visualize(m, info, f); err != nil {
		f.Close()
		return res, fmt.Errorf("visualize: %w", err)
	}
	return res, f.Close()
}

// failsAt is the length of the shortest prefix of ops, in call order, that
// the checker already finds illegal, or 0 if none is found by deadline: a
// pointer to where the answers stop making sense (calls made later may
// matter to earlier ones that return after them, so it is a guide only).
func failsAt(m porcupine.Model, ops []porcupine.Operation, deadline time.Time) int {
	ops = byCall(ops)
	lo, hi := 1, len(ops) // ops[:hi] is illegal
	for lo < hi && time.Now().Before(deadline) {
		mid := (lo + hi) / 2
		if porcupine.CheckOperationsTimeout(m, ops[:mid], min(time.Until(deadline), time.Second)) == porcupine.Illegal {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return hi
}

func byCall(ops []porcupine.Operation) []porcupine.Operation {
	ops = append([]porcupine.Operation(nil), ops...)
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
	return ops
}

// render is a history as text, in call order, with the call at which a
// prefix first fails marked.
func render(ops []porcupine.Operation, failsAt int) string {
	var b strings.Builder
	for i, op := range byCall(ops) {
		mark := "  "
		if i == failsAt-1 {
			mark = "=>"
		}
		b.WriteString(mark)
		ret := fmt.Sprintf("%.3fs", float64(op.Return)/1e9)
		if op.Output.(Output).Unknown {
			ret = "end"
		}
		fmt.Fprintf(&b, "[%.3fs, %s] client %d: %s\n", float64(op.Call)/1e9, ret, op.ClientId, describeOperation(op.Input, op.Output))
	}
	return b.String()
}

// shrink drops every read of an illegal history that the violation does
// not need, until deadline. Only reads go: without a read a legal history
// stays legal (a read only narrows the states), so what is left is illegal
// because the service's answers were, not because something was cut out.
func shrink(m porcupine.Model, ops []porcupine.Operation, deadline time.Time) []porcupine.Operation {
	ops = append([]porcupine.Operation(nil), ops...)
	for i := len(ops) - 1; i >= 0 && time.Now().Before(deadline); i-- {
		if k := ops[i].Input.(Input).Kind; k != Get && k != ListSeen {
			continue
		}
		without := append(append([]porcupine.Operation(nil), ops[:i]...), ops[i+1:]...)
		if porcupine.CheckOperationsTimeout(m, without, min(time.Until(deadline), time.Second)) == porcupine.Illegal {
			ops = without
		}
	}
	return ops
}
