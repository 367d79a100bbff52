package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"net/url"
	"time"
)

// EventKind names a change in a cache's event stream.
type EventKind string

// The kinds of events of GET /v1/caches/{cache}/events.
const (
	// EventCreated: an item was created. Event.Item is the new item.
	EventCreated EventKind = "created"
	// EventUpdated: a sync changed an item that is still not terminal.
	EventUpdated EventKind = "updated"
	// EventTerminal: a change made an item terminal (completed).
	EventTerminal EventKind = "terminal"
	// EventFailed: an item was given up after too many failed syncs.
	EventFailed EventKind = "failed"
	// EventExpired: an item passed its deadline unfinished.
	EventExpired EventKind = "expired"
	// EventDeleted: a sync cycle removed an item after DeleteItem.
	// Only Event.ItemID is set.
	EventDeleted EventKind = "deleted"
	// EventEvicted: an item was dropped to keep the cache within its size.
	EventEvicted EventKind = "evicted"
	// EventLagged: events were dropped for this stream (the reader was too
	// slow, or a resumption reached back further than the server keeps).
	// Read the items again (Items) to catch up. Event.Message says why.
	EventLagged EventKind = "lagged"
)

// Event is one change of a cache's items.
type Event struct {
	Kind EventKind
	// ID is the event's id, which Last-Event-ID resumes after; empty for
	// lagged events.
	ID string
	// ItemID names the item the event is about (empty for lagged).
	ItemID string
	// Item is the item right after the change, for the kinds that carry
	// one (created, updated, terminal, failed, expired). It has no
	// SyncedAt or PendingDelete.
	Item *Item
	// Message is the text of a lagged event.
	Message string
	// Data is the event's data as sent.
	Data json.RawMessage
}

// carriesItem reports whether events of kind k have an item as data.
func (k EventKind) carriesItem() bool {
	switch k {
	case EventCreated, EventUpdated, EventTerminal, EventFailed, EventExpired:
		return true
	}
	return false
}

// WatchOptions tunes Watch.
type WatchOptions struct {
	// ItemID, when set, streams only that item's events.
	ItemID string
	// LastEventID resumes after that event: the events since are replayed
	// first (or a lagged event comes first, when the server no longer has
	// them).
	LastEventID string
	// MaxLineBytes bounds one line of the stream; zero means
	// DefaultMaxLineBytes. A longer line ends the watch with an error.
	MaxLineBytes int
	// ReconnectDelay is the first wait before reconnecting after the
	// stream drops; each failed reconnection doubles it up to the retry
	// policy's MaxDelay. Zero means the server's "retry:" hint, or the
	// retry policy's BaseDelay.
	ReconnectDelay time.Duration
	// MaxReconnects bounds the reconnections in a row that fail; zero
	// means reconnecting until ctx ends.
	MaxReconnects int
}

// Watch streams the changes of the cache's items, in order, until ctx ends
// or the loop breaks. When the stream drops (the server restarts, a proxy
// cuts it) Watch reconnects after a backoff with Last-Event-ID, so no
// event is lost while the server still has it, and a lagged event says
// when it no longer had. An error is yielded, and ends the watch, when
// the server refuses the stream for good (the cache does not exist or was
// deleted: ErrNotFound; a bad token), when a line passes MaxLineBytes, or
// after MaxReconnects failed reconnections. An event whose data cannot be
// decoded is yielded as an error and skipped; the watch goes on if the
// loop does. The end of ctx ends the watch with no error.
//
//	for ev, err := range c.Watch(ctx, "jobs", client.WatchOptions{}) {
//		if err != nil { return err }
//		fmt.Println(ev.Kind, ev.ItemID)
//	}
func (c *Client) Watch(ctx context.Context, cache string, opts WatchOptions) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		w := watcher{c: c, cache: cache, opts: opts, lastID: opts.LastEventID}
		w.run(ctx, yield)
	}
}

// watcher is the state of one Watch across its connections.
type watcher struct {
	c      *Client
	cache  string
	opts   WatchOptions
	lastID string
	retry  time.Duration // the server's reconnection hint
}

func (w *watcher) run(ctx context.Context, yield func(Event, error) bool) {
	failures := 0
	for {
		res, err := w.connect(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			failures = 0
			var stop bool
			stop, err = w.read(res.Body, yield)
			res.Body.Close()
			if stop || ctx.Err() != nil {
				return
			}
		}
		if err != nil && fatal(err) {
			yield(Event{}, err)
			return
		}
		failures++
		if w.opts.MaxReconnects > 0 && failures > w.opts.MaxReconnects {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			yield(Event{}, fmt.Errorf("autorefresh: watch of %q: gave up after %d reconnections: %w", w.cache, w.opts.MaxReconnects, err))
			return
		}
		if w.c.sleep(ctx, w.delay(failures)) != nil {
			return
		}
	}
}

// fatal reports whether a watch error cannot be cured by reconnecting.
func fatal(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status != http.StatusTooManyRequests && apiErr.Status < 500
	}
	return errors.Is(err, errLineTooLong) || errors.Is(err, errNotAStream)
}

// delay is the wait before reconnection number n (n >= 1) in a row.
func (w *watcher) delay(n int) time.Duration {
	p := w.c.retry
	switch {
	case w.opts.ReconnectDelay > 0:
		p.BaseDelay = w.opts.ReconnectDelay
	case w.retry > 0:
		p.BaseDelay = w.retry
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultRetryPolicy().MaxDelay
	}
	return p.backoff(n, 0)
}

// connect opens the stream once (the retry policy still applies to 429
// and 503 answers).
func (w *watcher) connect(ctx context.Context) (*http.Response, error) {
	h := http.Header{"Accept": {"text/event-stream"}}
	if w.lastID != "" {
		h.Set("Last-Event-ID", w.lastID)
	}
	q := url.Values{}
	if w.opts.ItemID != "" {
		q.Set("id", w.opts.ItemID)
	}
	res, err := w.c.open(ctx, request{method: http.MethodGet, path: path("v1", "caches", w.cache, "events"), query: q, header: h, idempotent: true})
	if err != nil {
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt != "text/event-stream" {
		res.Body.Close()
		return nil, fmt.Errorf("%w: the server answered %q", errNotAStream, res.Header.Get("Content-Type"))
	}
	return res, nil
}

// errNotAStream is a 2xx answer that is not an event stream (a proxy's
// page, say): reconnecting would get the same, so the watch ends.
var errNotAStream = errors.New("autorefresh: the events route did not answer with text/event-stream")

// read yields the events of one connection. stop says the consumer broke
// out of its loop; err is why the connection ended (nil for a clean end).
func (w *watcher) read(body io.Reader, yield func(Event, error) bool) (stop bool, err error) {
	r := newSSEReader(body, w.opts.MaxLineBytes)
	// The last event id outlives the connection: an event without an id
	// line (lagged) keeps it.
	r.lastID = w.lastID
	defer func() { w.retry = max(w.retry, r.retry) }()
	for {
		raw, err := r.next()
		if err != nil {
			if err == io.EOF {
				return false, nil
			}
			return false, err
		}
		ev, err := decodeEvent(raw)
		if err != nil {
			// A malformed event is reported and skipped; the stream goes on.
			if !yield(Event{}, err) {
				return true, nil
			}
			continue
		}
		w.lastID = raw.id
		if !yield(ev, nil) {
			return true, nil
		}
	}
}

// decodeEvent turns a dispatched stream event into an Event.
func decodeEvent(raw sseEvent) (Event, error) {
	ev := Event{Kind: EventKind(raw.kind), Data: json.RawMessage(raw.data)}
	if ev.Kind != EventLagged {
		ev.ID = raw.id
	}
	var body struct {
		ID      string `json:"id"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(raw.data, &body); err != nil {
		return Event{}, fmt.Errorf("autorefresh: the data of a %q event is not JSON: %w", raw.kind, err)
	}
	ev.ItemID, ev.Message = body.ID, body.Message
	if ev.Kind.carriesItem() {
		var it Item
		if err := json.Unmarshal(raw.data, &it); err != nil {
			return Event{}, fmt.Errorf("autorefresh: the data of a %q event is not an item: %w", raw.kind, err)
		}
		ev.Item = &it
	}
	return ev, nil
}
