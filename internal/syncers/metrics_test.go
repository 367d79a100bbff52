package syncers

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/autorefresh/autorefresh/internal/egress"
)

func TestNewMetricsRegistersOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Fatal("second registration succeeded")
	}
	// A failed registration leaves nothing half-registered behind.
	reg2 := prometheus.NewRegistry()
	clash := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "autorefresh_webhook_ignored_entries_total", Help: "x"}, []string{"x"})
	reg2.MustRegister(clash)
	if _, err := NewMetrics(reg2); err == nil {
		t.Fatal("clash not reported")
	}
	reg2.Unregister(clash)
	if mfs, _ := reg2.Gather(); len(mfs) != 0 {
		t.Fatalf("left %d families registered", len(mfs))
	}
	if _, err := NewMetrics(nil); err != nil {
		t.Fatal(err)
	}
	var m *Metrics // nil records nothing and does not panic
	m.init("x")
	m.outcome("x", OutcomeOK)
	m.observe("x", 1)
	m.ignore("x", map[string]int{IgnoredUnknownID: 1})
	m.Forget("x")
}

func TestMetricsSeriesAndForget(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(http.StatusNoContent) })
	for _, name := range []string{"jobs", "other"} {
		w, err := New(Options{Cache: name, Webhook: WebhookConfig{URL: up.URL},
			Policy: &egress.Policy{AllowPrivate: true}, Metrics: m})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Close)
		if _, err := w.Sync(t.Context(), batchOf(rec("a", "", false, 1))); err != nil {
			t.Fatal(err)
		}
	}
	// Every outcome and ignore reason exists from the start, at zero.
	perCache := len(Reasons) + 1
	if n := testutil.CollectAndCount(m.requests); n != 2*perCache {
		t.Fatalf("%d request series, want %d", n, 2*perCache)
	}
	if n := testutil.CollectAndCount(m.ignored); n != 2*len(IgnoredReasons) {
		t.Fatalf("%d ignored series", n)
	}
	want := `
# HELP autorefresh_webhook_requests_total Webhook sync calls by cache and outcome (ok or failure reason; throttled calls send no request).
# TYPE autorefresh_webhook_requests_total counter
autorefresh_webhook_requests_total{cache="jobs",outcome="ok"} 1
autorefresh_webhook_requests_total{cache="other",outcome="ok"} 1
`
	if err := testutil.GatherAndCompare(nonZero{reg}, strings.NewReader(want), "autorefresh_webhook_requests_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.duration); n != 2 {
		t.Fatalf("%d duration series", n)
	}

	m.Forget("jobs")
	if n := testutil.CollectAndCount(m.requests); n != perCache {
		t.Fatalf("after Forget: %d request series, want %d", n, perCache)
	}
	if n := testutil.CollectAndCount(m.duration); n != 1 {
		t.Fatalf("after Forget: %d duration series", n)
	}
	if n := testutil.CollectAndCount(m.ignored); n != len(IgnoredReasons) {
		t.Fatalf("after Forget: %d ignored series", n)
	}
}

// nonZero gathers only samples whose value is not zero, so a comparison can
// ignore the pre-created series.
type nonZero struct{ g prometheus.Gatherer }

func (n nonZero) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := n.g.Gather()
	for _, mf := range mfs {
		kept := mf.Metric[:0]
		for _, m := range mf.Metric {
			if m.GetCounter().GetValue() != 0 || m.Counter == nil {
				kept = append(kept, m)
			}
		}
		mf.Metric = kept
	}
	return mfs, err
}
