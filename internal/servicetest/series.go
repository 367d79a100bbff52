package servicetest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// SeriesOf lists the metric families that have a series labelled with the
// cache, so that both modes' tests can check that a deleted cache leaves
// none behind.
func SeriesOf(t testing.TB, g prometheus.Gatherer, cache string) []string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "cache" && l.GetValue() == cache {
					out = append(out, mf.GetName())
				}
			}
		}
	}
	return out
}
