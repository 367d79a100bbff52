package store

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/autorefresh/autorefresh/internal/cache"
	"github.com/autorefresh/autorefresh/internal/record"
)

// TestScheduleStateSurvivesAReload: every field of the per-item schedule
// (state, attempts, last error, deadline) is stored and read back.
func TestScheduleStateSurvivesAReload(t *testing.T) {
	dir := t.TempDir()
	j, stop := runJournal(t, dir)
	if err := j.Wait(j.AppendCache("jobs", json.RawMessage(`{}`))); err != nil {
		t.Fatal(err)
	}
	r := rec("a", 3, false)
	r.State, r.Attempts, r.LastError = record.StateActive, 2, "upstream said 503"
	r.ExpiresAt = time.Unix(1_800_000_000, 5).UTC()
	f := rec("f", 4, true)
	f.State, f.Attempts, f.LastError = record.StateFailed, 5, "gave up"
	j.Append(cache.Change[*record.Record]{Kind: cache.ChangePut, Cache: "jobs", ID: "a", Item: r})
	if err := j.Wait(j.Append(cache.Change[*record.Record]{Kind: cache.ChangePut, Cache: "jobs", ID: "f", Item: f})); err != nil {
		t.Fatal(err)
	}
	stop()
	items := map[string]Item{}
	for _, it := range load(t, dir)["jobs"].Items {
		items[it.ID] = it
	}
	a, g := items["a"], items["f"]
	if a.State != record.StateActive || a.Attempts != 2 || a.LastError != "upstream said 503" || !a.ExpiresAt.Equal(r.ExpiresAt) {
		t.Fatalf("a = %+v", a.Record)
	}
	if g.StateOf() != record.StateFailed || !g.Terminal || g.Attempts != 5 || g.LastError != "gave up" {
		t.Fatalf("f = %+v", g.Record)
	}
}

// TestPausedIsKeptBesideTheConfig: the paused flag survives a reload and a
// new config, and leaves with the cache.
func TestPausedIsKeptBesideTheConfig(t *testing.T) {
	dir := t.TempDir()
	j, stop := runJournal(t, dir)
	wait := func(seq uint64) {
		t.Helper()
		if err := j.Wait(seq); err != nil {
			t.Fatal(err)
		}
	}
	wait(j.AppendCache("jobs", json.RawMessage(`{"v":1}`)))
	wait(j.AppendCache("other", json.RawMessage(`{}`)))
	wait(j.AppendPaused("jobs", true))
	wait(j.AppendCache("jobs", json.RawMessage(`{"v":2}`)))
	wait(j.AppendPaused("gone", true))
	wait(j.AppendCache("gone", json.RawMessage(`{}`)))
	wait(j.AppendDeleteCache("gone"))
	wait(j.AppendCache("gone", json.RawMessage(`{}`)))
	stop()
	got := load(t, dir)
	if !got["jobs"].Paused || string(got["jobs"].Config) != `{"v":2}` {
		t.Fatalf("jobs = %+v", got["jobs"])
	}
	if got["other"].Paused || got["gone"].Paused {
		t.Fatalf("paused where it was not: %+v", got)
	}

	j, stop = runJournal(t, dir)
	if err := j.Wait(j.AppendPaused("jobs", false)); err != nil {
		t.Fatal(err)
	}
	stop()
	if load(t, dir)["jobs"].Paused {
		t.Fatal("resume was not kept")
	}
}
