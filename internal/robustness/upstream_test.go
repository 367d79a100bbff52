package robustness

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
)

// upstream is the deterministic webhook: an item sent with data {"g": g,
// "n": n} is answered with data {"g": g, "n": n+1}, terminal once n+1
// reaches TerminalVersion. The model predicts every state a sync can lead
// to from that rule alone. To exercise the failure paths, some calls fail
// with 500 and some items are answered "unchanged"; neither changes an
// item's data (a failure only its version, which the model bounds).
type upstream struct {
	failRate, unchangedRate float64

	calls, items, updates, failed atomic.Int64

	mu        sync.Mutex
	anomalies []string // items sent that the service should not have sent
}

type wireItem struct {
	ID       string          `json:"id"`
	Data     json.RawMessage `json:"data"`
	Terminal bool            `json:"terminal"`
	Version  int             `json:"version"`
}

type itemData struct {
	G int `json:"g"`
	N int `json:"n"`
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.calls.Add(1)
	var req struct {
		Cache string     `json:"cache"`
		Items []wireItem `json:"items"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if rand.Float64() < u.failRate {
		u.failed.Add(1)
		http.Error(w, "injected failure", http.StatusInternalServerError)
		return
	}
	type entry struct {
		ID       string    `json:"id"`
		Action   string    `json:"action"`
		Data     *itemData `json:"data,omitempty"`
		Terminal *bool     `json:"terminal,omitempty"`
	}
	out := struct {
		Items []entry `json:"items"`
	}{Items: []entry{}}
	for _, it := range req.Items {
		u.items.Add(1)
		var d itemData
		if err := json.Unmarshal(it.Data, &d); err != nil || d.N > it.Version || it.Terminal || d.N >= TerminalVersion {
			// Torn data, a terminal item, or one past the last version:
			// the service sent what it never held, or should not send.
			u.note(fmt.Sprintf("webhook got %s/%s %s version %d terminal %v", req.Cache, it.ID, it.Data, it.Version, it.Terminal))
			continue
		}
		if rand.Float64() < u.unchangedRate {
			out.Items = append(out.Items, entry{ID: it.ID, Action: "unchanged"})
			continue
		}
		u.updates.Add(1)
		n := d.N + 1
		terminal := n >= TerminalVersion
		out.Items = append(out.Items, entry{ID: it.ID, Action: "update", Data: &itemData{G: d.G, N: n}, Terminal: &terminal})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (u *upstream) note(s string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.anomalies) < 50 {
		u.anomalies = append(u.anomalies, s)
	}
}

func (u *upstream) Anomalies() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.anomalies...)
}
