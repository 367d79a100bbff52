package client

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestSSEReaderFormat(t *testing.T) {
	stream := "retry: 2000\n\n" +
		": keep-alive\n\n" +
		"id: 7\r\nevent: created\r\ndata: {\"id\":\"a\"}\r\n\r\n" +
		"event: lagged\ndata:{\"message\":\"m\"}\n\n" + // no space after the colon, no id
		"data: line1\ndata: line2\n\n" + // no event: "message"
		"id: 8\nevent: deleted\ndata: {\"id\":\"b\"}\nunknown: x\n\n"
	r := newSSEReader(strings.NewReader(stream), 0)
	want := []sseEvent{
		{kind: "created", id: "7", data: []byte(`{"id":"a"}`)},
		{kind: "lagged", id: "7", data: []byte(`{"message":"m"}`)},
		{kind: "message", id: "7", data: []byte("line1\nline2")},
		{kind: "deleted", id: "8", data: []byte(`{"id":"b"}`)},
	}
	for i, w := range want {
		got, err := r.next()
		if err != nil || got.kind != w.kind || got.id != w.id || string(got.data) != string(w.data) {
			t.Fatalf("event %d: %+v (%s), %v; want %+v", i, got, got.data, err, w)
		}
	}
	if _, err := r.next(); err != io.EOF {
		t.Errorf("end: %v, want io.EOF", err)
	}
	if r.retry != 2*time.Second {
		t.Errorf("retry %v", r.retry)
	}
}

func TestSSEReaderCutMidEvent(t *testing.T) {
	for _, stream := range []string{"event: created\ndata: {}\n", "data: {\"id\":"} {
		if _, err := newSSEReader(strings.NewReader(stream), 0).next(); err != io.ErrUnexpectedEOF {
			t.Errorf("%q: %v, want io.ErrUnexpectedEOF", stream, err)
		}
	}
}

func TestSSEReaderBoundsLines(t *testing.T) {
	long := "data: " + strings.Repeat("x", 200<<10) + "\n\n"
	if _, err := newSSEReader(strings.NewReader(long), 100<<10).next(); !errors.Is(err, errLineTooLong) {
		t.Errorf("a 200 KiB line under a 100 KiB bound: %v", err)
	}
	// Many data lines add up to the bound too.
	many := strings.Repeat("data: "+strings.Repeat("x", 1000)+"\n", 200) + "\n"
	if _, err := newSSEReader(strings.NewReader(many), 100<<10).next(); !errors.Is(err, errLineTooLong) {
		t.Errorf("200 KB of data lines under a 100 KiB bound: %v", err)
	}
	if ev, err := newSSEReader(strings.NewReader(long), 300<<10).next(); err != nil || len(ev.data) != 200<<10 {
		t.Errorf("a 200 KiB line under a 300 KiB bound: %d bytes, %v", len(ev.data), err)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"5":                             5 * time.Second,
		"0":                             0,
		"-3":                            0,
		"soon":                          0,
		"Sun, 01 Jun 2025 12:00:30 GMT": 30 * time.Second,
		"Sun, 01 Jun 2025 11:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestBackoffIsCapped(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 100, BaseDelay: time.Second, MaxDelay: 10 * time.Second}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 60: 10 * time.Second} {
		if got := p.backoff(n, 0); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
	if got := p.backoff(1, 1); got != 1200*time.Millisecond {
		t.Errorf("full jitter: %v", got)
	}
}
