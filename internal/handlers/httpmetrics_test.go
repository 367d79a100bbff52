package handlers

import (
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestHTTPMetricsCountThroughTheCache(t *testing.T) {
	m, err := newHTTPMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		m.record("/v1/caches/{cache}", "GET", 200, time.Millisecond)
	}
	m.record("/v1/caches/{cache}", "GET", 404, time.Millisecond)
	if got := testutil.ToFloat64(m.requests.WithLabelValues("/v1/caches/{cache}", "GET", "200")); got != 3 {
		t.Errorf("200s counted %v times, want 3", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("/v1/caches/{cache}", "GET", "404")); got != 1 {
		t.Errorf("404s counted %v times, want 1", got)
	}
	if n := testutil.CollectAndCount(m.duration); n != 1 {
		t.Errorf("%d duration series, want 1 (codes share the route's)", n)
	}
	if got := len(*m.known.Load()); got != 2 {
		t.Errorf("%d series cached, want 2", got)
	}
}

// Past maxCachedSeries the map stops growing, and requests are still
// counted, through the vectors.
func TestHTTPMetricsCacheIsBounded(t *testing.T) {
	m, err := newHTTPMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	routes := maxCachedSeries + 50
	for i := range routes {
		for range 2 {
			m.record("/r"+strconv.Itoa(i), "GET", 200, time.Millisecond)
		}
	}
	if got := len(*m.known.Load()); got != maxCachedSeries {
		t.Errorf("%d series cached, want the bound %d", got, maxCachedSeries)
	}
	for _, i := range []int{0, maxCachedSeries - 1, maxCachedSeries, routes - 1} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues("/r"+strconv.Itoa(i), "GET", "200")); got != 2 {
			t.Errorf("route %d counted %v times, want 2", i, got)
		}
	}
}
