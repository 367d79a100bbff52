package watch

import (
	"testing"

	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"github.com/autorefresh/autorefresh/internal/record"
)

// stated is ev for an update that left the item in state s.
func stated(id string, version int64, s record.State) autorefresh.Event {
	r := rec(id, version, s != record.StateActive)
	r.State = s
	return autorefresh.Event{Type: autorefresh.EventUpdated, ID: id, Item: r}
}

// An update is named by the state it left the item in, so that a watcher
// tells a completed item from one given up or past its deadline; each
// carries the item, as terminal does.
func TestUpdatesAreNamedByState(t *testing.T) {
	h, _ := newHub(t, Options{})
	all := subscribe(t, h, "jobs", SubscribeOptions{})

	h.OnEvent("jobs", stated("a", 2, record.StateActive))
	h.OnEvent("jobs", stated("a", 3, record.StateFailed))
	h.OnEvent("jobs", stated("b", 2, record.StateExpired))
	h.OnEvent("jobs", stated("c", 2, record.StateCompleted))
	// Stored before states existed: the flag decides.
	h.OnEvent("jobs", ev(autorefresh.EventUpdated, "d", 2, true))
	h.OnEvent("jobs", ev(autorefresh.EventUpdated, "e", 2, false))

	got := drain(all)
	if k := kinds(got); k != "updated:a failed:a expired:b terminal:c terminal:d updated:e" {
		t.Fatalf("kinds: %s", k)
	}
	for _, e := range got {
		if e.Item == nil || e.Item.ID != e.ID {
			t.Fatalf("%s event without its item: %+v", e.Kind, e)
		}
	}
}

// A long-poll wakes on every kind of change of its item, the new ones
// included.
func TestLongPollWakesOnFailedAndExpired(t *testing.T) {
	h, _ := newHub(t, Options{})
	for _, s := range []record.State{record.StateFailed, record.StateExpired} {
		w, err := h.WatchFor("client", "jobs", "x")
		if err != nil {
			t.Fatal(err)
		}
		h.OnEvent("jobs", stated("x", 2, s))
		select {
		case <-w.C():
		default:
			t.Errorf("a long-poll did not wake on a %s item", s)
		}
		w.Stop()
	}
}
