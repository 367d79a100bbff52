package handlers

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// brokenFlusher fails every flush, as a writer to a closed connection does.
type brokenFlusher struct{ *httptest.ResponseRecorder }

var errBrokenPipe = errors.New("broken pipe")

func (brokenFlusher) FlushError() error { return errBrokenPipe }

// A stream flushes through the access wrapper and must see the failure,
// or it would write into a dead connection until its context ends.
func TestAccessPassesFlushErrorsOn(t *testing.T) {
	a := &access{ResponseWriter: brokenFlusher{httptest.NewRecorder()}}
	if err := http.NewResponseController(a).Flush(); !errors.Is(err, errBrokenPipe) {
		t.Fatalf("flush through the wrapper returned %v, want the writer's error", err)
	}
	if a.status != http.StatusOK {
		t.Errorf("status %d after a first flush, want 200 (the header goes out with it)", a.status)
	}
	ok := &access{ResponseWriter: httptest.NewRecorder()}
	if err := http.NewResponseController(ok).Flush(); err != nil {
		t.Fatalf("flush to a working writer: %v", err)
	}
}

func TestConnWriterUnwrapsEveryLayer(t *testing.T) {
	inner := httptest.NewRecorder()
	outer := &access{ResponseWriter: &access{ResponseWriter: inner}}
	if got := connWriter(outer); got != inner {
		t.Fatalf("connWriter returned %T, want the innermost writer", got)
	}
}
