package robustness

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// sseEvent is one event of a cache's stream.
type sseEvent struct {
	id, typ string
	data    []byte
}

// eventStream reads GET /v1/caches/{cache}/events in the background and
// folds the events into the state they describe, checking on the way that
// each item's events follow the order of its changes.
type eventStream struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	items    map[string]itemJSON
	events   int
	problems []string
	err      error
}

// openEvents subscribes and returns once the server has answered, so that
// every change made after it is in the stream.
func openEvents(httpc *http.Client, base, cache string) (*eventStream, error) {
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/caches/"+cache+"/events", nil)
	// The stream outlives the client's timeout: a client of its own.
	res, err := (&http.Client{Transport: httpc.Transport}).Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if res.StatusCode != 200 {
		res.Body.Close()
		cancel()
		return nil, fmt.Errorf("events: %d", res.StatusCode)
	}
	s := &eventStream{cancel: cancel, done: make(chan struct{}), items: map[string]itemJSON{}}
	go func() {
		defer close(s.done)
		defer res.Body.Close()
		err := readSSE(bufio.NewReader(res.Body), s.apply)
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	}()
	return s, nil
}

// close ends the stream and waits for its reader.
func (s *eventStream) close() {
	s.cancel()
	<-s.done
}

// readSSE parses the event-stream format until the body ends.
func readSSE(r *bufio.Reader, apply func(sseEvent)) error {
	var ev sseEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if ev.typ != "" || ev.data != nil {
				apply(ev)
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id:"):
			ev.id = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "event:"):
			ev.typ = strings.TrimSpace(line[6:])
		case strings.HasPrefix(line, "data:"):
			ev.data = append(ev.data, strings.TrimPrefix(line[5:], " ")...)
		}
	}
}

// apply folds one event into the state. An event that cannot follow what
// came before for its item (an update of an item never created, a version
// that does not go up by one, a second create) is a problem.
func (s *eventStream) apply(ev sseEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events++
	var it itemJSON
	if err := json.Unmarshal(ev.data, &it); err != nil {
		s.note("event %s %s: %v", ev.typ, ev.data, err)
		return
	}
	prev, had := s.items[it.ID]
	switch ev.typ {
	case "created":
		if had {
			s.note("created %s v%d while the stream holds it at v%d", it.ID, it.Version, prev.Version)
		}
		if it.Version != 1 {
			s.note("created %s at version %d", it.ID, it.Version)
		}
		s.items[it.ID] = it
	case "updated", "terminal":
		switch {
		case !had:
			s.note("%s %s v%d before it was created", ev.typ, it.ID, it.Version)
		case it.Version != prev.Version+1:
			s.note("%s %s v%d after v%d", ev.typ, it.ID, it.Version, prev.Version)
		}
		if it.Terminal != (ev.typ == "terminal") {
			s.note("%s event of %s with terminal %v", ev.typ, it.ID, it.Terminal)
		}
		s.items[it.ID] = it
	case "deleted", "evicted":
		if !had {
			s.note("%s %s, which the stream does not hold", ev.typ, it.ID)
		}
		delete(s.items, it.ID)
	case "lagged":
		s.note("lagged: the stream dropped events (%s)", ev.data)
	default:
		s.note("unknown event %q", ev.typ)
	}
}

func (s *eventStream) note(format string, args ...any) {
	if len(s.problems) < 50 {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

// state is what the stream says the cache holds: id, data, terminal and
// version of every item.
func (s *eventStream) state() (map[string]itemJSON, int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]itemJSON, len(s.items))
	for id, it := range s.items {
		out[id] = it
	}
	return out, s.events, append([]string(nil), s.problems...)
}
