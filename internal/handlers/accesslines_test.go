package handlers_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap/zapcore"

	"github.com/autorefresh/autorefresh/internal/handlers"
	"github.com/autorefresh/autorefresh/internal/logging"
)

// lockedBuffer is a bytes.Buffer for the logger's flushes and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// With Deps.AccessLog, a request's line is written by hand to the log's
// output, with the fields zap would write; a line whose path zap would
// escape is left to the logger.
func TestAccessLogLines(t *testing.T) {
	var out lockedBuffer
	_, lines, stop := logging.Open(&out, zapcore.InfoLevel)
	e := newEnvWith(t, nil, func(d *handlers.Deps) { d.AccessLog = lines })
	if r := e.do("GET", "/v1/caches/nosuch/items/item1", "", ""); r.status != http.StatusNotFound {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	if r := e.do("GET", `/v1/caches/a%22b/items/item1`, "", ""); r.status != http.StatusBadRequest {
		t.Fatalf("GET with a quote: %d %s", r.status, r.body)
	}
	e.srv.Close() // every handler, and so every access-log line, is done
	stop()

	var byHand []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		byHand = append(byHand, m)
	}
	if len(byHand) != 1 {
		t.Fatalf("%d lines written by hand, want 1: %v", len(byHand), byHand)
	}
	m := byHand[0]
	for k, want := range map[string]any{
		"level": "info", "msg": "request", "method": "GET", "route": "/v1/caches/{cache}/items/{id}",
		"path": "/v1/caches/nosuch/items/item1", "status": 404.0,
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v (line %v)", k, m[k], want, m)
		}
	}
	for _, k := range []string{"ts", "requestId", "bytes", "duration", "remote"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %s in %v", k, m)
		}
	}
	zapped := e.logs.FilterMessage("request").All()
	if len(zapped) != 1 || zapped[0].ContextMap()["path"] != `/v1/caches/a"b/items/item1` {
		t.Errorf("lines through zap: %v, want the one with the quote", zapped)
	}
}
