package registry

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/egress"
	"github.com/autorefresh/autorefresh/internal/record"
	"github.com/autorefresh/autorefresh/internal/servicetest"
)

// heldCalls is a webhook transport whose calls end only once their request
// is cancelled and the test closes release, so that a call counts its
// outcome exactly when the test says.
type heldCalls struct {
	started chan struct{} // one value per call
	release chan struct{}
}

func (h *heldCalls) RoundTrip(req *http.Request) (*http.Response, error) {
	h.started <- struct{}{}
	<-req.Context().Done()
	<-h.release
	return nil, req.Context().Err()
}

// slowDeleteJournal makes every change durable at once, except a cache's
// removal: waiting for that one runs onDelete first, standing for an fsync
// that takes a while. Everything else the registry asks of it is answered
// in memory.
type slowDeleteJournal struct {
	seq       atomic.Uint64
	deleteSeq atomic.Uint64
	onDelete  func()
}

func (j *slowDeleteJournal) Append(cache.Change[*record.Record]) uint64 { return j.seq.Add(1) }
func (j *slowDeleteJournal) Durable() uint64                            { return j.seq.Load() }
func (j *slowDeleteJournal) AppendCache(string, json.RawMessage) uint64 { return j.seq.Add(1) }
func (j *slowDeleteJournal) AppendPaused(string, bool) uint64           { return j.seq.Add(1) }
func (j *slowDeleteJournal) AppendDeleteCache(string) uint64 {
	s := j.seq.Add(1)
	j.deleteSeq.Store(s)
	return s
}
func (j *slowDeleteJournal) Wait(seq uint64) error {
	if seq == j.deleteSeq.Load() {
		j.onDelete()
	}
	return nil
}

// TestDeleteLeavesNoSeriesWhenItsEngineStopsFirst: a webhook call under way
// when its cache is deleted counts its outcome after Delete has dropped the
// cache's series, bringing one back; and the engine may stop (its last call
// over) while Delete still waits for its removal to be journaled. Its
// series must be gone all the same once Delete returned and the engine
// stopped: each deleted cache used to leave such a series behind, for good
// (issue 14, heap retained per deleted cache).
func TestDeleteLeavesNoSeriesWhenItsEngineStopsFirst(t *testing.T) {
	calls := &heldCalls{started: make(chan struct{}, 1), release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	var r *Registry
	journal := &slowDeleteJournal{onDelete: func() {
		// Delete has stopped the cache's refresh and dropped its
		// series; the call under way ends only now. Then the refresh
		// stops as a shutdown would stop it, and Wait returns once the
		// cache's engine and what follows its stop are done: all of it
		// before the removal is durable.
		close(calls.release)
		cancel()
		r.Wait()
	}}
	var err error
	r, err = New(Options{
		Registerer: reg, Logger: zap.NewNop(), Egress: &egress.Policy{AllowPrivate: true},
		HTTPClient: &http.Client{Transport: calls}, Journal: journal,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); r.Wait() })

	on := true
	if _, err := r.Put(bg, "jobs", cfg(func(c *autorefresh.Config) { c.SyncOnCreate = &on })); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.CreateItem(bg, "jobs", autorefresh.NewItem{ID: "a", Data: nil, Terminal: false}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-calls.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the created item was never sent to the webhook")
	}
	if len(servicetest.SeriesOf(t, reg, "jobs")) == 0 {
		t.Fatal("the cache has no series to begin with: the test would prove nothing")
	}
	if err := r.Delete(bg, "jobs"); err != nil {
		t.Fatal(err)
	}
	if s := servicetest.SeriesOf(t, reg, "jobs"); len(s) > 0 {
		t.Fatalf("the deleted cache left series behind: %v", s)
	}
}
