package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/autorefresh/autorefresh/internal/record"
	"github.com/autorefresh/autorefresh/internal/watch"
)

// writeSlack is how long one write to a watcher may take beyond the longest
// gap between two writes, before the connection is given up.
const writeSlack = 10 * time.Second

// sseStream writes Server-Sent Events to one client.
//
// The server's WriteTimeout is meant for ordinary requests and would cut a
// stream a fixed time after the request (HTTP/1 closes the connection,
// HTTP/2 resets the stream). So the stream moves the write deadline before
// every write; a client that stops reading is still cut off, by that
// deadline. (The ReadTimeout does no harm: net/http clears the read deadline
// once it has read the request.)
type sseStream struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration // the longest gap between two writes
	buf  bytes.Buffer
}

// startSSE sends the stream's headers and the client's reconnection delay.
func startSSE(w http.ResponseWriter, idle time.Duration) (*sseStream, error) {
	s := &sseStream{w: w, rc: http.NewResponseController(w), idle: idle}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	// nginx and similar proxies buffer responses unless told not to.
	h.Set("X-Accel-Buffering", "no")
	if err := s.extend(); err != nil {
		return nil, err
	}
	w.WriteHeader(http.StatusOK)
	s.buf.WriteString("retry: 2000\n\n")
	return s, s.flush()
}

// extend moves the write deadline; a writer without deadlines
// (ErrNotSupported) keeps whatever it has.
func (s *sseStream) extend() error {
	err := s.rc.SetWriteDeadline(time.Now().Add(s.idle + writeSlack))
	if err == http.ErrNotSupported {
		return nil
	}
	return err
}

// event queues one event; flush sends what is queued.
func (s *sseStream) event(ev watch.Event) error {
	data, err := json.Marshal(eventPayload(ev))
	if err != nil {
		return err
	}
	if ev.Seq != 0 {
		s.buf.WriteString("id: " + strconv.FormatUint(ev.Seq, 10) + "\n")
	}
	s.buf.WriteString("event: " + string(ev.Kind) + "\n")
	// Marshal output has no raw newline; split anyway, since a newline
	// in a data line would end the event early.
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		s.buf.WriteString("data: ")
		s.buf.Write(line)
		s.buf.WriteByte('\n')
	}
	s.buf.WriteByte('\n')
	return nil
}

// comment sends a comment line, which clients ignore: a heartbeat.
func (s *sseStream) comment(text string) error {
	s.buf.WriteString(": " + text + "\n\n")
	return s.flush()
}

func (s *sseStream) flush() error {
	if err := s.extend(); err != nil {
		return err
	}
	if _, err := s.w.Write(s.buf.Bytes()); err != nil {
		return err
	}
	s.buf.Reset()
	return s.rc.Flush()
}

// watchedItem is the payload of created, updated, terminal, failed and
// expired events: the item after the change. It has no syncedAt or
// pendingDelete, which the events do not carry; GET the item for those.
// nextSyncAt is always null: the schedule is the storage mode's, not part
// of the change (the key is there so that every item shape has the same
// fields).
type watchedItem struct {
	ID         string          `json:"id"`
	Data       json.RawMessage `json:"data"`
	Terminal   bool            `json:"terminal"`
	Version    int64           `json:"version"`
	CreatedAt  time.Time       `json:"createdAt"`
	UpdatedAt  time.Time       `json:"updatedAt"`
	State      record.State    `json:"state"`
	Attempts   int32           `json:"attempts"`
	LastError  *string         `json:"lastError"`
	NextSyncAt *time.Time      `json:"nextSyncAt"`
	ExpiresAt  *time.Time      `json:"expiresAt"`
}

// goneItem is the payload of deleted and evicted events.
type goneItem struct {
	ID string `json:"id"`
}

// laggedNotice is the payload of a lagged event.
type laggedNotice struct {
	Message string `json:"message"`
}

func eventPayload(ev watch.Event) any {
	switch {
	case ev.Kind == watch.Lagged:
		return laggedNotice{Message: "events were dropped for this stream; read the items again to catch up"}
	case ev.Gone() || ev.Item == nil:
		return goneItem{ID: ev.ID}
	}
	it := ev.Item
	data := it.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	return watchedItem{ID: it.ID, Data: data, Terminal: it.Terminal, Version: it.Version, CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt,
		State: it.StateOf(), Attempts: it.Attempts, LastError: nonEmpty(it.LastError), ExpiresAt: nonZero(it.ExpiresAt)}
}
