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
	// Visualization is the HTML file porcupine drew the history in, written
	// only when the verdict is not Ok.
	Visualization string
	// Illegal is each item whose own history has no linearization, as text
	// (one line per operation, in call order), shortest first.
	Illegal []string
}

// Check decides whether ops is linearizable under Model, giving up after
// timeout (Unknown). When it is not Ok, it draws porcupine's visualization
// into a new file in dir, named after name, and says where in the Result.
func Check(ops []porcupine.Operation, timeout time.Duration, dir, name string) (Result, error) {
	m := Model()
	start := time.Now()
	verdict, info := porcupine.CheckOperationsVerbose(m, ops, timeout)
	res := Result{Verdict: verdict, Operations: len(ops), Partitions: len(partition(ops)), Took: time.Since(start)}
	if verdict == porcupine.Ok {
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
	res.Illegal = illegalPartitions(m, ops, timeout)
	if err := porcupine.Visualize(m, info, f); err != nil {
		f.Close()
		return res, fmt.Errorf("visualize: %w", err)
	}
	return res, f.Close()
}

// illegalPartitions renders the partitions that fail on their own, each
// shrunk first, so that a report can show a short history with a violation.
func illegalPartitions(m porcupine.Model, ops []porcupine.Operation, timeout time.Duration) []string {
	var out []string
	for _, p := range partition(ops) {
		if porcupine.CheckOperationsTimeout(m, p, timeout) != porcupine.Illegal {
			continue
		}
		p = shrink(m, p, timeout)
		sort.SliceStable(p, func(i, j int) bool { return p[i].Call < p[j].Call })
		var b strings.Builder
		for _, op := range p {
			ret := fmt.Sprintf("%.3fs", float64(op.Return)/1e9)
			if op.Output.(Output).Unknown {
				ret = "end"
			}
			fmt.Fprintf(&b, "  [%.3fs, %s] client %d: %s\n", float64(op.Call)/1e9, ret, op.ClientId, describeOperation(op.Input, op.Output))
		}
		out = append(out, b.String())
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) < len(out[j]) })
	return out
}

// shrink drops every read of an illegal history that the violation does
// not need. Only reads go: without a read a legal history stays legal (a
// read only narrows the states), so what is left is illegal because the
// service's answers were, not because something was cut out.
func shrink(m porcupine.Model, ops []porcupine.Operation, timeout time.Duration) []porcupine.Operation {
	ops = append([]porcupine.Operation(nil), ops...)
	for i := len(ops) - 1; i >= 0; i-- {
		if k := ops[i].Input.(Input).Kind; k != Get && k != ListSeen {
			continue
		}
		without := append(append([]porcupine.Operation(nil), ops[:i]...), ops[i+1:]...)
		if porcupine.CheckOperationsTimeout(m, without, timeout) == porcupine.Illegal {
			ops = without
		}
	}
	return ops
}
